"""Stored responses of the Responses API, in the shared database (common.database: the SQLite file
on one machine, one PostgreSQL for every replica), so that a response continued by
`previous_response_id`, or fetched, can be on any replica. The schema is in
common/database/migrations (0006).

A response is kept for `retention_s` and seen only by its owner (the token that made it).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

PRUNE_EVERY_S = 600.0  # expired rows are dropped on a write at most this often

_PUT = sa.text(
    "INSERT INTO stored_responses (id, owner, created, expires, response, input, conversation) "
    "VALUES (:id, :owner, :created, :expires, :response, :input, :conversation) "
    "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, created = excluded.created, expires = excluded.expires, "
    "response = excluded.response, input = excluded.input, conversation = excluded.conversation"
)


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]  # the response object as answered
    input: list[dict[str, Any]]  # the request's own input items
    conversation: list[dict[str, Any]]  # every item up to and including the answer's


class ResponseStore:
    def __init__(self, engine: Engine, retention_s: float) -> None:
        self.engine = engine
        self.retention_s = retention_s
        self._next_prune = 0.0
        self._lock = threading.Lock()

    def put(self, owner: str, stored: StoredResponse, now: float | None = None) -> None:
        """Keeps a response (a second write of the same id replaces it)."""
        now = time.time() if now is None else now
        row = {
            "id": stored.response["id"],
            "owner": owner,
            "created": now,
            "expires": now + self.retention_s,
            "response": json.dumps(stored.response),
            "input": json.dumps(stored.input),
            "conversation": json.dumps(stored.conversation),
        }
        with self.engine.begin() as db:
            db.execute(_PUT, row)
        with self._lock:
            due, self._next_prune = now >= self._next_prune, max(self._next_prune, now + PRUNE_EVERY_S)
        if due:
            self.prune(now)

    def get(self, response_id: str, owner: str, now: float | None = None) -> StoredResponse | None:
        """The owner's response of that id, unless it expired; None otherwise."""
        with self.engine.connect() as db:
            row = db.execute(
                sa.text("SELECT response, input, conversation FROM stored_responses WHERE id = :id AND owner = :owner AND expires > :now"),
                {"id": response_id, "owner": owner, "now": time.time() if now is None else now},
            ).first()
        if row is None:
            return None
        return StoredResponse(json.loads(row[0]), json.loads(row[1]), json.loads(row[2]))

    def delete(self, response_id: str, owner: str) -> bool:
        """Drops the owner's response of that id; whether there was one."""
        with self.engine.begin() as db:
            dropped = db.execute(
                sa.text("DELETE FROM stored_responses WHERE id = :id AND owner = :owner"), {"id": response_id, "owner": owner}
            ).rowcount
        return bool(dropped)

    def prune(self, now: float | None = None) -> int:
        """Drops expired responses; how many."""
        with self.engine.begin() as db:
            dropped = db.execute(
                sa.text("DELETE FROM stored_responses WHERE expires <= :now"), {"now": time.time() if now is None else now}
            )
        return int(dropped.rowcount)
