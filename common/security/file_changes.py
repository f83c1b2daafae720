"""Noticing that mounted files changed (a rotated Secret), cheaply enough for the request path."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

Stamp = tuple[int, int, int]  # inode, mtime (ns), size


def stamp(path: Path) -> Stamp:
    """What says a file changed: a rename over it changes the inode, an edit the time or the size
    (an edit within the filesystem's time granularity that keeps the size is the one case missed)."""
    info = os.stat(path)
    return (info.st_ino, info.st_mtime_ns, info.st_size)


class FileChanges:
    """Says once that a set of files changed, looking at their inode, mtime and size at most every
    `every_s` seconds. Kubernetes swaps a Secret's files by replacing a symlink, which stat follows.
    While a file is missing (a rotation caught half-way) nothing is reported; the next look retries.
    """

    def __init__(self, paths: Sequence[Path], every_s: float) -> None:
        self.paths = list(paths)
        self.every_s = every_s
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> tuple[Stamp, ...]:
        return tuple(stamp(path) for path in self.paths)

    def poll(self) -> bool:
        """True the first time a look finds the files changed since the last change reported."""
        now = time.monotonic()
        if now - self._checked < self.every_s:
            return False
        with self._lock:
            self._checked = now
            try:
                stamp = self._stat()
            except OSError:
                return False
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            return True
