"""The pipeline as plain functions, no Prefect: `steps` (load -> fit -> sample shards -> validate
-> report -> lineage), `augment` (the augmentation steps), `publish` (stage -> commit or abort,
the one publish path), `report` (a report's files), `modality` (what differs between tables and
images) and `run.run_job` (a whole job, serially). `flows/` wraps the steps as Prefect tasks.
"""
