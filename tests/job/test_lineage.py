"""Model cache keys: the fitting code's version is part of the key, docs and other code are not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from job.lineage import CODE_DIR, FIT_CODE, code_version, hash_fit_code, model_key

KEY = {"source_fingerprint": "abc", "generator": "ctgan", "params": {"epochs": 5}, "seed": 0}


@pytest.fixture
def code_copy(tmp_path) -> Path:
    """A copy of the project's fitting code plus a file outside it."""
    for entry in FIT_CODE:
        if (CODE_DIR / entry).is_dir():
            shutil.copytree(CODE_DIR / entry, tmp_path / entry)
        else:
            (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(CODE_DIR / entry, tmp_path / entry)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("v1")
    return tmp_path


def test_hash_fit_code_is_the_installed_code_version(code_copy):
    # Assert: a copy elsewhere hashes the same (paths are relative), so workers share cache keys.
    assert hash_fit_code(code_copy) == code_version()


@pytest.mark.parametrize(
    "edited", ["generators/sdv_tabular.py", "core/metadata.py", "core/images.py"]
)
def test_hash_fit_code_changes_with_fitting_code(code_copy, edited):
    # Setup
    before = hash_fit_code(code_copy)

    # Run
    with (code_copy / edited).open("a") as file:
        file.write("\n# changed\n")

    # Assert
    assert hash_fit_code(code_copy) != before


def test_hash_fit_code_ignores_other_files(code_copy):
    # Setup
    before = hash_fit_code(code_copy)

    # Run
    (code_copy / "docs" / "notes.md").write_text("v2")
    (code_copy / "generators" / "README.txt").write_text("not code")

    # Assert
    assert hash_fit_code(code_copy) == before
    assert "core/metadata.py" in FIT_CODE


@pytest.mark.parametrize(
    "change",
    [
        {"source_fingerprint": "abd"},
        {"generator": "tvae"},
        {"params": {"epochs": 6}},
        {"seed": 1},
        {"code": "another-code-version"},
    ],
)
def test_model_key_changes_with_each_input(change):
    # Assert
    assert model_key(**{**KEY, **change}) != model_key(**KEY)


def test_model_key_default_code_is_the_code_version():
    # Assert
    assert model_key(**KEY) == model_key(**KEY, code=code_version())
    assert model_key(**KEY) == model_key(**dict(reversed(KEY.items())))
