"""One judge for the whole deployment: whoever holds a PostgreSQL advisory lock.

The rollout guard and the pruning of old records must run once however many replicas serve. On
PostgreSQL the first replica to take a session-level advisory lock holds it on a connection of its
own; if that replica dies its connection closes, the server releases the lock, and the next replica
to ask takes it over (the guard asks every few seconds). TCP keepalives bound how long a replica that
vanished without closing its socket keeps the lock. On SQLite one machine serves alone, and it
always leads.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

# fixed 64-bit keys, one per duty (any value works, as long as every replica uses the same)
EXPERIMENT_JUDGE = 0x7475_6E65_6A75_6467


class Leadership:
    """Whether this process holds the lock `key` in `engine`'s database; `held()` tries to take it."""

    def __init__(self, engine: Engine, key: int) -> None:
        self.engine = engine
        self.key = key
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        """True while this process leads: checks the lock's connection, or tries to take the lock."""
        if self.engine.dialect.name != "postgresql":
            return True
        with self._lock:
            if self._connection is not None and self._alive(self._connection):
                return True
            self._drop()
            try:
                connection = self.engine.connect()
                taken = bool(connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
                connection.commit()
            except sa.exc.DBAPIError as exc:
                log.warning("cannot reach the database to take the lead", extra={"error": str(exc).splitlines()[0]})
                return False
            if not taken:
                connection.close()
                return False
            self._connection = connection
            log.info("this replica now leads", extra={"lock": hex(self.key)})
            return True

    def _alive(self, connection: Connection) -> bool:
        try:
            connection.execute(sa.text("SELECT 1"))
            connection.commit()
            return True
        except sa.exc.DBAPIError:
            log.warning("lost the connection that held the lead", extra={"lock": hex(self.key)})
            return False

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # never back to the pool: the lock dies with it
            except sa.exc.DBAPIError:
                pass
            self._connection = None

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                    self._connection.commit()
                except sa.exc.DBAPIError:
                    pass
                self._connection.close()
                self._connection = None
