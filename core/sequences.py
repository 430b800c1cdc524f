"""Sequential tables: one row per step, a sequence key column naming the entity (a firm, a
patient) and an order column (the time index), optionally context columns that hold one value
per entity. The checks here run where such a table is read (the sequence modality) and where a
sequence generator fits, so a bad table fails before any model is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.errors import DataError


@dataclass(frozen=True)
class SequenceSpec:
    """Which columns make a table sequential."""

    key: str  # the entity each row belongs to
    index: str  # the order of an entity's rows (numeric or datetime)
    context: tuple[str, ...] = ()  # columns constant within an entity


def check_sequences(frame: pd.DataFrame, spec: SequenceSpec, what: str = "the table") -> None:
    """DataError naming the column and the fix when `frame` is not a sequential table of `spec`:
    a missing column, missing keys or order values, an order repeated within an entity, or a
    context column that changes within one."""
    named = [spec.key, spec.index, *spec.context]
    missing = [c for c in named if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} has no column(s) {missing} (sequence key {spec.key!r}, order "
            f"{spec.index!r}, context {list(spec.context)}); columns: {list(frame.columns)}. "
            "Name existing columns in source.sequence_key / sequence_index / context_columns."
        )
    for column in (spec.key, spec.index):
        if frame[column].isna().any():
            raise DataError(
                f"{what}: column {column!r} has {int(frame[column].isna().sum())} missing "
                "value(s); every row needs its sequence key and order value."
            )
    index = frame[spec.index]
    if not (pd.api.types.is_numeric_dtype(index) or pd.api.types.is_datetime64_any_dtype(index)):
        raise DataError(
            f"{what}: order column {spec.index!r} is {index.dtype}; it must be numeric or a "
            "datetime so that an entity's rows can be put in order."
        )
    repeated = frame[frame.duplicated([spec.key, spec.index], keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        raise DataError(
            f"{what}: order column {spec.index!r} repeats within an entity "
            f"({len(repeated)} rows; e.g. {spec.key}={first[spec.key]!r}, "
            f"{spec.index}={first[spec.index]!r}); each entity needs one row per step. "
            "Drop or aggregate the duplicates."
        )
    changing = _changing_context(frame, spec.key, spec.context)
    if changing:
        raise DataError(
            f"{what}: context column(s) {changing} change within an entity; context columns "
            f"hold one value per {spec.key!r}. Move them out of context_columns."
        )


def _changing_context(frame: pd.DataFrame, key: str, context: Sequence[str]) -> list[str]:
    if not context:
        return []
    distinct = frame.groupby(key, sort=False)[list(context)].nunique(dropna=False)
    return [c for c in context if (distinct[c] > 1).any()]


def ordered(frame: pd.DataFrame, spec: SequenceSpec) -> pd.DataFrame:
    """The rows grouped by entity (in first-appearance order), each entity's rows in order."""
    first = frame.groupby(spec.key, sort=False).ngroup()
    return (
        frame.assign(_entity=first)
        .sort_values(["_entity", spec.index], kind="stable")
        .drop(columns="_entity")
        .reset_index(drop=True)
    )
