"""The augment flow: load real data -> keep the chosen training records -> fit (cached) ->
sample class-conditional records -> validate them -> measure the downstream uplift -> publish
real + synthetic as one version, each record flagged and with its provenance.

Each task wraps one step of `pipeline.augment`; loading, fitting and publishing are the generation
flow's own tasks. The real holdout is split off before anything else and only ever scores the
classifiers.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from datastore import DatasetStore, FileEntry, StagedVersion
from datastore.model_cache import model_cache_root
from flows.generate import _transient_only, fit_generator, load_source, publish, run_info
from flows.launch import cancel_if_interrupted
from job.augment_config import AugmentJob
from job.config import JobConfig
from modalities import RealData
from pipeline import augment, steps
from pipeline.augment import TrainingSet
from pipeline.publish import raise_if_quarantined, staging
from pipeline.steps import FittedModel, Shard, shard_plan
from validators import ValidationReport
from validators.uplift import UpliftReport


# Named as before in the Prefect UI; the function that selects is `job.augment`'s.
@task(name="select_training", cache_policy=NO_CACHE)
def training_set(job: AugmentJob, loaded: RealData) -> TrainingSet:
    training = augment.training_set(job, loaded)
    get_run_logger().info(
        "Kept %d of %d real training records; drawing %s synthetic records per class",
        len(training.labels),
        len(loaded.train),
        training.plan,
    )
    return training


@task(cache_policy=NO_CACHE)
def write_real_part(
    gen_job: JobConfig, training: TrainingSet, staged: StagedVersion, schema: Any
) -> FileEntry:
    return augment.write_real_part(gen_job, training, staged, schema)


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
    return augment.sample_class_shard(job, model, training, staged, shard, schema, label)


@task(cache_policy=NO_CACHE)
def validate_synthetic(
    job: AugmentJob, gen_job: JobConfig, training: TrainingSet, staged: StagedVersion
) -> ValidationReport:
    return augment.validate_synthetic(job, gen_job, training, staged)


@task(cache_policy=NO_CACHE)
def measure_augmentation_uplift(
    job: AugmentJob, gen_job: JobConfig, training: TrainingSet, staged: StagedVersion
) -> UpliftReport:
    return augment.measure_augmentation_uplift(job, gen_job, training, staged)


@flow(name="synthpipe-augment", on_crashed=[cancel_if_interrupted])
def augment_dataset(job: AugmentJob) -> str:
    """Run one augment job; returns the new version's reference (`name@N`).

    Raises ValidationFailedError (after publishing the version as quarantined) when the
    synthetic records fail a gate.
    """
    store = DatasetStore(job.root)
    loaded = load_source(job.generation_job(rows=1), str(store.root))
    training = training_set(job, loaded)
    gen_job = job.generation_job(rows=sum(training.plan.values()))
    model = fit_generator(gen_job, training.real, str(model_cache_root(store)))
    schema = augment.schema(gen_job, training)
    with staging(store, job.dataset) as staged:
        watch = steps.Stopwatch()
        write_real_part(gen_job, training, staged, schema)
        shards = shard_plan(gen_job.rows, job.shard_rows, job.seed)
        with steps.sampling(shards):
            for shard in shards:
                sample_class_shard(
                    gen_job, model, training, staged, shard, schema, job.augment.label
                )
        watch.lap("sample")
        augment.stage_model_and_views(gen_job, model, staged)
        report = validate_synthetic(job, gen_job, training, staged)
        watch.lap("validate")
        uplift = measure_augmentation_uplift(job, gen_job, training, staged)
        report = augment.add_uplift(staged, report, uplift)
        watch.lap("uplift")
        lineage = (
            augment.lineage(job, gen_job, loaded, training, model, shards, watch.laps, uplift)
            | run_info()
        )
        rows = augment.published_rows(training)
        version = publish(staged, gen_job.model_copy(update={"rows": rows}), lineage, report)
    raise_if_quarantined(version, report)
    return version.ref
