"""Real data in: CSV / Parquet files and built-in real datasets that ship inside installed packages.

Built-in tables (no download; the data files are part of the packages):

- `wine` (scikit-learn, 178 x 14): 13 numeric measurements + `target` (class_0..class_2).
- `breast_cancer` (scikit-learn, 569 x 31): 30 numeric features + `target` (malignant / benign).
- `fair` (statsmodels, 6,366 x 9): Fair's affairs survey; columns with <= 10 distinct values
  become categories (strings), `affairs` stays numeric and zero-inflated.
- `diabetes` (scikit-learn, 442 x 11): ten unscaled baseline measurements (`sex` coded 1 / 2) and
  `target`, a numeric measure of disease progression one year later.

A folder source reads only what is inside the folder: a symbolic link in it (file or folder)
that resolves outside is an error (`require_inside`), so a link cannot pull in other data.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError

TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _sklearn_frame(loader_name: str) -> pd.DataFrame:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = pd.Series(bunch.target_names[bunch.target], index=frame.index, dtype=str)
    return frame


def _fair() -> pd.DataFrame:
    # The dataset module alone: `statsmodels.api` imports every model family (≈ 2 s of start-up).
    from statsmodels.datasets import fair

    frame = fair.load_pandas().data.copy()
    # Coded survey answers are categories, not quantities (the convention of the peer benchmark).
    for column in frame.columns:
        if frame[column].nunique() <= 10:
            frame[column] = frame[column].map(lambda v: f"{v:g}").astype(str)
    return frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame.copy()


BUILTIN_TABLES: dict[str, Callable[[], pd.DataFrame]] = {
    "wine": lambda: _sklearn_frame("load_wine"),
    "breast_cancer": lambda: _sklearn_frame("load_breast_cancer"),
    "fair": _fair,
    "diabetes": _diabetes,
}


def load_builtin(name: str) -> pd.DataFrame:
    """A built-in real table by name (see the module docstring)."""
    try:
        loader = BUILTIN_TABLES[name]
    except KeyError:
        raise DataError(
            f"Unknown built-in dataset {name!r}; available: {sorted(BUILTIN_TABLES)}."
        ) from None
    return loader()


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, with an error that names the file and the fix."""
    file = Path(path)
    if not file.exists():
        raise DataError(f"Source file {file} does not exist; check the path in the job's source.")
    if file.is_dir():
        require_no_outside_links(file)
        return _read_parquet(file)
    kind = TABLE_SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise DataError(
            f"Source file {file} has suffix {file.suffix!r}; Synthpipe reads tables from "
            f"{sorted(TABLE_SUFFIXES)} files (or a folder of Parquet files)."
        )
    if file.stat().st_size == 0:
        raise DataError(f"Source file {file} is empty (0 bytes).")
    frame = _read_parquet(file) if kind == "parquet" else _read_csv(file)
    if frame.empty:
        raise DataError(f"Source file {file} has no data rows.")
    return frame


def require_inside(entry: Path, folder: Path) -> None:
    """A DataError when `entry`, found in the source folder `folder`, is a link leading out."""
    target = entry.resolve()
    if not target.is_relative_to(folder.resolve()):
        raise DataError(
            f"{entry} is a link to {target}, outside the source folder {folder}; a folder source "
            "reads only its own files. Copy the data into the folder, or remove the link."
        )


def require_no_outside_links(folder: Path) -> None:
    """`require_inside` for every link anywhere under `folder` (links are checked, not entered)."""
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            entry = Path(parent) / name
            if entry.is_symlink():
                require_inside(entry, folder)


def _read_csv(file: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(file)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(
            f"Source file {file} could not be read as CSV ({type(exc).__name__}: {exc}). "
            "Is it a text table with a header row?"
        ) from None


def _read_parquet(file: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(file)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"Source {file} could not be read as Parquet ({exc}). "
            "Write it with pandas.DataFrame.to_parquet or pyarrow."
        ) from None


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of a table's column names, dtypes and values (row order matters)."""
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def rows_matching(frame: pd.DataFrame, conditions: dict | None) -> pd.DataFrame:
    """The real rows that satisfy equality `conditions` (all rows when there are none)."""
    if not conditions:
        return frame
    unknown = [c for c in conditions if c not in frame.columns]
    if unknown:
        raise DataError(
            f"Condition column(s) {unknown} are not in the source data; "
            f"available columns: {list(frame.columns)}."
        )
    mask = pd.Series(True, index=frame.index)
    for column, value in conditions.items():
        mask &= frame[column] == value
    if not mask.any():
        raise DataError(
            f"No source rows match conditions {conditions}; conditioned values must occur in the "
            "real data (check the value's spelling and type)."
        )
    return frame[mask].reset_index(drop=True)


def split_table(
    frame: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Train rows, a seeded holdout of `fraction` of the rows, and the holdout's row positions."""
    rng = np.random.default_rng(seed)
    count = round(fraction * len(frame))
    if not 0 < count < len(frame) - 1:
        raise DataError(
            f"holdout_fraction={fraction} of {len(frame)} rows leaves {count} for the holdout and "
            f"{len(frame) - count} for training; both need rows (training at least 2)."
        )
    held = np.sort(rng.choice(len(frame), size=count, replace=False))
    train = np.setdiff1d(np.arange(len(frame)), held)
    return (
        frame.iloc[train].reset_index(drop=True),
        frame.iloc[held].reset_index(drop=True),
        held.tolist(),
    )
