"""The default gates against the calibration cases of `validators.baselines` (README: "What the
gates promise"): unseen real rows pass, every known-bad synthetic set fails."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from sources.tables import load_builtin
from validators import Thresholds, ValidationReport, validate_table
from validators.baselines import (
    CALIBRATION_SEED,
    CASES,
    CalibrationSplit,
    build_case,
    calibration_split,
)
from validators.quality import pair_trends_retained_check

# wine and diabetes validate in ~2 s per case; fair (6,366 rows) and breast_cancer (31 columns:
# 465 column pairs) take 5-20 s on a shared 2-core machine.
TABLES = [
    "wine",
    "diabetes",
    pytest.param("fair", marks=pytest.mark.slow),
    pytest.param("breast_cancer", marks=pytest.mark.slow),
]


@cache
def _split(table: str) -> CalibrationSplit:
    return calibration_split(load_builtin(table), CALIBRATION_SEED)


@cache
def _report(table: str, case: str) -> ValidationReport:
    split = _split(table)
    return validate_table(
        split.train, build_case(case, split), holdout=split.holdout, seed=CALIBRATION_SEED
    )


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("table", TABLES)
def test_default_gates_pass_unseen_real_rows_and_fail_every_bad_set(table, case):
    # Run
    report = _report(table, case)

    # Assert
    _, must_pass = CASES[case]
    assert report.passed is must_pass, f"{table} / {case}: failed {report.failed_checks}"


@pytest.mark.parametrize("table", ["wine", "diabetes"])
def test_shuffled_columns_fail_on_the_association_they_lost(table):
    # Run
    report = _report(table, "shuffled_columns")

    # Assert: every marginal is intact and the fixed pair-trends gate is cleared; only the
    # pair-trends score relative to the real baselines fails.
    assert report.failed_checks == ["quality.pair_trends_retained"]
    assert report.check("quality.column_shapes").value == pytest.approx(1.0)
    assert report.check("quality.column_pair_trends").passed is True
    retained = report.check("quality.pair_trends_retained")
    assert retained.value < 0.3 and retained.data["holdout"] > retained.data["shuffled_real"]


def test_copies_fail_the_detection_gate_even_without_a_holdout():
    # Setup
    split = _split("wine")

    # Run
    report = validate_table(split.train, build_case("verbatim_copy", split), seed=0)

    # Assert
    assert report.failed_checks == ["detection.c2st_copies"]
    assert report.check("detection.c2st_copies").value < 0.1
    assert report.check("quality.pair_trends_retained").detail == (
        "not applicable: needs a real holdout"
    )


def test_pair_trends_retained_not_applicable_when_the_holdout_has_no_association():
    # Setup: a and b are correlated in the reference rows, independent in the holdout rows
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    reference = pd.DataFrame({"a": a, "b": a + 0.3 * rng.normal(size=300)})
    holdout = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})

    # Run
    check = pair_trends_retained_check(reference, 0.9, holdout, Thresholds())

    # Assert
    assert check.value is None and check.passed is True
    assert "(no association)" in check.detail
    assert check.data["holdout"] - check.data["shuffled_real"] < 0.02


def test_case_builders_keep_dtypes_and_sizes():
    # Setup
    split = _split("fair")

    # Run
    frames = {case: build_case(case, split) for case in CASES}

    # Assert
    for case, frame in frames.items():
        assert list(frame.columns) == list(split.train.columns), case
        assert frame.dtypes.equals(split.train.dtypes), case
    assert len(frames["real_holdout"]) == len(split.fresh)
    assert {len(frames[c]) for c in CASES if c != "real_holdout"} == {len(split.train)}
    shuffled = frames["shuffled_columns"]
    assert all(sorted(shuffled[c]) == sorted(split.train[c]) for c in shuffled.columns)
    assert frames["repeated_row"].drop_duplicates().shape[0] == 1


def test_calibration_split_too_small_raises():
    # Run / Assert
    with pytest.raises(DataError, match="at least 10 rows in each split"):
        calibration_split(pd.DataFrame({"a": range(20)}))
