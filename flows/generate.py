"""The generation flow: load source -> fit (cached) -> sample shards -> validate -> publish.

Each task wraps one step of `pipeline.steps` with what Prefect adds: retries, the run's logger,
the GPU slot, artifacts; shards run on the job's task runner (`flows/runners.py`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run

from core.errors import SynthpipeError
from datastore import DatasetStore, DatasetVersion, FileEntry, StagedVersion
from datastore.model_cache import model_cache_root
from flows.launch import cancel_if_interrupted
from flows.resources import gpu_slot
from flows.runners import shard_runner, worker_api
from job.config import JobConfig
from modalities import RealData
from pipeline import steps
from pipeline.publish import commit, raise_if_quarantined, staging
from pipeline.steps import FittedModel, Shard, shard_plan
from validators import ValidationReport


def _transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry infrastructure hiccups, not our own errors: bad data fails the same way again."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, SynthpipeError)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def load_source(job: JobConfig, root: str) -> RealData:
    return steps.load(job, root, log=get_run_logger())


@task(cache_policy=NO_CACHE)
def fit_generator(job: JobConfig, real: RealData, root: str) -> FittedModel:
    """Fit, or reuse the model cached for the same training data, learned config and seed."""
    return steps.fit(job, real, root, slot=gpu_slot, log=get_run_logger())


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def sample_shard(
    job: JobConfig, model: FittedModel, staged: StagedVersion, shard: Shard, schema: Any
) -> FileEntry:
    """Sample one shard and write it as its own part file (a retry overwrites, never adds)."""
    return steps.sample_shard(job, model, staged, shard, schema, slot=gpu_slot)


def sample_shards(
    job: JobConfig, model: FittedModel, staged: StagedVersion, shards: list[Shard], schema: Any
) -> list[FileEntry]:
    """Run every shard as its own task on the job's runner; the parts in shard order.

    A shard that still fails after its retries fails the run; the runner's exit waits for (or
    cancels) the other shards before the caller aborts the staged version.
    """
    with steps.sampling(shards), worker_api(job.runner), shard_runner(job.runner) as runner:
        futures = [
            runner.submit(
                sample_shard,
                parameters={
                    "job": job,
                    "model": model,
                    "staged": staged,
                    "shard": shard,
                    "schema": schema,
                },
            )
            for shard in shards
        ]
        for future in as_completed(futures):
            future.result()  # raise the first failure now rather than after every shard
        return [future.result() for future in futures]


@task(cache_policy=NO_CACHE)
def validate_output(job: JobConfig, real: RealData, staged: StagedVersion) -> ValidationReport:
    return steps.validate(job, real, staged)


@task(cache_policy=NO_CACHE)
def write_html_report(
    job: JobConfig, real: RealData, staged: StagedVersion, report: ValidationReport
) -> str:
    return steps.write_html_report(job, real, staged, report)


@task(cache_policy=NO_CACHE)
def publish(
    staged: StagedVersion,
    job: JobConfig,
    lineage: dict[str, Any],
    report: ValidationReport,
    html_report: str | None = None,
) -> DatasetVersion:
    """Verify and atomically publish; a failed gate publishes the version as quarantined."""
    version = commit(staged, report, rows_expected=job.modality.rows_expected(job), lineage=lineage)
    status = "published" if report.passed else "QUARANTINED"
    get_run_logger().info("%s %s at %s", status, version.ref, version.path)
    _report_artifacts(job.dataset, version, status, report, html_report)
    return version


def _report_artifacts(
    dataset: str,
    version: DatasetVersion,
    status: str,
    report: ValidationReport,
    html_report: str | None,
) -> None:
    """The validation summary as a Markdown artifact, and a link to the HTML report."""
    key = f"{dataset.replace('.', '-').replace('_', '-')}-validation"
    markdown = f"# {version.ref} ({status})\n\n`{version.path}`\n\n{report.to_markdown()}"
    if html_report:
        uri = _uri(version.path / html_report)
        markdown += f"\n\nReport with plots: [{html_report}]({uri})"
    create_markdown_artifact(
        key=key, markdown=markdown, description=f"Validation report of {version.ref}"
    )
    if html_report:
        create_link_artifact(
            key=f"{key}-html",
            link=uri,
            link_text=f"{version.ref} validation report (HTML)",
            description=f"Validation report with plots of {version.ref}",
        )


def _uri(path: Any) -> str:
    """A link to a file of a version: file:// locally, the store's own URL on object stores."""
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def run_info() -> dict[str, Any]:
    """The lineage's record of this flow run."""
    return {"prefect": {"flow_run_id": str(flow_run.id), "flow_run_name": flow_run.name}}


@flow(name="synthpipe-generate", on_crashed=[cancel_if_interrupted])
def generate_dataset(job: JobConfig) -> str:
    """Run one job; returns the new version's reference (`name@N`).

    Raises ValidationFailedError (after publishing the version as quarantined) when a gate fails.
    """
    store = DatasetStore(job.root)
    started = time.perf_counter()
    real = load_source(job, str(store.root))
    timings = {"load": round(time.perf_counter() - started, 3)}
    model = fit_generator(job, real, str(model_cache_root(store)))
    with staging(store, job.dataset) as staged:
        watch = steps.Stopwatch()
        shards = shard_plan(job.rows, job.shard_rows, job.seed)
        sample_shards(job, model, staged, shards, job.modality.schema(real))
        watch.lap("sample")
        steps.stage_model_and_views(job, model, staged)
        report = validate_output(job, real, staged)
        html_report = write_html_report(job, real, staged, report)
        watch.lap("validate")
        lineage = steps.build_lineage(job, real, model, shards, timings | watch.laps) | run_info()
        version = publish(staged, job, lineage, report, html_report)
    raise_if_quarantined(version, report)
    return version.ref
