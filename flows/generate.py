"""The generation flow: load source -> fit (cached) -> sample shards -> validate -> publish."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from tqdm.auto import tqdm

from datastore import DatasetStore, DatasetVersion, FileEntry, StagedVersion
from datastore.model_cache import ModelCache
from generators import Generator, create_generator
from generators.seeding import derive_seed
from synthpipe.errors import SynthpipeError, ValidationFailedError
from synthpipe.jobs import JobConfig, SourceConfig
from synthpipe.lineage import git_state, model_key, package_versions
from synthpipe.sources import fingerprint, load_builtin, load_table, rows_matching
from validators import ValidationReport, validate_table


@dataclass(frozen=True)
class RealData:
    frame: pd.DataFrame
    fingerprint: str
    origin: str


@dataclass(frozen=True)
class FittedModel:
    key: str
    path: str
    reused: bool
    fit_seconds: float


def _transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry infrastructure hiccups, not our own errors: bad data fails the same way again."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, SynthpipeError)


def shard_plan(rows: int, shard_rows: int) -> list[int]:
    """Rows per shard: full shards then the remainder."""
    full, rest = divmod(rows, shard_rows)
    return [shard_rows] * full + ([rest] if rest else [])


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def load_source(source: SourceConfig) -> RealData:
    frame = load_builtin(source.builtin) if source.builtin else load_table(source.path)
    origin = f"builtin:{source.builtin}" if source.builtin else str(Path(source.path).resolve())
    get_run_logger().info("Loaded %s: %d rows x %d columns", origin, *frame.shape)
    return RealData(frame=frame, fingerprint=fingerprint(frame), origin=origin)


@task(cache_policy=NO_CACHE)
def fit_generator(job: JobConfig, real: RealData, root: str) -> FittedModel:
    """Fit, or reuse the model cached for the same source, generator config and seed."""
    logger = get_run_logger()
    params = job.generator_params()
    key = model_key(
        source_fingerprint=real.fingerprint,
        generator=job.generator.name,
        params=params,
        seed=job.seed,
    )
    cache = ModelCache(root)
    cached = cache.get(key)
    if cached is not None:
        logger.info("Reusing fitted %s model %s", job.generator.name, key)
        return FittedModel(key=key, path=str(cached), reused=True, fit_seconds=0.0)
    logger.info("Fitting %s on %d rows", job.generator.name, len(real.frame))
    started = time.perf_counter()
    generator = create_generator(job.generator.name, params).fit(real.frame, seed=job.seed)
    seconds = time.perf_counter() - started
    path = cache.put(key, generator.save)
    return FittedModel(key=key, path=str(path), reused=False, fit_seconds=seconds)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def sample_shard(
    model_path: str,
    staged: StagedVersion,
    index: int,
    rows: int,
    seed: int,
    conditions: dict[str, Any] | None,
    schema: Any,
) -> FileEntry:
    """Sample one shard and write it as its own part file (a retry overwrites, never adds)."""
    generator = Generator.load(model_path)
    frame = generator.sample(rows, seed=seed, conditions=conditions)
    return staged.write_part(index, frame, schema=schema)


@task(cache_policy=NO_CACHE)
def validate_output(job: JobConfig, real: RealData, staged: StagedVersion) -> ValidationReport:
    parts = sorted(str(p) for p in (Path(staged.path) / "data").glob("part-*.parquet"))
    return validate_table(
        real.frame,
        parts,
        thresholds=job.validation,
        column_sdtypes=job.column_sdtypes,
        expected_rows=job.rows,
        seed=job.seed,
        fidelity_real=rows_matching(real.frame, job.conditions) if job.conditions else None,
    )


@task(cache_policy=NO_CACHE)
def publish(
    staged: StagedVersion, job: JobConfig, lineage: dict[str, Any], report: ValidationReport
) -> DatasetVersion:
    """Verify and atomically publish; a failed gate publishes the version as quarantined."""
    version = staged.commit(
        rows_expected=job.rows,
        lineage=lineage,
        report_json=report.to_json(),
        report_markdown=report.to_markdown(),
        passed=report.passed,
        failed_checks=report.failed_checks,
    )
    status = "published" if report.passed else "QUARANTINED"
    get_run_logger().info("%s %s at %s", status, version.ref, version.path)
    create_markdown_artifact(
        key=f"{job.dataset.replace('.', '-').replace('_', '-')}-validation",
        markdown=f"# {version.ref} ({status})\n\n`{version.path}`\n\n{report.to_markdown()}",
        description=f"Validation report of {version.ref}",
    )
    return version


def build_lineage(
    job: JobConfig,
    real: RealData,
    model: FittedModel,
    shards: list[dict[str, int]],
    timings: dict[str, float],
) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "job": job.model_dump(mode="json"),
        "generator": {"name": job.generator.name, "params": job.generator_params()},
        "seed": job.seed,
        "shards": shards,
        "source": {
            "origin": real.origin,
            "fingerprint": real.fingerprint,
            "rows": len(real.frame),
            "columns": list(real.frame.columns),
        },
        "model": {"key": model.key, "reused": model.reused},
        "timings_s": {"fit": round(model.fit_seconds, 3), **timings},
        "code": git_state(),
        "packages": package_versions(),
        "prefect": {"flow_run_id": str(flow_run.id), "flow_run_name": flow_run.name},
    }


@flow(name="synthpipe-generate")
def generate_dataset(job: JobConfig) -> str:
    """Run one job; returns the new version's reference (`name@N`).

    Raises ValidationFailedError (after publishing the version as quarantined) when a gate fails.
    """
    import pyarrow as pa

    store = DatasetStore(job.root)
    real = load_source(job.source)
    rows_matching(real.frame, job.conditions)  # bad conditions fail before the fit, not after
    model = fit_generator(job, real, str(store.root))
    schema = pa.Schema.from_pandas(real.frame, preserve_index=False)
    store.clean_staging()  # leftovers of killed runs (older than a day); never a live one
    staged = store.begin(job.dataset)
    try:
        shards = []
        started = time.perf_counter()
        plan = shard_plan(job.rows, job.shard_rows)
        for index, rows in enumerate(tqdm(plan, desc="Sampling shards", unit="shard")):
            seed = derive_seed(job.seed, index)
            sample_shard(model.path, staged, index, rows, seed, job.conditions, schema)
            shards.append({"index": index, "rows": rows, "seed": seed})
        sampled = time.perf_counter()
        shutil.copytree(model.path, staged.dir("model"), dirs_exist_ok=True)
        report = validate_output(job, real, staged)
        timings = {
            "sample": round(sampled - started, 3),
            "validate": round(time.perf_counter() - sampled, 3),
        }
        lineage = build_lineage(job, real, model, shards, timings)
        version = publish(staged, job, lineage, report)
    except BaseException:
        staged.abort()  # an interrupted or failed run leaves no half-written version
        raise
    if not report.passed:
        raise ValidationFailedError(
            f"{version.ref} failed its validation gates {report.failed_checks} and was "
            f"quarantined at {version.path}.",
            failed_checks=report.failed_checks,
            version=version.ref,
        )
    return version.ref
