"""How every tabular generator enforces a table's constraints: transforms, then reject sampling.

The plan turns the training table into one whose every row satisfies the constraints by
construction once turned back (`transform` before fit, `inverse` after sample), whatever family
learns it:

- inequality `low <= high`: `high` is replaced by log1p(high - low), a number of any sign that
  maps back to a non-negative difference (inequalities sharing `high`: above the largest low);
- range: the column becomes the logit of its position inside its bounds (log1p of the distance
  for a one-sided range); a range with two column bounds also orders them, as an inequality;
- fixed increments: the column is learned as a count of increments;
- one-hot group: one categorical column naming the hot column;
- fixed combinations: one categorical column of the joint values;
- formula: the derived column is dropped before fit and recomputed after sample.

A constraint no transform can take (a predicate; a column another transform already replaced; a
column the family must keep, such as a conditional column) is enforced by reject sampling in
`Generator.sample`, which also re-draws any row a transform could not place (rounding). Every
family takes the same path, SDV's included: SDV's CAG errors when conditions meet its reject
sampling and when constraints overlap, and one implementation keeps the families comparable.

Transforms are ordered so that each reads the original values of its columns: one that replaces a
column runs after every transform reading it (and is undone before them).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.constraints import (
    CONSTRAINTS,
    Constraint,
    FixedCombinations,
    FixedIncrements,
    Formula,
    Inequality,
    OneHot,
    Range,
)
from core.errors import ConfigError

EPSILON = 1e-6  # how close to a bound a position may come before its logit is clipped


@dataclass
class Transform:
    """One constraint as a change of the columns the family learns."""

    constraint: Constraint
    dtypes: dict[str, str] = field(default_factory=dict)  # original dtypes of its columns

    @property
    def replaces(self) -> list[str]:
        """Original columns this transform removes from the learned table."""
        raise NotImplementedError

    @property
    def reads(self) -> list[str]:
        """Original columns whose values it needs."""
        return self.constraint.reads()

    @property
    def produces(self) -> str | None:
        """The learned column it adds in their place (None: a formula adds nothing)."""
        return f"{'+'.join(self.replaces)}#{self.constraint.kind}"

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def condition(self, conditions: pd.DataFrame) -> pd.DataFrame:
        """Conditions on replaced columns, as conditions on the learned column. By default
        they leave the family's conditions: `ConstraintPlan.inverse` writes the fixed values
        into the rows turned back, and rows where the constraint then breaks are re-drawn (an
        inequality's `high` fixed keeps the rows whose lows lie below it)."""
        return conditions.drop(columns=[c for c in self.replaces if c in conditions.columns])

    # ---- numbers of a column, and back to its dtype --------------------------------------------
    def number(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        values = frame[column]
        if values.dtype.kind == "M":
            return values.astype("int64").to_numpy(dtype=float)
        return values.to_numpy(dtype=float)

    def restore(self, values: np.ndarray, column: str) -> Any:
        """`values` in the column's original dtype (whole numbers rounded), as an array that a
        frame takes by position."""
        dtype = pd.api.types.pandas_dtype(self.dtypes[column])
        if dtype.kind == "M":
            series = pd.Series(pd.to_datetime(np.round(values.astype(float)).astype("int64")))
        elif dtype.kind in "iub":
            series = pd.Series(np.round(values.astype(float)))
        else:
            series = pd.Series(values)
        return series.astype(dtype).array

    def is_integral(self, column: str) -> bool:
        return pd.api.types.pandas_dtype(self.dtypes[column]).kind in "iuM"


@dataclass
class InequalityTransform(Transform):
    """`high` above one or more columns: inequalities sharing their `high` column merge into one
    transform (high = the largest low + a non-negative gap), so overlapping inequalities all
    hold by construction instead of leaving all but one to reject sampling."""

    constraint: Inequality
    merged: tuple[Inequality, ...] = ()  # further inequalities with the same `high`

    @property
    def replaces(self) -> list[str]:
        return [self.constraint.high]

    @property
    def reads(self) -> list[str]:
        return [self.constraint.high, *self.lows]

    @property
    def lows(self) -> list[str]:
        return [c.low for c in (self.constraint, *self.merged)]

    @property
    def strict(self) -> bool:
        # Strictly above the largest low also holds wherever `<=` was enough.
        return any(c.strict for c in (self.constraint, *self.merged))

    def merge(self, other: Inequality, dtypes: dict[str, str]) -> InequalityTransform:
        return InequalityTransform(
            self.constraint, {**self.dtypes, **dtypes}, (*self.merged, other)
        )

    def _floor(self, frame: pd.DataFrame) -> np.ndarray:
        return np.max([self.number(frame, low) for low in self.lows], axis=0)

    def _step(self) -> float:
        # A strict inequality on whole numbers keeps a gap of at least one.
        return 1.0 if self.strict and self.is_integral(self.constraint.high) else 0.0

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        high = self.constraint.high
        gap = self.number(frame, high) - self._floor(frame) - self._step()
        frame[self.produces] = np.log1p(np.maximum(gap, 0.0))
        return frame.drop(columns=[high])

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        column = self.constraint.high
        floor = self._floor(frame)
        gap = np.expm1(np.maximum(frame.pop(self.produces).to_numpy(dtype=float), 0.0))
        if self.is_integral(column):
            gap = np.round(gap)
        high = floor + gap + self._step()
        if self.strict:
            high = np.where(high > floor, high, np.nextafter(floor, np.inf))
        frame[column] = self.restore(high, column)
        return frame


class RangeTransform(Transform):
    constraint: Range

    @property
    def replaces(self) -> list[str]:
        return [self.constraint.column]

    def _bounds(self, frame: pd.DataFrame) -> tuple[Any, Any]:
        c = self.constraint
        bounds = []
        for which, sign in (("low", 1.0), ("high", -1.0)):
            value = c.low if which == "low" else c.high
            if value is None:
                bounds.append(None)
                continue
            bound = self.number(frame, value) if isinstance(value, str) else np.float64(value)
            if c.strict and self.is_integral(c.column):
                bound = bound + sign  # whole numbers strictly inside: one step in
            bounds.append(bound)
        return bounds[0], bounds[1]

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = self.number(frame, self.constraint.column)
        low, high = self._bounds(frame)
        if low is not None and high is not None:
            width = np.where(high > low, high - low, 1.0)
            position = np.clip((x - low) / width, EPSILON, 1 - EPSILON)
            learned = np.log(position / (1 - position))
        elif low is not None:
            learned = np.log1p(np.maximum(x - low, 0.0))
        else:
            learned = np.log1p(np.maximum(high - x, 0.0))
        frame[self.produces] = learned
        return frame.drop(columns=[self.constraint.column])

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        c = self.constraint
        learned = frame.pop(self.produces).to_numpy(dtype=float)
        low, high = self._bounds(frame)
        if low is not None and high is not None:
            x = low + (high - low) / (1 + np.exp(-learned))
        elif low is not None:
            x = low + np.expm1(np.maximum(learned, 0.0))
        else:
            x = high - np.expm1(np.maximum(learned, 0.0))
        if self.is_integral(c.column):
            x = np.round(x)
        if low is not None:
            x = np.maximum(x, np.nextafter(low, np.inf) if c.strict else low)
        if high is not None:
            x = np.minimum(x, np.nextafter(high, -np.inf) if c.strict else high)
        frame[c.column] = self.restore(x, c.column)
        return frame


class IncrementsTransform(Transform):
    constraint: FixedIncrements

    @property
    def replaces(self) -> list[str]:
        return [self.constraint.column]

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        c = self.constraint
        counts = np.round(self.number(frame, c.column) / c.increment)
        frame[self.produces] = counts.astype(np.int64)
        return frame.drop(columns=[c.column])

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        c = self.constraint
        counts = np.round(frame.pop(self.produces).to_numpy(dtype=float))
        frame[c.column] = self.restore(counts * c.increment, c.column)
        return frame

    def condition(self, conditions: pd.DataFrame) -> pd.DataFrame:
        c = self.constraint
        if c.column not in conditions.columns:
            return conditions
        counts = np.round(conditions[c.column].to_numpy(dtype=float) / c.increment)
        return conditions.drop(columns=[c.column]).assign(**{self.produces: counts.astype(int)})


class OneHotTransform(Transform):
    constraint: OneHot

    @property
    def replaces(self) -> list[str]:
        return list(self.constraint.columns)

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = self.replaces
        hot = frame[columns].to_numpy(dtype=float).argmax(axis=1)
        frame[self.produces] = np.asarray(columns, dtype=object)[hot]
        return frame.drop(columns=columns)

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        hot = frame.pop(self.produces).astype(str).to_numpy()
        for column in self.replaces:
            frame[column] = self.restore((hot == column).astype(float), column)
        return frame

    def condition(self, conditions: pd.DataFrame) -> pd.DataFrame:
        given = [c for c in self.replaces if c in conditions.columns]
        if not given:
            return conditions
        values = conditions[given].to_numpy(dtype=float)
        ones = values == 1
        if (ones.sum(axis=1) != 1).any() or not np.isin(values, (0.0, 1.0)).all():
            raise ConfigError(
                f"Conditions on {given} ({self.constraint.describe()}) must set exactly one of "
                "them to 1 in every row (the others 0 or left out)."
            )
        hot = np.asarray(given, dtype=object)[ones.argmax(axis=1)]
        return conditions.drop(columns=given).assign(**{self.produces: hot})


class CombinationsTransform(Transform):
    constraint: FixedCombinations

    @property
    def replaces(self) -> list[str]:
        return list(self.constraint.columns)

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame[self.produces] = self._joint(frame[self.replaces])
        return frame.drop(columns=self.replaces)

    def _joint(self, frame: pd.DataFrame) -> list[str]:
        # JSON of the row's values: readable, and turned back exactly (floats by repr).
        rows = frame.astype(object).itertuples(index=False, name=None)
        return [json.dumps([_plain(v) for v in row]) for row in rows]

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = [json.loads(text) for text in frame.pop(self.produces).astype(str)]
        for position, column in enumerate(self.replaces):
            frame[column] = self.restore(
                np.asarray([row[position] for row in values], dtype=object), column
            )
        return frame

    def condition(self, conditions: pd.DataFrame) -> pd.DataFrame:
        given = [c for c in self.replaces if c in conditions.columns]
        if not given:
            return conditions
        if len(given) < len(self.replaces):
            raise ConfigError(
                f"Conditions fix {given} of {self.constraint.describe()!r}; fix all of "
                f"{self.replaces} together (one of the real combinations), or none."
            )
        joint = self._joint(conditions[self.replaces])
        return conditions.drop(columns=given).assign(**{self.produces: joint})


class FormulaTransform(Transform):
    constraint: Formula

    @property
    def replaces(self) -> list[str]:
        return [self.constraint.column]

    @property
    def produces(self) -> str | None:
        return None

    def forward(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=[self.constraint.column])

    def inverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        c = self.constraint
        values = c.compute(frame).astype(float)
        frame[c.column] = self.restore(values, c.column)
        return frame

    def condition(self, conditions: pd.DataFrame) -> pd.DataFrame:
        if self.constraint.column not in conditions.columns:
            return conditions
        raise ConfigError(
            f"Conditions fix {self.constraint.column!r}, which {self.constraint.describe()!r} "
            "derives from other columns; condition on those columns instead."
        )


TRANSFORMS: dict[type, type[Transform]] = {
    Inequality: InequalityTransform,
    Range: RangeTransform,
    FixedIncrements: IncrementsTransform,
    OneHot: OneHotTransform,
    FixedCombinations: CombinationsTransform,
    Formula: FormulaTransform,
}


@dataclass
class ConstraintPlan:
    """The transforms of a table's constraints, in forward order, and the constraints left to
    reject sampling. `constraints` are all of them, as checked on the training table (fixed
    combinations hold the combinations seen there): every sampled row must hold every one."""

    constraints: tuple[Constraint, ...]
    transforms: list[Transform]
    rejected: tuple[Constraint, ...]
    columns: list[str]  # the table's columns, in order
    learned: list[str]  # the columns the family learns, in order
    dtypes: dict[str, str]  # the table's dtypes, by column

    @classmethod
    def build(
        cls, frame: pd.DataFrame, constraints: Sequence[Constraint], keep: Collection[str] = ()
    ) -> ConstraintPlan:
        """The plan for `frame`'s constraints; `keep` names columns that no transform may
        replace (a family's conditional columns)."""
        chosen: list[Transform] = []
        rejected: list[Constraint] = []
        replaced: set[str] = set(keep)
        for constraint in _placement_order(constraints):
            kind = TRANSFORMS.get(type(constraint))
            if kind is None:
                rejected.append(constraint)
                continue
            dtypes = {c: str(frame[c].dtype) for c in constraint.reads()}
            merged = _merged_inequality(chosen, constraint, dtypes)
            if merged is not None:
                chosen = merged
                continue
            transform = kind(constraint, dtypes)
            order = _forward_order([*chosen, transform])
            if set(transform.replaces) & replaced or order is None:
                rejected.append(constraint)
                continue
            chosen = order
            replaced |= set(transform.replaces)
        columns = [str(c) for c in frame.columns]
        dtypes = {c: str(frame[c].dtype) for c in columns}
        # An implied inequality left out needs no re-draw of its own: its range checks it.
        rejected = [c for c in rejected if any(c is declared for declared in constraints)]
        plan = cls(tuple(constraints), chosen, tuple(rejected), columns, [], dtypes)
        plan.learned = list(plan.transform(frame.head(0)).columns)
        clash = [t.produces for t in chosen if t.produces in columns]
        if clash:
            raise ConfigError(f"Rename column(s) {clash}: the constraint plan needs those names.")
        return plan

    def to_state(self) -> dict[str, Any]:
        """What `from_state` rebuilds the plan from (JSON-able, saved beside a model)."""
        return {
            "constraints": [c.model_dump(mode="json") for c in self.constraints],
            "dtypes": self.dtypes,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], keep: Collection[str] = ()) -> ConstraintPlan:
        empty = pd.DataFrame({c: pd.Series(dtype=d) for c, d in state["dtypes"].items()})
        return cls.build(empty, CONSTRAINTS.validate_python(state["constraints"]), keep)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The table the family learns."""
        out = frame.copy()
        for transform in self.transforms:
            out = transform.forward(out)
        return out

    def inverse(self, frame: pd.DataFrame, conditions: pd.DataFrame | None = None) -> pd.DataFrame:
        """A sample of the family turned back into the table's columns. With `conditions` (on
        the table's columns, one row per sampled row) every conditioned column is set to its
        value, in the table's dtype, as soon as it is turned back, so transforms undone later
        build on it: a condition the family did not see holds exactly, and a row where a
        constraint then breaks is re-drawn."""
        out = self._fix(frame.copy(), conditions)
        for transform in reversed(self.transforms):
            out = self._fix(transform.inverse(out), conditions)
        return out[self.columns]

    def _fix(self, frame: pd.DataFrame, conditions: pd.DataFrame | None) -> pd.DataFrame:
        for column in [] if conditions is None else conditions.columns:
            if column in frame.columns:
                frame[column] = conditions[column].astype(self.dtypes[column]).to_numpy()
        return frame

    def conditions(self, conditions: pd.DataFrame) -> pd.DataFrame:
        """Conditions on the table's columns as conditions on the learned ones; ConfigError
        when they break a constraint whose every column they fix (a combination the real data
        lacks, a value off the increments, ...), or fix a column no transform can condition."""
        judged = [c for c in self.constraints if set(c.reads()) <= set(conditions.columns)]
        bad = [c for c in judged if c.violated(conditions).any()]
        if bad:
            raise ConfigError(
                f"The conditions break constraint {bad[0].describe()!r} themselves; condition "
                "on values that satisfy it."
            )
        out = conditions
        for transform in self.transforms:
            out = transform.condition(out)
        return out

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        """True for each row breaking any constraint."""
        flags = np.zeros(len(frame), dtype=bool)
        for constraint in self.constraints:
            flags |= np.asarray(constraint.violated(frame), dtype=bool)
        return flags

    def describe_rejected(self) -> list[str]:
        return [c.describe() for c in self.rejected]


def _merged_inequality(
    chosen: list[Transform], constraint: Constraint, dtypes: dict[str, str]
) -> list[Transform] | None:
    """`chosen` with `constraint` merged into the inequality transform replacing its `high`
    column, in a valid order; None when there is none or the merge would make a cycle."""
    if not isinstance(constraint, Inequality):
        return None
    for index, transform in enumerate(chosen):
        if isinstance(transform, InequalityTransform) and transform.replaces == [constraint.high]:
            merged = [*chosen[:index], transform.merge(constraint, dtypes), *chosen[index + 1 :]]
            return _forward_order(merged)
    return None


def _placement_order(constraints: Sequence[Constraint]) -> list[Constraint]:
    """Formulas first (a derived column is never learned), then the declared order, then for
    each range between two columns the inequality ordering its bounds (when no declared
    constraint took its upper bound already)."""
    formulas = [c for c in constraints if isinstance(c, Formula)]
    others = [c for c in constraints if not isinstance(c, Formula)]
    implied = [
        Inequality(low=c.bound_columns()[0], high=c.bound_columns()[1])
        for c in constraints
        if isinstance(c, Range) and len(c.bound_columns()) == 2
    ]
    return [*formulas, *others, *implied]


def _forward_order(transforms: list[Transform]) -> list[Transform] | None:
    """`transforms` ordered so that a transform replacing a column comes after every other one
    reading it; None when no order exists (a cycle)."""
    before: dict[int, set[int]] = {i: set() for i in range(len(transforms))}
    for i, first in enumerate(transforms):
        for j, then in enumerate(transforms):
            if i != j and set(then.replaces) & set(first.reads):
                before[j].add(i)
    order: list[int] = []
    while len(order) < len(transforms):
        ready = [i for i in before if i not in order and before[i] <= set(order)]
        if not ready:
            return None
        order.append(ready[0])
    return [transforms[i] for i in order]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
