"""The signing key and HMAC sidecar signatures that guard pickles (`core.signing`)."""

from __future__ import annotations

import re
import stat

import pytest

from core.errors import ConfigError, DataError, UntrustedFileError
from core.signing import (
    CONFIG_DIR_ENV_VAR,
    KEY_FILE,
    read_signed,
    signature_path,
    signing_key,
    write_signed,
)


@pytest.fixture
def key_dir(tmp_path, monkeypatch):
    directory = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(directory))
    return directory


def test_signing_key_is_created_once_readable_only_by_the_owner(key_dir):
    # Run
    first, again = signing_key(), signing_key()

    # Assert
    assert first.path == key_dir / KEY_FILE
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert len(first.secret) == 32 and again.secret == first.secret
    assert [p.name for p in key_dir.iterdir()] == [KEY_FILE]  # no scratch file left behind


def test_read_signed_returns_the_bytes_written(key_dir, tmp_path):
    # Setup
    path = tmp_path / "model.pkl"
    write_signed(path, b"payload")

    # Run / Assert
    assert read_signed(path, fix="re-fit") == b"payload"


UNSIGNED = "model.pkl.sig is missing or unreadable"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda path: path.write_bytes(b"other payload"), "it changed after it was signed"),
        (lambda path: signature_path(path).unlink(), UNSIGNED),
        (lambda path: signature_path(path).write_text("{"), UNSIGNED),
    ],
    ids=["changed", "unsigned", "garbled-signature"],
)
def test_read_signed_tampered_file_raises_naming_it(key_dir, tmp_path, tamper, reason):
    # Setup
    path = tmp_path / "model.pkl"
    write_signed(path, b"payload")
    tamper(path)

    # Run / Assert
    with pytest.raises(UntrustedFileError, match=re.escape(reason)) as caught:
        read_signed(path, fix="Delete it to re-fit.")
    assert str(path) in str(caught.value) and "Delete it to re-fit." in str(caught.value)


def test_read_signed_signature_of_another_installation_raises(tmp_path, monkeypatch):
    # Setup: signed under one config dir (installation), read under another.
    path = tmp_path / "model.pkl"
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(tmp_path / "theirs"))
    write_signed(path, b"payload")
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(tmp_path / "ours"))

    # Run / Assert
    with pytest.raises(UntrustedFileError, match="signed by another key") as caught:
        read_signed(path, fix="re-fit")
    assert str(tmp_path / "ours" / KEY_FILE) in str(caught.value)


def test_read_signed_missing_file_raises_data_error(key_dir, tmp_path):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'gone.pkl'} does not exist")):
        read_signed(tmp_path / "gone.pkl", fix="re-fit")


def test_signing_key_readable_by_others_raises(key_dir):
    # Setup
    path = signing_key().path
    path.chmod(0o644)

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(f"Run `chmod 600 {path}`")):
        signing_key()


def test_signing_key_not_a_key_raises(key_dir):
    # Setup
    path = signing_key().path
    path.write_text("not hex")

    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(f"{path} is not a Synthpipe signing key")):
        signing_key()
