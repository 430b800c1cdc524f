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

from datastore import _fs
from datastore.layout import (
    LATEST_FILE,
    MANIFEST_FILE,
    check_relpath,
    parse_version_dir,
    version_dir_name,
)
from datastore.manifest import Manifest, sha256_file
from synthpipe.errors import ConfigError, DataError, IntegrityError


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

    Reads go through the manifest's file list rather than a directory listing, so a stray file
    dropped into `data/` after publishing can never change what a version returns.
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

    @property
    def part_paths(self) -> list[_fs.StorePath]:
        """Absolute paths of the Parquet parts, in shard order."""
        return [self.path.joinpath(*entry.path.split("/")) for entry in self.manifest.parts]

    def to_arrow_dataset(self) -> pads.Dataset:
        """The parts as one `pyarrow.dataset.Dataset` (lazy; nothing is read yet)."""
        if not self.manifest.parts:
            # pyarrow cannot infer a schema from zero files; an image version may have no parts.
            return pads.dataset([], format="parquet", schema=pa.schema([]))
        if _fs.is_remote(self.path):  # pyarrow reads through the fsspec filesystem
            paths = [path.path for path in self.part_paths]
            return pads.dataset(paths, format="parquet", filesystem=self.path.fs)
        return pads.dataset([str(path) for path in self.part_paths], format="parquet")

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Read the whole table (or only `columns`) into a DataFrame, parts in shard order."""
        dataset = self.to_arrow_dataset()
        self._check_columns(dataset, columns)
        return dataset.to_table(columns=columns).to_pandas()

    def iter_batches(
        self, batch_size: int = 65_536, columns: list[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """Yield the table as DataFrames of at most `batch_size` rows, for data too big to load."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
        dataset = self.to_arrow_dataset()
        self._check_columns(dataset, columns)
        for batch in dataset.to_batches(columns=columns, batch_size=batch_size):
            if batch.num_rows:  # pyarrow may emit empty batches at file boundaries
                yield batch.to_pandas()

    def verify(self) -> None:
        """Re-hash every file in the manifest; raise IntegrityError naming any that differ."""
        problems: list[str] = []
        for entry in self.manifest.files:
            full = self.path.joinpath(*entry.path.split("/"))
            if not full.is_file():
                problems.append(f"{entry.path} is missing")
                continue
            size = full.stat().st_size
            if size != entry.bytes:
                problems.append(f"{entry.path} has {size} bytes, manifest says {entry.bytes}")
            elif sha256_file(full) != entry.sha256:
                problems.append(f"{entry.path} has a different sha256 than the manifest")
        if problems:
            raise IntegrityError(
                f"{self.ref} at {self.path} does not match its manifest: {'; '.join(problems)}. "
                "Published versions are immutable; restore the files or regenerate the dataset."
            )

    def read_json(self, relpath: str) -> Any:
        """Parse a JSON file of this version, e.g. "lineage.json" or "validation.json"."""
        rel = check_relpath(relpath, what="relpath", allow_manifest=True)
        full = self.path.joinpath(*rel.parts)
        try:
            text = full.read_text(encoding="utf-8")
        except FileNotFoundError:
            listed = sorted(e.path for e in self.manifest.files if e.path.endswith(".json"))
            raise DataError(
                f"{self.ref} has no file {relpath!r}; its JSON files are: {', '.join(listed)}."
            ) from None
        try:
            return json.loads(text)
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
