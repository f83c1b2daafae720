"""A replica's bounded local copy of adapter versions fetched from object storage.

`<root>/<name>/<version>/` holds a version's files and its manifest exactly as a filesystem store
would, so the loader reads both stores alike. A version is fetched into a hidden staging directory,
each blob hashed as it arrives, and renamed into place whole; a copy already there is hashed again
before it is used, and one that no longer matches (a damaged disk, a hand edit) is dropped and
fetched anew. Past the byte budget, the least recently used copies go first (`cache_evictions`, a
pure function); the cache is only ever a copy, so losing any of it costs a fetch, nothing more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common.adapter_manifest import MANIFEST_FILE, check_name, parse_version
from common.durable import fsync_path, sha256_file, write_file
from common.safe_files import is_plain_file_name

log = logging.getLogger(__name__)

# fetch(digest, destination, max_bytes) -> bytes written; raises when the blob is missing or wrong
Fetch = Callable[[str, Path, int], int]


@dataclass(frozen=True)
class CachedCopy:
    key: tuple[str, int]
    nbytes: int
    last_used: float


def cache_evictions(copies: list[CachedCopy], budget_bytes: int, keep: set[tuple[str, int]]) -> list[tuple[str, int]]:
    """The copies to drop, least recently used first, until the rest fit in `budget_bytes`; copies in
    `keep` (being fetched or read now) are never chosen, even if the budget stays exceeded."""
    total = sum(c.nbytes for c in copies)
    evicted = []
    for copy in sorted(copies, key=lambda c: c.last_used):
        if total <= budget_bytes:
            break
        if copy.key in keep:
            continue
        evicted.append(copy.key)
        total -= copy.nbytes
    return evicted


def _directory_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.iterdir() if entry.is_file() and not entry.is_symlink())


class AdapterCache:
    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget_bytes = budget_bytes
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._busy: dict[tuple[str, int], int] = {}  # versions being fetched or verified, and by how many threads
        self._key_locks: dict[tuple[str, int], threading.Lock] = {}
        self._clean_staging()

    def _clean_staging(self) -> None:
        for leftover in self.root.glob("*/.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    @contextlib.contextmanager
    def _using(self, key: tuple[str, int]) -> Iterator[None]:
        with self._lock:
            self._busy[key] = self._busy.get(key, 0) + 1
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        try:
            with key_lock:
                yield
        finally:
            with self._lock:
                self._busy[key] -= 1
                if not self._busy[key]:
                    del self._busy[key]
                    self._key_locks.pop(key, None)

    def ensure(self, name: str, version: int, manifest_json: bytes, files: dict[str, str], fetch: Fetch) -> Path:
        """The cache root once `<name>/<version>/` holds the version's verified files and manifest."""
        check_name(name)
        key = (name, version)
        with self._using(key):
            final = self.root / name / str(version)
            if final.is_dir() and not final.is_symlink():
                if self._matches(final, manifest_json, files):
                    os.utime(final)  # most recently used
                    return self.root
                log.warning("cached adapter copy does not match its checksums; fetching it again", extra={"adapter": f"{name}@{version}"})
                shutil.rmtree(final, ignore_errors=True)
            self._fetch(final, manifest_json, files, fetch)
        self._fit_budget()
        return self.root

    def _matches(self, directory: Path, manifest_json: bytes, files: dict[str, str]) -> bool:
        try:
            if (directory / MANIFEST_FILE).read_bytes() != manifest_json:
                return False
            return all(sha256_file(directory / file_name) == digest for file_name, digest in files.items())
        except OSError:
            return False

    def _fetch(self, final: Path, manifest_json: bytes, files: dict[str, str], fetch: Fetch) -> None:
        final.parent.mkdir(exist_ok=True, mode=0o700)
        staging = final.parent / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o700)
        try:
            room = self.budget_bytes
            for file_name, digest in files.items():
                if not is_plain_file_name(file_name) or file_name == MANIFEST_FILE:
                    raise ValueError(f"the manifest names {file_name[:80]!r}, which is not a plain file name")
                room -= fetch(digest, staging / file_name, room)
            write_file(staging / MANIFEST_FILE, manifest_json, exclusive=True)
            fsync_path(staging)
            os.rename(staging, final)
            fsync_path(final.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _copies(self) -> list[CachedCopy]:
        copies = []
        for name_dir in self.root.iterdir():
            if name_dir.is_symlink() or not name_dir.is_dir():
                continue
            for version_dir in name_dir.iterdir():
                # only what `ensure` makes: a stray '²' would not parse, and '01' would be evicted by
                # removing '1', so neither is counted nor touched
                version = parse_version(version_dir.name)
                if version is not None and version_dir.is_dir() and not version_dir.is_symlink():
                    with contextlib.suppress(OSError):
                        copies.append(CachedCopy((name_dir.name, version), _directory_bytes(version_dir), version_dir.stat().st_mtime))
        return copies

    def _fit_budget(self) -> None:
        with self._lock:
            busy = set(self._busy)
            for name, version in cache_evictions(self._copies(), self.budget_bytes, busy):
                shutil.rmtree(self.root / name / str(version), ignore_errors=True)
                log.info("adapter copy dropped from the local cache", extra={"adapter": f"{name}@{version}"})

    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._copies())
