"""Test-wide settings: offline, quiet, a throwaway Prefect home (set before prefect loads) and a
throwaway signing-key directory."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="synthpipe-prefect-home-")
# The SDV model signing key (core.signing): a throwaway one, never the user's real key.
os.environ["SYNTHPIPE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="synthpipe-config-")

import pandas as pd
import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` skip, with the reason, where CUDA is absent (CI, laptops)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    """A small real mixed table: 13 numeric columns and a categorical `target`."""
    from sources.tables import load_builtin

    return load_builtin("wine")


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect server + database for every flow test, started once (≈ 12 s idle).

    It is awaited on its health endpoint for as long as its process runs, so a loaded machine
    only makes the first flow test slower (Prefect's own test harness gave up after a fixed
    timeout). PREFECT_API_URL is set in the environment too, so `synth run` (auto mode) and
    subprocesses report to it.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.server import API_URL_ENV, TemporaryServer

    with TemporaryServer() as server:
        server.wait()
        os.environ[API_URL_ENV] = server.url
        try:
            with temporary_settings(updates={PREFECT_API_URL: server.url}):
                yield server
        finally:
            del os.environ[API_URL_ENV]


class _Payload:
    """Unpickling this creates `marker`: stands in for an attacker's code, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def plant_pickle(tmp_path) -> Callable[[Path], Path]:
    """`plant(model_dir)` replaces the SDV pickle in `model_dir` by one that would create
    `tmp_path / "marker"` when unpickled (its signature stays, now stale); returns the file."""

    from generators.sdv_tabular import MODEL_FILE

    def plant(model_dir: Path) -> Path:
        pickled = model_dir / MODEL_FILE
        pickled.write_bytes(pickle.dumps(_Payload(tmp_path / "marker")))
        return pickled

    return plant
