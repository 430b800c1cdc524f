"""The pure generation steps: shard plans and the fitted-model cache (repeated, scheduled runs
only sample; new data or new fitting code retrain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UntrustedFileError
from datastore import DatasetStore
from job.config import JobConfig, parse_job
from modalities.real_data import load_real
from pipeline import steps
from pipeline.run import run_job
from pipeline.steps import shard_plan


def test_shard_plan_full_shards_then_remainder_with_own_seeds():
    # Run
    plan = shard_plan(300, 128, seed=3)

    # Assert
    assert [s.rows for s in plan] == [128, 128, 44]
    assert [s.first_index for s in plan] == [0, 128, 256]
    assert len({s.seed for s in plan}) == 3
    assert [s.seed for s in shard_plan(300, 128, seed=3)] == [s.seed for s in plan]
    assert [s.rows for s in shard_plan(256, 128)] == [128, 128]
    assert [s.rows for s in shard_plan(5, 100)] == [5]


@pytest.fixture
def job(tmp_path, wine) -> JobConfig:
    """A copula job on `real.csv` with its store under tmp_path."""
    csv = tmp_path / "real.csv"
    wine.to_csv(csv, index=False)
    return parse_job(
        {
            "dataset": "wine-cache",
            "source": {"path": str(csv)},
            "generator": {"name": "gaussian_copula"},
            "rows": 50,
            "root": str(tmp_path / "store"),
        }
    )


@pytest.fixture
def fit(tmp_path, job):
    """Fit (or reuse) the job's copula, as the pipeline's fit step does."""

    def run():
        return steps.fit(job, load_real(job, job.root), job.root)

    return run, tmp_path / "real.csv"


def test_fit_same_inputs_reuse_the_model(fit):
    # Setup
    run, _ = fit

    # Run
    first, second = run(), run()

    # Assert
    assert (first.reused, second.reused) == (False, True)
    assert second.key == first.key and second.path == first.path


def test_fit_new_source_fingerprint_retrains(fit, wine):
    # Setup
    run, csv = fit
    first = run()

    # Run: the real data changed (fewer rows), so the source fingerprint changes.
    wine.iloc[:150].to_csv(csv, index=False)
    second = run()

    # Assert
    assert second.reused is False
    assert second.key != first.key


def test_fit_new_fitting_code_retrains(fit, monkeypatch):
    # Setup
    run, _ = fit
    first = run()

    # Run: a new version of the generator code (what a deploy of new generator code looks like).
    monkeypatch.setattr("job.lineage.code_version", lambda: "0123456789abcdef")
    second = run()

    # Assert
    assert second.reused is False
    assert second.key != first.key


def test_run_job_tampered_cached_model_fails_without_running_it(fit, job, plant_pickle, tmp_path):
    # Setup: the job's model is cached, then its pickle replaced (the attack on `synth run`).
    run, _ = fit
    pickled = plant_pickle(Path(run().path))

    # Run / Assert: an error naming the file, not a silent re-fit that would hide the tampering.
    with pytest.raises(UntrustedFileError, match="Refusing to load") as caught:
        run_job(job)
    assert str(pickled) in str(caught.value)
    assert not (tmp_path / "marker").exists()
    store = DatasetStore(job.root)
    assert store.list_datasets() == []
    assert not any((store.root / ".staging").iterdir())
