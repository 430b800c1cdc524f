"""Fitted models cached by key under `<root>/.models/<key>/`, published by atomic rename; image
feature extractors (`validators.image_features`) cache themselves under `<root>/.extractors/`."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError
from datastore import _fs
from datastore.store import DatasetStore

KEY_PATTERN = re.compile(r"^[0-9a-f]{8,64}$")
EXTRACTORS_DIR = ".extractors"
MODEL_CACHE_ENV_VAR = "SYNTHPIPE_MODEL_CACHE"
DEFAULT_MODEL_CACHE = "~/.cache/synthpipe"


def model_cache_root(store: DatasetStore) -> Path:
    """Where fitted models are cached: beside a local store; for an object store a local
    directory (`$SYNTHPIPE_MODEL_CACHE`, default ~/.cache/synthpipe), since every shard task loads
    the model from a path (Dask workers elsewhere need it on a shared mount)."""
    if not store.is_remote:
        return Path(store.root)
    return Path(os.environ.get(MODEL_CACHE_ENV_VAR, DEFAULT_MODEL_CACHE)).expanduser()


def extractor_cache_dir(root: str | Path) -> Path:
    """Where validation caches image feature extractors (by real data) in the store at `root`."""
    return Path(root) / EXTRACTORS_DIR


class ModelCache:
    """A directory per key; a key's directory exists only once fully written."""

    def __init__(self, root: str | Path):
        self.directory = Path(root) / ".models"

    def path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise ConfigError(f"Model cache key {key!r} must be 8-64 lowercase hex characters.")
        return self.directory / key

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        return path if path.is_dir() else None

    def put(self, key: str, write: Callable[[Path], object]) -> Path:
        """Run `write(tmp_dir)` and publish it as `key`. If another process published the same
        key meanwhile, keep theirs (same key => same model) and drop ours."""
        target = self.path(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".tmp-{key}-{uuid.uuid4().hex}"
        try:
            write(tmp)
            _fs.rename_if_absent(tmp, target)
        finally:
            _fs.remove_tree(tmp)
        return target
