from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

import validators.thresholds as thresholds_module
from validators import Thresholds


def test_thresholds_defaults_documented():
    # Setup
    defaults = Thresholds()
    doc = thresholds_module.__doc__

    # Run
    undocumented = [
        name
        for name, info in Thresholds.model_fields.items()
        if f"`{name}`" not in doc or "Default" not in (info.description or "")
    ]

    # Assert
    assert undocumented == []
    assert (defaults.quality_min, defaults.column_shapes_min, defaults.column_pair_trends_min) == (
        0.70,
        0.70,
        0.60,
    )
    assert (defaults.validity_min, defaults.structure_min) == (0.95, 1.0)
    assert defaults.expectations_must_pass is True
    assert (defaults.range_tolerance, defaults.null_fraction_tolerance) == (0.05, 0.05)
    assert defaults.max_rows_for_metrics == 20_000
    assert (defaults.pair_trends_retained_min, defaults.range_outside_max) == (0.50, 0.10)
    assert defaults.detection_auc_min == 0.20


def test_thresholds_extra_key_raises_naming_key():
    # Run / Assert
    with pytest.raises(ValidationError, match=re.escape("qualty_min")):
        Thresholds.model_validate({"qualty_min": 0.8})


def test_thresholds_score_above_one_raises():
    # Run / Assert
    with pytest.raises(
        ValidationError, match=re.escape("quality_min is a score or fraction in [0, 1], got 1.5")
    ):
        Thresholds(quality_min=1.5)


def test_thresholds_negative_tolerance_raises():
    # Run / Assert
    with pytest.raises(ValidationError, match=re.escape("range_tolerance")):
        Thresholds(range_tolerance=-0.1)


def test_thresholds_zero_metric_rows_raises():
    # Run / Assert
    with pytest.raises(ValidationError, match=re.escape("max_rows_for_metrics")):
        Thresholds(max_rows_for_metrics=0)
