"""Fixtures shared by the generator tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """A tiny random Stable Diffusion pipeline folder (16x16 RGB), written once per session: the
    `path` a `pretrained` generator loads in tests. Copy it before changing any file in it."""
    pytest.importorskip("transformers")
    from generators.images.tiny_pipeline import write_tiny_pipeline

    return write_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")
