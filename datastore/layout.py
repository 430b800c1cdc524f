"""Naming rules of the on-disk layout: dataset names, version directories, refs, reserved files.

See docs/architecture.md ("Versioned dataset layout") for the tree these names describe.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from core.errors import ConfigError

STAGING_DIR = ".staging"
LATEST_FILE = "LATEST"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
DATA_DIR = "data"
LINEAGE_FILE = "lineage.json"
VALIDATION_JSON = "validation.json"
VALIDATION_MD = "validation.md"

DATASET_NAME_RULE = r"^[a-z0-9][a-z0-9._-]{0,99}$"
# Lower-case, no slashes and no leading dot: a name is always a single, visible, portable directory
# name, so it can never escape the store root or collide with `.staging` / `.lock`.
_DATASET_NAME_RE = re.compile(DATASET_NAME_RULE)
# Canonical spelling only ("v3", not "v03"), so one version number maps to exactly one directory.
_VERSION_DIR_RE = re.compile(r"^v([1-9][0-9]*)$")
_SELECTOR_RE = re.compile(r"^v?([0-9]+)$")


TABLE_NAME_RULE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_TABLE_NAME_RE = re.compile(TABLE_NAME_RULE)


def check_table_name(name: str) -> str:
    """Return `name` if it can be the folder of a relational version's table (`data/<name>/`)."""
    if not isinstance(name, str) or not _TABLE_NAME_RE.match(name):
        raise ConfigError(
            f"Invalid table name {name!r}: a table is stored in data/<table>/, so its name must "
            f"match {TABLE_NAME_RULE}; rename the table (e.g. its file) in the source."
        )
    return name


def check_dataset_name(name: str) -> str:
    """Return `name` if it is a valid dataset name, else raise ConfigError naming the rule."""
    if not isinstance(name, str) or not _DATASET_NAME_RE.match(name):
        raise ConfigError(
            f"Invalid dataset name {name!r}: it must match {DATASET_NAME_RULE} (1-100 characters: "
            "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit)."
        )
    return name


def version_dir_name(version: int) -> str:
    """Directory name of a version number: 3 -> "v3"."""
    return f"v{version}"


def parse_version_dir(name: str) -> int | None:
    """Version number of a directory name ("v3" -> 3), or None if it is not a version dir."""
    match = _VERSION_DIR_RE.match(name)
    return int(match.group(1)) if match else None


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split a dataset ref into (name, version); version None means "latest published".

    Accepted forms: "name", "name@latest", "name@3", "name@v3".
    """
    if not isinstance(ref, str):
        raise ConfigError(f"Dataset ref must be a string like 'name@3', got {ref!r}.")
    name, sep, selector = ref.strip().partition("@")
    check_dataset_name(name)
    if not sep or selector == "latest":
        return name, None
    match = _SELECTOR_RE.match(selector)
    if not match:
        raise ConfigError(
            f"Invalid dataset ref {ref!r}: after '@' use 'latest', a version number or "
            f"'v<number>' (e.g. '{name}@latest', '{name}@3', '{name}@v3')."
        )
    return name, int(match.group(1))


def check_relpath(relpath: str, *, what: str, allow_manifest: bool = False) -> PurePosixPath:
    """Validate a path relative to a version directory; reject escapes and reserved files.

    `what` names the caller's parameter in the error message; `allow_manifest` is for readers.
    """
    path = PurePosixPath(relpath)
    if path.is_absolute() or not path.parts or ".." in path.parts or str(path) == ".":
        raise ConfigError(
            f"Invalid {what} {relpath!r}: give a relative path inside the version directory, "
            "without '..' (e.g. 'model/generator.json')."
        )
    if str(path) == MANIFEST_FILE and not allow_manifest:
        raise ConfigError(
            f"Invalid {what} {relpath!r}: {MANIFEST_FILE} is written by commit(); use another name."
        )
    return path
