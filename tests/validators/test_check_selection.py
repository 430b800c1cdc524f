"""A job selects the table suite's checks by name: drop, add (advisory made gating) and
re-threshold, read from a job file and applied by `validate_table`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from job.config import load_job
from validators import Thresholds, validate_table

PRIVACY = ("privacy.dcr_share", "privacy.exact_copy_rate", "privacy.nndr")


@pytest.fixture(scope="module")
def split(wine_real: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train and holdout rows of wine, and train with noise on its numeric columns."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(wine_real))
    train, holdout = wine_real.iloc[order[:130]], wine_real.iloc[order[130:]]
    noisy = train.copy()
    for name in noisy.select_dtypes("number"):
        noisy[name] += rng.normal(0, 0.2 * noisy[name].std(), len(noisy))
    return train, holdout, noisy


def _job_file(directory: Path, validation: dict) -> Path:
    job = {
        "dataset": "wine-checks",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 130,
        "validation": validation,
    }
    path = directory / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_job_file_drops_adds_and_rethresholds_checks_by_name(tmp_path, split):
    # Setup
    train, holdout, noisy = split
    validation = {
        "drop": ["detection.c2st_auc"],
        "add": ["privacy.nndr"],
        "checks": {"privacy.dcr_share": {"max": 0.65}},
    }
    job = load_job(_job_file(tmp_path, validation))

    # Run
    report = validate_table(train, noisy, holdout=holdout, thresholds=job.validation)

    # Assert
    checks = {check.name: check for check in report.checks}
    assert "detection.c2st_auc" not in checks
    assert "detection.c2st_copies" in checks  # the same C2ST run, still judged
    assert checks["privacy.dcr_share"].threshold == 0.65
    assert checks["privacy.nndr"].gate is True  # advisory by default
    assert (report.thresholds["dcr_share_max"], report.thresholds["drop"]) == (
        0.65,
        ("detection.c2st_auc",),
    )
    assert "checks" not in report.thresholds  # its value is in dcr_share_max
    assert not {"drop", "add", "checks"} & set(Thresholds().model_dump())  # reports as before


def test_dropped_checks_skip_their_measures_but_not_one_another_needs(monkeypatch, split):
    # Setup: DCR and Great Expectations must not run once every check judging them is dropped
    train, holdout, noisy = split

    def never(*args, **kwargs):
        raise AssertionError("a measure of dropped checks ran")

    monkeypatch.setattr("validators.table_checks.dcr_privacy", never)
    monkeypatch.setattr("validators.table_checks.run_expectations", never)
    thresholds = Thresholds(drop=(*PRIVACY, "expectations.success", "quality.column_pair_trends"))

    # Run
    report = validate_table(train, noisy, holdout=holdout, thresholds=thresholds)

    # Assert
    names = [check.name for check in report.checks]
    assert not [name for name in names if name.startswith(("privacy.", "gx.", "expectations."))]
    assert report.gx_result is None
    assert "quality.column_pair_trends" not in names
    retained = report.check("quality.pair_trends_retained")  # still scores pair trends itself
    assert retained.value is not None and retained.data["synthetic"] > 0
