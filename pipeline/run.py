"""A whole generation job without Prefect: the steps in order, shards one after another.

`synth run` calls it directly unless a Prefect server is configured (`flows/launch.py`); the flow
(`flows/generate.py`) calls the same steps as tasks and samples the shards on the job's runner.
"""

from __future__ import annotations

import time

from datastore import DatasetStore, DatasetVersion
from datastore.model_cache import model_cache_root
from job.config import JobConfig
from pipeline import steps
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
        version = commit(staged, report, rows_expected=job.rows, lineage=lineage)
    raise_if_quarantined(version, report)
    return version
