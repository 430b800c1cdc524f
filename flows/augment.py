"""The augment flow: load real data -> keep the chosen training records -> fit (cached) ->
sample class-conditional records -> validate them -> measure the downstream uplift -> publish
real + synthetic as one version, each record flagged and with its provenance.

Loading, fitting, lineage and publishing are the generation flow's own tasks; the real holdout
is split off before anything else and only ever scores the classifiers.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.image_parts import decode_png, image_records, iter_image_rows
from datastore import DatasetStore, FileEntry, StagedVersion
from datastore.images import GRID_FILE, IMAGEFOLDER_DIR, sample_grid, write_imagefolder
from datastore.model_cache import extractor_cache_dir
from flows.generate import (
    FittedModel,
    Shard,
    _transient_only,
    build_lineage,
    fit_generator,
    load_generator,
    load_source,
    publish,
    raise_if_quarantined,
    shard_plan,
)
from job import augment
from job.augment_config import AugmentJob
from job.config import JobConfig
from job.real_data import RealData
from validators import ValidationReport, validate_table
from validators.images import read_image_parts, validate_images
from validators.uplift import UpliftReport, measure_uplift, table_matrices

REAL_PART = 0  # real records are part 0; synthetic shard i is part i + 1
UPLIFT_JSON, UPLIFT_MD = "uplift.json", "uplift.md"


@dataclass(frozen=True)
class TrainingSet:
    """The real training records augmentation starts from, and what to add to them."""

    real: RealData  # train restricted to the kept records; holdout untouched
    real_indices: list[int]  # each kept record's index in the source data
    labels: list[str]  # each kept record's class
    plan: dict[str, int]  # synthetic records per class


@task(cache_policy=NO_CACHE)
def select_training(job: AugmentJob, loaded: RealData) -> TrainingSet:
    labels = augment.class_labels(loaded.train, job.augment.label)
    kept = augment.select_training(labels, job.augment, job.seed)
    real = augment.restrict_training(loaded, kept)
    kept_labels = labels.iloc[kept].tolist()
    plan = augment.plan_synthetic(augment.class_counts(kept_labels), job.augment)
    get_run_logger().info(
        "Kept %d of %d real training records; drawing %s synthetic records per class",
        len(kept),
        len(labels),
        plan,
    )
    return TrainingSet(
        real=real,
        real_indices=augment.source_indices(loaded)[kept].tolist(),
        labels=kept_labels,
        plan=plan,
    )


@task(cache_policy=NO_CACHE)
def write_real_part(training: TrainingSet, staged: StagedVersion, schema: Any) -> FileEntry:
    train = training.real.train
    image = not isinstance(train, pd.DataFrame)
    frame = image_records(augment.image_frame(train), seed=0, first_index=0) if image else train
    records = augment.with_provenance(
        frame, real_index=training.real_indices, generator=None, seed=None, first_index=0
    )
    return staged.write_part(REAL_PART, records, schema=schema)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only, cache_policy=NO_CACHE)
def sample_class_shard(
    job: JobConfig,
    model: FittedModel,
    training: TrainingSet,
    staged: StagedVersion,
    shard: Shard,
    schema: Any,
    label: str,
) -> FileEntry:
    """Sample one shard of the planned classes into its own part (a retry overwrites it)."""
    generator = load_generator(job, model)
    planned = augment.planned_labels(training.plan)
    wanted = planned[shard.first_index : shard.first_index + shard.rows]
    train = training.real.train
    image = generator.modality == "image"
    conditions = (
        pd.DataFrame({"label": wanted}) if image else augment.table_conditions(wanted, train, label)
    )
    frame = generator.sample(
        shard.rows, seed=shard.seed, conditions=conditions, first_row=shard.first_index
    )
    first = len(training.labels) + shard.first_index
    if image:
        frame = image_records(frame, seed=shard.seed, first_index=first)
    records = augment.with_provenance(
        frame, real_index=None, generator=job.generator.name, seed=shard.seed, first_index=first
    )
    return staged.write_part(shard.index + 1, records, schema=schema)


def _synthetic_parts(staged: StagedVersion) -> list[str]:
    parts = sorted((Path(staged.path) / "data").glob("part-*.parquet"))
    return [str(p) for p in parts if p.name != f"part-{REAL_PART:05d}.parquet"]


def _synthetic_table(staged: StagedVersion) -> pd.DataFrame:
    frame = pd.concat([pd.read_parquet(p) for p in _synthetic_parts(staged)], ignore_index=True)
    return frame.drop(columns=augment.PROVENANCE_COLUMNS)


@task(cache_policy=NO_CACHE)
def validate_synthetic(
    job: AugmentJob, gen_job: JobConfig, training: TrainingSet, staged: StagedVersion
) -> ValidationReport:
    """The generation gates on the synthetic records alone, against the kept real records."""
    train, total = training.real.train, sum(training.plan.values())
    if gen_job.generator.modality == "image":
        return validate_images(
            train,
            read_image_parts(_synthetic_parts(staged)),
            real_holdout=training.real.holdout,
            extractor_cache=extractor_cache_dir(DatasetStore(gen_job.root).root),
            thresholds=gen_job.validation,
            expected_rows=total,
            requested_labels=[name for name, count in training.plan.items() if count],
            seed=job.seed,
        )
    return validate_table(
        train,
        _synthetic_table(staged),
        thresholds=gen_job.validation,
        column_sdtypes=gen_job.column_sdtypes,
        expected_rows=total,
        seed=job.seed,
        fidelity_real=augment.class_matched(train, job.augment.label, training.plan, job.seed),
    )


@task(cache_policy=NO_CACHE)
def measure_augmentation_uplift(
    job: AugmentJob, training: TrainingSet, staged: StagedVersion
) -> UpliftReport:
    """Real-only vs real + synthetic classifiers, both scored on the untouched real holdout."""
    real, label = training.real, job.augment.label
    if isinstance(real.train, pd.DataFrame):
        synthetic = _synthetic_table(staged)
        x_real, x_synthetic, x_holdout = table_matrices(
            real.train, synthetic, real.holdout, label, job.column_sdtypes
        )
        y_synthetic, y_holdout = synthetic[label], real.holdout[label]
    else:
        rows = list(iter_image_rows(_synthetic_parts(staged)))
        pixels = np.stack([decode_png(r["image"]["bytes"]).transpose(2, 0, 1) for r in rows])
        x_real, x_holdout = (d.images.reshape(len(d), -1) for d in (real.train, real.holdout))
        x_synthetic = pixels.reshape(len(rows), -1).astype(np.float32) / 255
        y_synthetic = [r["label"] for r in rows]
        y_holdout = augment.class_labels(real.holdout, label)
    return measure_uplift(
        x_real,
        np.asarray(training.labels),
        x_synthetic,
        np.asarray(y_synthetic, dtype=str),
        x_holdout,
        np.asarray(y_holdout, dtype=str),
        model=job.augment.uplift.model,
        seeds=job.augment.uplift.seeds,
        seed=job.seed,
    )


def _augment_lineage(
    job: AugmentJob, training: TrainingSet, loaded: RealData, uplift: UpliftReport
) -> dict[str, Any]:
    return {
        "config": job.augment.model_dump(mode="json"),
        "real_training_records": len(loaded.train),
        "kept_real_records": len(training.labels),
        "kept_real_indices": training.real_indices,
        "real_class_counts": augment.class_counts(training.labels),
        "synthetic_per_class": training.plan,
        "uplift": uplift.model_dump(mode="json"),
    }


@flow(name="synthpipe-augment")
def augment_dataset(job: AugmentJob) -> str:
    """Run one augment job; returns the new version's reference (`name@N`).

    Raises ValidationFailedError (after publishing the version as quarantined) when the
    synthetic records fail a gate.
    """
    store = DatasetStore(job.root)
    root = str(store.root)
    loaded = load_source(job.generation_job(rows=1), root)
    training = select_training(job, loaded)
    total_synthetic = sum(training.plan.values())
    gen_job = job.generation_job(rows=total_synthetic)
    model = fit_generator(gen_job, training.real, root)
    image = gen_job.generator.modality == "image"
    schema = augment.image_schema() if image else augment.table_schema(training.real.train)
    store.clean_staging()
    staged = store.begin(job.dataset)
    try:
        started = time.perf_counter()
        write_real_part(training, staged, schema)
        shards = shard_plan(total_synthetic, job.shard_rows, job.seed)
        for shard in shards:
            sample_class_shard(gen_job, model, training, staged, shard, schema, job.augment.label)
        sampled = time.perf_counter()
        shutil.copytree(model.path, staged.dir("model"), dirs_exist_ok=True)
        if image:
            (Path(staged.path) / GRID_FILE).write_bytes(sample_grid(_synthetic_parts(staged)))
            parts = sorted((Path(staged.path) / "data").glob("part-*.parquet"))
            write_imagefolder(parts, staged.dir(IMAGEFOLDER_DIR))
        report = validate_synthetic(job, gen_job, training, staged)
        validated = time.perf_counter()
        uplift = measure_augmentation_uplift(job, training, staged)
        staged.write_text(UPLIFT_JSON, uplift.model_dump_json(indent=2))
        staged.write_text(UPLIFT_MD, uplift.to_markdown())
        report = report.model_copy(update={"checks": [*report.checks, *uplift.checks()]})
        timings = {
            "sample": round(sampled - started, 3),
            "validate": round(validated - sampled, 3),
            "uplift": round(time.perf_counter() - validated, 3),
        }
        lineage = build_lineage(
            gen_job, training.real, model, load_generator(gen_job, model), shards, timings
        )
        lineage["job"] = job.model_dump(mode="json")
        lineage["augment"] = _augment_lineage(job, training, loaded, uplift)
        rows = len(training.labels) + total_synthetic
        version = publish(staged, gen_job.model_copy(update={"rows": rows}), lineage, report)
    except BaseException:
        staged.abort()
        raise
    raise_if_quarantined(version, report)
    return version.ref
