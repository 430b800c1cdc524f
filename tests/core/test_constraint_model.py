"""The constraints model and its safe evaluator: what a job may declare, what is refused before any
data is read, and the errors a source that breaks a constraint gets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.constraints import check_against, parse_constraints, violation_counts
from core.errors import ConfigError, ConstraintError
from core.expressions import evaluate, expression_columns, parse_expression


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "low": [1.0, 2.0, 3.0],
            "high": [2.0, 2.0, 5.0],
            "price": [2.0, 3.0, 4.0],
            "qty": [1, 2, 3],
            "total": [2.0, 6.0, 12.0],
            "od/x": [0, 1, 0],
        }
    )


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "price.__class__",
        "().__class__.__bases__",
        "open('/etc/passwd')",
        "eval('1')",
        "price[0]",
        "(lambda: 1)()",
        "[x for x in price]",
        "__builtins__",
        "abs(price, key=1)",
    ],
)
def test_evaluator_refuses_anything_but_the_whitelist(text):
    # Run / Assert: refused when parsed, before any frame is read
    with pytest.raises(ConfigError):
        parse_expression(text)


def test_evaluator_computes_row_by_row_over_columns(frame):
    # Run
    total = evaluate("price * qty", frame)
    odd = evaluate('col("od/x") == 1 and not (qty > 2)', frame)
    chained = evaluate("1 <= qty < 3", frame)

    # Assert
    assert total.tolist() == [2.0, 6.0, 12.0]
    assert odd.tolist() == [False, True, False]
    assert chained.tolist() == [True, True, False]
    assert expression_columns('maximum(price, col("od/x")) + qty') == ["price", "od/x", "qty"]


def test_evaluator_numbers_cannot_blow_up():
    # Run: Python ints would compute a number with billions of digits
    value = evaluate("10 ** 10 ** 10", pd.DataFrame({"a": [1]}))

    # Assert
    assert np.isinf(value).all()


def test_every_kind_parses_and_judges_rows(frame):
    # Setup
    constraints = parse_constraints(
        [
            {"kind": "inequality", "low": "low", "high": "high", "strict": True},
            {"kind": "range", "column": "price", "low": "low", "high": 4},
            {"kind": "fixed_increments", "column": "qty", "increment": 1},
            {"kind": "one_hot", "columns": ["od/x", "qty"]},
            {"kind": "formula", "column": "total", "expression": "price * qty"},
            {"kind": "predicate", "expression": "qty < 3"},
        ]
    )

    # Run
    flags = violation_counts(frame, constraints)

    # Assert: row 1 has low == high; one_hot rows need exactly one 1; row 2 has qty 3
    assert flags[:, 0].tolist() == [False, True, False]
    assert flags[:, 1].tolist() == [False, False, False]
    assert not flags[:, 2].any() and not flags[:, 4].any()
    assert flags[:, 3].tolist() == [False, True, True]
    assert flags[:, 5].tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [
                {"kind": "inequality", "low": "a", "high": "b", "strict": True},
                {"kind": "inequality", "low": "b", "high": "a"},
            ],
            "contradictory",
        ),
        (
            [
                {"kind": "formula", "column": "t", "expression": "a * 2"},
                {"kind": "formula", "column": "t", "expression": "a * 3"},
            ],
            "both derive 't'",
        ),
        (
            [
                {"kind": "formula", "column": "a", "expression": "b + 1"},
                {"kind": "formula", "column": "b", "expression": "a - 1"},
            ],
            "cycle",
        ),
    ],
)
def test_contradictory_constraints_are_refused_whatever_the_data(raw, message):
    # Run / Assert
    with pytest.raises(ConfigError, match=message):
        parse_constraints(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "range", "column": "x", "low": 5, "high": 1},
        {"kind": "range", "column": "x"},
        {"kind": "inequality", "low": "a", "high": "a"},
        {"kind": "formula", "column": "t", "expression": "t + 1"},
        {"kind": "predicate", "expression": "x.__class__"},
        {"kind": "sum", "columns": ["a"]},
    ],
)
def test_bad_single_constraints_are_refused(raw):
    # Run / Assert
    with pytest.raises((ValidationError, ConfigError)):
        parse_constraints([raw])


def test_source_breaking_a_constraint_says_how_many_rows_and_which(frame):
    # Setup
    constraints = parse_constraints(
        [{"kind": "inequality", "low": "low", "high": "high", "strict": True}]
    )

    # Run / Assert
    with pytest.raises(ConstraintError, match=r"1 of 3 rows; the first: rows \[1\]"):
        check_against(frame, constraints)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "inequality", "low": "low", "high": "nope"}, r"names column\(s\) \['nope'\]"),
        ({"kind": "inequality", "low": "low", "high": "name"}, "needs numbers"),
        ({"kind": "range", "column": "gap", "low": 0}, "missing values"),
    ],
)
def test_source_checks_name_the_constraint_and_the_fix(frame, raw, message):
    # Setup
    frame = frame.assign(name=["a", "b", "c"], gap=[1.0, None, 2.0])

    # Run / Assert
    with pytest.raises(ConstraintError, match=message):
        check_against(frame, parse_constraints([raw]))


def test_fixed_combinations_learn_the_real_combinations():
    # Setup
    real = pd.DataFrame({"city": ["a", "b", "a"], "country": ["x", "y", "x"]})
    (constraint,) = check_against(
        real, parse_constraints([{"kind": "fixed_combinations", "columns": ["city", "country"]}])
    )
    other = pd.DataFrame({"city": ["a", "a"], "country": ["x", "y"]})

    # Run / Assert
    assert constraint.combinations == (("a", "x"), ("b", "y"))
    assert constraint.violated(other).tolist() == [False, True]
