"""The durable record of experiments: requests served to adapter names, feedback on them, and the
guard's rollbacks, in the shared database (common.database: an SQLite file on one machine, one
PostgreSQL for every replica), so a restart or another replica loses none of it.

Rows are kept for `retention_s` (feedback can only be joined to a request while its row is there)
and pruned by age. Every write is idempotent (keyed by request id and role), so a batch written
again after a lost connection records nothing twice. The schema is in
common/database/migrations.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from common.database.connect import open_database

SERVE = "serve"
SHADOW = "shadow"


@dataclass(frozen=True)
class Served:
    """One answer to a request for an adapter name (or its shadow copy)."""

    request_id: str
    name: str
    version: int
    arm: str
    output: str
    latency_ms: float
    ok: bool
    role: str = SERVE
    created: float = 0.0  # 0: now


@dataclass(frozen=True)
class Outcome:
    """A request's answer joined with its feedback, what the report computes from."""

    request_id: str
    role: str
    version: int
    output: str
    latency_ms: float
    ok: bool
    created: float
    label: str | None
    rating: int | None
    thumb: int | None


@dataclass(frozen=True)
class Event:
    name: str
    created: float
    kind: str
    detail: str


_ADD = sa.text(
    "INSERT INTO requests (request_id, role, name, version, arm, output, latency_ms, ok, created) "
    "VALUES (:request_id, :role, :name, :version, :arm, :output, :latency_ms, :ok, :created) "
    "ON CONFLICT (request_id, role) DO UPDATE SET name = excluded.name, version = excluded.version, arm = excluded.arm, "
    "output = excluded.output, latency_ms = excluded.latency_ms, ok = excluded.ok, created = excluded.created"
)
_FEEDBACK = sa.text(
    "INSERT INTO feedback (request_id, label, rating, thumb, created) VALUES (:request_id, :label, :rating, :thumb, :created) "
    "ON CONFLICT (request_id) DO UPDATE SET label = COALESCE(excluded.label, feedback.label), "
    "rating = COALESCE(excluded.rating, feedback.rating), thumb = COALESCE(excluded.thumb, feedback.thumb), created = excluded.created"
)


class ExperimentStore:
    """The experiment tables of one database; safe to use from any thread."""

    def __init__(self, engine: Engine, retention_s: float) -> None:
        self.engine = engine
        self.retention_s = retention_s

    @classmethod
    def open(cls, url: str, retention_s: float) -> ExperimentStore:
        """The record in the database at `url` (a `database_url` setting), its schema brought up to date."""
        return cls(open_database(url), retention_s)

    def close(self) -> None:
        self.engine.dispose()

    def add(self, served: Iterable[Served]) -> None:
        """Records answers in one transaction; a request id seen again replaces its earlier row."""
        now = time.time()
        rows = [
            {
                "request_id": s.request_id,
                "role": s.role,
                "name": s.name,
                "version": s.version,
                "arm": s.arm,
                "output": s.output,
                "latency_ms": s.latency_ms,
                "ok": int(s.ok),
                "created": s.created or now,
            }
            for s in served
        ]
        if rows:
            with self.engine.begin() as db:
                db.execute(_ADD, rows)

    def request(self, request_id: str) -> Served | None:
        """The answer a caller got for `request_id`, while it is kept."""
        with self.engine.connect() as db:
            row = db.execute(
                sa.text(
                    "SELECT request_id, name, version, arm, output, latency_ms, ok, role, created FROM requests "
                    "WHERE request_id = :request_id AND role = :role"
                ),
                {"request_id": request_id, "role": SERVE},
            ).first()
        return None if row is None else Served(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7], row[8])

    def set_feedback(self, request_id: str, label: str | None, rating: int | None, thumb: int | None) -> None:
        """Records feedback on a request; fields left None keep what earlier feedback said."""
        with self.engine.begin() as db:
            db.execute(_FEEDBACK, {"request_id": request_id, "label": label, "rating": rating, "thumb": thumb, "created": time.time()})

    def outcomes(self, name: str, since: float) -> list[Outcome]:
        """Every answer to `name` since `since` (Unix seconds), with its feedback, oldest first."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.text(
                    "SELECT r.request_id, r.role, r.version, r.output, r.latency_ms, r.ok, r.created, f.label, f.rating, f.thumb "
                    "FROM requests r LEFT JOIN feedback f ON f.request_id = r.request_id "
                    "WHERE r.name = :name AND r.created >= :since ORDER BY r.created, r.request_id, r.role"
                ),
                {"name": name, "since": since},
            ).all()
        return [Outcome(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], r[9]) for r in rows]

    def add_event(self, name: str, kind: str, detail: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                sa.text("INSERT INTO experiment_events (name, created, kind, detail) VALUES (:name, :created, :kind, :detail)"),
                {"name": name, "created": time.time(), "kind": kind, "detail": detail},
            )

    def events(self, name: str, since: float = 0.0) -> list[Event]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.text(
                    "SELECT name, created, kind, detail FROM experiment_events WHERE name = :name AND created >= :since ORDER BY created"
                ),
                {"name": name, "since": since},
            ).all()
        return [Event(*row) for row in rows]

    def prune(self, now: float | None = None) -> int:
        """Drops requests, feedback and events older than the retention; returns the requests dropped."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        with self.engine.begin() as db:
            dropped = db.execute(sa.text("DELETE FROM requests WHERE created < :cutoff"), {"cutoff": cutoff}).rowcount
            db.execute(sa.text("DELETE FROM feedback WHERE request_id NOT IN (SELECT request_id FROM requests)"))
            db.execute(sa.text("DELETE FROM experiment_events WHERE created < :cutoff"), {"cutoff": cutoff})
        return int(dropped)
