"""The checks of a job's declared constraints (`core.constraints`) on every synthetic row: the
`constraints.violations` gate (rows breaking any constraint, 0 by default) and, where Great
Expectations has an expectation meaning the same, one GX expectation per constraint in the suite
derived from the real data (the gate covers formulas, increments and predicates, which GX has no
expectation for)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.constraints import (
    Constraint,
    FixedCombinations,
    Inequality,
    OneHot,
    Range,
    violation_counts,
)
from validators.report import CheckResult, make_check

PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
PAIR_IN_SET = "expect_column_pair_values_to_be_in_set"
MULTICOLUMN_SUM = "expect_multicolumn_sum_to_equal"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
EXAMPLES = 5


def constraint_expectations(constraints: Sequence[Constraint]) -> list[dict[str, Any]]:
    """GX expectation specs (`{"type", "kwargs", "constraint"}`, the last naming the
    constraint) for the constraints GX can express."""
    return [
        {**entry, "constraint": constraint.describe()}
        for constraint in constraints
        for entry in _expectations(constraint)
    ]


def _expectations(constraint: Constraint) -> list[dict[str, Any]]:
    spec: list[dict[str, Any]] = []
    if isinstance(constraint, Inequality):
        spec.append(_greater(constraint.high, constraint.low, constraint.strict))
    elif isinstance(constraint, Range):
        spec += _range(constraint)
    elif isinstance(constraint, OneHot):
        columns = list(constraint.columns)
        spec.append({"type": MULTICOLUMN_SUM, "kwargs": {"column_list": columns, "sum_total": 1}})
        spec += [{"type": IN_SET, "kwargs": {"column": c, "value_set": [0, 1]}} for c in columns]
    elif isinstance(constraint, FixedCombinations) and len(constraint.columns) == 2:
        column_a, column_b = constraint.columns
        pairs = [list(pair) for pair in constraint.combinations]
        kwargs = {"column_A": column_a, "column_B": column_b, "value_pairs_set": pairs}
        spec.append({"type": PAIR_IN_SET, "kwargs": kwargs})
    return spec


def _greater(column_a: str, column_b: str, strict: bool) -> dict[str, Any]:
    kwargs = {"column_A": column_a, "column_B": column_b, "or_equal": not strict}
    return {"type": PAIR_GREATER, "kwargs": kwargs}


def _range(constraint: Range) -> list[dict[str, Any]]:
    spec = []
    constant: dict[str, Any] = {}
    for which, value in (("min", constraint.low), ("max", constraint.high)):
        if isinstance(value, str):
            pair = (constraint.column, value) if which == "min" else (value, constraint.column)
            spec.append(_greater(*pair, constraint.strict))
        elif value is not None:
            constant |= {f"{which}_value": value, f"strict_{which}": constraint.strict}
    if constant:
        spec.append({"type": BETWEEN, "kwargs": {"column": constraint.column, **constant}})
    return spec


def constraint_violations(
    frames: Iterable[tuple[pd.DataFrame, int]], constraints: Sequence[Constraint], limit: int
) -> CheckResult:
    """`constraints.violations`: synthetic rows breaking any constraint, counted on every frame,
    with the count per constraint and the first violating rows."""
    per_constraint = np.zeros(len(constraints), dtype=int)
    rows = broken = 0
    examples: list[dict[str, Any]] = []
    for frame, _ in frames:
        flags = violation_counts(frame, constraints)
        per_constraint += flags.sum(axis=0)
        bad = np.flatnonzero(flags.any(axis=1))
        for position in bad[: max(EXAMPLES - len(examples), 0)]:
            broke = [
                c.describe() for c, flag in zip(constraints, flags[position], strict=True) if flag
            ]
            examples.append({"row": rows + int(position), "breaks": broke})
        rows, broken = rows + len(frame), broken + len(bad)
    counts = {c.describe(): int(n) for c, n in zip(constraints, per_constraint, strict=True)}
    failing = {name: n for name, n in counts.items() if n}
    detail = (
        f"{broken:,} of {rows:,} rows break a declared constraint ({len(constraints)} declared)"
    )
    if failing:
        detail += "; " + ", ".join(f"{name}: {n:,}" for name, n in failing.items())
    return make_check(
        "constraints.violations",
        "diagnostic",
        broken,
        detail,
        {"rows": rows, "per_constraint": counts, "examples": examples},
        limit=limit,
        comparison="<=",
    )
