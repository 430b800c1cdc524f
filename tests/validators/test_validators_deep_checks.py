"""`validate_table`'s detection, privacy, utility and per-column checks (known answers)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from sources.tables import split_table
from validators import Thresholds, validate_table


@pytest.fixture(scope="module")
def split(wine_real):
    train, holdout, _ = split_table(wine_real, 0.3, seed=0)
    return train, holdout


@pytest.fixture(scope="module")
def copy_report(split):
    train, holdout = split
    return validate_table(train, train.copy(), holdout=holdout, target="target")


@pytest.fixture(scope="module")
def shuffled_report(split):
    train, holdout = split
    rng = np.random.default_rng(0)
    shuffled = pd.DataFrame({c: rng.permutation(train[c].to_numpy()) for c in train.columns})
    return validate_table(train, shuffled, holdout=holdout)


def test_validate_table_copy_of_train_fails_the_privacy_and_copy_gates(copy_report):
    # Run
    dcr = copy_report.check("privacy.dcr_share")
    copies = copy_report.check("privacy.exact_copy_rate")

    # Assert
    assert dcr.value > 0.95 and dcr.passed is False and dcr.gate is True
    assert copies.value == 1.0 and copies.threshold == pytest.approx(0.05)
    assert copy_report.passed is False
    assert copy_report.failed_checks == [
        "detection.c2st_copies",
        "privacy.dcr_share",
        "privacy.exact_copy_rate",
    ]
    assert copy_report.check("privacy.nndr").gate is False


def test_validate_table_copy_keeps_utility(copy_report):
    # Run
    utility = copy_report.check("utility.tstr_ratio")

    # Assert
    assert utility.category == "utility" and utility.passed is True
    assert utility.value == pytest.approx(1.0)
    assert utility.data["metric"] == "accuracy" and utility.data["holdout_rows"] == 53


def test_validate_table_shuffled_columns_lose_pair_trends_and_are_detected(
    copy_report, shuffled_report
):
    # Run
    copied, shuffled = (
        r.check("quality.column_pair_trends").value for r in (copy_report, shuffled_report)
    )
    detection = shuffled_report.check("detection.c2st_auc")

    # Assert
    assert shuffled < copied - 0.1
    assert detection.value > 0.8 and detection.data["baseline_auc"] < 0.75
    assert detection.passed is (detection.value <= 0.9)
    assert detection.gate is False  # advisory by default
    assert "privacy.dcr_share" not in shuffled_report.failed_checks


def test_validate_table_detection_gate_can_be_switched_on(split):
    # Setup
    train, holdout = split
    rng = np.random.default_rng(0)
    shuffled = pd.DataFrame({c: rng.permutation(train[c].to_numpy()) for c in train.columns})
    gates = Thresholds(detection_must_pass=True, detection_auc_max=0.6)

    # Run
    report = validate_table(train, shuffled, holdout=holdout, thresholds=gates)

    # Assert
    assert "detection.c2st_auc" in report.failed_checks


def test_validate_table_columns_summary_has_per_column_details(shuffled_report, split):
    # Run
    summary = shuffled_report.check("columns.summary").data["columns"]

    # Assert
    train, _ = split
    assert list(summary) == list(train.columns)
    alcohol = summary["alcohol"]
    assert alcohol["kind"] == "numeric" and alcohol["outside_real_range"] == 0.0
    assert alcohol["real"]["min"] == pytest.approx(train["alcohol"].min())
    assert summary["target"]["kind"] == "categorical"
    assert summary["target"]["total_variation"] == pytest.approx(0.0)  # a permutation


def test_validate_table_target_needs_a_holdout(split):
    # Setup
    train, _ = split

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("needs real holdout rows")):
        validate_table(train, train, target="target")


def test_validate_table_unknown_target_lists_columns(split):
    # Setup
    train, holdout = split

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("target 'label' is not a column")):
        validate_table(train, train, holdout=holdout, target="label")
