"""A whole generation or augment job without Prefect: the steps in order, shards one after another.

`synth run` / `synth augment` call these directly unless a Prefect server is configured
(`flows/launch.py`); the flows (`flows/generate.py`, `flows/augment.py`) call the same steps as
tasks (the generation flow samples its shards on the job's runner).
"""

from __future__ import annotations

import time

from datastore import DatasetStore, DatasetVersion
from datastore.model_cache import model_cache_root
from job.augment_config import AugmentJob
from job.config import JobConfig
from pipeline import augment, steps
from pipeline.publish import commit, raise_if_quarantined, staging


def run_job(job: JobConfig) -> DatasetVersion:
    """Run `job` and return the version it published.

    Raises ValidationFailedError (after publishing the version as quarantined) when a gate fails.
    """
    store = DatasetStore(job.root)
    started = time.perf_counter()
    real = steps.load(job, str(store.root))
    timings = {"load": round(time.perf_counter() - started, 3)}
    model = steps.fit(job, real, str(model_cache_root(store)))
    with staging(store, job.dataset) as staged:
        watch = steps.Stopwatch()
        shards = steps.shard_plan(job.rows, job.shard_rows, job.seed)
        schema = job.modality.schema(real)
        with steps.sampling(shards):
            for shard in shards:
                steps.sample_shard(job, model, staged, shard, schema)
        watch.lap("sample")
        steps.stage_model_and_views(job, model, staged)
        report = steps.validate(job, real, staged)
        steps.write_html_report(job, real, staged, report)
        watch.lap("validate")
        lineage = steps.build_lineage(job, real, model, shards, timings | watch.laps)
        version = commit(
            staged, report, rows_expected=job.modality.rows_expected(job), lineage=lineage
        )
    raise_if_quarantined(version, report)
    return version


def run_augment_job(job: AugmentJob) -> DatasetVersion:
    """Run augment job `job` and return the version it published (real + synthetic records).

    Raises ValidationFailedError (after publishing the version as quarantined) when the synthetic
    records fail a gate.
    """
    store = DatasetStore(job.root)
    loaded = steps.load(job.generation_job(rows=1), str(store.root))
    training = augment.training_set(job, loaded)
    gen_job = job.generation_job(rows=sum(training.plan.values()))
    model = steps.fit(gen_job, training.real, str(model_cache_root(store)))
    schema = augment.schema(gen_job, training)
    with staging(store, job.dataset) as staged:
        watch = steps.Stopwatch()
        augment.write_real_part(gen_job, training, staged, schema)
        shards = steps.shard_plan(gen_job.rows, job.shard_rows, job.seed)
        for shard in shards:
            augment.sample_class_shard(
                gen_job, model, training, staged, shard, schema, job.augment.label
            )
        watch.lap("sample")
        augment.stage_model_and_views(gen_job, model, staged)
        report = augment.validate_synthetic(job, gen_job, training, staged)
        watch.lap("validate")
        uplift = augment.measure_augmentation_uplift(job, gen_job, training, staged)
        report = augment.add_uplift(staged, report, uplift)
        watch.lap("uplift")
        lineage = augment.lineage(job, gen_job, loaded, training, model, shards, watch.laps, uplift)
        rows = augment.published_rows(training)
        version = commit(staged, report, rows_expected=rows, lineage=lineage)
    raise_if_quarantined(version, report)
    return version
