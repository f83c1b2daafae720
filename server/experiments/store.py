"""The durable record of experiments: requests served to adapter names, feedback on them, and the
guard's rollbacks, in one SQLite file, so a restart loses none of it.

Rows are kept for `retention_s` (feedback can only be joined to a request while its row is there)
and pruned by age. Writes come from one thread (the recorder's); reads may come from any.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SERVE = "serve"
SHADOW = "shadow"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT NOT NULL,
    role TEXT NOT NULL,            -- 'serve' (the answer returned) or 'shadow' (a copy, never returned)
    name TEXT NOT NULL,            -- the adapter name
    version INTEGER NOT NULL,      -- the version that answered; 0 for the prompting arm
    arm TEXT NOT NULL,             -- '3 of 3=90 4=10', '' outside a split
    output TEXT NOT NULL,          -- the label, or the text (truncated)
    latency_ms REAL NOT NULL,
    ok INTEGER NOT NULL,           -- 0: the request failed on the server's side
    created REAL NOT NULL,         -- Unix seconds
    PRIMARY KEY (request_id, role)
);
CREATE INDEX IF NOT EXISTS requests_by_name ON requests (name, created);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    label TEXT,                    -- the correct answer, when the caller knows it
    rating INTEGER,                -- 1 to 5
    thumb INTEGER,                 -- 1 up, -1 down
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    name TEXT NOT NULL,
    created REAL NOT NULL,
    kind TEXT NOT NULL,            -- 'rollback'
    detail TEXT NOT NULL
);
"""


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


class ExperimentStore:
    def __init__(self, path: Path, retention_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention_s = retention_s
        self._lock = threading.Lock()  # one connection shared by the writer thread and readers
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, served: Iterable[Served]) -> None:
        """Records answers in one transaction; a request id seen again replaces its earlier row."""
        now = time.time()
        rows = [(s.request_id, s.role, s.name, s.version, s.arm, s.output, s.latency_ms, int(s.ok), s.created or now) for s in served]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def request(self, request_id: str) -> Served | None:
        """The answer a caller got for `request_id`, while it is kept."""
        with self._lock:
            row = self._db.execute(
                "SELECT request_id, name, version, arm, output, latency_ms, ok, role, created FROM requests "
                "WHERE request_id = ? AND role = ?",
                (request_id, SERVE),
            ).fetchone()
        return None if row is None else Served(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7], row[8])

    def set_feedback(self, request_id: str, label: str | None, rating: int | None, thumb: int | None) -> None:
        """Records feedback on a request; fields left None keep what earlier feedback said."""
        with self._lock:
            self._db.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET "
                "label = COALESCE(excluded.label, label), rating = COALESCE(excluded.rating, rating), "
                "thumb = COALESCE(excluded.thumb, thumb), created = excluded.created",
                (request_id, label, rating, thumb, time.time()),
            )

    def outcomes(self, name: str, since: float) -> list[Outcome]:
        """Every answer to `name` since `since` (Unix seconds), with its feedback, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT r.request_id, r.role, r.version, r.output, r.latency_ms, r.ok, r.created, f.label, f.rating, f.thumb "
                "FROM requests r LEFT JOIN feedback f ON f.request_id = r.request_id "
                "WHERE r.name = ? AND r.created >= ? ORDER BY r.created",
                (name, since),
            ).fetchall()
        return [Outcome(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], r[9]) for r in rows]

    def add_event(self, name: str, kind: str, detail: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (name, time.time(), kind, detail))

    def events(self, name: str, since: float = 0.0) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, created, kind, detail FROM events WHERE name = ? AND created >= ? ORDER BY created", (name, since)
            ).fetchall()
        return [Event(*row) for row in rows]

    def prune(self, now: float | None = None) -> int:
        """Drops requests, feedback and events older than the retention; returns the requests dropped."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        with self._lock:
            self._db.execute("BEGIN")
            dropped = self._db.execute("DELETE FROM requests WHERE created < ?", (cutoff,)).rowcount
            self._db.execute("DELETE FROM feedback WHERE request_id NOT IN (SELECT request_id FROM requests)")
            self._db.execute("DELETE FROM events WHERE created < ?", (cutoff,))
            self._db.execute("COMMIT")
        return dropped
