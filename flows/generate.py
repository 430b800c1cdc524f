"""The generation flow: load source -> fit (cached) -> sample shards -> validate -> publish.

One flow for tables and images; the few steps that differ branch on the generator's modality.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from tqdm.auto import tqdm

from core.errors import SynthpipeError, ValidationFailedError
from core.image_parts import IMAGE_SCHEMA, image_records
from core.images import balanced_labels
from datastore import DatasetStore, DatasetVersion, FileEntry, StagedVersion
from datastore.images import GRID_FILE, IMAGEFOLDER_DIR, sample_grid, write_imagefolder
from datastore.model_cache import ModelCache, extractor_cache_dir
from flows.resources import gpu_slot
from flows.runners import shard_runner, worker_api
from generators import Generator, create_generator, get_generator_class, load_saved_generator
from generators.seeding import derive_seed
from job.config import JobConfig
from job.lineage import git_state, model_key, package_versions
from job.real_data import RealData, check_conditions, check_target, load_real
from sources.tables import rows_matching
from validators import ValidationReport, validate_table
from validators.html_report import REPORT_DIR, write_report
from validators.image_plots import image_figures
from validators.images import read_image_parts, validate_images

MODEL_CACHE_ENV_VAR = "SYNTHPIPE_MODEL_CACHE"


@dataclass(frozen=True)
class FittedModel:
    key: str
    path: str
    reused: bool
    fit_seconds: float


@dataclass(frozen=True)
class Shard:
    index: int
    rows: int
    seed: int
    first_index: int  # position of the shard's first row in the whole version


def _transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry infrastructure hiccups, not our own errors: bad data fails the same way again."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, SynthpipeError)


def shard_plan(rows: int, shard_rows: int, seed: int = 0) -> list[Shard]:
    """Full shards then the remainder, each with its own seed derived from the job's."""
    full, rest = divmod(rows, shard_rows)
    sizes = [shard_rows] * full + ([rest] if rest else [])
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [
        Shard(index=i, rows=n, seed=derive_seed(seed, i), first_index=start)
        for i, (n, start) in enumerate(zip(sizes, starts, strict=True))
    ]


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def load_source(job: JobConfig, root: str) -> RealData:
    real = load_real(job, root)
    check_conditions(real, job.conditions)  # bad conditions fail before the fit, not after
    check_target(real, job.target)
    get_run_logger().info(
        "Loaded %s: %d training and %d holdout records",
        real.origin,
        len(real.train),
        len(real.holdout_indices),
    )
    return real


@task(cache_policy=NO_CACHE)
def fit_generator(job: JobConfig, real: RealData, root: str) -> FittedModel:
    """Fit, or reuse the model cached for the same training data, learned config and seed."""
    logger = get_run_logger()
    params = job.generator_params()
    config = get_generator_class(job.generator.name).config_class.model_validate(params)
    key = model_key(
        source_fingerprint=real.train_fingerprint,
        generator=job.generator.name,
        params=config.learned_params(),
        seed=job.seed,
    )
    cache = ModelCache(root)
    cached = cache.get(key)
    if cached is not None:
        logger.info("Reusing fitted %s model %s", job.generator.name, key)
        return FittedModel(key=key, path=str(cached), reused=True, fit_seconds=0.0)
    logger.info("Fitting %s on %d records", job.generator.name, len(real.train))
    started = time.perf_counter()
    with gpu_slot(job.resource):
        generator = create_generator(job.generator.name, params).fit(real.train, seed=job.seed)
    seconds = time.perf_counter() - started
    path = cache.put(key, generator.save)
    return FittedModel(key=key, path=str(path), reused=False, fit_seconds=seconds)


def load_generator(job: JobConfig, model: FittedModel) -> Generator:
    """The cached model with this job's run options (e.g. a sampler), which never retrain."""
    generator = load_saved_generator(model.path)
    params = job.generator_params()
    return generator.with_run_options(
        **{k: v for k, v in params.items() if k in generator.config.RUN_FIELDS}
    )


def _conditions(job: JobConfig, generator: Generator, rows: int) -> Any:
    if job.balanced_labels:
        return balanced_labels(rows, generator.spec.label_names)
    return job.conditions


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def sample_shard(
    job: JobConfig, model: FittedModel, staged: StagedVersion, shard: Shard, schema: Any
) -> FileEntry:
    """Sample one shard and write it as its own part file (a retry overwrites, never adds)."""
    generator = load_generator(job, model)
    conditions = _conditions(job, generator, shard.rows)
    with gpu_slot(job.resource):
        frame = generator.sample(
            shard.rows, seed=shard.seed, conditions=conditions, first_row=shard.first_index
        )
    if generator.modality == "image":
        frame = image_records(frame, seed=shard.seed, first_index=shard.first_index)
    return staged.write_part(shard.index, frame, schema=schema)


def sample_shards(
    job: JobConfig, model: FittedModel, staged: StagedVersion, shards: list[Shard], schema: Any
) -> list[FileEntry]:
    """Run every shard as its own task on the job's runner; the parts in shard order.

    A shard that still fails after its retries fails the run; the runner's exit waits for (or
    cancels) the other shards before the caller aborts the staged version.
    """
    with worker_api(job.runner), shard_runner(job.runner) as runner:
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
        for future in tqdm(as_completed(futures), total=len(futures), desc="Sampling shards"):
            future.result()  # raise the first failure now rather than after every shard
        return [future.result() for future in futures]


@task(cache_policy=NO_CACHE)
def validate_output(job: JobConfig, real: RealData, staged: StagedVersion) -> ValidationReport:
    parts = staged.local_parts()
    if job.generator.modality == "image":
        return validate_image_output(job, real, parts)
    return validate_table(
        real.train,
        parts,
        thresholds=job.validation,
        column_sdtypes=job.column_sdtypes,
        expected_rows=job.rows,
        seed=job.seed,
        fidelity_real=_matching(real.train, job),
        holdout=_matching(real.holdout, job),
        target=job.target,
    )


def validate_image_output(job: JobConfig, real: RealData, parts: list[str]) -> ValidationReport:
    """Validate the staged images. The CNN extractor is cached in the store,
    `<root>/.extractors/`, by the real training data's fingerprint, so every job on the same real
    data shares it."""
    synthetic = read_image_parts(parts)
    requested = [str(job.conditions["label"])] if job.conditions else []
    return validate_images(
        real.train,
        synthetic,
        real_holdout=real.holdout,
        extractor_cache=extractor_cache_dir(DatasetStore(job.root).root),
        thresholds=job.validation,
        expected_rows=job.rows,
        requested_labels=real.label_names if job.balanced_labels else requested,
        seed=job.seed,
    )


def _matching(frame: Any, job: JobConfig) -> Any:
    """The real rows meeting a conditional job's conditions (all rows otherwise)."""
    return rows_matching(frame, job.conditions) if job.conditions and frame is not None else frame


@task(cache_policy=NO_CACHE)
def write_html_report(
    job: JobConfig, real: RealData, staged: StagedVersion, report: ValidationReport
) -> str:
    """The HTML report with its plots in the staged version's `report/` (so in the manifest)."""
    from validators.table_plots import table_figures

    parts = staged.local_parts()
    if job.generator.modality == "image":
        figures = image_figures(report, real.train, read_image_parts(parts))
    else:
        figures = table_figures(report, _matching(real.train, job), parts, seed=job.seed)
    # Written locally, then copied in: the same path for local and object-store roots.
    with tempfile.TemporaryDirectory() as scratch:
        path = write_report(Path(scratch), report, figures, f"{job.dataset} validation")
        staged.copy_in(scratch, REPORT_DIR)
    return f"{REPORT_DIR}/{path.name}"


def add_image_views(staged: StagedVersion) -> None:
    """A sample grid and the imagefolder view (`images/<label>/<id>.png` + metadata.jsonl)."""
    parts = sorted((Path(staged.path) / "data").glob("part-*.parquet"))
    (Path(staged.path) / GRID_FILE).write_bytes(sample_grid(parts))
    write_imagefolder(parts, staged.dir(IMAGEFOLDER_DIR))


@task(cache_policy=NO_CACHE)
def publish(
    staged: StagedVersion,
    job: JobConfig,
    lineage: dict[str, Any],
    report: ValidationReport,
    html_report: str | None = None,
) -> DatasetVersion:
    """Verify and atomically publish; a failed gate publishes the version as quarantined."""
    version = staged.commit(
        rows_expected=job.rows,
        lineage=lineage,
        report_json=report.to_json(),
        report_markdown=report.to_markdown(),
        passed=report.passed,
        failed_checks=report.failed_checks,
        kind="image" if job.generator.modality == "image" else "table",
    )
    status = "published" if report.passed else "QUARANTINED"
    get_run_logger().info("%s %s at %s", status, version.ref, version.path)
    key = f"{job.dataset.replace('.', '-').replace('_', '-')}-validation"
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
    return version


def _uri(path: Any) -> str:
    """A link to a file of a version: file:// locally, the store's own URL on object stores."""
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def model_cache_root(store: DatasetStore) -> Path:
    """Where fitted models are cached: beside a local store; for an object store a local
    directory (`$SYNTHPIPE_MODEL_CACHE`, default ~/.cache/synthpipe), since every shard task loads
    the model from a path (Dask workers elsewhere need it on a shared mount)."""
    if not store.is_remote:
        return Path(store.root)
    return Path(os.environ.get(MODEL_CACHE_ENV_VAR, "~/.cache/synthpipe")).expanduser()


def build_lineage(
    job: JobConfig,
    real: RealData,
    model: FittedModel,
    generator: Generator,
    shards: list[Shard],
    timings: dict[str, float],
) -> dict[str, Any]:
    lineage = {
        "created_at": datetime.now(UTC).isoformat(),
        "job": job.model_dump(mode="json"),
        "generator": {
            "name": job.generator.name,
            "modality": generator.modality,
            "config": generator.config.model_dump(mode="json"),
        },
        "seed": job.seed,
        "shards": [{"index": s.index, "rows": s.rows, "seed": s.seed} for s in shards],
        "source": {
            "origin": real.origin,
            "fingerprint": real.source_fingerprint,
            "train_fingerprint": real.train_fingerprint,
            "train_records": len(real.train),
            "holdout_fraction": job.holdout_fraction,
            "holdout_indices": real.holdout_indices,
        },
        "model": {"key": model.key, "reused": model.reused},
        "timings_s": {"fit": round(model.fit_seconds, 3), **timings},
        "code": git_state(),
        "packages": package_versions(),
        "prefect": {"flow_run_id": str(flow_run.id), "flow_run_name": flow_run.name},
    }
    if generator.modality == "image":
        lineage["generator"]["sampling"] = generator.sampling_info()
    return lineage


@flow(name="synthpipe-generate")
def generate_dataset(job: JobConfig) -> str:
    """Run one job; returns the new version's reference (`name@N`).

    Raises ValidationFailedError (after publishing the version as quarantined) when a gate fails.
    """
    import pyarrow as pa

    store = DatasetStore(job.root)
    real = load_source(job, str(store.root))
    model = fit_generator(job, real, str(model_cache_root(store)))
    image = job.generator.modality == "image"
    schema = IMAGE_SCHEMA if image else pa.Schema.from_pandas(real.train, preserve_index=False)
    store.clean_staging()  # leftovers of killed runs (older than a day); never a live one
    staged = store.begin(job.dataset)
    try:
        started = time.perf_counter()
        shards = shard_plan(job.rows, job.shard_rows, job.seed)
        sample_shards(job, model, staged, shards, schema)
        sampled = time.perf_counter()
        staged.copy_in(model.path, "model")
        if image:
            add_image_views(staged)
        report = validate_output(job, real, staged)
        html_report = write_html_report(job, real, staged, report)
        timings = {
            "sample": round(sampled - started, 3),
            "validate": round(time.perf_counter() - sampled, 3),
        }
        lineage = build_lineage(job, real, model, load_generator(job, model), shards, timings)
        version = publish(staged, job, lineage, report, html_report)
    except BaseException:
        staged.abort()  # an interrupted or failed run leaves no half-written version
        raise
    raise_if_quarantined(version, report)
    return version.ref


def raise_if_quarantined(version: DatasetVersion, report: ValidationReport) -> None:
    """After publishing: a failed gate is the run's failure, naming the checks and the version."""
    if not report.passed:
        raise ValidationFailedError(
            f"{version.ref} failed its validation gates {report.failed_checks} and was "
            f"quarantined at {version.path}.",
            failed_checks=report.failed_checks,
            version=version.ref,
        )
