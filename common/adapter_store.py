"""What the server and the trainer need of an adapter store, and opening the one a setting names.

Two stores keep the same catalog (names, numbered versions with their manifests, a `current`
pointer and a rollout policy per name): `common.file_adapter_store` on a filesystem (one machine,
or a volume every replica mounts) and `common.object_adapter_store` on object storage (S3 API)
with the catalog in the shared database. Readers are the same for both: loading a version asks the
store for a local directory holding it (`local_root`), which the object store fills from its
verified cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from common.adapter_manifest import AdapterManifest, AdapterRef
from common.errors import NotFound
from common.rollout import RolloutPolicy

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class StoredVersion:
    name: str
    version: int


class AdapterStore(Protocol):
    """A catalog of adapter versions and their files. Reading methods are cheap (a local directory, or
    the object store's copy of the catalog as of its last `sync`); writing ones take effect at once."""

    @property
    def location(self) -> str:
        """Where the store is, as logs show it (never a credential)."""
        ...

    def names(self) -> list[str]: ...
    def versions(self, name: str) -> list[int]: ...
    def current(self, name: str) -> int | None: ...
    def rollout(self, name: str) -> RolloutPolicy | None: ...
    def resolve(self, ref: AdapterRef) -> StoredVersion: ...
    def manifest(self, name: str, version: int) -> AdapterManifest: ...
    def published_by(self, name: str, job_id: str) -> int | None: ...

    def local_root(self, name: str, version: int) -> Path:
        """A directory holding `<name>/<version>/` with the version's files and manifest, for the loader."""
        ...

    def publish(self, source_dir: Path, manifest: AdapterManifest, make_current: bool = True) -> int: ...
    def set_current(self, name: str, version: int) -> None: ...
    def set_rollout(self, name: str, policy: RolloutPolicy | None) -> None: ...
    def delete(self, name: str, version: int) -> None: ...
    def import_staging(self) -> Path: ...
    def clean_stale_imports(self, older_than_s: float = 3600.0) -> None: ...
    def clean_temporaries(self) -> list[Path]: ...

    def sync(self) -> None:
        """Brings the readers' view up to date with changes made elsewhere (other replicas, the trainer)."""
        ...

    def watch_paths(self) -> list[Path]:
        """Paths whose file events signal a change; none for a store that notifies (`listen`)."""
        ...

    def listen(self, changed: Callable[[], None]) -> Callable[[], None] | None:
        """Calls `changed` (from another thread) when the catalog changes anywhere; returns what stops
        listening, or None when the store cannot notify and must be polled."""
        ...

    def close(self) -> None: ...


def resolve(store: AdapterStore, ref: AdapterRef) -> StoredVersion:
    """The stored version a reference names (the current one for a bare name); NotFound says what does exist."""
    versions = store.versions(ref.name)
    if not versions:
        raise NotFound(f"adapter {ref.name!r} is not in the adapter store")
    version = ref.version if ref.version is not None else store.current(ref.name)
    if version is None:
        raise NotFound(f"adapter {ref.name!r} has no current version; ask for one of {versions} as {ref.name}@N")
    if version not in versions:
        raise NotFound(f"adapter {ref.name!r} has no version {version}; it has {versions}")
    return StoredVersion(ref.name, version)


def is_object_store(location: str | Path) -> bool:
    return str(location).startswith(S3_SCHEME)


def open_adapter_store(
    location: str | Path,
    *,
    database_url: str | None,
    database_password_file: Path | None,
    cache_dir: Path,
    cache_bytes: int,
    poll_s: float = 15.0,
) -> AdapterStore:
    """The store `location` names: `s3://BUCKET/PREFIX` (its catalog in `database_url`, which must be
    set, shared by every replica and the trainer) or a directory."""
    if not is_object_store(location):
        from common.file_adapter_store import FileAdapterStore

        return FileAdapterStore(Path(location))
    if database_url is None:
        raise ValueError(
            f"adapter_store {location} keeps its catalog (names, versions, current pointers) in the shared database: "
            "set database_url (TUNESERVE_DATABASE_URL) to the database every replica and the trainer use"
        )
    from common.object_adapter_store import ObjectAdapterStore

    return ObjectAdapterStore.open(str(location), database_url, database_password_file, cache_dir, cache_bytes, poll_s)
