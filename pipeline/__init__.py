"""The pipeline as plain functions, no Prefect: `steps` (load -> fit -> sample shards -> validate
-> report -> lineage), `augment` (the augmentation steps), `publish` (stage -> commit or abort,
the one publish path), `report` (a report's files) and `run.run_job` (a whole job, serially).
What differs between kinds of data is the job's modality plugin's (`modalities`); `flows/` wraps
the steps as Prefect tasks.
"""
