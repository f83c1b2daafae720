"""Jobs, their events and reviews, in the shared database (common.database): an SQLite file for one
trainer, one PostgreSQL for several replicas, so a restarted trainer, or another replica, knows what
was being done.

Replicas share the queue through leases: a replica claims a queued job (or one whose holder stopped
renewing its lease) by a compare-and-set on the job's row, so each is run by one replica at a time,
and renews the lease while it works (`heartbeat`). The schema is in common/database/migrations.
"""

from __future__ import annotations

import builtins
import enum
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from common.database.connect import open_database
from common.errors import NotFound


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
    runner: str = ""  # the replica that holds the job's lease, while validating or running
    heartbeat: float | None = None  # when it last renewed it (Unix seconds)
    executor: str = ""  # thread, process or kubernetes: what ran (or runs) the job
    placement: str = ""  # where in it: "pid 4242", "Job tuneserve-train-job-1a2b..."
    attempts: int = 0  # runs that ended without an outcome (killed, node lost)


@dataclass(frozen=True)
class EventRecord:
    sequence: int
    job_id: str
    time: float
    kind: str  # "state", "progress", "evaluation", "message"
    payload: dict[str, Any]


_COLUMNS = (
    "id, adapter_name, state, config, created, started, finished, error_code, error_message, step, total_steps, "
    "train_loss, validation_loss, cancel_requested, result, runner, heartbeat, executor, placement, attempts"
)
_UPDATABLE = {
    "state", "started", "finished", "error_code", "error_message", "step", "total_steps", "train_loss", "validation_loss",
    "cancel_requested", "result", "runner", "heartbeat", "executor", "placement", "attempts",
}  # fmt: skip


class JobStore:
    """Access to the jobs tables of one database, safe from any thread; listeners hear about every
    event this process adds (WatchJob also polls, for events other replicas add)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.listeners: list[Callable[[EventRecord], None]] = []

    @classmethod
    def open(cls, url: str, password_file: Path | None = None) -> JobStore:
        """The jobs of the database at `url` (a `database_url` setting), its schema brought up to date."""
        return cls(open_database(url, password_file))

    def close(self) -> None:
        self.engine.dispose()

    @staticmethod
    def _record(row: sa.RowMapping) -> JobRecord:
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
            runner=row["runner"],
            heartbeat=row["heartbeat"],
            executor=row["executor"],
            placement=row["placement"],
            attempts=row["attempts"],
        )

    def create(self, adapter_name: str, config: dict[str, Any], runner: str = "") -> JobRecord:
        """A new job, validating, leased to `runner` (the replica that validates it)."""
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        now = time.time()
        with self.engine.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO jobs (id, adapter_name, state, config, created, runner, heartbeat) "
                    "VALUES (:id, :adapter_name, :state, :config, :created, :runner, :heartbeat)"
                ),
                {
                    "id": job_id,
                    "adapter_name": adapter_name,
                    "state": JobState.VALIDATING.value,
                    "config": json.dumps(config),
                    "created": now,
                    "runner": runner,
                    "heartbeat": now,
                },
            )
        self.add_event(job_id, "state", {"state": JobState.VALIDATING.value})
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        with self.engine.connect() as db:
            row = db.execute(sa.text(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id"), {"id": job_id}).mappings().first()
        if row is None:
            raise NotFound(f"no training job {job_id!r}")
        return self._record(row)

    def list(self, states: builtins.list[JobState] | None = None, limit: int = 100) -> builtins.list[JobRecord]:
        query = f"SELECT {_COLUMNS} FROM jobs"
        args: dict[str, Any] = {"limit": limit}
        if states:
            query += " WHERE state IN :states"
            args["states"] = [s.value for s in states]
        statement = sa.text(query + " ORDER BY created DESC, id DESC LIMIT :limit")
        if states:
            statement = statement.bindparams(sa.bindparam("states", expanding=True))
        with self.engine.connect() as db:
            rows = db.execute(statement, args).mappings().all()
        return [self._record(r) for r in rows]

    def count(self, state: JobState) -> int:
        with self.engine.connect() as db:
            return int(db.execute(sa.text("SELECT COUNT(*) FROM jobs WHERE state = :state"), {"state": state.value}).scalar() or 0)

    def claim(self, state: JobState, runner: str, lease_s: float, expired_only: bool = False) -> JobRecord | None:
        """Leases the oldest job in `state` to `runner`: an unleased one (a queued job) or, past
        `lease_s` without a heartbeat, one whose holder went away. Returns it, or None. Two replicas
        never get the same job: the lease is a compare-and-set on the row."""
        now = time.time()
        condition = "heartbeat IS NULL OR heartbeat < :stale"
        if not expired_only:
            condition = "runner = '' OR " + condition
        lock = " FOR UPDATE SKIP LOCKED" if self.engine.dialect.name == "postgresql" else ""
        with self.engine.begin() as db:
            row = (
                db.execute(
                    sa.text(
                        f"SELECT id, runner, heartbeat FROM jobs WHERE state = :state AND ({condition}) ORDER BY created, id LIMIT 1{lock}"
                    ),
                    {"state": state.value, "stale": now - lease_s},
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            same_beat = "heartbeat IS NULL" if row["heartbeat"] is None else "heartbeat = :beat"
            taken = db.execute(
                sa.text(
                    "UPDATE jobs SET runner = :runner, heartbeat = :now "
                    f"WHERE id = :id AND state = :state AND runner = :was AND {same_beat}"
                ),
                {"runner": runner, "now": now, "id": row["id"], "state": state.value, "was": row["runner"], "beat": row["heartbeat"]},
            ).rowcount
        return self.get(row["id"]) if taken == 1 else None

    def renew(self, runner: str, job_ids: builtins.list[str]) -> builtins.list[str]:
        """Renews `runner`'s leases on `job_ids`; returns the ids another replica holds now (a job
        that just finished or went back to the queue holds no lease, and is not counted)."""
        lost = []
        with self.engine.begin() as db:
            for job_id in job_ids:
                renewed = db.execute(
                    sa.text("UPDATE jobs SET heartbeat = :now WHERE id = :id AND runner = :runner"),
                    {"now": time.time(), "id": job_id, "runner": runner},
                ).rowcount
                if renewed != 1:
                    holder = db.execute(sa.text("SELECT runner FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
                    if holder:
                        lost.append(job_id)
        return lost

    def update(self, job_id: str, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        assert not unknown, f"not job columns: {unknown}"
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        if "cancel_requested" in fields:
            fields["cancel_requested"] = int(fields["cancel_requested"])
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        with self.engine.begin() as db:
            db.execute(sa.text(f"UPDATE jobs SET {assignments} WHERE id = :job_id"), {**fields, "job_id": job_id})

    def transition(self, job_id: str, state: JobState, error_code: str = "", error_message: str = "") -> JobRecord:
        now = time.time()
        fields: dict[str, Any] = {"state": state.value}
        if state is JobState.RUNNING:
            fields["started"] = now
        if state is JobState.QUEUED:  # back in the queue: free for any replica to claim
            fields.update(runner="", heartbeat=None)
        if state.terminal:
            fields.update(finished=now, error_code=error_code, error_message=error_message, runner="", heartbeat=None)
        self.update(job_id, **fields)
        self.add_event(job_id, "state", {"state": state.value, "error_code": error_code, "error_message": error_message})
        return self.get(job_id)

    def request_cancel(self, job_id: str) -> None:
        self.update(job_id, cancel_requested=1)

    def add_event(self, job_id: str, kind: str, payload: dict[str, Any]) -> EventRecord:
        now = time.time()
        with self.engine.begin() as db:
            sequence = db.execute(
                sa.text("INSERT INTO job_events (job_id, time, kind, payload) VALUES (:job_id, :time, :kind, :payload) RETURNING sequence"),
                {"job_id": job_id, "time": now, "kind": kind, "payload": json.dumps(payload)},
            ).scalar_one()
        event = EventRecord(int(sequence), job_id, now, kind, payload)
        for listener in builtins.list(self.listeners):
            listener(event)
        return event

    def add_reviews(self, job_id: str, reviews: builtins.list[dict[str, Any]]) -> None:
        """Stores people's judgements of a job's answers; a reviewer judging an example again replaces the old one."""
        now = time.time()
        rows = [
            {
                "job_id": job_id,
                "line": r["line"],
                "reviewer": r["reviewer"],
                "verdict": r["verdict"],
                "rating": r["rating"],
                "note": r["note"],
                "time": now,
            }
            for r in reviews
        ]
        if not rows:
            return
        with self.engine.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO reviews (job_id, line, reviewer, verdict, rating, note, time) "
                    "VALUES (:job_id, :line, :reviewer, :verdict, :rating, :note, :time) "
                    "ON CONFLICT (job_id, line, reviewer) DO UPDATE SET verdict = excluded.verdict, rating = excluded.rating, "
                    "note = excluded.note, time = excluded.time"
                ),
                rows,
            )

    def reviews(self, job_id: str) -> builtins.list[dict[str, Any]]:
        with self.engine.connect() as db:
            rows = (
                db.execute(
                    sa.text("SELECT line, reviewer, verdict, rating, note FROM reviews WHERE job_id = :job_id ORDER BY line, reviewer"),
                    {"job_id": job_id},
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def events(self, job_id: str, after: int = 0) -> builtins.list[EventRecord]:  # `list` here is the method above
        with self.engine.connect() as db:
            rows = (
                db.execute(
                    sa.text(
                        "SELECT sequence, job_id, time, kind, payload FROM job_events WHERE job_id = :job_id AND sequence > :after "
                        "ORDER BY sequence"
                    ),
                    {"job_id": job_id, "after": after},
                )
                .mappings()
                .all()
            )
        return [EventRecord(r["sequence"], r["job_id"], r["time"], r["kind"], json.loads(r["payload"])) for r in rows]
