"""The catalog of an object-storage adapter store, in the shared database (tables of migration 0003).

Readers work from a `Snapshot` (the whole catalog as of one read: it is small, a few rows per
adapter) so that routing a request never waits on the database. Every change is one transaction
that, on PostgreSQL, also sends a notification on `CHANNEL` at commit: replicas listening re-read
at once, and poll slowly in case a notification was missed (a reconnect, SQLite on one machine).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from common.adapter_manifest import AdapterManifest
from common.database.connect import is_postgresql, open_database
from common.errors import FailedPrecondition, NotFound

log = logging.getLogger(__name__)

CHANNEL = "tuneserve_adapters"


@dataclass
class CatalogName:
    current: int | None
    rollout: str | None  # the policy's JSON, parsed by whoever reads it
    manifests: dict[int, str] = field(default_factory=dict)  # version -> manifest JSON


Snapshot = dict[str, CatalogName]


def _notify(db: Connection, name: str) -> None:
    if db.dialect.name == "postgresql":
        db.execute(sa.text("SELECT pg_notify(:channel, :name)"), {"channel": CHANNEL, "name": name})


class AdapterCatalog:
    """The catalog tables of one database, safe from any thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, password_file: Path | None = None) -> AdapterCatalog:
        return cls(open_database(url, password_file))

    def close(self) -> None:
        self.engine.dispose()

    # -- reading ------------------------------------------------------------------------------

    def snapshot(self, previous: Snapshot | None = None) -> Snapshot:
        """The catalog now. Manifests never change once written, so those `previous` has are reused."""
        previous = previous or {}
        with self.engine.connect() as db:
            names = db.execute(sa.text("SELECT name, current_version, rollout FROM adapter_names")).all()
            pairs = db.execute(sa.text("SELECT name, version FROM adapter_versions")).all()
            known = {(n, v): previous[n].manifests[v] for n, v in pairs if n in previous and v in previous[n].manifests}
            if len(known) < len(pairs):
                missing = {n for n, v in pairs if (n, v) not in known}
                statement = sa.text("SELECT name, version, manifest FROM adapter_versions WHERE name IN :names").bindparams(
                    sa.bindparam("names", expanding=True)
                )
                for n, v, manifest in db.execute(statement, {"names": sorted(missing)}).all():
                    known[n, v] = manifest
        snapshot = {name: CatalogName(current, rollout) for name, current, rollout in names}
        for (name, version), manifest in known.items():
            if name in snapshot:
                snapshot[name].manifests[version] = manifest
        return snapshot

    def published_by(self, name: str, job_id: str) -> int | None:
        with self.engine.connect() as db:
            version = db.execute(
                sa.text("SELECT MAX(version) FROM adapter_versions WHERE name = :name AND job_id = :job_id"),
                {"name": name, "job_id": job_id},
            ).scalar()
        return int(version) if version is not None else None

    # -- writing ------------------------------------------------------------------------------

    def _lock_name(self, db: Connection, name: str) -> Any:
        """Creates the name's row when new and locks it for this transaction; returns it."""
        db.execute(
            sa.text("INSERT INTO adapter_names (name, updated) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING"),
            {"name": name, "now": time.time()},
        )
        lock = " FOR UPDATE" if db.dialect.name == "postgresql" else ""
        return db.execute(sa.text(f"SELECT current_version, rollout FROM adapter_names WHERE name = :name{lock}"), {"name": name}).one()

    def _versions(self, db: Connection, name: str) -> list[int]:
        return sorted(v for (v,) in db.execute(sa.text("SELECT version FROM adapter_versions WHERE name = :name"), {"name": name}).all())

    def add_version(self, manifest: AdapterManifest, make_current: bool) -> int:
        """Records the next version of `manifest.name` (its blobs already stored); returns its number."""
        with self.engine.begin() as db:
            self._lock_name(db, manifest.name)
            version = max(self._versions(db, manifest.name), default=0) + 1
            final = manifest.model_copy(update={"version": version})
            db.execute(
                sa.text(
                    "INSERT INTO adapter_versions (name, version, manifest, job_id, created) "
                    "VALUES (:name, :version, :manifest, :job_id, :now)"
                ),
                {
                    "name": manifest.name,
                    "version": version,
                    "manifest": final.model_dump_json(),
                    "job_id": final.job_id,
                    "now": time.time(),
                },
            )
            if make_current:
                self._set_current(db, manifest.name, version)
            _notify(db, manifest.name)
        return version

    def _set_current(self, db: Connection, name: str, version: int) -> None:
        db.execute(
            sa.text("UPDATE adapter_names SET current_version = :version, updated = :now WHERE name = :name"),
            {"name": name, "version": version, "now": time.time()},
        )

    def set_current(self, name: str, version: int) -> None:
        with self.engine.begin() as db:
            self._lock_name(db, name)
            versions = self._versions(db, name)
            if version not in versions:
                raise NotFound(f"adapter {name!r} has no version {version}; it has {versions}")
            self._set_current(db, name, version)
            _notify(db, name)

    def set_rollout(self, name: str, policy_json: str | None, versions_named: set[int]) -> None:
        with self.engine.begin() as db:
            self._lock_name(db, name)
            missing = sorted(versions_named - set(self._versions(db, name)))
            if missing:
                raise NotFound(f"adapter {name!r} has no version {missing[0]}; it has {self._versions(db, name)}")
            db.execute(
                sa.text("UPDATE adapter_names SET rollout = :rollout, updated = :now WHERE name = :name"),
                {"name": name, "rollout": policy_json, "now": time.time()},
            )
            _notify(db, name)

    def delete(self, name: str, version: int) -> None:
        with self.engine.begin() as db:
            current, _ = self._lock_name(db, name)
            if version not in self._versions(db, name):
                raise NotFound(f"adapter {name!r} has no version {version}")
            if current == version:
                raise FailedPrecondition(f"{name}@{version} is the current version; make another version current first")
            db.execute(
                sa.text("DELETE FROM adapter_versions WHERE name = :name AND version = :version"), {"name": name, "version": version}
            )
            _notify(db, name)

    # -- notifications ------------------------------------------------------------------------

    def listen(self, changed: Callable[[str], None]) -> Callable[[], None] | None:
        """Calls `changed(name)` from a thread of its own whenever any process changes the catalog
        (PostgreSQL LISTEN, reconnecting when the connection drops); None on SQLite."""
        if not is_postgresql(self.engine):
            return None
        stop = threading.Event()
        thread = threading.Thread(target=self._listen, args=(changed, stop), name="tuneserve-catalog-listener", daemon=True)
        thread.start()

        def stop_listening() -> None:
            stop.set()
            thread.join(timeout=5)

        return stop_listening

    def _listen(self, changed: Callable[[str], None], stop: threading.Event) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        delay = 0.5
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    changed("")  # whatever happened while not listening
                    delay = 0.5
                    while not stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            changed(notice.payload)
            except Exception as exc:  # the database went away: listen again when it is back
                log.warning("catalog notifications interrupted; polling until they are back", extra={"error": str(exc).splitlines()[0]})
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
