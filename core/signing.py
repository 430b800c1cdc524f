"""HMAC-SHA256 signatures for the files Synthpipe writes that would run code when loaded.

SDV saves its synthesizers with cloudpickle, and unpickling runs whatever the pickle says. Such a
file is written with a signature beside it (`<file>.sig`) made with a secret key kept outside
every store root, and is read back only once that signature verifies, so a pickle planted in a
store (model cache, a version's `model/`, a staging leftover) is refused before it is unpickled.
Whoever can write to a store root cannot forge a signature; whoever can read the key can.

The key is 32 random bytes, hex-encoded in `<config dir>/signing.key` (mode 0600), created on
first use. The config dir is `$SYNTHPIPE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/synthpipe`, else
`~/.config/synthpipe`. The signature is a sidecar file rather than a field of `generator.json`
because the base class writes that file for every family, before the family's own files, and a
sidecar keeps the signature with the one file it covers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, DataError, UntrustedFileError

CONFIG_DIR_ENV_VAR = "SYNTHPIPE_CONFIG_DIR"
KEY_FILE = "signing.key"
KEY_BYTES = 32
SIGNATURE_SUFFIX = ".sig"
SCHEME = "synthpipe-hmac-sha256-v1"


@dataclass(frozen=True)
class SigningKey:
    path: Path
    secret: bytes

    @property
    def key_id(self) -> str:
        """Names the key in signatures and errors without revealing it."""
        return hmac.new(self.secret, b"synthpipe key id", hashlib.sha256).hexdigest()[:16]

    def digest(self, data: bytes) -> str:
        # The scheme prefix keeps these MACs from matching any other use of the same key.
        message = SCHEME.encode() + b"\0" + data
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def config_dir() -> Path:
    """Where this installation keeps its signing key (never inside a store root)."""
    configured = os.environ.get(CONFIG_DIR_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
    return Path(base).expanduser() / "synthpipe"


def signing_key() -> SigningKey:
    """This installation's key, created (0600) on first use."""
    path = config_dir() / KEY_FILE
    if not path.exists():
        _create_key(path)
    _check_private(path)
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise ConfigError(
            f"{path} is not a Synthpipe signing key ({2 * KEY_BYTES} hex characters expected). "
            "Restore the right file, or move it away to have a new key created (SDV models "
            "signed with the old key then need re-fitting)."
        )
    return SigningKey(path=path, secret=secret)


def signature_path(path: Path) -> Path:
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def write_signed(path: Path, data: bytes) -> None:
    """Write `data` to `path` and its signature to `<path>.sig`."""
    key = signing_key()
    path.write_bytes(data)
    signature = {"scheme": SCHEME, "key_id": key.key_id, "hmac": key.digest(data)}
    signature_path(path).write_text(json.dumps(signature, indent=2) + "\n")


def read_signed(path: Path, *, fix: str) -> bytes:
    """The bytes of `path` once `<path>.sig` verifies them with this installation's key.

    Read once and returned, so the caller loads exactly the bytes that were checked. Otherwise
    an UntrustedFileError names the file, what is wrong and `fix` (how to get a trusted file).
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist. {fix}")
    key = signing_key()
    data = path.read_bytes()
    signature = _read_signature(signature_path(path))
    if signature is None:
        reason = f"its signature {signature_path(path).name} is missing or unreadable"
    elif signature["key_id"] != key.key_id:
        reason = (
            f"it was signed by another key (id {signature['key_id']}), not this installation's "
            f"(id {key.key_id}); copy the signing key that wrote it to {key.path} to load it here"
        )
    elif not hmac.compare_digest(signature["hmac"], key.digest(data)):
        reason = "it changed after it was signed"
    else:
        return data
    raise UntrustedFileError(
        f"Refusing to load {path}: {reason}. It is a pickle, which can run code when loaded, so "
        f"only pickles signed with this installation's key ({key.path}) are loaded; if you did "
        f"not expect this, someone else wrote to the store. {fix}"
    )


def _read_signature(path: Path) -> dict[str, str] | None:
    try:
        signature = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    fields = ("scheme", "key_id", "hmac")
    if not isinstance(signature, dict) or signature.get("scheme") != SCHEME:
        return None
    if not all(isinstance(signature.get(field), str) for field in fields):
        return None
    return signature


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(f".{KEY_FILE}-{uuid.uuid4().hex}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        # A hard link never replaces a key that another process created meanwhile, and readers
        # never see a half-written one.
        os.link(scratch, path)
    except FileExistsError:
        pass
    finally:
        scratch.unlink()


def _check_private(path: Path) -> None:
    """Refuse a key others can read or change (as ssh does): they could sign their pickles."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} has mode {mode:04o}: other users can read or change this signing key, and "
            f"with it sign pickles that Synthpipe would run. Run `chmod 600 {path}`."
        )
