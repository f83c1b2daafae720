"""Jobs and their events, persisted in SQLite so a restarted trainer knows what it was doing."""

from __future__ import annotations

import builtins
import enum
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import NotFound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    adapter_name TEXT NOT NULL,
    state TEXT NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error_code TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    train_loss REAL,
    validation_loss REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS events (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events(job_id, sequence);
CREATE TABLE IF NOT EXISTS reviews (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    line INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    verdict TEXT NOT NULL,
    rating INTEGER NOT NULL,
    note TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (job_id, line, reviewer)
);
"""


class JobState(str, enum.Enum):
    VALIDATING = "validating"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass
class JobRecord:
    id: str
    adapter_name: str
    state: JobState
    config: dict[str, Any]
    created: float
    started: float | None = None
    finished: float | None = None
    error_code: str = ""
    error_message: str = ""
    step: int = 0
    total_steps: int = 0
    train_loss: float | None = None
    validation_loss: float | None = None
    cancel_requested: bool = False
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventRecord:
    sequence: int
    job_id: str
    time: float
    kind: str  # "state", "progress", "evaluation", "message"
    payload: dict[str, Any]


class JobStore:
    """Thread-safe access to the jobs database; listeners hear about every new event."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))  # private from the start, before SQLite creates it
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.listeners: list[Callable[[EventRecord], None]] = []

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _record(row: sqlite3.Row) -> JobRecord:
        return JobRecord(
            id=row["id"],
            adapter_name=row["adapter_name"],
            state=JobState(row["state"]),
            config=json.loads(row["config"]),
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            error_code=row["error_code"],
            error_message=row["error_message"],
            step=row["step"],
            total_steps=row["total_steps"],
            train_loss=row["train_loss"],
            validation_loss=row["validation_loss"],
            cancel_requested=bool(row["cancel_requested"]),
            result=json.loads(row["result"]),
        )

    def create(self, adapter_name: str, config: dict[str, Any]) -> JobRecord:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, adapter_name, state, config, created) VALUES (?, ?, ?, ?, ?)",
                (job_id, adapter_name, JobState.VALIDATING.value, json.dumps(config), now),
            )
        self.add_event(job_id, "state", {"state": JobState.VALIDATING.value})
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no training job {job_id!r}")
        return self._record(row)

    def list(self, states: builtins.list[JobState] | None = None, limit: int = 100) -> builtins.list[JobRecord]:
        query, args = "SELECT * FROM jobs", []
        if states:
            query += f" WHERE state IN ({', '.join('?' * len(states))})"
            args = [s.value for s in states]
        query += " ORDER BY created DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        return [self._record(r) for r in rows]

    def oldest(self, state: JobState) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE state = ? ORDER BY created, rowid LIMIT 1", (state.value,)).fetchone()
        return self._record(row) if row else None

    def update(self, job_id: str, **fields: Any) -> None:
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))

    def transition(self, job_id: str, state: JobState, error_code: str = "", error_message: str = "") -> JobRecord:
        now = time.time()
        fields: dict[str, Any] = {"state": state.value}
        if state is JobState.RUNNING:
            fields["started"] = now
        if state.terminal:
            fields.update(finished=now, error_code=error_code, error_message=error_message)
        self.update(job_id, **fields)
        self.add_event(job_id, "state", {"state": state.value, "error_code": error_code, "error_message": error_message})
        return self.get(job_id)

    def request_cancel(self, job_id: str) -> None:
        self.update(job_id, cancel_requested=1)

    def add_event(self, job_id: str, kind: str, payload: dict[str, Any]) -> EventRecord:
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO events (job_id, time, kind, payload) VALUES (?, ?, ?, ?)", (job_id, now, kind, json.dumps(payload))
            )
            event = EventRecord(int(cursor.lastrowid or 0), job_id, now, kind, payload)
        for listener in list(self.listeners):
            listener(event)
        return event

    def add_reviews(self, job_id: str, reviews: builtins.list[dict[str, Any]]) -> None:
        """Stores people's judgements of a job's answers; a reviewer judging an example again replaces the old one."""
        now = time.time()
        rows = [(job_id, r["line"], r["reviewer"], r["verdict"], r["rating"], r["note"], now) for r in reviews]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def reviews(self, job_id: str) -> builtins.list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM reviews WHERE job_id = ? ORDER BY line, reviewer", (job_id,)).fetchall()
        return [{k: r[k] for k in ("line", "reviewer", "verdict", "rating", "note")} for r in rows]

    def events(self, job_id: str, after: int = 0) -> builtins.list[EventRecord]:  # `list` here is the method above
        with self._lock:
            rows = self._db.execute("SELECT * FROM events WHERE job_id = ? AND sequence > ? ORDER BY sequence", (job_id, after)).fetchall()
        return [EventRecord(r["sequence"], r["job_id"], r["time"], r["kind"], json.loads(r["payload"])) for r in rows]
