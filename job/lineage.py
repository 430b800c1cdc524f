"""What produced a dataset: code version, package versions, fingerprints and keys."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

RECORDED_PACKAGES = (
    "synthpipe",
    "sdv",
    "sdmetrics",
    "torch",
    "diffusers",
    "pandas",
    "pyarrow",
    "numpy",
    "prefect",
    "great-expectations",
)
CODE_DIR = Path(__file__).resolve().parent.parent


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@cache
def git_state() -> dict[str, Any]:
    """The code's git commit and whether the work tree had local changes (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=CODE_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=CODE_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


# The source files that decide what a fit learns: a change here retrains cached models, while a
# commit elsewhere (docs, CLI, validators) keeps them. errors.py only words the failures.
# core/images.py is the ImageData container the image families fit (it sat in generators/).
FIT_CODE = ("generators", "core/metadata.py", "core/images.py")


@cache
def code_version() -> str:
    """This installation's fitting code version (see `hash_fit_code`)."""
    return hash_fit_code(CODE_DIR)


def hash_fit_code(code_dir: Path) -> str:
    """Hash of the fitting code under `code_dir` (FIT_CODE): paths and contents, not git state,
    so it is the same in a git checkout, an installed copy or a worker's pulled source."""
    digest = hashlib.sha256()
    for entry in FIT_CODE:
        path = code_dir / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(code_dir).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_key(
    *,
    source_fingerprint: str,
    generator: str,
    params: dict[str, Any],
    seed: int,
    code: str | None = None,
) -> str:
    """Cache key of a fitted model: same training data, generator config, seed, fitting code
    (`code`, default `code_version()`) and library versions => same model."""
    versions = package_versions()
    payload = {
        "source": source_fingerprint,
        "generator": generator,
        "params": params,
        "seed": seed,
        "code": code if code is not None else code_version(),
        "libraries": {k: versions[k] for k in ("sdv", "torch", "diffusers")},
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
