"""A version being written: shards, side files, verification and the atomic publish.

Life cycle: `DatasetStore.begin` creates `<root>/.staging/<dataset>-<uuid>/`; shard tasks call
`write_part` (possibly in other processes, possibly retried); one final task calls `commit`, which
verifies the directory, writes `manifest.json` and renames the directory to `<root>/<dataset>/vN`.
Until that rename nothing is visible to readers, so a crash at any earlier point leaves only a
staging directory, which `DatasetStore.clean_staging` removes later.

On an object store (an fsspec URL root) there is no rename: commit claims `vN` with an exclusive
create of `vN/.claim`, copies the staged files into `vN/`, and writes `manifest.json` LAST. Readers
only see versions whose manifest exists, so a crash before that leaves no visible version.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from core.errors import ConfigError, DataError, IntegrityError, SynthpipeError
from datastore import _fs
from datastore.layout import (
    DATA_DIR,
    LATEST_FILE,
    LINEAGE_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    VALIDATION_JSON,
    VALIDATION_MD,
    check_relpath,
    check_table_name,
    version_dir_name,
)
from datastore.manifest import (
    KIND_PATTERN,
    ColumnSchema,
    FileEntry,
    Manifest,
    ValidationSummary,
    sha256_file,
)
from datastore.version import DatasetVersion, read_latest, version_numbers

# Bounds the publish loop; each lost race moves one version up, so only 1000 commits landing
# between our scan and our rename could exhaust it.
MAX_PUBLISH_ATTEMPTS = 1000
# Object stores: the object whose exclusive create claims a version number (hidden, so directory
# readers of the version skip it).
CLAIM_FILE = ".claim"

# This process's locks on its staging directories, by path: they tell `DatasetStore.clean_staging`
# that a run is still using a directory. Released by commit and abort, by the kernel on death.
_HELD_LOCKS: dict[str, int] = {}


def hold_staging_lock(path: Path) -> None:
    """Mark the local staging directory `path` as in use by this process until commit or abort."""
    _HELD_LOCKS[str(path)] = _fs.lock_dir(path)


def _release_staging_lock(path: str) -> None:
    fd = _HELD_LOCKS.pop(path, None)
    if fd is not None:
        os.close(fd)


@dataclass(frozen=True)
class StagedVersion:
    """Handle on a staging directory; plain string fields so it pickles across processes/tasks.

    If verification in `commit` fails (IntegrityError), the staging directory is removed, as the
    staged data is wrong and must be regenerated. Any other failure (e.g. an I/O error) leaves it
    in place for a retry of `commit` or for `DatasetStore.clean_staging`.
    """

    root: str
    dataset: str
    path: str

    # -- writing -------------------------------------------------------------------------------

    def part_path(self, index: int, table: str | None = None) -> _fs.StorePath:
        """Where shard `index` lives: `<path>/data/part-{index:05d}.parquet`, or
        `<path>/data/<table>/part-{index:05d}.parquet` for one table of a relational version."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ConfigError(f"Part index must be a non-negative integer, got {index!r}.")
        data = _fs.location(self.path) / DATA_DIR
        if table is not None:
            data = data / check_table_name(table)
        return data / f"part-{index:05d}.parquet"

    def write_part(
        self,
        index: int,
        frame: pd.DataFrame,
        schema: pa.Schema | None = None,
        *,
        table: str | None = None,
    ) -> FileEntry:
        """Write shard `index` as Parquet, atomically; a retry of the same index replaces it.

        Pass the same `schema` to every shard when a column's type could be inferred differently
        per shard (e.g. all-null in one shard); commit refuses parts whose schemas differ. A
        relational version writes each `table` into its own folder of `data/` (schemas are
        compared per table).
        """
        self._require_open()
        target = self.part_path(index, table)
        arrow = _to_arrow(frame, schema, index)
        # Never recreate an aborted staging dir: only a table's folder inside data/ is made.
        _fs.make_dirs(target.parent, parents=False)
        sha256, size = _fs.atomic_write(target, lambda handle: pq.write_table(arrow, handle))
        return FileEntry(
            path=target.relative_to(_fs.location(self.path)).as_posix(),
            sha256=sha256,
            bytes=size,
            rows=arrow.num_rows,
        )

    def write_json(self, relpath: str, obj: Any) -> _fs.StorePath:
        """Write `obj` as pretty JSON to `relpath` (atomic).

        Paths, datetimes, sets, numpy and pydantic values are converted; anything else that is not
        JSON-serialisable raises DataError.
        """
        try:
            text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_jsonify)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Cannot write {relpath!r} in {self.path} as JSON: {exc}.") from exc
        return self.write_text(relpath, text + "\n")

    def write_text(self, relpath: str, text: str) -> _fs.StorePath:
        """Write UTF-8 `text` to `relpath` inside the staged version (atomic)."""
        path = self._side_path(relpath)
        _fs.make_dirs(path.parent)
        _fs.atomic_write_bytes(path, text.encode("utf-8"))
        return path

    def dir(self, relpath: str) -> Path:
        """Create (if needed) and return a local sub-directory, e.g. "images" for image views."""
        path = self._side_path(relpath)
        if _fs.is_remote(path):
            raise ConfigError(
                f"dir({relpath!r}) needs a local store; {self.root} is an object store. Write "
                "the files locally and add them with copy_in()."
            )
        path.mkdir(parents=True, exist_ok=True)
        return path

    def copy_in(self, local_dir: str | os.PathLike[str], relpath: str) -> None:
        """Copy the files of local directory `local_dir` into `relpath` (e.g. "model")."""
        target = self._side_path(relpath)
        for source in _fs.iter_files(Path(local_dir)):
            destination = target.joinpath(*source.relative_to(local_dir).parts)
            _fs.make_dirs(destination.parent)
            _fs.atomic_write_bytes(destination, source.read_bytes())

    def local_parts(self) -> list[str]:
        """Local paths of the staged parts, in shard order, for readers that need local files.

        On an object store the parts are downloaded into `data/` of a scratch directory that
        commit and abort remove, so a part's last two path components are its manifest path.
        """
        data = _fs.location(self.path).joinpath(DATA_DIR)
        parts = sorted([*data.glob("part-*.parquet"), *data.glob("*/part-*.parquet")])
        if not parts or not _fs.is_remote(parts[0]):
            return [str(part) for part in parts]
        scratch = self._scratch() / DATA_DIR
        local = [scratch / part.relative_to(data).as_posix() for part in parts]
        for part, copy in zip(parts, local, strict=True):
            copy.parent.mkdir(parents=True, exist_ok=True)
            part.fs.get(part.path, str(copy))
        return [str(copy) for copy in local]

    def abort(self) -> None:
        """Discard the staged version (no-op if it is already gone)."""
        _fs.remove_tree(_fs.location(self.path))
        _fs.remove_tree(self._scratch())
        _release_staging_lock(self.path)

    # -- publishing ----------------------------------------------------------------------------

    def commit(
        self,
        *,
        rows_expected: int | None,
        lineage: dict[str, Any],
        report_json: str,
        report_markdown: str,
        passed: bool,
        failed_checks: list[str],
        kind: str = "table",
    ) -> DatasetVersion:
        """Verify the staged files and publish them as the next version of the dataset.

        `passed=False` publishes the version as "quarantined": readable for inspection but never
        LATEST. Raises IntegrityError (and removes the staging dir) if the parts are unreadable,
        disagree on schema, or do not add up to `rows_expected`.
        """
        staging = self._require_open()
        if not re.fullmatch(KIND_PATTERN, kind):
            raise ConfigError(
                f"kind must be a modality name (lowercase letters, digits, _), got {kind!r}."
            )
        if not isinstance(lineage, dict):
            raise ConfigError(f"lineage must be a dict, got {type(lineage).__name__}.")
        try:
            json.loads(report_json)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"report_json for {self.dataset!r} is not valid JSON ({exc}); pass the "
                "ValidationReport serialised with model_dump_json()."
            ) from exc

        # Round-trip through JSON so lineage.json and the manifest copy are identical.
        try:
            lineage_json = json.loads(json.dumps(lineage, default=_jsonify))
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"lineage for {self.dataset!r} cannot be stored as JSON: {exc}; pass plain "
                "values (str, numbers, lists, dicts, paths, datetimes)."
            ) from exc
        self.write_json(LINEAGE_FILE, lineage_json)
        self.write_text(VALIDATION_JSON, report_json)
        self.write_text(VALIDATION_MD, report_markdown)

        try:
            files, columns, rows = _verify_staging(staging, rows_expected)
        except IntegrityError:
            self.abort()
            raise

        created_at = datetime.now(UTC)

        def manifest_for(version: int) -> Manifest:
            return Manifest(
                dataset=self.dataset,
                version=version,
                status="published" if passed else "quarantined",
                created_at=created_at,
                kind=kind,
                rows=rows,
                schema_=columns,
                files=files,
                lineage=lineage_json,
                validation=ValidationSummary(passed=passed, failed_checks=list(failed_checks)),
            )

        dataset_dir = _fs.location(self.root) / self.dataset
        _fs.make_dirs(dataset_dir)
        publish = _publish_by_copy if _fs.is_remote(staging) else _publish
        version, manifest = publish(staging, dataset_dir, manifest_for)
        _fs.remove_tree(self._scratch())
        _release_staging_lock(self.path)
        if passed:
            _advance_latest(dataset_dir, version)
        return DatasetVersion(
            dataset=self.dataset,
            version=version,
            path=dataset_dir / version_dir_name(version),
            manifest=manifest,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _scratch(self) -> Path:
        return Path(tempfile.gettempdir()) / f"synthpipe-{_fs.location(self.path).name}"

    def _require_open(self) -> _fs.StorePath:
        path = _fs.location(self.path)
        # Object stores have no empty directories to check: a staged version with no file yet
        # looks the same as an aborted one, so writes are not refused there.
        if not _fs.is_remote(path) and not path.is_dir():
            raise DataError(
                f"Staging directory {self.path} for dataset {self.dataset!r} no longer exists: it "
                "was committed, aborted, or removed by clean_staging(). Start a new one with "
                f"DatasetStore.begin({self.dataset!r})."
            )
        return path

    def _side_path(self, relpath: str) -> _fs.StorePath:
        self._require_open()
        rel = check_relpath(relpath, what="relpath")
        if rel.parts[0] == DATA_DIR:
            # data/ must hold only Parquet parts so plain `pandas.read_parquet(<v>/data)` works.
            raise ConfigError(
                f"Invalid relpath {relpath!r}: {DATA_DIR}/ holds only Parquet parts; "
                "use write_part() for those and another directory for anything else."
            )
        return _fs.location(self.path).joinpath(*rel.parts)


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema | None, index: int) -> pa.Table:
    """Convert a shard to Arrow, turning pyarrow's errors into ones that name the column."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"Part {index}: expected a pandas DataFrame, got {type(frame).__name__}.")
    if schema is not None:
        names = [str(column) for column in frame.columns]
        missing = [name for name in schema.names if name not in names]
        # pyarrow silently drops frame columns absent from the schema; losing data quietly is
        # worse than failing, so refuse.
        extra = [name for name in names if name not in schema.names]
        if missing or extra:
            raise DataError(
                f"Part {index}: frame columns do not match the schema (missing from frame: "
                f"{missing}; not in schema: {extra}). Make the frame's columns equal the schema's."
            )
    try:
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(_conversion_error(frame, schema, index, exc)) from exc


def _conversion_error(
    frame: pd.DataFrame, schema: pa.Schema | None, index: int, exc: Exception
) -> str:
    # Convert column by column to find the culprit; only runs on the failure path.
    for position, column in enumerate(frame.columns):
        target = None
        if schema is not None and str(column) in schema.names:
            target = schema.field(str(column)).type
        series = frame.iloc[:, position]
        try:
            pa.array(series, type=target, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError) as column_exc:
            wanted = f"Arrow type {target}" if target is not None else "an Arrow type"
            return (
                f"Part {index}: column {column!r} (pandas dtype {series.dtype}) cannot be "
                f"converted to {wanted}: {column_exc}. Fix the column's values or its type "
                "in the schema."
            )
    return f"Part {index}: cannot convert the frame to Arrow: {exc}."


def _jsonify(value: Any) -> Any:
    """`json.dumps` fallback for the values that lineage typically holds."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"values of type {type(value).__name__} are not JSON serialisable")


def _verify_staging(
    staging: _fs.StorePath, rows_expected: int | None
) -> tuple[list[FileEntry], list[ColumnSchema], int]:
    """Hash every staged file and check the parts; return (files, columns, total rows)."""
    files: list[FileEntry] = []
    schemas: list[tuple[str, pa.Schema]] = []
    for full in _fs.iter_files(staging):
        rel = full.relative_to(staging).as_posix()
        if rel == MANIFEST_FILE:
            continue  # rewritten on every publish attempt; it cannot list itself
        if _fs.is_temp_name(full.name):
            # Left by a write that was killed before its os.replace; the retry that followed wrote
            # the real file, so this is garbage rather than data.
            full.unlink(missing_ok=True)
            continue
        rows = None
        if rel.startswith(f"{DATA_DIR}/"):
            try:
                with full.open("rb") as handle:  # a handle works on local and remote files
                    footer = pq.ParquetFile(handle)
                    metadata, schema = footer.metadata, footer.schema_arrow
            except (pa.ArrowException, OSError) as exc:
                raise IntegrityError(
                    f"Staged file {rel} of {staging.name} is not a readable Parquet file ({exc}). "
                    f"Only parts written by write_part() may be in {DATA_DIR}/; the staged "
                    "version was discarded, regenerate it."
                ) from exc
            rows = metadata.num_rows
            schemas.append((rel, schema))
        files.append(
            FileEntry(path=rel, sha256=sha256_file(full), bytes=full.stat().st_size, rows=rows)
        )

    files.sort(key=lambda entry: entry.path)  # manifest order independent of walk order
    if not schemas:
        raise IntegrityError(
            f"Staged version {staging.name} has no Parquet parts in {DATA_DIR}/; a version needs "
            "at least one (write_part() accepts an empty DataFrame). It was discarded."
        )
    first_of_table: dict[str, tuple[str, pa.Schema]] = {}
    for rel, schema in schemas:
        # A relational version's tables have their own schemas: compare parts of one folder.
        first_rel, first = first_of_table.setdefault(rel.rpartition("/")[0], (rel, schema))
        if rel != first_rel and not schema.equals(first, check_metadata=False):
            raise IntegrityError(
                f"Schema mismatch in staged version {staging.name}: part {rel} differs from "
                f"{first_rel}: {_schema_difference(first, schema)}. Pass the same schema= to "
                "every write_part() call. The staged version was discarded."
            )

    rows = sum(entry.rows or 0 for entry in files)
    if rows_expected is not None and rows != rows_expected:
        per_part = ", ".join(f"{e.path}={e.rows}" for e in files if e.rows is not None)
        raise IntegrityError(
            f"Staged version {staging.name} has {rows} rows but rows_expected={rows_expected} "
            f"(parts: {per_part}); a shard is missing or was written twice under different "
            "indexes. The staged version was discarded."
        )
    first_schema = schemas[0][1] if schemas else pa.schema([])
    columns = [ColumnSchema(name=field.name, type=str(field.type)) for field in first_schema]
    return files, columns, rows


def _schema_difference(expected: pa.Schema, actual: pa.Schema) -> str:
    """Human description of the first difference between two part schemas."""
    for field in expected:
        if field.name not in actual.names:
            return f"column {field.name!r} is missing"
        other = actual.field(field.name)
        if other.type != field.type:
            return f"column {field.name!r} has type {other.type}, expected {field.type}"
        if other.nullable != field.nullable:
            return f"column {field.name!r} has nullable={other.nullable}, expected {field.nullable}"
    extra = [name for name in actual.names if name not in expected.names]
    if extra:
        return f"column {extra[0]!r} is not in the first part"
    return f"column order differs: {actual.names} vs {expected.names}"


def _claim_version(
    staging: _fs.StorePath, dataset_dir: _fs.StorePath, claim: Callable[[int], bool]
) -> int:
    """The first free version number from the next one up for which `claim(N)` succeeds."""
    version = (version_numbers(dataset_dir, with_manifest=False) or [0])[-1] + 1
    for _attempt in range(MAX_PUBLISH_ATTEMPTS):
        if claim(version):
            return version
        # A concurrent commit took this number: move past everything that exists now.
        version = max([version, *version_numbers(dataset_dir, with_manifest=False)]) + 1
    raise SynthpipeError(
        f"Could not allocate a version number for {dataset_dir.name} after "
        f"{MAX_PUBLISH_ATTEMPTS} attempts; the staged files at {staging} are intact, retry commit."
    )


def _publish(
    staging: Path, dataset_dir: Path, manifest_for: Callable[[int], Manifest]
) -> tuple[int, Manifest]:
    """Rename `staging` to the next free `vN`; return (N, the manifest written into it)."""

    def rename_onto(version: int) -> bool:
        manifest = manifest_for(version).to_json().encode("utf-8")
        _fs.atomic_write_bytes(staging / MANIFEST_FILE, manifest)
        return _fs.rename_if_absent(staging, dataset_dir / version_dir_name(version))

    version = _claim_version(staging, dataset_dir, rename_onto)
    _fs.fsync_dir(dataset_dir)
    return version, manifest_for(version)


def _publish_by_copy(
    staging: _fs.StorePath, dataset_dir: _fs.StorePath, manifest_for: Callable[[int], Manifest]
) -> tuple[int, Manifest]:
    """Object stores: claim the next free `vN`, copy the staged files in, write the manifest last.

    The claim (an exclusive create) stands in for the local rename's "exactly one winner"; the
    manifest is the commit point, so a crash before it leaves a `vN` that readers never list.
    """
    version = _claim_version(
        staging,
        dataset_dir,
        lambda n: _fs.create_exclusive(dataset_dir / version_dir_name(n) / CLAIM_FILE, b""),
    )
    target = dataset_dir / version_dir_name(version)
    for source in _fs.iter_files(staging):
        _fs.copy_file(source, target.joinpath(*source.relative_to(staging).parts))
    manifest = manifest_for(version)
    _fs.atomic_write_bytes(target / MANIFEST_FILE, manifest.to_json().encode("utf-8"))
    _fs.remove_tree(staging)
    return version, manifest


def _advance_latest(dataset_dir: _fs.StorePath, version: int) -> None:
    """Point LATEST at `version` unless a concurrent commit already published a higher one."""
    # The lock makes read-compare-write atomic; without it two commits could both read 3 and the
    # one writing 4 could finish after the one writing 5, leaving LATEST behind.
    with _fs.exclusive_lock(dataset_dir / LOCK_FILE):
        current = read_latest(dataset_dir)
        if current is None or version > current:
            _fs.atomic_write_bytes(dataset_dir / LATEST_FILE, f"{version}\n".encode())
