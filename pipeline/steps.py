"""The generation steps as plain functions: load -> fit (cached) -> sample shards -> validate ->
report -> lineage; `pipeline.publish` stages and commits.

No Prefect here: `flows/generate.py` wraps each step as a task (retries, logging, artifacts,
runners), `pipeline.run.run_job` calls them in order, serially. Steps that hold a GPU take a
`slot(resource)` context manager (the flows pass Prefect's GPU concurrency limit) and log to the
logger they are given (the flows pass the task run's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core import progress
from datastore import FileEntry, StagedVersion
from datastore.model_cache import ModelCache
from generators import Generator, create_generator, get_generator_class, load_saved_generator
from generators.seeding import derive_seed
from job.config import JobConfig
from job.lineage import git_state, model_key, package_versions
from modalities import RealData
from modalities.real_data import load_real
from pipeline.report import stage_report
from validators import ValidationReport

Slot = Callable[[str], AbstractContextManager[object]]
_LOG = logging.getLogger(__name__)


def no_slot(resource: str) -> AbstractContextManager[object]:
    """Outside Prefect nothing bounds GPU work."""
    return nullcontext()


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


class Stopwatch:
    """Seconds between named laps, rounded as lineage records them."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def shard_plan(rows: int, shard_rows: int, seed: int = 0) -> list[Shard]:
    """Full shards then the remainder, each with its own seed derived from the job's."""
    full, rest = divmod(rows, shard_rows)
    sizes = [shard_rows] * full + ([rest] if rest else [])
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [
        Shard(index=i, rows=n, seed=derive_seed(seed, i), first_index=start)
        for i, (n, start) in enumerate(zip(sizes, starts, strict=True))
    ]


def load(job: JobConfig, root: str, log: logging.Logger | logging.LoggerAdapter = _LOG) -> RealData:
    """The job's real data, split; bad conditions, target or constraints fail here, before any
    fit."""
    with progress.phase("load") as phase:
        real = load_real(job, root)
        modality = job.modality
        modality.check_conditions(real, job.conditions)
        modality.check_constraints(real, job.constraints)
        modality.check_target(real, job.target)
        phase.detail = (
            f"{real.origin}: {len(real.train):,} training, "
            f"{len(real.holdout_indices):,} holdout records"
        )
    log.info("Loaded %s", phase.detail)
    return real


def fit(
    job: JobConfig,
    real: RealData,
    cache_root: str,
    *,
    slot: Slot = no_slot,
    log: logging.Logger | logging.LoggerAdapter = _LOG,
) -> FittedModel:
    """Fit, or reuse the model cached for the same training data, learned config and seed."""
    params = job.generator_params()
    config = get_generator_class(job.generator.name).config_class.model_validate(params)
    key = model_key(
        source_fingerprint=real.train_fingerprint,
        generator=job.generator.name,
        params=config.learned_params(),
        seed=job.seed,
    )
    cache = ModelCache(cache_root)
    cached = cache.get(key)
    if cached is not None:
        with progress.phase("fit", f"reused the fitted {job.generator.name} model {key}"):
            log.info("Reusing fitted %s model %s", job.generator.name, key)
            return FittedModel(key=key, path=str(cached), reused=True, fit_seconds=0.0)
    detail = f"{job.generator.name} on {len(real.train):,} records"
    with progress.phase("fit", detail, bar=True):
        log.info("Fitting %s", detail)
        started = time.perf_counter()
        with slot(job.resource):
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


def sample_shard(
    job: JobConfig,
    model: FittedModel,
    staged: StagedVersion,
    shard: Shard,
    schema: Any,
    *,
    slot: Slot = no_slot,
) -> FileEntry | list[FileEntry]:
    """Sample one shard and write it as its own part file(s) (a retry overwrites, never adds)."""
    with progress.step(f"shard {shard.index}", f"{shard.rows:,} records"):
        generator = load_generator(job, model)
        conditions = job.modality.sample_conditions(job, generator, shard.rows, shard.first_index)
        with slot(job.resource):
            frame = generator.sample(
                shard.rows, seed=shard.seed, conditions=conditions, first_row=shard.first_index
            )
        frame = job.modality.records(
            frame, schema=schema, seed=shard.seed, first_index=shard.first_index
        )
        return job.modality.write_records(staged, shard.index, frame, schema)


def sampling(shards: list[Shard]) -> AbstractContextManager[progress.Phase]:
    """The sample phase around every shard of a run, however they are run."""
    rows = sum(shard.rows for shard in shards)
    return progress.phase("sample", f"{rows:,} records in {len(shards)} shard(s)")


def stage_model_and_views(job: JobConfig, model: FittedModel, staged: StagedVersion) -> None:
    """The fitted model (`model/`) and the data's views (images: grid + imagefolder)."""
    staged.copy_in(model.path, "model")
    job.modality.add_views(staged, staged.local_parts())


def validate(job: JobConfig, real: RealData, staged: StagedVersion) -> ValidationReport:
    report = job.modality.validate(job, real, staged.local_parts())
    return report.model_copy(update={"privacy": job.privacy_statement})


def write_html_report(
    job: JobConfig, real: RealData, staged: StagedVersion, report: ValidationReport
) -> str:
    """The HTML report with its plots in the staged version's `report/` (so in the manifest)."""

    def figures() -> list[Any]:
        return job.modality.figures(job, real, staged.local_parts(), report)

    return stage_report(staged, report, figures, f"{job.dataset} validation")


def build_lineage(
    job: JobConfig,
    real: RealData,
    model: FittedModel,
    shards: list[Shard],
    timings: dict[str, float],
) -> dict[str, Any]:
    """What produced the version; the flows add their run's identity."""
    generator = load_generator(job, model)
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "job": job.model_dump(mode="json"),
        "generator": {
            "name": job.generator.name,
            "modality": generator.modality,
            "config": generator.config.model_dump(mode="json"),
            **job.modality.lineage_extra(job, generator),
        },
        "privacy": job.privacy_statement,
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
    }
