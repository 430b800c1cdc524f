"""The augmentation steps as plain functions: keep the chosen real training records, write them
as part 0, sample class-conditional shards after them, validate the synthetic records, measure
the downstream uplift, and the lineage of it all. Loading, fitting, staging and publishing are
the generation steps' own (`pipeline.steps`, `pipeline.publish`).

The decisions themselves (which records, how many per class, provenance columns) are
`job.augment`'s; no Prefect here (`flows/augment.py` wraps these as tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import progress
from datastore import FileEntry, StagedVersion
from job import augment
from job.augment_config import AugmentJob, InitConfig
from job.config import JobConfig
from modalities import RealData
from modalities.provenance import with_provenance
from pipeline.steps import FittedModel, Shard, build_lineage, load_generator
from validators import ValidationReport
from validators.parent_copies import parent_copy_check
from validators.uplift import UpliftReport, measure_uplift

REAL_PART = 0  # real records are part 0; synthetic shard i is part i + 1
UPLIFT_JSON, UPLIFT_MD = "uplift.json", "uplift.md"


@dataclass(frozen=True)
class TrainingSet:
    """The real training records augmentation starts from, and what to add to them."""

    real: RealData  # train restricted to the kept records; holdout untouched
    real_indices: list[int]  # each kept record's index in the source data
    labels: list[str]  # each kept record's class
    plan: dict[str, int]  # synthetic records per class
    init: InitConfig | None = None  # augment.init: synthetic records are variations of real ones
    parents: list[int] | None = None  # with init: each planned record's parent (kept position)


def training_set(job: AugmentJob, loaded: RealData) -> TrainingSet:
    """The kept real records (`augment.select_training`) and the synthetic plan per class."""
    with progress.phase("select") as phase:
        labels = augment.class_labels(loaded, job.augment.label)
        kept = augment.select_training(labels, job.augment, job.seed)
        kept_labels = labels.iloc[kept].tolist()
        plan = augment.plan_synthetic(augment.class_counts(kept_labels), job.augment)
        init = job.augment.init
        training = TrainingSet(
            real=augment.restrict_training(loaded, kept),
            real_indices=augment.source_indices(loaded)[kept].tolist(),
            labels=kept_labels,
            plan=plan,
            init=init,
            parents=None
            if init is None
            else augment.plan_parents(kept_labels, plan, job.seed).tolist(),
        )
        phase.detail = (
            f"kept {len(kept_labels):,} of {len(loaded.train):,} real records; synthetic per "
            f"class: {training.plan}"
        )
    return training


def schema(gen_job: JobConfig, training: TrainingSet) -> Any:
    """The augmented version's schema: the data's own columns plus provenance."""
    return gen_job.modality.augment_schema(training.real.train)


def write_real_part(
    gen_job: JobConfig, training: TrainingSet, staged: StagedVersion, schema: Any
) -> FileEntry:
    frame = gen_job.modality.real_records(training.real.train)
    records = with_provenance(
        frame, real_index=training.real_indices, generator=None, seed=None, first_index=0
    )
    return staged.write_part(REAL_PART, records, schema=schema)


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
    with progress.step(f"shard {shard.index}", f"{shard.rows:,} records"):
        modality = job.modality
        generator = load_generator(job, model)
        planned = augment.planned_labels(training.plan)
        wanted = planned[shard.first_index : shard.first_index + shard.rows]
        parent_index = None
        if training.init is None:
            conditions = modality.class_conditions(wanted, training.real.train, label)
            frame = generator.sample(
                shard.rows, seed=shard.seed, conditions=conditions, first_row=shard.first_index
            )
        else:
            assert training.parents is not None  # set with init by training_set
            parents = training.parents[shard.first_index : shard.first_index + shard.rows]
            frame = modality.variations(
                generator, training.real.train, parents, wanted, training.init, shard.seed
            )
            parent_index = [training.real_indices[p] for p in parents]
        first = len(training.labels) + shard.first_index
        frame = modality.records(frame, schema=schema, seed=shard.seed, first_index=first)
        records = with_provenance(
            frame,
            real_index=None,
            generator=job.generator.name,
            seed=shard.seed,
            first_index=first,
            parent_index=parent_index,
        )
        return staged.write_part(shard.index + 1, records, schema=schema)


def synthetic_parts(staged: StagedVersion) -> list[str]:
    real = f"part-{REAL_PART:05d}.parquet"
    return [p for p in staged.local_parts() if Path(p).name != real]


def stage_model_and_views(gen_job: JobConfig, model: FittedModel, staged: StagedVersion) -> None:
    """The fitted model and the data's views; an image grid shows only synthetic records."""
    staged.copy_in(model.path, "model")
    gen_job.modality.add_views(staged, synthetic_parts(staged))


def validate_synthetic(
    job: AugmentJob, gen_job: JobConfig, training: TrainingSet, staged: StagedVersion
) -> ValidationReport:
    """The generation gates on the synthetic records alone, against the kept real records; with
    augment.init, each variation's distance to its own parent (advisory)."""
    real, parts = training.real, synthetic_parts(staged)
    report = gen_job.modality.validate_augmented(
        gen_job, job.augment.label, real.train, real.holdout, training.plan, parts
    )
    if training.parents is None:
        return report
    # Variations (augment.init) are judged against their own parents: the synthetic rows follow
    # the planned order, as `training.parents` does.
    x_real, x_synthetic, *_ = gen_job.modality.uplift_inputs(
        real.train, real.holdout, parts, job.augment.label, job.column_sdtypes
    )
    check = parent_copy_check(
        np.asarray(x_real), np.asarray(training.parents), np.asarray(x_synthetic)
    )
    return report.model_copy(update={"checks": [*report.checks, check]})


def measure_augmentation_uplift(
    job: AugmentJob, gen_job: JobConfig, training: TrainingSet, staged: StagedVersion
) -> UpliftReport:
    """Real-only vs real + synthetic classifiers, both scored on the untouched real holdout."""
    real, label = training.real, job.augment.label
    uplift = job.augment.uplift
    with progress.phase("uplift", f"{uplift.model} classifiers, {uplift.seeds} seed(s)"):
        x_real, x_synthetic, y_synthetic, x_holdout, y_holdout = gen_job.modality.uplift_inputs(
            real.train, real.holdout, synthetic_parts(staged), label, job.column_sdtypes
        )
        return measure_uplift(
            x_real,
            np.asarray(training.labels),
            x_synthetic,
            np.asarray(y_synthetic, dtype=str),
            x_holdout,
            np.asarray(y_holdout, dtype=str),
            model=uplift.model,
            seeds=uplift.seeds,
            seed=job.seed,
        )


def add_uplift(
    staged: StagedVersion, report: ValidationReport, uplift: UpliftReport
) -> ValidationReport:
    """The uplift's files in the version, and its checks appended to the report."""
    staged.write_text(UPLIFT_JSON, uplift.model_dump_json(indent=2))
    staged.write_text(UPLIFT_MD, uplift.to_markdown())
    return report.model_copy(update={"checks": [*report.checks, *uplift.checks()]})


def lineage(
    job: AugmentJob,
    gen_job: JobConfig,
    loaded: RealData,
    training: TrainingSet,
    model: FittedModel,
    shards: list[Shard],
    timings: dict[str, float],
    uplift: UpliftReport,
) -> dict[str, Any]:
    """The augmented version's lineage: the generation lineage of its synthetic records, the
    augment job itself and what augmenting kept, drew and measured (the flow adds its run)."""
    return build_lineage(gen_job, training.real, model, shards, timings) | {
        "job": job.model_dump(mode="json"),
        "augment": augment_lineage(job, training, loaded, uplift),
    }


def augment_lineage(
    job: AugmentJob, training: TrainingSet, loaded: RealData, uplift: UpliftReport
) -> dict[str, Any]:
    return {
        "config": job.augment.model_dump(mode="json"),
        "real_training_records": len(loaded.train),
        "kept_real_records": len(training.labels),
        "kept_real_indices": training.real_indices,
        "real_class_counts": augment.class_counts(training.labels),
        "synthetic_per_class": training.plan,
        # augment.init: each synthetic record's parent (its `parent_index`), in record order.
        "parent_indices": None
        if training.parents is None
        else [training.real_indices[p] for p in training.parents],
        "uplift": uplift.model_dump(mode="json"),
    }


def published_rows(training: TrainingSet) -> int:
    """Real plus synthetic records: what the augmented version must hold."""
    return len(training.labels) + sum(training.plan.values())
