"""Versioned, immutable Parquet datasets: stage, verify, publish atomically, read back by ref.

    store = DatasetStore()                      # root: $SYNTHPIPE_DATA_ROOT or ./data
    DatasetStore("s3://bucket/synth")           # or any fsspec URL: manifest written last
    staged = store.begin("adult")
    staged.write_part(0, frame)
    version = staged.commit(rows_expected=len(frame), lineage={...}, report_json=...,
                            report_markdown=..., passed=True, failed_checks=[])
    read_dataset("adult@latest")        # checked against the manifest; plain pandas.read_parquet(
                                        # version.path / "data") works but checks nothing

Only `core.errors` is imported from the rest of the project (see docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datastore.manifest import ColumnSchema, FileEntry, Manifest, ValidationSummary, sha256_file
from datastore.staging import StagedVersion
from datastore.store import DatasetStore, StagingDir, default_root
from datastore.version import DatasetVersion, VersionInfo

__all__ = [
    "ColumnSchema",
    "DatasetStore",
    "DatasetVersion",
    "FileEntry",
    "Manifest",
    "StagedVersion",
    "StagingDir",
    "ValidationSummary",
    "VersionInfo",
    "default_root",
    "open_dataset",
    "read_dataset",
    "sha256_file",
]


def open_dataset(
    ref: str, root: str | Path | None = None, allow_quarantined: bool = False
) -> DatasetVersion:
    """Open a version by ref ("name", "name@latest", "name@3", "name@v3")."""
    return DatasetStore(root).open(ref, allow_quarantined=allow_quarantined)


def read_dataset(
    ref: str, root: str | Path | None = None, table: str | None = None
) -> pd.DataFrame:
    """Read a published version by ref into a DataFrame (one `table` of a relational version)."""
    return open_dataset(ref, root).to_pandas(table=table)
