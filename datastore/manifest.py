"""The manifest of one dataset version: what files it holds, their hashes, schema and status.

`manifest.json` is the last file written into a version directory and the only file readers trust
to know what a version contains; everything else is checked against it (`DatasetVersion.verify`).
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from upath import UPath

MANIFEST_FORMAT_VERSION = 1
_CHUNK_BYTES = 1024 * 1024  # stream hashes so multi-GB parts never sit in memory

# Frozen so a loaded manifest cannot drift from what is on disk; extra="forbid" so a manifest
# written by a newer, incompatible format fails loudly instead of silently losing fields.
_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid")
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"  # a modality name


class FileEntry(BaseModel):
    """One file of a version, as recorded in its manifest."""

    model_config = _MODEL_CONFIG

    path: str  # posix path relative to the version directory, e.g. "data/part-00000.parquet"
    sha256: str
    bytes: int
    rows: int | None = None  # set for Parquet parts only


class ColumnSchema(BaseModel):
    """One column of the table: its name and Arrow type as Arrow prints it (e.g. "int64")."""

    model_config = _MODEL_CONFIG

    name: str
    type: str


class ValidationSummary(BaseModel):
    """Outcome of the validation gates; the full report lives in the `report` file."""

    model_config = _MODEL_CONFIG

    passed: bool
    failed_checks: list[str]
    report: str = "validation.json"


class Manifest(BaseModel):
    """Everything a reader needs to trust one dataset version.

    Serialise with `to_json()` (or `model_dump(by_alias=True)`) so the schema is stored under the
    key "schema"; the attribute is `schema_` because `schema` would shadow a pydantic method.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    format_version: int = MANIFEST_FORMAT_VERSION
    dataset: str
    version: int
    status: Literal["published", "quarantined"]
    created_at: datetime
    # The modality of the records (`modalities`: "table", "image", ...); the store reads any.
    kind: str = Field("table", pattern=KIND_PATTERN)
    rows: int
    schema_: list[ColumnSchema] = Field(alias="schema")
    files: list[FileEntry]
    lineage: dict[str, Any]
    validation: ValidationSummary

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Naive timestamps are ambiguous across machines; refuse them rather than guess a zone.
        if value.tzinfo is None:
            raise ValueError("created_at must be timezone-aware (UTC), got a naive datetime")
        return value.astimezone(UTC)

    def to_json(self) -> str:
        """The manifest as pretty-printed JSON, schema under the key "schema"."""
        return self.model_dump_json(by_alias=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse a manifest written by `to_json`."""
        return cls.model_validate_json(text)

    def file(self, path: str) -> FileEntry | None:
        """The entry for `path` (posix, relative to the version dir), or None if not listed."""
        return next((entry for entry in self.files if entry.path == path), None)

    @property
    def parts(self) -> list[FileEntry]:
        """The Parquet parts under `data/`, in file-name order (which is shard order)."""
        return sorted(
            (entry for entry in self.files if entry.path.startswith("data/")),
            key=lambda entry: entry.path,
        )


def sha256_file(path: str | os.PathLike[str] | UPath) -> str:
    """Hex sha256 of a file (local, or a `UPath` on an object store), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with UPath(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
