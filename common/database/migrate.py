"""Bringing a database to the current schema, by `tuneserve-db upgrade` or at start-up.

Several replicas may start at once: on PostgreSQL the upgrade runs under a transaction-scoped
advisory lock, so one migrates and the others wait and then find nothing to do; on SQLite (processes
of one machine) an exclusive lock on a file beside the database does the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
# Alembic narrates each step at INFO in every process that starts; the one line below says what changed
logging.getLogger("alembic").setLevel(logging.WARNING)

_MIGRATIONS = Path(__file__).with_name("migrations")
# an arbitrary, fixed 64-bit key: every tuneserve process takes the same lock to migrate
MIGRATION_LOCK = 0x7475_6E65_6D69_6772


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest schema version this release knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "the migrations directory has a head"
    return revision


def current(engine: Engine) -> str | None:
    """The schema version `engine`'s database is at; None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _file_lock(database: str) -> Iterator[None]:
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def migrate(engine: Engine, to: str = "head") -> str:
    """Upgrades the database to `to` (the newest by default); returns the version it is at."""
    postgresql = engine.dialect.name == "postgresql"
    with contextlib.nullcontext() if postgresql else _file_lock(str(engine.url.database)), engine.begin() as connection:
        if postgresql:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), to)
        after = MigrationContext.configure(connection).get_current_revision()
    if before != after:
        log.info("database schema upgraded", extra={"from_version": before or "none", "to_version": after})
    return after or ""
