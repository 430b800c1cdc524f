"""Declared constraints in validation: `constraints.violations` counts the synthetic rows breaking
any of them on every row (of every part), gates at 0, and each constraint GX can express gets its
GX expectation in the suite."""

from __future__ import annotations

import pandas as pd
import pytest

from core.constraints import parse_constraints
from core.errors import ConstraintError
from validators import validate_table
from validators.constraint_checks import constraint_expectations
from validators.thresholds import Thresholds

CONSTRAINTS = parse_constraints(
    [
        {"kind": "inequality", "low": "nonflavanoid_phenols", "high": "total_phenols"},
        {"kind": "range", "column": "alcohol", "low": 11, "high": "proline", "strict": True},
        {"kind": "fixed_combinations", "columns": ["target", "magnesium"]},
        {"kind": "predicate", "expression": "hue > 0"},
    ]
)


@pytest.fixture(scope="module")
def broken(wine_real) -> pd.DataFrame:
    """Wine with 3 rows breaking the inequality and 2 more breaking the predicate."""
    frame = wine_real.copy()
    frame.loc[:2, "nonflavanoid_phenols"] = frame.loc[:2, "total_phenols"] + 1
    frame.loc[3:4, "hue"] = -1.0
    return frame


def test_violating_rows_fail_the_gate_with_counts_per_constraint(wine_real, broken):
    # Run
    report = validate_table(wine_real, broken, constraints=CONSTRAINTS)

    # Assert
    check = report.check("constraints.violations")
    assert check.value == 5 and check.gate and not check.passed
    assert check.data["per_constraint"]["predicate hue > 0"] == 2
    assert [e["row"] for e in check.data["examples"]] == [0, 1, 2, 3, 4]
    assert "constraints.violations" in report.failed_checks


def test_violations_are_counted_on_every_part(wine_real, broken, tmp_path):
    # Setup: the violating rows split over the first two parts
    paths = []
    for index, (start, stop) in enumerate(((0, 2), (2, 100), (100, len(broken)))):
        path = tmp_path / f"part-{index}.parquet"
        broken.iloc[start:stop].to_parquet(path)
        paths.append(str(path))

    # Run
    report = validate_table(wine_real, paths, constraints=CONSTRAINTS)

    # Assert
    assert report.check("constraints.violations").value == 5


def test_real_rows_pass_and_each_expressible_constraint_has_its_expectation(wine_real):
    # Run
    report = validate_table(
        wine_real, wine_real.sample(frac=1, random_state=0), constraints=CONSTRAINTS
    )

    # Assert
    names = {c.name for c in report.checks}
    assert report.check("constraints.violations").passed
    assert {
        "gx.expect_column_pair_values_a_to_be_greater_than_b:total_phenols,"
        "nonflavanoid_phenols (constraint)",
        "gx.expect_column_pair_values_a_to_be_greater_than_b:proline,alcohol (constraint)",
        "gx.expect_column_values_to_be_between:alcohol (constraint)",
        "gx.expect_column_pair_values_to_be_in_set:target,magnesium (constraint)",
    } <= names


def test_one_hot_groups_expect_a_sum_of_one_and_binary_values():
    # Run
    spec = constraint_expectations(parse_constraints([{"kind": "one_hot", "columns": ["a", "b"]}]))

    # Assert
    assert [entry["type"] for entry in spec] == [
        "expect_multicolumn_sum_to_equal",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_in_set",
    ]


def test_no_constraints_no_check(wine_real):
    # Run
    report = validate_table(wine_real, wine_real)

    # Assert
    assert "constraints.violations" not in {c.name for c in report.checks}


def test_the_gate_limit_can_be_loosened_by_check_name(wine_real, broken):
    # Setup
    thresholds = Thresholds.model_validate({"checks": {"constraints.violations": {"max": 5}}})

    # Run
    report = validate_table(wine_real, broken, constraints=CONSTRAINTS, thresholds=thresholds)

    # Assert
    assert report.check("constraints.violations").passed


def test_real_rows_breaking_a_constraint_are_an_error(wine_real):
    # Setup
    reversed_ = parse_constraints([{"kind": "inequality", "low": "proline", "high": "alcohol"}])

    # Run / Assert
    with pytest.raises(ConstraintError, match="The real table itself breaks"):
        validate_table(wine_real, wine_real, constraints=reversed_)
