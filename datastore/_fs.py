"""Filesystem primitives the store is built on (atomic writes, exclusive rename, locks).

Every filesystem effect of the datastore that matters for correctness goes through this module.
A store root is a local `Path` or, for an fsspec URL (`s3://`, `gs://`, `memory://`), a `UPath`.
Locally, publishing relies on a directory rename that fails when the target exists and on `flock`.
Object stores have neither: there a single object PUT is the atomic unit, a version is claimed by
an exclusive create where the filesystem offers one, and its manifest is written last
(see `datastore.staging` and docs/architecture.md).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import fsspec.utils
from upath import UPath

# A location in a store: a local path, or a path on an fsspec filesystem (object store).
StorePath = Path | UPath
_LOCAL_PROTOCOLS = ("file", "local")

# Temp files are hidden (leading dot) so pyarrow/pandas directory readers skip them even if a crash
# leaves one behind, and carry a uuid so concurrent writers of the same target never collide.
_TEMP_RE = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")


class _HashingWriter:
    """File-like wrapper that hashes and counts bytes as they are written, saving a re-read."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")  # pyarrow may pass multi-byte buffers
        self.digest.update(view)
        self.size += len(view)
        return self._handle.write(view)

    def flush(self) -> None:
        self._handle.flush()

    def tell(self) -> int:
        return self.size  # append-only, so the position is the byte count

    @property
    def closed(self) -> bool:
        return self._handle.closed


def location(root: str | os.PathLike[str]) -> StorePath:
    """`root` as an absolute local `Path`, or as a `UPath` when it is a remote fsspec URL."""
    text = os.fspath(root)
    protocol = fsspec.utils.get_protocol(text)
    if protocol in _LOCAL_PROTOCOLS:
        local = text.removeprefix(f"{protocol}://")
        # Absolute, because store paths are carried to tasks that may run with another CWD.
        return Path(os.path.abspath(Path(local).expanduser()))
    return UPath(text)


def is_remote(path: StorePath) -> bool:
    """Whether `path` lives on an fsspec filesystem rather than the local disk."""
    return not isinstance(path, Path)


def make_dirs(path: StorePath, *, parents: bool = True) -> None:
    """Create a directory (and its parents); object stores have no directories, so nothing there.

    `parents=False` fails when the parent is gone, e.g. a staging directory aborted meanwhile.
    """
    if not is_remote(path):
        path.mkdir(parents=parents, exist_ok=True)


def temp_path_for(path: Path) -> Path:
    """A unique hidden temp path next to `path` (same directory, so `os.replace` is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def is_temp_name(name: str) -> bool:
    """Whether `name` is a temp file made by `temp_path_for` (e.g. left by a killed writer)."""
    return bool(_TEMP_RE.match(name))


def atomic_write(path: StorePath, write: Callable[[BinaryIO], None]) -> tuple[str, int]:
    """Write a file via a temp file + fsync + `os.replace`; return its (sha256, size).

    Readers see either the old file or the complete new one, never a torn write, and a retried
    write of the same path replaces the previous attempt instead of adding a second file.
    On an object store the upload itself is atomic (an object appears complete or not at all).
    """
    if is_remote(path):
        with path.open("wb") as handle:
            writer = _HashingWriter(handle)
            write(writer)  # type: ignore[arg-type]  # duck-typed binary sink
        return writer.digest.hexdigest(), writer.size
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as handle:
            writer = _HashingWriter(handle)
            write(writer)  # type: ignore[arg-type]  # duck-typed binary sink
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return writer.digest.hexdigest(), writer.size


def atomic_write_bytes(path: StorePath, data: bytes) -> tuple[str, int]:
    """`atomic_write` for an in-memory payload."""
    return atomic_write(path, lambda handle: handle.write(data))


def fsync_dir(path: StorePath) -> None:
    """Flush a directory entry change (rename/replace) to disk; best effort where unsupported."""
    if is_remote(path):
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rename_if_absent(src: Path, dst: Path) -> bool:
    """Rename directory `src` to `dst`; return False (and change nothing) if `dst` already exists.

    POSIX `rename` refuses to replace a non-empty directory, which is what makes version allocation
    race-free: of two commits renaming onto the same `vN`, exactly one wins. (It would replace an
    *empty* directory; the store never creates empty version directories.)
    """
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR) and os.path.lexists(dst):
            return False
        raise
    return True


def create_exclusive(path: StorePath, data: bytes) -> bool:
    """Create the object `path` holding `data`; False (and nothing written) if it already exists.

    Uses the filesystem's exclusive create (mode "xb": a conditional put on S3 and GCS, atomic in
    memory://). Where a filesystem lacks it, an existence check stands in, which is only safe with
    one writer per dataset at a time (the documented assumption for such stores).
    """
    try:
        with path.fs.open(path.path, "xb") as handle:
            handle.write(data)
    except FileExistsError:
        return False
    except (NotImplementedError, ValueError):
        if path.exists():
            return False
        path.write_bytes(data)
    return True


def copy_file(src: StorePath, dst: StorePath) -> None:
    """Copy one file within the same filesystem (server-side on object stores)."""
    if is_remote(src):
        src.fs.copy(src.path, dst.path)
    else:
        shutil.copyfile(src, dst)


@contextmanager
def exclusive_lock(path: StorePath) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) for the duration of the block.

    `flock` locks belong to the open file description, so this serialises threads of one process
    as well as separate processes on the same host. Object stores have no locks: there the block
    runs unguarded, which is safe with one writer per dataset at a time (documented assumption).
    """
    if is_remote(path):
        yield
        return
    with open(path, "a+b") as handle:  # append mode: create without truncating
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def lock_dir(path: Path) -> int:
    """Hold an exclusive `flock` on directory `path`; return the descriptor (close it to release).

    Marks the directory as in use for as long as this process lives: the kernel drops the lock
    when the process dies, so a killed run leaves a directory that `dir_in_use` reports as free.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _try_lock(path: Path) -> int | None:
    """A descriptor holding a non-blocking lock on directory `path`, or None if one is held.

    Raises FileNotFoundError / NotADirectoryError when there is no such directory.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def dir_in_use(path: StorePath) -> bool:
    """Whether a `lock_dir` lock is held on directory `path` (always False on object stores)."""
    if is_remote(path):
        return False
    try:
        fd = _try_lock(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if fd is None:
        return True
    os.close(fd)
    return False


def remove_tree_unless_locked(path: StorePath) -> bool:
    """Delete a directory tree unless a `lock_dir` lock is held on it; True if it was removed.

    The probe lock is kept while deleting, so a lock taken meanwhile waits for the deletion instead
    of racing it. Object stores have no locks: there the tree is removed unconditionally.
    """
    if is_remote(path):
        return remove_tree(path)
    try:
        fd = _try_lock(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if fd is None:
        return False
    try:
        return remove_tree(path)
    finally:
        os.close(fd)  # releases the probe lock


def tree_bytes(root: StorePath) -> int:
    """Total size of the files under `root` (0 if it is gone)."""
    total = 0
    for path in iter_files(root):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue  # removed while we walked
    return total


def iter_files(root: StorePath) -> Iterator[StorePath]:
    """Every regular file under `root`, recursively, in a stable (sorted) order."""
    if is_remote(root):
        base = PurePosixPath(root.path)
        for name in sorted(root.fs.find(root.path)):
            yield root.joinpath(*PurePosixPath(name).relative_to(base).parts)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()  # os.walk honours in-place sorting, which makes the order deterministic
        for name in sorted(filenames):
            yield Path(dirpath) / name


def newest_mtime(root: StorePath) -> float:
    """Most recent modification time of `root` or anything below it.

    A directory's own mtime only changes when its direct entries change, so a long-running writer
    filling `data/` would otherwise look idle. On an object store: the newest object's time.
    """
    if is_remote(root):
        times = [root.fs.modified(name).timestamp() for name in root.fs.find(root.path)]
        return max(times, default=0.0)
    newest = root.stat().st_mtime
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in [".", *filenames]:
            try:
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:
                continue  # removed while we walked: irrelevant to the age
    return newest


def remove_tree(path: StorePath) -> bool:
    """Delete a directory tree; return False if it was already gone."""
    if is_remote(path):
        if not path.fs.find(path.path):
            return False
        path.fs.rm(path.path, recursive=True)
        return True
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return False
    return True
