"""A synthetic table to validate: one DataFrame or Parquet part files read one part at a time,
and the seeded row samples the sampled checks and the report's figures score."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError


def sample_table(
    table: pd.DataFrame | Sequence[str | Path], limit: int, seed: int = 0
) -> pd.DataFrame:
    """A seeded sample of at most `limit` rows of a DataFrame or of Parquet part files, read one
    part at a time; the same rows split into parts give the same sample."""
    opened = open_table(table)
    return opened.take(positions(opened.rows, limit, seed))


def open_table(table: pd.DataFrame | Sequence[str | Path]) -> FrameTable | PartsTable:
    if isinstance(table, pd.DataFrame):
        return FrameTable(table)
    return PartsTable([Path(p) for p in table])


def positions(total: int, limit: int, seed: int) -> np.ndarray:
    """Sorted row positions of a seeded sample of `min(total, limit)` rows (all rows if fewer)."""
    if total <= limit:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=limit, replace=False))


def _missing_columns_error(where: str, missing: list[Any], real_columns: list[Any]) -> DataError:
    return DataError(
        f"{where} lacks columns of the real table: {missing}. Real columns: {real_columns}; "
        "the generator must produce every real column."
    )


class FrameTable:
    """A synthetic table held as one DataFrame."""

    def __init__(self, frame: pd.DataFrame):
        if len(frame) == 0:
            raise DataError(
                f"The synthetic table has 0 rows (columns {list(frame.columns)}); "
                "there is nothing to validate."
            )
        self.frame = frame
        self.rows = len(frame)

    def require_columns(self, columns: list[Any]) -> None:
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            raise _missing_columns_error("The synthetic table", missing, columns)

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[positions]

    def frames(self) -> Iterator[tuple[pd.DataFrame, int]]:
        yield self.frame, self.rows


class PartsTable:
    """A synthetic table stored as Parquet part files, read one part at a time."""

    def __init__(self, paths: list[Path]):
        import pyarrow.parquet as pq

        if not paths:
            raise DataError("No synthetic part files were given; pass a DataFrame or part paths.")
        self.paths = paths
        self.part_rows = []
        self.schemas = []
        for path in paths:
            try:
                metadata = pq.ParquetFile(path).metadata
            except (OSError, ValueError) as exc:  # missing file, or not Parquet (ArrowInvalid)
                raise DataError(
                    f"Synthetic part file {path} cannot be read as Parquet: {exc}"
                ) from exc
            self.part_rows.append(metadata.num_rows)
            self.schemas.append(metadata.schema.to_arrow_schema().names)
        self.rows = sum(self.part_rows)
        if self.rows == 0:
            raise DataError(f"The synthetic part files {[str(p) for p in paths]} hold 0 rows.")

    def require_columns(self, columns: list[Any]) -> None:
        for path, names in zip(self.paths, self.schemas, strict=True):
            missing = [c for c in columns if c not in names]
            if missing:
                raise _missing_columns_error(f"Synthetic part file {path}", missing, columns)

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        import pyarrow.parquet as pq

        # One part in memory at a time (pyarrow's Dataset.take peaks near the whole table).
        pieces, start = [], 0
        for path, rows in zip(self.paths, self.part_rows, strict=True):
            local = positions[(positions >= start) & (positions < start + rows)] - start
            if len(local):
                pieces.append(pq.read_table(path).take(local).to_pandas())
            start += rows
        return pd.concat(pieces, ignore_index=True)

    def frames(self) -> Iterator[tuple[pd.DataFrame, int]]:
        import pyarrow.parquet as pq

        for path, rows in zip(self.paths, self.part_rows, strict=True):
            yield pq.read_table(path).to_pandas(), rows
