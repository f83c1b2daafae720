"""The shared database layer on a real SQLite file and a real PostgreSQL: settings, migrations
from the last release's schema, concurrent start-ups, and the one leader among replicas."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

from common.database.connect import create_engine, database_url, describe, open_database
from common.database.leader import Leadership
from common.database.migrate import current, head, migrate

# the last release's schemas, as its code made them (CREATE TABLE IF NOT EXISTS in each file)
LEGACY_EXPERIMENTS = """
CREATE TABLE requests (request_id TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    arm TEXT NOT NULL, output TEXT NOT NULL, latency_ms REAL NOT NULL, ok INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (request_id, role));
CREATE INDEX requests_by_name ON requests (name, created);
CREATE TABLE feedback (request_id TEXT PRIMARY KEY, label TEXT, rating INTEGER, thumb INTEGER, created REAL NOT NULL);
CREATE TABLE events (name TEXT NOT NULL, created REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
INSERT INTO requests VALUES ('r1', 'serve', 'fruit', 2, '2 of 1=50 2=50', 'banana', 12.5, 1, 1000.0);
INSERT INTO feedback VALUES ('r1', 'banana', 5, 1, 1001.0);
INSERT INTO events VALUES ('fruit', 1002.0, 'rollback', 'version 2 was worse');
"""
LEGACY_JOBS = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, adapter_name TEXT NOT NULL, state TEXT NOT NULL, config TEXT NOT NULL,
    created REAL NOT NULL, started REAL, finished REAL, error_code TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '', step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL DEFAULT 0,
    train_loss REAL, validation_loss REAL, cancel_requested INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL DEFAULT '{}');
CREATE TABLE events (sequence INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs(id),
    time REAL NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX events_by_job ON events(job_id, sequence);
CREATE TABLE reviews (job_id TEXT NOT NULL REFERENCES jobs(id), line INTEGER NOT NULL, reviewer TEXT NOT NULL,
    verdict TEXT NOT NULL, rating INTEGER NOT NULL, note TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (job_id, line, reviewer));
INSERT INTO jobs (id, adapter_name, state, config, created, step)
    VALUES ('job-1', 'fruit', 'succeeded', '{"adapter_name": "fruit"}', 5.0, 40);
INSERT INTO events (job_id, time, kind, payload) VALUES ('job-1', 6.0, 'state', '{"state": "succeeded"}');
INSERT INTO reviews VALUES ('job-1', 3, 'ana', 'better', 4, 'crisper', 7.0);
"""


def test_database_urls_name_their_backend_and_never_show_the_password(tmp_path):
    assert database_url(f"sqlite:///{tmp_path}/x.sqlite").drivername == "sqlite"
    url = database_url("postgresql://tuneserve:s3cret@db.example:5432/tuneserve")
    assert url.drivername == "postgresql+psycopg" and url.password == "s3cret"
    assert "s3cret" not in describe(url) and "db.example:5432/tuneserve" in describe(url)
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    assert database_url("postgresql://tuneserve@db:5432/t", secret).password == "from-a-file"
    with pytest.raises(ValueError, match="'mysql' is not supported"):
        database_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="sqlite needs a file"):
        database_url("sqlite://")
    with pytest.raises(ValueError, match="not a database URL"):
        database_url("just words")


def test_settings_refuse_a_bad_database_url():
    from server.config import ServerSettings

    with pytest.raises(ValueError, match="'oracle' is not supported"):
        ServerSettings(database_url="oracle://x@y/z")
    assert ServerSettings(database_url="postgresql://u@h:5432/d").experiment_database() == "postgresql://u@h:5432/d"


def test_last_releases_sqlite_files_reach_the_current_schema_with_every_row(tmp_path):
    for name, script in (("experiments.sqlite", LEGACY_EXPERIMENTS), ("jobs.sqlite3", LEGACY_JOBS)):
        with sqlite3.connect(tmp_path / name) as db:
            db.executescript(script)
    experiments = open_database(f"sqlite:///{tmp_path / 'experiments.sqlite'}")
    jobs = open_database(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    assert current(experiments) == current(jobs) == head()
    with experiments.connect() as db:
        assert db.exec_driver_sql("SELECT request_id, output, latency_ms FROM requests").all() == [("r1", "banana", 12.5)]
        assert db.exec_driver_sql("SELECT label, rating, thumb FROM feedback").all() == [("banana", 5, 1)]
        assert db.exec_driver_sql("SELECT kind, detail FROM experiment_events").all() == [("rollback", "version 2 was worse")]
    with jobs.connect() as db:
        assert db.exec_driver_sql("SELECT id, state, step, runner, heartbeat FROM jobs").all() == [("job-1", "succeeded", 40, "", None)]
        assert db.exec_driver_sql("SELECT sequence, kind FROM job_events").all() == [(1, "state")]
        assert db.exec_driver_sql("SELECT line, reviewer, note FROM reviews").all() == [(3, "ana", "crisper")]
    assert migrate(jobs) == head(), "a second upgrade finds nothing to do"


def test_a_postgresql_database_of_the_previous_version_upgrades_without_losing_rows(postgres):
    engine = create_engine(database_url(postgres.create_database()))
    assert migrate(engine, "0001") == "0001"
    with engine.begin() as db:
        db.exec_driver_sql("INSERT INTO jobs (id, adapter_name, state, config, created) VALUES ('job-1', 'fruit', 'queued', '{}', 1.0)")
        db.exec_driver_sql("INSERT INTO job_events (job_id, time, kind, payload) VALUES ('job-1', 1.0, 'state', '{}')")
        db.exec_driver_sql("INSERT INTO requests VALUES ('r1', 'serve', 'fruit', 1, '', 'a', 1.0, 1, 5.0)")
    assert migrate(engine) == head()
    with engine.connect() as db:
        assert db.exec_driver_sql("SELECT id, state, runner, heartbeat FROM jobs").all() == [("job-1", "queued", "", None)]
        assert db.exec_driver_sql("SELECT COUNT(*) FROM job_events").scalar() == 1
        assert db.exec_driver_sql("SELECT output FROM requests").scalar() == "a"
    engine.dispose()


def test_replicas_starting_at_once_migrate_a_fresh_database_once(postgres):
    url = postgres.create_database()
    results: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            engine = create_engine(database_url(url))
            results.append(migrate(engine))
            engine.dispose()
        except BaseException as exc:  # noqa: BLE001 - every failure is the finding
            errors.append(exc)

    replicas = [threading.Thread(target=start) for _ in range(6)]
    for thread in replicas:
        thread.start()
    for thread in replicas:
        thread.join(60)
    assert errors == [] and results == [head()] * 6
    engine = create_engine(database_url(url))
    with engine.connect() as db:
        assert db.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(head(),)]
    engine.dispose()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from common.database.connect import create_engine, database_url
    from common.database.leader import Leadership
    leader = Leadership(create_engine(database_url(sys.argv[1])), 42)
    assert leader.held()
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_one_replica_leads_and_another_takes_over_within_seconds_of_a_kill_9(postgres):
    url = postgres.create_database()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        other = Leadership(create_engine(database_url(url)), 42)
        assert not other.held() and not other.held(), "one leader at a time"
        assert Leadership(create_engine(database_url(url)), 43).held(), "another duty has its own leader"
        holder.kill()  # SIGKILL: no chance to let go
        holder.wait(10)
        killed = time.monotonic()
        while not other.held():
            assert time.monotonic() - killed < 10, "the lead was not taken over within 10 s"
            time.sleep(0.2)
        assert other.held(), "and kept"
        other.release()
    finally:
        holder.kill()


def test_the_leader_that_loses_its_connection_stops_leading(postgres):
    url = postgres.create_database()
    first, second = Leadership(create_engine(database_url(url)), 7), Leadership(create_engine(database_url(url)), 7)
    assert first.held() and not second.held()
    admin = create_engine(database_url(url))
    with admin.begin() as db:  # the database ends the leader's session (a failover, an idle timeout)
        # with a timeout the call returns once the session has ended and its lock is free; without
        # one it only signals, and on a busy machine the second replica asked before the lock was gone
        db.execute(sa.text("SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7"))
    assert second.held() and not first.held(), "the lock moved, and the old leader knows it lost it"
    admin.dispose()


def test_sqlite_is_one_machine_and_always_leads(tmp_path):
    assert Leadership(open_database(f"sqlite:///{tmp_path / 'x.sqlite'}"), 1).held()


def test_the_db_command_upgrades_and_reports_the_schema(postgres, tmp_path):
    from tests.tools import tool

    url = postgres.create_database().replace("postgres@", "postgres:pw-not-needed@")
    run = lambda *args: subprocess.run([tool("tuneserve-db"), *args], capture_output=True, text=True, timeout=120)  # noqa: E731
    before = run("current", "--database-url", url)
    assert before.returncode == 0 and f"schema none (this release: {head()})" in before.stdout
    upgraded = run("upgrade", "--database-url", url)
    assert upgraded.returncode == 0 and f"schema none -> {head()}" in upgraded.stdout
    assert "pw-not-needed" not in upgraded.stdout + upgraded.stderr, "the password is never printed"
    assert f"schema {head()}, current" in run("upgrade", "--database-url", url).stdout
    refused = run("upgrade", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert refused.returncode == 1 and "tuneserve-db: postgresql+psycopg://nobody@127.0.0.1:1/none:" in refused.stderr
    assert run("upgrade", "--database-url", "ftp://x").returncode == 2
    local = run("upgrade", "--database-url", f"sqlite:///{tmp_path / 'one.sqlite'}")
    assert local.returncode == 0 and head() in local.stdout
