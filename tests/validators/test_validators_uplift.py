"""The augmentation uplift: paired real-only vs real + synthetic classifiers on a real holdout."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from validators.report import ValidationReport
from validators.uplift import measure_uplift, table_matrices


def _blobs(rng: np.random.Generator, counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes in 4-D: class b is shifted by 1.5 on every axis."""
    x = np.concatenate([rng.normal(1.5 * (name == "b"), 1.0, (n, 4)) for name, n in counts.items()])
    y = np.concatenate([[name] * n for name, n in counts.items()])
    return x, y


@pytest.fixture(scope="module")
def starved():
    """Class b has 3 real training records; the 'synthetic' ones come from its true law."""
    rng = np.random.default_rng(0)
    return (
        *_blobs(rng, {"a": 60, "b": 3}),
        *_blobs(rng, {"b": 60}),
        *_blobs(rng, {"a": 100, "b": 100}),
    )


@pytest.fixture(scope="module")
def report(starved):
    return measure_uplift(*starved, model="random_forest", seeds=3, seed=5)


def test_measure_uplift_reports_every_field_per_metric_and_class(report):
    # Assert
    assert report.seeds == [5, 6, 7]
    assert (report.real_rows, report.synthetic_rows, report.holdout_rows) == (63, 60, 200)
    assert report.class_counts == {
        "real": {"a": 60, "b": 3},
        "synthetic": {"b": 60},
        "holdout": {"a": 100, "b": 100},
    }
    assert set(report.metrics) == {"accuracy", "macro_f1", "balanced_accuracy"}
    assert set(report.oversampling_baseline) == set(report.metrics)
    baseline = report.oversampling_baseline["accuracy"]
    assert baseline.real_only == report.metrics["accuracy"].real_only  # the same real-only fits
    assert set(report.per_class) == {"a", "b"}
    assert set(report.per_class["b"]) == {"recall", "f1"}
    accuracy = report.metrics["accuracy"]
    assert len(accuracy.per_seed_difference) == 3
    assert accuracy.difference.mean == pytest.approx(
        accuracy.augmented.mean - accuracy.real_only.mean, abs=1e-6
    )
    assert accuracy.difference.std == pytest.approx(np.std(accuracy.per_seed_difference), abs=1e-6)


def test_measure_uplift_helps_the_starved_class(report):
    # Assert: with 3 real b records the forest rarely predicts b; true-law b records fix that.
    assert report.per_class["b"]["recall"].difference.mean > 0.2
    assert report.metrics["balanced_accuracy"].difference.mean > 0.1
    # ...which duplicating the 3 real b records does not match.
    baseline = report.oversampling_baseline["balanced_accuracy"]
    assert report.metrics["balanced_accuracy"].augmented.mean > baseline.augmented.mean + 0.05


def test_measure_uplift_is_deterministic_for_a_seed(starved, report):
    # Run
    again = measure_uplift(*starved, model="random_forest", seeds=3, seed=5)

    # Assert
    assert again.model_dump(exclude={"created_at"}) == report.model_dump(exclude={"created_at"})


def test_uplift_checks_are_advisory_and_markdown_lists_classes(starved):
    # Run
    report = measure_uplift(*starved, model="logistic_regression", seeds=2)

    # Assert
    checks = report.checks()
    assert [c.name for c in checks] == [
        "uplift.accuracy",
        "uplift.macro_f1",
        "uplift.balanced_accuracy",
    ]
    assert all(c.category == "utility" and not c.gate for c in checks)
    assert report.metrics["accuracy"].difference.std == pytest.approx(0, abs=1e-9)  # deterministic
    summary = ValidationReport(
        checks=checks,
        real_rows=63,
        synthetic_rows=60,
        evaluated_rows=60,
        sample_seed=0,
        thresholds={},
        created_at=report.created_at,
    )
    assert summary.passed and "| `uplift.accuracy` |" in summary.to_markdown()
    assert summary.to_markdown().count("| measured |") == 3
    markdown = report.to_markdown()
    assert "| b | 3/60/100 |" in markdown and "logistic_regression" in markdown


def test_measure_uplift_mismatched_features_name_the_side(starved):
    # Setup
    x_real, y_real, x_syn, y_syn, x_hold, y_hold = starved

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("The synthetic features have 3 columns")):
        measure_uplift(x_real, y_real, x_syn[:, :3], y_syn, x_hold, y_hold, seeds=2)


def test_table_matrices_share_one_encoding_and_impute_missing():
    # Setup
    train = pd.DataFrame({"c": ["x", "y", "x"], "v": [1.0, np.nan, 3.0], "t": ["a", "b", "a"]})
    synthetic = pd.DataFrame({"c": ["y"], "v": [2.0], "t": ["b"]})
    holdout = pd.DataFrame({"c": ["x"], "v": [np.nan], "t": ["a"]})

    # Run
    x_train, x_synthetic, x_holdout = table_matrices(train, synthetic, holdout, "t")

    # Assert
    assert x_train.shape == (3, 2) and x_synthetic.tolist() == [[1.0, 2.0]]
    assert x_holdout.tolist() == [[0.0, 2.0]]  # the missing value takes the real median
