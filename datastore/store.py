"""The dataset store: start versions, list them, resolve refs like "adult@latest", clean up.

The root is a local directory or an fsspec URL (`s3://bucket/prefix`, `gs://...`, `memory://...`);
the primitives that must be atomic, and their object-store counterparts, live in `datastore._fs`.
`StagedVersion`, `DatasetVersion` and `VersionInfo` are defined in `datastore.staging` /
`datastore.version` and re-exported here.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.errors import (
    ConfigError,
    DatasetNotFoundError,
    IntegrityError,
    QuarantinedVersionError,
)
from datastore import _fs
from datastore.layout import (
    DATA_DIR,
    STAGING_DIR,
    check_dataset_name,
    parse_ref,
    version_dir_name,
)
from datastore.staging import StagedVersion, hold_staging_lock
from datastore.version import (
    DatasetVersion,
    VersionInfo,
    load_version,
    read_latest,
    read_manifest,
    version_numbers,
)

__all__ = [
    "DatasetStore",
    "DatasetVersion",
    "StagedVersion",
    "StagingDir",
    "VersionInfo",
    "default_root",
]

ROOT_ENV_VAR = "SYNTHPIPE_DATA_ROOT"
# Age after which an unlocked staging directory is removed by every run (a day: longer than a run).
STAGING_MAX_AGE_S = 86400.0


@dataclass(frozen=True)
class StagingDir:
    """One `.staging/<dataset>-<uuid>/` directory: a version being written or a run's leftover."""

    path: _fs.StorePath
    age_s: float  # since anything in it last changed
    bytes: int
    in_use: bool  # a live run holds its lock (object stores have no locks: always False there)

    def is_leftover(self, older_than_s: float) -> bool:
        """Whether no live run holds it and it is at least `older_than_s` seconds old."""
        return not self.in_use and self.age_s >= older_than_s


def default_root() -> Path | str:
    """The store root: `$SYNTHPIPE_DATA_ROOT` if set (a path or URL), else `./data`."""
    value = os.environ.get(ROOT_ENV_VAR)
    if value and _fs.is_remote(_fs.location(value)):
        return value  # a URL: Path() would fold "s3://b" into "s3:/b"
    return Path(value) if value else Path("data")


def _is_dataset_name(name: str) -> bool:
    # Dot-dirs (.staging) and hand-made directories with invalid names are not datasets.
    try:
        check_dataset_name(name)
    except ConfigError:
        return False
    return True


class DatasetStore:
    """Versioned datasets under one root directory or object-store prefix (docs/architecture.md).

    On an object store, commits of one dataset must come from one writer at a time unless the
    filesystem supports exclusive creates (S3, GCS and memory:// do): LATEST has no lock there.
    Credentials come from the environment as the fsspec backend (s3fs, gcsfs) reads them.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = _fs.location(default_root() if root is None else root)
        if not self.is_remote and self.root.is_file():
            raise ConfigError(
                f"Store root {self.root} is a file, not a directory; give root= (--root, "
                f"{ROOT_ENV_VAR}) a store directory."
            )

    @property
    def is_remote(self) -> bool:
        """Whether the store lives on an fsspec filesystem (object store) rather than local disk."""
        return _fs.is_remote(self.root)

    @property
    def leftover_age_s(self) -> float:
        """The age from which an unlocked staging directory is surely a killed run's leftover:
        0 locally, where a live run holds a lock on its directory; a day on an object store,
        which has no locks."""
        return STAGING_MAX_AGE_S if self.is_remote else 0.0

    def __repr__(self) -> str:
        return f"DatasetStore(root={str(self.root)!r})"

    # -- writing -------------------------------------------------------------------------------

    def begin(self, dataset: str) -> StagedVersion:
        """Start a new version of `dataset` in a private staging directory."""
        check_dataset_name(dataset)
        path = self.root / STAGING_DIR / f"{dataset}-{uuid.uuid4().hex}"
        _fs.make_dirs(path)
        if not self.is_remote:
            # Locked before anything is written, so clean_staging never takes it for a leftover
            # (a clean racing the mkdir above could remove it first: then the mkdir below fails).
            hold_staging_lock(path)
        _fs.make_dirs(path / DATA_DIR, parents=False)
        return StagedVersion(root=str(self.root), dataset=dataset, path=str(path))

    def staging_dirs(self) -> list[StagingDir]:
        """Every staging directory: versions being written and leftovers of killed runs."""
        staging_root = self.root / STAGING_DIR
        try:
            entries = sorted(staging_root.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        now = time.time()
        found = []
        for entry in entries:
            if (not self.is_remote and entry.is_symlink()) or not entry.is_dir():
                continue
            try:
                age = now - _fs.newest_mtime(entry)
            except FileNotFoundError:
                continue  # committed or aborted while we looked
            found.append(
                StagingDir(
                    path=entry,
                    age_s=age,
                    bytes=_fs.tree_bytes(entry),
                    in_use=_fs.dir_in_use(entry),
                )
            )
        return found

    def clean_staging(
        self, older_than_s: float = STAGING_MAX_AGE_S, *, dry_run: bool = False
    ) -> list[StagingDir]:
        """Remove leftovers of killed runs: staging directories no live run holds locked and
        untouched for `older_than_s` seconds. Returns them; `dry_run=True` removes nothing.

        On an object store there are no locks, so only the age protects a version still being
        written there: keep `older_than_s` above the longest run.
        """
        if older_than_s < 0:
            raise ConfigError(f"older_than_s must be >= 0, got {older_than_s!r}.")
        leftovers = [d for d in self.staging_dirs() if d.is_leftover(older_than_s)]
        if dry_run:
            return leftovers
        return [d for d in leftovers if _fs.remove_tree_unless_locked(d.path)]

    # -- listing -------------------------------------------------------------------------------

    def list_datasets(self) -> list[str]:
        """Names of datasets with at least one version (published or quarantined), sorted."""
        try:
            entries = list(self.root.iterdir())
        except (FileNotFoundError, NotADirectoryError):  # fsspec says the latter for no prefix
            return []
        return sorted(
            entry.name
            for entry in entries
            if _is_dataset_name(entry.name)
            and entry.is_dir()
            and version_numbers(entry, with_manifest=True)
        )

    def list_versions(self, dataset: str) -> list[VersionInfo]:
        """Every complete version of `dataset`, oldest first (empty if the dataset is unknown)."""
        dataset_dir = self.root / check_dataset_name(dataset)
        latest = read_latest(dataset_dir)
        infos = []
        for number in version_numbers(dataset_dir, with_manifest=True):
            path = dataset_dir / version_dir_name(number)
            manifest = read_manifest(path)
            infos.append(
                VersionInfo(
                    dataset=dataset,
                    version=number,
                    status=manifest.status,
                    rows=manifest.rows,
                    created_at=manifest.created_at,
                    is_latest=number == latest,
                    path=path,
                )
            )
        return infos

    def latest_version(self, dataset: str) -> int | None:
        """The newest published version number (from `LATEST`), or None if none is published."""
        return read_latest(self.root / check_dataset_name(dataset))

    # -- reading -------------------------------------------------------------------------------

    def open(self, ref: str, *, allow_quarantined: bool = False) -> DatasetVersion:
        """Resolve `ref` ("name", "name@latest", "name@3", "name@v3") to a version.

        Quarantined versions raise QuarantinedVersionError unless `allow_quarantined=True`.
        """
        dataset, version = parse_ref(ref)
        dataset_dir = self.root / dataset
        existing = version_numbers(dataset_dir, with_manifest=True)
        if not existing:
            known = self.list_datasets()
            raise DatasetNotFoundError(
                f"Dataset {dataset!r} not found in {self.root}. "
                + (f"Available datasets: {', '.join(known)}." if known else "The store is empty.")
                + f" Check the name, or point {ROOT_ENV_VAR} / root= at another store."
            )
        if version is None:
            version = self._resolve_latest(dataset, dataset_dir)
        elif version not in existing:
            raise DatasetNotFoundError(
                f"Version {version} of dataset {dataset!r} not found in {self.root}. Existing "
                f"versions: {self._describe_versions(dataset)}. Use one of those or "
                f"'{dataset}@latest'."
            )
        opened = load_version(dataset_dir, dataset, version)
        if opened.status == "quarantined" and not allow_quarantined:
            failed = ", ".join(opened.manifest.validation.failed_checks) or "(none recorded)"
            raise QuarantinedVersionError(
                f"{opened.ref} is quarantined: it failed validation checks: {failed}. It is kept "
                f"for inspection; read it anyway with open({opened.ref!r}, "
                "allow_quarantined=True), or use a published version."
            )
        return opened

    def _resolve_latest(self, dataset: str, dataset_dir: _fs.StorePath) -> int:
        latest = read_latest(dataset_dir)
        if latest is None:
            infos = self.list_versions(dataset)
            quarantined = [str(i.version) for i in infos if i.status == "quarantined"]
            if len(quarantined) == len(infos):
                raise DatasetNotFoundError(
                    f"Dataset {dataset!r} has no published version: only quarantined versions "
                    f"exist ({', '.join(quarantined)}). Fix the failing checks and rerun, or read "
                    f"one with open('{dataset}@{quarantined[-1]}', allow_quarantined=True)."
                )
            # Published versions but no LATEST: a commit died between its rename and its LATEST
            # update. Refuse to guess; the versions themselves are complete and readable by number.
            raise DatasetNotFoundError(
                f"Dataset {dataset!r} has published versions ({self._describe_versions(dataset)}) "
                f"but no {dataset_dir / 'LATEST'} file (an interrupted commit?). Open a version "
                f"by number, e.g. '{dataset}@{infos[-1].version}'."
            )
        if not (dataset_dir / version_dir_name(latest)).is_dir():
            raise IntegrityError(
                f"{dataset_dir / 'LATEST'} points to version {latest}, which does not exist "
                f"(existing: {self._describe_versions(dataset)}). Write an existing published "
                "version number into LATEST."
            )
        return latest

    def _describe_versions(self, dataset: str) -> str:
        infos = self.list_versions(dataset)
        return ", ".join(f"{i.version} ({i.status})" for i in infos) or "none"
