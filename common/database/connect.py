"""From the `database_url` setting to an SQLAlchemy engine.

`sqlite:///PATH` is the embedded default; `postgresql://USER[:PASSWORD]@HOST:PORT/DB` is the shared
one. A PostgreSQL password may also come from a file (a mounted Kubernetes secret) or from libpq's
own `PG*` variables and password file, which psycopg reads itself. The password never reaches a log:
`describe` is what callers print.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url


def database_url(url: str, password_file: Path | None = None) -> URL:
    """The SQLAlchemy URL of a `database_url` setting, with psycopg 3 as PostgreSQL's driver."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ValueError(f"database_url is not a database URL ({exc}); use sqlite:///PATH or postgresql://USER@HOST:PORT/DB") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("database_url: sqlite needs a file: sqlite:///PATH (an in-memory database would be lost)")
        return parsed.set(drivername="sqlite")
    if backend != "postgresql":
        raise ValueError(f"database_url: {backend!r} is not supported; use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    parsed = parsed.set(drivername="postgresql+psycopg")
    if password_file is not None:
        parsed = parsed.set(password=password_file.read_text().strip())
    return parsed


def describe(url: URL) -> str:
    """The URL as logs may show it: without the password."""
    return url.render_as_string(hide_password=True)


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_engine(url: URL) -> Engine:
    path = Path(str(url.database))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # private from the start, before SQLite creates it (job configs name data files)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def create_engine(url: URL) -> Engine:
    """An engine for `url`. PostgreSQL connections are checked before use and time out fast, so a
    database that went away is noticed at once and reconnected to when it is back."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=4,
        pool_timeout=10,
        # keepalives: a peer that vanished (a killed pod) is noticed in seconds, which also frees
        # its advisory locks (common.database.leader)
        connect_args={
            "connect_timeout": 5,
            "application_name": "tuneserve",
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        },
    )


def open_database(url: str, password_file: Path | None = None) -> Engine:
    """An engine on the `database_url` setting, its schema brought up to date."""
    from common.database.migrate import migrate

    engine = create_engine(database_url(url, password_file))
    migrate(engine)
    return engine
