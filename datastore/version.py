"""Published dataset versions: reading them back, checking them, scanning a dataset's versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
from pydantic import ValidationError

from core.errors import ConfigError, DataError, IntegrityError
from datastore import _fs
from datastore.layout import (
    DATA_DIR,
    LATEST_FILE,
    MANIFEST_FILE,
    check_relpath,
    parse_version_dir,
    version_dir_name,
)
from datastore.manifest import FileEntry, Manifest, sha256_file


@dataclass(frozen=True)
class VersionInfo:
    """One row of `DatasetStore.list_versions`: a version's headline facts."""

    dataset: str
    version: int
    status: str
    rows: int
    created_at: datetime
    is_latest: bool
    path: _fs.StorePath


@dataclass(frozen=True)
class DatasetVersion:
    """A published (or quarantined) version on disk, with its manifest.

    Every read goes through the manifest: only listed files are read, each after its size and
    sha256 are checked, and a file in `data/` that the manifest does not list is refused.
    """

    dataset: str
    version: int
    path: _fs.StorePath  # a UPath when the store is on an object store
    manifest: Manifest

    @property
    def status(self) -> str:
        """ "published" or "quarantined"."""
        return self.manifest.status

    @property
    def ref(self) -> str:
        """Pinned ref of this version, e.g. "adult@3"."""
        return f"{self.dataset}@{self.version}"

    def verified_part_paths(self) -> list[_fs.StorePath]:
        """Absolute paths of the Parquet parts, in shard order, after checking them.

        `data/` must hold exactly the manifest's parts, each with its recorded size and sha256;
        otherwise IntegrityError names the file. A stray part is refused rather than skipped: the
        documented plain `pandas.read_parquet(<version>/data)` would read it, so it must not go
        unnoticed.
        """
        listed = {entry.path for entry in self.manifest.parts}
        data_dir = self.path / DATA_DIR
        unlisted = [
            rel
            for rel in (full.relative_to(data_dir).as_posix() for full in _fs.iter_files(data_dir))
            if f"{DATA_DIR}/{rel}" not in listed
        ]
        if unlisted:
            raise IntegrityError(
                f"{self.ref}: {data_dir} holds file(s) its manifest does not list: "
                f"{', '.join(unlisted)}. Published versions are immutable; delete those files "
                "(or regenerate the dataset) before reading it."
            )
        return [self.checked_path(entry.path) for entry in self.manifest.parts]

    def checked_path(self, relpath: str) -> _fs.StorePath:
        """The path of the listed file `relpath` after checking its size and sha256.

        IntegrityError names the file when it is unlisted, missing or differs from the manifest.
        """
        entry = self.manifest.file(relpath)
        if entry is None:
            raise IntegrityError(
                f"{self.ref} has no file {relpath!r} in its manifest "
                f"({self.path / MANIFEST_FILE}); only files the manifest lists are read."
            )
        full = self.path.joinpath(*entry.path.split("/"))
        problem = _file_problem(full, entry, use_cache=True)
        if problem:
            raise IntegrityError(
                f"{self.ref}: {full} {problem}. Published versions are immutable; restore the "
                "file or regenerate the dataset."
            )
        return full

    @property
    def tables(self) -> list[str]:
        """The tables of a relational version (folders `data/<table>/`); [] for one table."""
        names = {e.path.split("/")[1] for e in self.manifest.parts if e.path.count("/") == 2}
        return sorted(names)

    def table_part_paths(self, table: str | None = None) -> list[_fs.StorePath]:
        """`verified_part_paths` of one table (`table` names one of `tables` exactly when the
        version is relational)."""
        tables = self.tables
        if table is None and tables:
            raise ConfigError(
                f"{self.ref} holds several tables ({', '.join(tables)}); read one with "
                "table=<name>, e.g. read_dataset(ref, table=" + repr(tables[0]) + ")."
            )
        if table is not None and table not in tables:
            raise ConfigError(
                f"{self.ref} has no table {table!r}; "
                + (f"its tables: {', '.join(tables)}." if tables else "it holds one table.")
            )
        prefix = f"{DATA_DIR}/" if table is None else f"{DATA_DIR}/{table}/"
        wanted = {e.path for e in self.manifest.parts if e.path.startswith(prefix)}
        return [
            path
            for path, entry in zip(self.verified_part_paths(), self.manifest.parts, strict=True)
            if entry.path in wanted
        ]

    def to_arrow_dataset(self, table: str | None = None) -> pads.Dataset:
        """The parts (of one `table` of a relational version) as one `pyarrow.dataset.Dataset`,
        checked against the manifest first."""
        if not self.manifest.parts:
            # pyarrow cannot infer a schema from zero files; an image version may have no parts.
            return pads.dataset([], format="parquet", schema=pa.schema([]))
        parts = self.table_part_paths(table)
        if _fs.is_remote(self.path):  # pyarrow reads through the fsspec filesystem
            paths = [path.path for path in parts]
            return pads.dataset(paths, format="parquet", filesystem=self.path.fs)
        return pads.dataset([str(path) for path in parts], format="parquet")

    def to_pandas(self, columns: list[str] | None = None, table: str | None = None) -> pd.DataFrame:
        """Read the whole table (or only `columns`; of a relational version, its `table`) into a
        DataFrame, parts in shard order."""
        dataset = self.to_arrow_dataset(table)
        self._check_columns(dataset, columns)
        return dataset.to_table(columns=columns).to_pandas()

    def iter_batches(
        self, batch_size: int = 65_536, columns: list[str] | None = None, table: str | None = None
    ) -> Iterator[pd.DataFrame]:
        """Yield the table as DataFrames of at most `batch_size` rows, for data too big to load."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
        dataset = self.to_arrow_dataset(table)
        self._check_columns(dataset, columns)
        for batch in dataset.to_batches(columns=columns, batch_size=batch_size):
            if batch.num_rows:  # pyarrow may emit empty batches at file boundaries
                yield batch.to_pandas()

    def verify(self) -> None:
        """Re-hash every file in the manifest; raise IntegrityError naming any that differ."""
        problems = [
            f"{entry.path} {problem}"
            for entry in self.manifest.files
            if (problem := _file_problem(self.path.joinpath(*entry.path.split("/")), entry))
        ]
        if problems:
            raise IntegrityError(
                f"{self.ref} at {self.path} does not match its manifest: {'; '.join(problems)}. "
                "Published versions are immutable; restore the files or regenerate the dataset."
            )

    def read_text(self, relpath: str) -> str:
        """A text file of this version (e.g. "validation.md"), checked against the manifest."""
        return self.checked_path(relpath).read_text(encoding="utf-8")

    def read_json(self, relpath: str) -> Any:
        """Parse a JSON file of this version, e.g. "lineage.json", checked against the manifest.

        "manifest.json" itself is returned as loaded: it is what the other files are checked by.
        """
        rel = check_relpath(relpath, what="relpath", allow_manifest=True)
        if str(rel) == MANIFEST_FILE:
            return json.loads(self.manifest.to_json())
        if self.manifest.file(str(rel)) is None:
            listed = sorted(e.path for e in self.manifest.files if e.path.endswith(".json"))
            raise DataError(
                f"{self.ref} has no file {relpath!r}; its JSON files are: {', '.join(listed)}."
            )
        full = self.checked_path(str(rel))
        try:
            return json.loads(full.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{full} is not valid JSON: {exc}.") from exc

    def _check_columns(self, dataset: pads.Dataset, columns: list[str] | None) -> None:
        # pyarrow's own error ("No match for FieldRef.Name") does not say which columns exist.
        if columns is None:
            return
        missing = [name for name in columns if name not in dataset.schema.names]
        if missing:
            raise ConfigError(
                f"{self.ref} has no column(s) {missing}; available columns: {dataset.schema.names}."
            )


# Hashes this process has verified, keyed by what changes whenever a file's bytes can have changed.
# Nothing is stored on disk, so there is no cache file to tamper with. ctime is in the key
# because user space cannot set it: a rewrite that restores size and mtime still misses.
_VERIFIED: dict[tuple[str, int, int, int, int, int], str] = {}


def _file_problem(full: _fs.StorePath, entry: FileEntry, *, use_cache: bool = False) -> str | None:
    """What is wrong with `full` against its manifest entry (None if it matches)."""
    if not full.is_file():
        return "is missing"
    stat = full.stat()
    if stat.st_size != entry.bytes:
        return f"has {stat.st_size} bytes, manifest says {entry.bytes}"
    key = None
    if use_cache and not _fs.is_remote(full):  # object stores have no inode / ctime to key on
        key = (
            str(full),
            stat.st_dev,
            stat.st_ino,
            stat.st_size,
            stat.st_mtime_ns,
            stat.st_ctime_ns,
        )
        if _VERIFIED.get(key) == entry.sha256:
            return None
    if sha256_file(full) != entry.sha256:
        return "has a different sha256 than the manifest"
    if key is not None:
        _VERIFIED[key] = entry.sha256
    return None


def read_manifest(version_dir: _fs.StorePath) -> Manifest:
    """Load `<version_dir>/manifest.json`; IntegrityError naming the file if it is unreadable."""
    path = version_dir / MANIFEST_FILE
    try:
        return Manifest.from_json(path.read_bytes())
    except ValidationError as exc:
        raise IntegrityError(
            f"{path} is not a valid manifest ({exc.error_count()} problem(s): "
            f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}). The version directory was "
            "modified or written by an incompatible Synthpipe; restore it from a backup."
        ) from exc


def load_version(dataset_dir: _fs.StorePath, dataset: str, version: int) -> DatasetVersion:
    """The DatasetVersion stored at `<dataset_dir>/v<version>` (the directory must exist)."""
    path = dataset_dir / version_dir_name(version)
    manifest = read_manifest(path)
    if manifest.dataset != dataset or manifest.version != version:
        # A copied or renamed directory would otherwise serve data under the wrong ref.
        raise IntegrityError(
            f"{path / MANIFEST_FILE} describes {manifest.dataset}@{manifest.version}, not "
            f"{dataset}@{version}; the directory was moved or copied by hand. Move it back."
        )
    return DatasetVersion(dataset=dataset, version=version, path=path, manifest=manifest)


def version_numbers(dataset_dir: _fs.StorePath, *, with_manifest: bool) -> list[int]:
    """Sorted version numbers of the `v<int>` entries in `dataset_dir`.

    `with_manifest=True` counts only complete versions (what readers see); False counts every
    `v<int>` entry, which is what version allocation must avoid.
    """
    try:
        names = [entry.name for entry in dataset_dir.iterdir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    numbers = []
    for name in names:
        number = parse_version_dir(name)
        if number is None:
            continue
        if with_manifest and not (dataset_dir / name / MANIFEST_FILE).is_file():
            continue
        numbers.append(number)
    return sorted(numbers)


def read_latest(dataset_dir: _fs.StorePath) -> int | None:
    """The version number in `<dataset_dir>/LATEST`, or None if there is no such file."""
    path = dataset_dir / LATEST_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        raise IntegrityError(
            f"{path} should hold a version number but holds {text[:40]!r}; write the newest "
            "published version number into it (or delete it if no version is published)."
        )
    return int(text)
