"""Constraints that every synthetic row must hold: a job's `constraints:` list, typed.

The kinds follow SDV's semantics: `inequality` (`low < high`, or `<=`), `range` (a column between
column or constant bounds), `fixed_combinations` (only combinations of values seen in the real
data), `fixed_increments` (multiples of an increment), `one_hot` (exactly one column of a group
is 1), `formula` (a derived column, e.g. `total = price * qty`) and `predicate` (any row
condition, a last resort). Expressions are evaluated by `core.expressions`, never by `eval`.

Generators enforce them (`generators.constraint_plan`), validators count violations; both read
this module. A constraint holds on a row when `violated(frame)` is False there.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from core.errors import ConfigError, ConstraintError
from core.expressions import evaluate, expression_columns, parse_expression

EXAMPLES = 5  # violating rows named in an error
Bound = str | float  # a column name, or a constant


class _Constraint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def reads(self) -> list[str]:
        """Every column the constraint reads."""
        raise NotImplementedError

    def describe(self) -> str:
        """How errors and reports name it, e.g. `inequality s2 < s1`."""
        raise NotImplementedError

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        """A boolean per row: True where the row breaks the constraint."""
        raise NotImplementedError

    def numeric_columns(self) -> list[str]:
        """The columns that must hold numbers (or datetimes)."""
        return self.reads()


class Inequality(_Constraint):
    kind: Literal["inequality"] = "inequality"
    low: str
    high: str
    strict: bool = False

    @model_validator(mode="after")
    def _two_columns(self) -> Inequality:
        if self.low == self.high:
            raise ValueError(f"inequality compares {self.low!r} with itself; name two columns")
        return self

    def reads(self) -> list[str]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"inequality {self.low} {'<' if self.strict else '<='} {self.high}"

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        low, high = frame[self.low].to_numpy(), frame[self.high].to_numpy()
        return ~(low < high) if self.strict else ~(low <= high)


class Range(_Constraint):
    kind: Literal["range"] = "range"
    column: str
    low: Bound | None = None
    high: Bound | None = None
    strict: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.low is None and self.high is None:
            raise ValueError(f"range on {self.column!r} needs low, high or both")
        if self.column in (self.low, self.high):
            raise ValueError(f"range on {self.column!r} names the column as its own bound")
        constants = [b for b in (self.low, self.high) if isinstance(b, float | int)]
        if len(constants) == 2 and (
            constants[0] > constants[1] or (self.strict and constants[0] == constants[1])
        ):
            raise ValueError(
                f"range on {self.column!r} is contradictory: low {self.low} is not below high "
                f"{self.high}; swap the bounds"
            )
        return self

    def bound_columns(self) -> list[str]:
        return [b for b in (self.low, self.high) if isinstance(b, str)]

    def reads(self) -> list[str]:
        return [self.column, *self.bound_columns()]

    def describe(self) -> str:
        sign = "<" if self.strict else "<="
        low = f"{self.low} {sign} " if self.low is not None else ""
        high = f" {sign} {self.high}" if self.high is not None else ""
        return f"range {low}{self.column}{high}"

    def bound(self, frame: pd.DataFrame, which: Literal["low", "high"]) -> Any:
        value = self.low if which == "low" else self.high
        return frame[value].to_numpy() if isinstance(value, str) else value

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[self.column].to_numpy()
        ok = np.ones(len(frame), dtype=bool)
        for which, above in (("low", True), ("high", False)):
            limit = self.bound(frame, which)
            if limit is None:
                continue
            if above:
                ok &= (x > limit) if self.strict else (x >= limit)
            else:
                ok &= (x < limit) if self.strict else (x <= limit)
        return ~ok


class FixedCombinations(_Constraint):
    """Only the combinations of these columns' values that the real data holds."""

    kind: Literal["fixed_combinations"] = "fixed_combinations"
    columns: tuple[str, ...] = Field(min_length=2)
    combinations: tuple[tuple[Any, ...], ...] = Field(
        (),
        description="the allowed combinations; default: those of the real data (filled by "
        "`with_combinations` when the source is checked and when a generator is fitted)",
    )

    def reads(self) -> list[str]:
        return list(self.columns)

    def numeric_columns(self) -> list[str]:
        return []

    def describe(self) -> str:
        return f"fixed_combinations of {list(self.columns)}"

    def with_combinations(self, frame: pd.DataFrame) -> FixedCombinations:
        """These columns' combinations in `frame` as the allowed ones, unless some were given."""
        if self.combinations:
            return self
        rows = frame[list(self.columns)].drop_duplicates().itertuples(index=False, name=None)
        found = tuple(sorted((tuple(_plain(v) for v in row) for row in rows), key=repr))
        return self.model_copy(update={"combinations": found})

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        allowed = set(self.combinations)
        rows = frame[list(self.columns)].itertuples(index=False, name=None)
        return np.array([tuple(_plain(v) for v in row) not in allowed for row in rows], bool)


class FixedIncrements(_Constraint):
    kind: Literal["fixed_increments"] = "fixed_increments"
    column: str
    increment: float = Field(gt=0)
    tolerance: float = Field(1e-9, ge=0, description="allowed distance from a multiple")

    def reads(self) -> list[str]:
        return [self.column]

    def describe(self) -> str:
        return f"fixed_increments of {self.increment:g} on {self.column}"

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        steps = frame[self.column].to_numpy(dtype=float) / self.increment
        return ~(np.abs(steps - np.round(steps)) <= self.tolerance)


class OneHot(_Constraint):
    kind: Literal["one_hot"] = "one_hot"
    columns: tuple[str, ...] = Field(min_length=2)

    def reads(self) -> list[str]:
        return list(self.columns)

    def describe(self) -> str:
        return f"one_hot group {list(self.columns)}"

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[list(self.columns)].to_numpy(dtype=float)
        binary = np.isin(values, (0.0, 1.0)).all(axis=1)
        return ~(binary & (values.sum(axis=1) == 1))


class Formula(_Constraint):
    """`column` is derived: it always equals `expression` over other columns."""

    kind: Literal["formula"] = "formula"
    column: str
    expression: str
    tolerance: float = Field(1e-9, ge=0, description="relative and absolute tolerance")

    @field_validator("expression")
    @classmethod
    def _safe(cls, text: str) -> str:
        parse_expression(text)
        return text

    @model_validator(mode="after")
    def _not_itself(self) -> Formula:
        if self.column in expression_columns(self.expression):
            raise ValueError(f"formula for {self.column!r} reads {self.column!r} itself")
        return self

    def inputs(self) -> list[str]:
        return expression_columns(self.expression)

    def reads(self) -> list[str]:
        return [self.column, *self.inputs()]

    def describe(self) -> str:
        return f"formula {self.column} = {self.expression}"

    def compute(self, frame: pd.DataFrame) -> np.ndarray:
        return evaluate(self.expression, frame)

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        actual = frame[self.column].to_numpy(dtype=float)
        expected = self.compute(frame).astype(float)
        return ~np.isclose(actual, expected, rtol=self.tolerance, atol=self.tolerance)


class Predicate(_Constraint):
    """Any row condition; enforced by reject sampling, so a last resort."""

    kind: Literal["predicate"] = "predicate"
    expression: str

    @field_validator("expression")
    @classmethod
    def _safe(cls, text: str) -> str:
        parse_expression(text)
        return text

    def reads(self) -> list[str]:
        return expression_columns(self.expression)

    def numeric_columns(self) -> list[str]:
        return []

    def describe(self) -> str:
        return f"predicate {self.expression}"

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        return ~evaluate(self.expression, frame).astype(bool)


Constraint = Annotated[
    Inequality | Range | FixedCombinations | FixedIncrements | OneHot | Formula | Predicate,
    Field(discriminator="kind"),
]
CONSTRAINTS: TypeAdapter[tuple[Constraint, ...]] = TypeAdapter(tuple[Constraint, ...])


def parse_constraints(raw: Any) -> tuple[Constraint, ...]:
    """A constraints list from plain data (a job file's `constraints:`), checked as a whole."""
    constraints = CONSTRAINTS.validate_python(raw)
    check_consistent(constraints)
    return constraints


def check_consistent(constraints: Sequence[Constraint]) -> None:
    """Raise ConfigError for constraints that contradict each other, whatever the data."""
    derived: dict[str, Formula] = {}
    for constraint in constraints:
        if isinstance(constraint, Formula):
            if constraint.column in derived:
                raise ConfigError(
                    f"{constraint.describe()!r} and {derived[constraint.column].describe()!r} "
                    f"both derive {constraint.column!r}; keep one formula per column."
                )
            derived[constraint.column] = constraint
    _no_cycle(
        {f.column: set(f.inputs()) & set(derived) for f in derived.values()},
        "formulas derive each other in a cycle",
        "break the cycle: derive each column from columns that are not derived from it",
    )
    edges: dict[str, set[str]] = {}
    strict_edges: set[tuple[str, str]] = set()
    for constraint in constraints:
        if isinstance(constraint, Inequality):
            edges.setdefault(constraint.low, set()).add(constraint.high)
            if constraint.strict:
                strict_edges.add((constraint.low, constraint.high))
    cycle = _find_cycle(edges)
    if cycle and any(pair in strict_edges for pair in pairwise(cycle)):
        chain = " -> ".join(cycle)
        raise ConfigError(
            f"The inequalities are contradictory: each of {chain} must be below the next, one "
            "of them strictly, which no row can hold; remove or reverse one of them."
        )


def _no_cycle(edges: dict[str, set[str]], what: str, fix: str) -> None:
    cycle = _find_cycle(edges)
    if cycle:
        raise ConfigError(
            f"The constraints are contradictory: {what} ({' -> '.join(cycle)}); {fix}."
        )


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `edges` as a path whose last node is its first, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = walk(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = walk(start, [start])
            if found:
                return found
    return None


def check_against(
    frame: pd.DataFrame, constraints: Sequence[Constraint], where: str = "the source"
) -> tuple[Constraint, ...]:
    """The constraints, checked on real rows (fixed combinations filled with the combinations
    they hold). ConstraintError for an unknown column, a missing value, a non-numeric column where a
    number is needed, or rows that break a constraint (how many, and the first few)."""
    checked = []
    for constraint in constraints:
        unknown = [c for c in constraint.reads() if c not in frame.columns]
        if unknown:
            raise ConstraintError(
                f"Constraint {constraint.describe()!r} names column(s) {unknown} that "
                f"{where} does not have; columns: {[str(c) for c in frame.columns]}. Fix the "
                "column names in `constraints:`."
            )
        missing = [c for c in constraint.reads() if frame[c].isna().any()]
        if missing:
            raise ConstraintError(
                f"Constraint {constraint.describe()!r}: column(s) {missing} of {where} have "
                "missing values, where a constraint cannot be judged; fill or drop those rows, "
                "or leave the column out of the constraint."
            )
        text = [c for c in constraint.numeric_columns() if frame[c].dtype.kind not in "iufbM"]
        if text:
            raise ConstraintError(
                f"Constraint {constraint.describe()!r} needs numbers, but column(s) {text} of "
                f"{where} hold {[str(frame[c].dtype) for c in text]}; use fixed_combinations "
                "or a predicate for categories."
            )
        if isinstance(constraint, FixedCombinations):
            constraint = constraint.with_combinations(frame)
        bad = np.flatnonzero(constraint.violated(frame))
        if len(bad):
            shown = frame.iloc[bad[:EXAMPLES]][constraint.reads()]
            raise ConstraintError(
                f"{where.capitalize()} itself breaks constraint {constraint.describe()!r} in "
                f"{len(bad):,} of {len(frame):,} rows; the first: rows "
                f"{[int(i) for i in bad[:EXAMPLES]]} with {shown.to_dict('records')}. A "
                "constraint must hold on the real data: fix the constraint, or clean those rows."
            )
        checked.append(constraint)
    return tuple(checked)


def violation_counts(frame: pd.DataFrame, constraints: Sequence[Constraint]) -> np.ndarray:
    """A (rows, constraints) boolean matrix: True where a row breaks a constraint."""
    if not constraints:
        return np.zeros((len(frame), 0), dtype=bool)
    return np.column_stack([np.asarray(c.violated(frame), dtype=bool) for c in constraints])


def _plain(value: Any) -> Any:
    """A hashable, JSON-able scalar (numpy scalars as Python ones)."""
    return value.item() if isinstance(value, np.generic) else value
