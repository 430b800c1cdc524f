"""Test-wide settings: offline, quiet, and a throwaway Prefect home (set before prefect loads)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="synthpipe-prefect-home-")

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    """A small real mixed table: 13 numeric columns and a categorical `target`."""
    from synthpipe.sources import load_builtin

    return load_builtin("wine")


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server + database for every flow test (≈ 12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
