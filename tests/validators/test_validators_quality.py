from __future__ import annotations

import numpy as np
import pandas as pd

from validators import Thresholds
from validators._frames import shuffle_columns
from validators.quality import sdmetrics_checks


def test_sdmetrics_checks_scores_ordinal_columns(fair_real):
    # Setup: SDV 2.0 detects fair's coded answers (e.g. rate_marriage 1..5) as `ordinal`
    real = fair_real.sample(400, random_state=0)
    synthetic = fair_real.sample(400, random_state=1)

    # Run
    checks = {c.name: c for c in sdmetrics_checks(real, synthetic, Thresholds())}

    # Assert
    shapes = checks["quality.column_shapes"].data["columns"]
    validity = checks["diagnostic.data_validity"].data["columns"]
    assert shapes["rate_marriage"]["metric"] == "TVComplement"
    assert shapes["rate_marriage"]["score"] > 0.8
    assert validity["rate_marriage"]["metric"] == "CategoryAdherence"
    assert shapes["age"]["metric"] == "KSComplement"
    assert [name for name, c in checks.items() if not c.passed] == []


def test_sdmetrics_checks_names_extra_synthetic_column(wine_real):
    # Setup
    synthetic = wine_real.assign(batch_id=1)

    # Run
    checks = {c.name: c for c in sdmetrics_checks(wine_real, synthetic, Thresholds())}

    # Assert
    structure = checks["diagnostic.data_structure"]
    assert structure.passed is False
    assert structure.value < 1.0
    assert structure.detail == "synthetic has extra columns ['batch_id']"
    assert checks["quality.overall"].passed is True


def test_sdmetrics_checks_names_unscorable_column(wine_real):
    # Setup: a constant synthetic column has no correlation, so SDMetrics cannot score its pairs
    synthetic = wine_real.assign(hue=1.0)

    # Run
    checks = {c.name: c for c in sdmetrics_checks(wine_real, synthetic, Thresholds())}

    # Assert
    trends = checks["quality.column_pair_trends"]
    assert "not scored:" in trends.detail and "hue" in trends.detail
    assert "contains a constant value" in trends.data["pairs"]["alcohol | hue"]["error"]
    assert trends.data["pairs"]["alcohol | hue"]["score"] is None


def test_sdmetrics_checks_single_column_has_no_pair_trends():
    # Setup
    real = pd.DataFrame({"x": [float(i % 17) for i in range(100)]})

    # Run
    checks = {c.name: c for c in sdmetrics_checks(real, real.copy(), Thresholds())}

    # Assert
    trends = checks["quality.column_pair_trends"]
    assert (trends.passed, trends.value, trends.detail) == (
        True,
        None,
        "not applicable: nothing to score",
    )
    assert checks["quality.overall"].value == 1.0


def test_sdmetrics_checks_names_dtype_difference(wine_real):
    # Setup: same values, but SDMetrics' Data Structure compares (name, dtype) pairs
    synthetic = wine_real.astype({"proline": "float32"})

    # Run
    checks = {c.name: c for c in sdmetrics_checks(wine_real, synthetic, Thresholds())}

    # Assert
    structure = checks["diagnostic.data_structure"]
    assert structure.passed is False
    assert structure.data["dtype_differences"] == {"proline": "real float64, synthetic float32"}
    assert "dtypes differ" in structure.detail


def test_sdmetrics_checks_give_the_real_holdout_scores_as_quality_baselines(wine_real):
    # Setup: train on one half of wine; the other half is the holdout; synthetic is noise
    train, holdout = wine_real.iloc[::2], wine_real.iloc[1::2]
    shuffled = shuffle_columns(train, np.random.default_rng(0))  # associations gone

    # Run
    plain = {c.name: c for c in sdmetrics_checks(train, shuffled, Thresholds())}
    checks = {c.name: c for c in sdmetrics_checks(train, shuffled, Thresholds(), holdout=holdout)}

    # Assert: without a holdout no baseline; with one, real rows score above shuffled columns
    assert all(check.baseline is None for check in plain.values())
    pairs = checks["quality.column_pair_trends"]
    assert pairs.baseline is not None and pairs.baseline > pairs.value
    assert 0.0 < checks["quality.overall"].baseline <= 1.0
    assert checks["quality.column_shapes"].baseline is not None
    assert checks["diagnostic.data_validity"].baseline is None  # a diagnostic, not a similarity
    assert (
        "baseline: the real holdout (89 rows; fewer rows score lower)"
        in checks["quality.overall"].detail
    )
    assert checks["quality.overall"].value == plain["quality.overall"].value
