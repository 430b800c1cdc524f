"""Fitted-model cache in the flow: repeated (scheduled) runs only sample; new data or new fitting
code retrain."""

from __future__ import annotations

import pytest

from flows.generate import fit_generator
from synthpipe.jobs import parse_job
from synthpipe.real_data import load_real

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def fit(tmp_path, wine):
    """Fit (or reuse) a copula on `real.csv` in a store under tmp_path, as the flow's task does."""
    csv = tmp_path / "real.csv"
    wine.to_csv(csv, index=False)
    job = parse_job(
        {
            "dataset": "wine-cache",
            "source": {"path": str(csv)},
            "generator": {"name": "gaussian_copula"},
            "rows": 50,
            "root": str(tmp_path / "store"),
        }
    )

    def run():
        return fit_generator(job, load_real(job, job.root), job.root)

    return run, csv


def test_fit_generator_same_inputs_reuse_the_model(fit):
    # Setup
    run, _ = fit

    # Run
    first, second = run(), run()

    # Assert
    assert (first.reused, second.reused) == (False, True)
    assert second.key == first.key and second.path == first.path


def test_fit_generator_new_source_fingerprint_retrains(fit, wine):
    # Setup
    run, csv = fit
    first = run()

    # Run: the real data changed (fewer rows), so the source fingerprint changes.
    wine.iloc[:150].to_csv(csv, index=False)
    second = run()

    # Assert
    assert second.reused is False
    assert second.key != first.key


def test_fit_generator_new_fitting_code_retrains(fit, monkeypatch):
    # Setup
    run, _ = fit
    first = run()

    # Run: a new version of the generator code (what a deploy of new generator code looks like).
    monkeypatch.setattr("synthpipe.lineage.code_version", lambda: "0123456789abcdef")
    second = run()

    # Assert
    assert second.reused is False
    assert second.key != first.key
