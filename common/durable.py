"""Files that survive a crash whole, and their hashes.

A file is written and fsynced before anything points at it; a file that others read while it
changes (a pointer, a memo) is written next to its place and renamed over it, then its directory
is fsynced, so a reader sees the old contents or the new, never a mix, even after a power cut.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flushes a file's or directory's own entry and contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            fsync_path(path)


def write_file(path: Path, data: bytes, *, mode: int = 0o644, exclusive: bool = False) -> None:
    """Writes and fsyncs a file; `mode` applies whatever the umask, `exclusive` refuses an existing file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def replace_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Writes `data` next to `path` as `.<name>.<random>` and renames it over `path`; fsyncs both."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}"
    try:
        write_file(tmp, data, mode=mode, exclusive=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def build_directory_once(target: Path, prefix: str, fill: Callable[[Path], None]) -> None:
    """Makes `target` whole or not at all: `fill` writes a temporary directory beside it, which is
    synced and renamed into place, unless another process put `target` there first (its copy is
    kept); a failure leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{prefix}-"))
    try:
        fill(tmp)
        fsync_tree(tmp)
        if target.exists():
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
