"""The adapter store on object storage: blobs in a bucket, the catalog in the shared database.

`adapter_store = s3://BUCKET/PREFIX` suits replicas on nodes that share no volume. Publishing
uploads each file once under its sha256 (common.blob_store), then records the version, and moves
the pointer when asked, in one database transaction (common.adapter_catalog); every replica hears
of it by notification, or by a slow poll where none arrives. A replica reads names and pointers
from its copy of the catalog and loads a version from its bounded, verified local cache
(common.adapter_cache), fetching it on first use. A blob that is missing or does not match its
hash refuses that version alone; an object store that cannot be reached fails the requests that
need a fetch with UNAVAILABLE and is tried again on the next.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from common.adapter_cache import AdapterCache
from common.adapter_catalog import AdapterCatalog, Snapshot
from common.adapter_manifest import AdapterManifest, AdapterRef, check_name
from common.adapter_store import StoredVersion, resolve
from common.blob_store import BlobStore, BucketPrefix
from common.errors import NotFound
from common.file_adapter_store import regular_files
from common.rollout import PROMPT_ARM, RolloutPolicy

log = logging.getLogger(__name__)


class ObjectAdapterStore:
    def __init__(self, blobs: BlobStore, catalog: AdapterCatalog, cache: AdapterCache, poll_s: float = 15.0) -> None:
        self.blobs = blobs
        self.catalog = catalog
        self.cache = cache
        self.poll_s = poll_s
        self._snapshot: Snapshot = {}
        self._synced_at = 0.0
        self._stale = True  # a notification arrived (or nothing was read yet): re-read on the next sync
        self._sync_lock = threading.Lock()
        self.sync(force=True)

    @classmethod
    def open(
        cls, location: str, database_url: str, password_file: Path | None, cache_dir: Path, cache_bytes: int, poll_s: float = 15.0
    ) -> ObjectAdapterStore:
        where = BucketPrefix.parse(location)
        blobs = BlobStore(where)
        blobs.check_bucket()
        cache_root = cache_dir / f"{where.bucket}-{uuid.uuid5(uuid.NAMESPACE_URL, str(where)).hex[:12]}"
        return cls(blobs, AdapterCatalog.open(database_url, password_file), AdapterCache(cache_root, cache_bytes), poll_s)

    @property
    def location(self) -> str:
        return str(self.blobs.where)

    # -- the catalog as of the last sync ------------------------------------------------------

    def sync(self, force: bool = False) -> None:
        """Re-reads the catalog when notified of a change, when `poll_s` has passed, or when forced."""
        if not (force or self._stale or time.monotonic() - self._synced_at >= self.poll_s):
            return
        with self._sync_lock:
            self._stale = False
            started = time.monotonic()
            self._snapshot = self.catalog.snapshot(self._snapshot)
            self._synced_at = started

    def _changed(self, changed: Callable[[], None]) -> Callable[[str], None]:
        def on_change(_name: str) -> None:
            self._stale = True
            changed()

        return on_change

    def listen(self, changed: Callable[[], None]) -> Callable[[], None] | None:
        return self.catalog.listen(self._changed(changed))

    def watch_paths(self) -> list[Path]:
        return []

    def names(self) -> list[str]:
        return sorted(name for name, entry in self._snapshot.items() if entry.manifests)

    def versions(self, name: str) -> list[int]:
        entry = self._snapshot.get(name)
        return sorted(entry.manifests) if entry else []

    def current(self, name: str) -> int | None:
        entry = self._snapshot.get(name)
        return entry.current if entry else None

    def rollout(self, name: str) -> RolloutPolicy | None:
        entry = self._snapshot.get(name)
        if entry is None or entry.rollout is None:
            return None
        return RolloutPolicy.from_json(entry.rollout.encode())

    def resolve(self, ref: AdapterRef) -> StoredVersion:
        return resolve(self, ref)

    def _manifest_json(self, name: str, version: int) -> str:
        entry = self._snapshot.get(check_name(name))
        if entry is None or version not in entry.manifests:
            raise NotFound(f"adapter {name!r} has no version {version}")
        return entry.manifests[version]

    def manifest(self, name: str, version: int) -> AdapterManifest:
        return AdapterManifest.model_validate_json(self._manifest_json(name, version))

    def published_by(self, name: str, job_id: str) -> int | None:
        return self.catalog.published_by(check_name(name), job_id)  # asked after a crash: the database, not a copy

    def local_root(self, name: str, version: int) -> Path:
        """Fetches the version into the local cache (once) and returns the cache's root."""
        text = self._manifest_json(name, version)
        manifest = AdapterManifest.model_validate_json(text)
        return self.cache.ensure(name, version, text.encode(), manifest.files, self.blobs.fetch)

    # -- writing ------------------------------------------------------------------------------

    def publish(self, source_dir: Path, manifest: AdapterManifest, make_current: bool = True) -> int:
        """Uploads the directory's regular files as blobs, then records the next version in one
        transaction; returns its number. Pickles, links and special files are refused as on disk."""
        contents = regular_files(Path(source_dir))
        digests = {file_name: self.blobs.put(data) for file_name, data in contents.items()}
        version = self.catalog.add_version(manifest.model_copy(update={"files": digests}), make_current)
        self.sync(force=True)
        return version

    def set_current(self, name: str, version: int) -> None:
        self.catalog.set_current(check_name(name), version)
        self.sync(force=True)

    def set_rollout(self, name: str, policy: RolloutPolicy | None) -> None:
        named = set() if policy is None else {v for v in policy.versions if v != PROMPT_ARM}
        self.catalog.set_rollout(check_name(name), None if policy is None else policy.to_json().decode(), named)
        self.sync(force=True)

    def delete(self, name: str, version: int) -> None:
        """Removes a version from the catalog; its blobs stay (another version may share them)."""
        self.catalog.delete(check_name(name), version)
        self.sync(force=True)

    def import_staging(self) -> Path:
        """A private local directory for an import being received, before it is uploaded."""
        staging = self.cache.root / ".imports" / uuid.uuid4().hex
        staging.mkdir(parents=True, mode=0o700)
        return staging

    def clean_stale_imports(self, older_than_s: float = 3600.0) -> None:
        imports = self.cache.root / ".imports"
        cutoff = time.time() - older_than_s
        if imports.is_dir() and not imports.is_symlink():
            for leftover in imports.iterdir():
                with contextlib.suppress(OSError):
                    if leftover.lstat().st_mtime < cutoff:
                        shutil.rmtree(leftover, ignore_errors=True)

    def clean_temporaries(self) -> list[Path]:
        return []  # a publish is one transaction: an interrupted one leaves at most an unnamed blob

    def close(self) -> None:
        self.catalog.close()
