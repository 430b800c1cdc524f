"""What a job is and what it starts from: its validated config (`job.config`, `job.augment_config`),
its real data split into train and holdout (`job.real_data`), its lineage and model cache key
(`job.lineage`) and the pure augmentation steps (`job.augment`).

Above generators, validators, datastore and sources (a job names a generator, thresholds, a
store and a source); below the pipeline and flows that run it.
"""
