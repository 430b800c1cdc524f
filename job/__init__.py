"""What a job is: its validated config (`job.config`, `job.augment_config`), its lineage and model
cache key (`job.lineage`) and the pure augmentation decisions (`job.augment`).

Above the modality plugins (a job's generator names its kind of data, which says what the job may
hold and how its real data loads) and the generators, validators, store and sources below them;
below the pipeline and flows that run it.
"""
