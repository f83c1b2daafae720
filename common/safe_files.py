"""Opening only what an operator configured: files inside a directory, never through a link.

Paths that reach the processes from outside (a manifest's file list, a store entry that someone
replaced with a symbolic link, a training file named in a request) are resolved here. A directory
is opened component by component with O_NOFOLLOW, and a file inside it by its bare name relative
to that directory's descriptor, so neither `..`, an absolute path nor a link can lead elsewhere,
even if the tree changes between a check and the read.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

# A plain file name: no separators, no leading dot (so no '.' or '..'), bounded length.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO someone put there must not hang; it is refused as not regular
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class UnsafePath(Exception):
    """A path leaves the directory it must stay in, is a link, or is not a regular file."""


def is_plain_file_name(name: str) -> bool:
    return bool(_FILE_NAME.fullmatch(name))


class Directory:
    """An open directory whose regular files can be listed and read by bare name only."""

    def __init__(self, fd: int, where: str) -> None:
        self._fd = fd
        self.where = where

    @classmethod
    def open(cls, root: Path, parts: Sequence[str] = ()) -> Directory:
        """`root/parts[0]/parts[1]/...`, refusing any of `parts` that is a link or not a directory."""
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts:
                if not part or part in (".", "..") or "/" in part:
                    raise UnsafePath(f"{part!r} is not a plain directory name")
                try:
                    inner = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafePath(f"{part} is a symbolic link or not a directory; only plain directories are read") from None
                    raise
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, str(root.joinpath(*parts)))

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def names(self) -> list[str]:
        return sorted(os.listdir(self._fd))

    def kind(self, name: str) -> str:
        """'file', 'directory', 'link', 'other', or 'missing': the entry itself, links not followed."""
        try:
            mode = os.stat(name, dir_fd=self._fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return "missing"
        if stat.S_ISLNK(mode):
            return "link"
        return "file" if stat.S_ISREG(mode) else "directory" if stat.S_ISDIR(mode) else "other"

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The bytes of a regular file in this directory; FileNotFoundError when it is missing."""
        if not is_plain_file_name(name):
            raise UnsafePath(f"{name!r} is not a plain file name inside {self.where}")
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=self._fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the name is a symbolic link
                raise UnsafePath(f"{name} is a symbolic link; only regular files are read") from None
            raise
        return _read_regular(fd, name, limit)


def _read_regular(fd: int, name: str, limit: int | None) -> bytes:
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f"{name} is not a regular file")
        if limit is not None and info.st_size > limit:
            raise ValueError(f"{name} has {info.st_size} bytes; at most {limit} are read")
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise ValueError(f"{name} grew past {limit} bytes while being read")
    return data


def inside(path: str, roots: Iterable[Path]) -> Path | None:
    """`path` resolved (links followed), if it lies inside one of `roots` (also resolved); else None."""
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    for root in roots:
        try:
            if resolved.is_relative_to(root.resolve(strict=True)):
                return resolved
        except (OSError, RuntimeError):
            continue
    return None


def read_confined(path: Path, limit: int) -> bytes:
    """A regular file already resolved by `inside`, read without following a link swapped in since."""
    fd = os.open(path, _FILE_FLAGS)
    return _read_regular(fd, path.name, limit)
