"""Several tables joined by primary and foreign keys: the container relational generators fit
and sample and relational validators check (`RelationalData`), its key checks, and its SDV
multi-table `Metadata`.

Keys are checked before anything is fitted: every relationship names existing tables and
columns, a primary key is unique and never missing, every foreign key value has its parent row,
and the relationships form no cycle. Each problem is a `DataError` / `ConfigError` naming the
table, the column and the fix, so a bad source never reaches a generator or the store.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from sdv.metadata import Metadata


@dataclass(frozen=True)
class Relationship:
    """`child.child_key` holds values of `parent.parent_key` (the parent's primary key)."""

    parent: str
    parent_key: str
    child: str
    child_key: str

    def describe(self) -> str:
        return f"{self.child}.{self.child_key} -> {self.parent}.{self.parent_key}"


@dataclass(frozen=True)
class RelationalData:
    """Named tables (in parent-before-child order), their primary keys and relationships.

    Its records, as a job's holdout and `len` count them, are the rows of the first root table
    (`subject`): holding out a subject row holds out its descendants with it.
    """

    tables: Mapping[str, pd.DataFrame]
    primary_keys: Mapping[str, str]
    relationships: tuple[Relationship, ...] = field(default=())

    def __post_init__(self) -> None:
        check_keys(self)
        ordered = {name: self.tables[name] for name in table_order(self)}
        object.__setattr__(self, "tables", ordered)

    @property
    def subject(self) -> str:
        return next(iter(self.tables))

    def __len__(self) -> int:
        return len(self.tables[self.subject])

    @property
    def rows(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.tables.items()}

    def children(self, table: str) -> list[Relationship]:
        return [r for r in self.relationships if r.parent == table]

    def parents(self, table: str) -> list[Relationship]:
        return [r for r in self.relationships if r.child == table]

    def subset(self, positions: Sequence[int]) -> RelationalData:
        """The subject rows at `positions` (in that order), the rows of its descendant tables
        whose parents are kept, and every other table whole."""
        kept = {self.subject: self.tables[self.subject].iloc[list(positions)]}
        for name in list(self.tables)[1:]:
            frame = self.tables[name]
            for rel in self.parents(name):
                if rel.parent in kept:
                    parent_keys = kept[rel.parent][rel.parent_key]
                    frame = frame[
                        frame[rel.child_key].isna() | frame[rel.child_key].isin(parent_keys)
                    ]
            kept[name] = frame
        return RelationalData(
            {name: frame.reset_index(drop=True) for name, frame in kept.items()},
            self.primary_keys,
            self.relationships,
        )

    def fingerprint(self) -> str:
        """sha256 of every table's name and rows, in table order, plus the keys."""
        digest = hashlib.sha256()
        for name, frame in self.tables.items():
            digest.update(name.encode())
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
            digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(repr((sorted(self.primary_keys.items()), self.relationships)).encode())
        return digest.hexdigest()


def check_keys(data: RelationalData) -> None:
    """Refuse relationships naming unknown tables / columns, bad primary keys, foreign key
    values without a parent row, and cycles."""
    tables = data.tables
    if not tables:
        raise DataError("A relational source needs at least one table; none was given.")
    for table, key in data.primary_keys.items():
        _require_column(tables, table, key, "primary key")
        values = tables[table][key]
        if values.isna().any() or values.duplicated().any():
            dup = values[values.duplicated()].head(3).tolist()
            raise DataError(
                f"Primary key {table}.{key} must be unique and never missing (duplicated: "
                f"{dup}, missing: {int(values.isna().sum())}); fix the table or name another "
                "primary key."
            )
    for rel in data.relationships:
        _require_column(tables, rel.child, rel.child_key, f"foreign key of {rel.describe()}")
        if data.primary_keys.get(rel.parent) != rel.parent_key:
            raise ConfigError(
                f"Relationship {rel.describe()}: {rel.parent_key!r} is not the primary key of "
                f"{rel.parent!r} ({data.primary_keys.get(rel.parent)!r}); a foreign key points "
                "at its parent's primary key."
            )
    table_order(data)  # cycles first: orphans of a cycle would only confuse
    for rel in data.relationships:
        child = tables[rel.child][rel.child_key]
        orphans = child[child.notna() & ~child.isin(tables[rel.parent][rel.parent_key])]
        if len(orphans):
            raise DataError(
                f"Foreign key {rel.describe()}: {len(orphans):,} row(s) of {rel.child!r} point "
                f"at a missing parent (e.g. {orphans.head(3).tolist()}); drop those rows, add "
                f"their parents to {rel.parent!r}, or leave the key empty."
            )


def table_order(data: RelationalData) -> list[str]:
    """The tables with every parent before its children (given order otherwise); a cycle is a
    DataError naming it."""
    remaining = list(data.tables)
    ordered: list[str] = []
    while remaining:
        ready = [t for t in remaining if all(r.parent in ordered for r in data.parents(t))]
        if not ready:
            cycle = sorted({r.describe() for r in data.relationships if r.child in remaining})
            raise DataError(
                f"The relationships form a cycle among tables {sorted(remaining)} ({cycle}); "
                "relational generators need parents before children: drop one relationship "
                "of the cycle."
            )
        ordered += ready
        remaining = [t for t in remaining if t not in ready]
    return ordered


def depth(data: RelationalData) -> int:
    """Tables on the longest parent -> child chain (1 without relationships)."""
    levels: dict[str, int] = {}
    for name in table_order(data):
        levels[name] = 1 + max((levels[r.parent] for r in data.parents(name)), default=0)
    return max(levels.values())


def child_counts(parent_keys: pd.Series, foreign_keys: pd.Series) -> np.ndarray:
    """How many child rows (`foreign_keys`) each parent row has, in parent row order (zeros
    included)."""
    counts = foreign_keys.value_counts()
    return parent_keys.map(counts).fillna(0).astype(int).to_numpy()


def sdv_metadata(
    data: RelationalData, column_sdtypes: Mapping[str, Mapping[str, str]] | None = None
) -> Metadata:
    """SDV multi-table metadata: columns detected per table, our keys and relationships
    declared (detected relationships dropped: the source decides), `column_sdtypes` applied."""
    from sdv.metadata import Metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = Metadata.detect_from_dataframes(
            {name: frame for name, frame in data.tables.items()}, infer_keys=None
        )
    for name, frame in data.tables.items():
        key = data.primary_keys.get(name)
        keys = {key} | {r.child_key for r in data.parents(name)}
        for column in frame.columns:
            sdtype = (column_sdtypes or {}).get(name, {}).get(column)
            if column in keys:
                metadata.update_column(column, sdtype="id", table_name=name)
            elif sdtype is not None:
                metadata.update_column(column, sdtype=sdtype, table_name=name)
        if key is not None:
            metadata.set_primary_key(key, table_name=name)
    for rel in data.relationships:
        metadata.add_relationship(
            parent_table_name=rel.parent,
            child_table_name=rel.child,
            parent_primary_key=rel.parent_key,
            child_foreign_key=rel.child_key,
        )
    return metadata


def detect_relationships(
    tables: Mapping[str, pd.DataFrame],
) -> tuple[dict[str, str], tuple[Relationship, ...]]:
    """Primary keys and relationships as SDV detects them (a child column named like a
    parent's primary key)."""
    from sdv.metadata import Metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detected: dict[str, Any] = Metadata.detect_from_dataframes(dict(tables)).to_dict()
    keys = {
        name: spec["primary_key"]
        for name, spec in detected["tables"].items()
        if isinstance(spec.get("primary_key"), str)
    }
    relationships = tuple(
        Relationship(
            parent=r["parent_table_name"],
            parent_key=r["parent_primary_key"],
            child=r["child_table_name"],
            child_key=r["child_foreign_key"],
        )
        for r in detected.get("relationships", [])
    )
    return keys, relationships


def _require_column(tables: Mapping[str, pd.DataFrame], table: str, column: str, what: str) -> None:
    if table not in tables:
        raise ConfigError(f"The {what} names table {table!r}; tables: {sorted(tables)}.")
    if column not in tables[table].columns:
        raise ConfigError(
            f"The {what} names column {table}.{column}, which does not exist; columns: "
            f"{list(tables[table].columns)}."
        )
