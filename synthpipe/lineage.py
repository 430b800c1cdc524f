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


def model_key(*, source_fingerprint: str, generator: str, params: dict[str, Any], seed: int) -> str:
    """Cache key of a fitted model: same data, generator config, seed and library code => same
    model. Library versions stand for the code version so a commit to docs does not retrain."""
    versions = package_versions()
    payload = {
        "source": source_fingerprint,
        "generator": generator,
        "params": params,
        "seed": seed,
        "code": {k: versions[k] for k in ("synthpipe", "sdv", "torch", "diffusers")},
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
