from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from datastore import DatasetStore
from datastore.model_cache import MODEL_CACHE_ENV_VAR, ModelCache, model_cache_root


def _writer(text: str):
    def write(directory):
        directory.mkdir(parents=True)
        (directory / "weights.txt").write_text(text)

    return write


def test_put_then_get_returns_the_published_directory(tmp_path):
    # Setup
    cache = ModelCache(tmp_path)

    # Run
    path = cache.put("abcdef0123", _writer("first"))

    # Assert
    assert cache.get("abcdef0123") == path
    assert (path / "weights.txt").read_text() == "first"
    assert [p.name for p in (tmp_path / ".models").iterdir()] == ["abcdef0123"]


def test_get_unknown_key_is_none(tmp_path):
    # Assert
    assert ModelCache(tmp_path).get("abcdef0123") is None


def test_put_existing_key_keeps_the_first_and_cleans_up(tmp_path):
    # Setup
    cache = ModelCache(tmp_path)
    cache.put("abcdef0123", _writer("first"))

    # Run
    path = cache.put("abcdef0123", _writer("second"))

    # Assert
    assert (path / "weights.txt").read_text() == "first"
    assert [p.name for p in (tmp_path / ".models").iterdir()] == ["abcdef0123"]


def test_put_failing_writer_leaves_nothing(tmp_path):
    # Setup
    def broken(directory):
        directory.mkdir(parents=True)
        raise RuntimeError("fit exploded")

    # Run
    with pytest.raises(RuntimeError, match="fit exploded"):
        ModelCache(tmp_path).put("abcdef0123", broken)

    # Assert
    assert list((tmp_path / ".models").iterdir()) == []


@pytest.mark.parametrize("key", ["../escape", "ABCDEF0123", "short"])
def test_path_rejects_keys_that_are_not_hex(tmp_path, key):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(f"Model cache key {key!r}")):
        ModelCache(tmp_path).path(key)


def test_model_cache_root_local_store_keeps_models_beside_it(tmp_path, monkeypatch):
    # Setup
    monkeypatch.setenv(MODEL_CACHE_ENV_VAR, str(tmp_path / "elsewhere"))

    # Run / Assert: the variable is for object stores only
    assert model_cache_root(DatasetStore(tmp_path)) == tmp_path


def test_model_cache_root_object_store_uses_the_local_cache(tmp_path, monkeypatch):
    # Setup
    store = DatasetStore("memory://cache-root")

    # Run
    monkeypatch.setenv(MODEL_CACHE_ENV_VAR, str(tmp_path / "models"))
    configured = model_cache_root(store)
    monkeypatch.delenv(MODEL_CACHE_ENV_VAR)
    default = model_cache_root(store)

    # Assert
    assert configured == tmp_path / "models"
    assert default == Path("~/.cache/synthpipe").expanduser()
