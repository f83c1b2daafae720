"""Shared-state benchmark: the experiment record's writes on PostgreSQL against SQLite, same run.

What the recorder does with each backend: answers written in batches of 512 (one transaction per
batch, as the background writer does), feedback one call at a time (as the Feedback RPC does, each
its own transaction, after looking its answer up), and the report's read of every answer of a
name. PostgreSQL is a throwaway cluster from the system's binaries (tests/postgres.py: fsync off,
so these are the engine's and the driver's costs, not a disk's), or --postgresql-url.

    python bench/database.py [--answers 20000] [--feedback 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.experiments.store import ExperimentStore, Served  # noqa: E402


def measure(url: str, answers: int, feedback: int) -> dict[str, float]:
    store = ExperimentStore.open(url, retention_s=3600)
    rows = [Served(f"r{i}", "bench", 1 + i % 2, "1 of 1=50 2=50", "positive" if i % 3 else "negative", 12.0, True) for i in range(answers)]
    started = time.perf_counter()
    for first in range(0, answers, 512):
        store.add(rows[first : first + 512])
    writes = answers / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(feedback):
        assert store.request(f"r{i}") is not None
        store.set_feedback(f"r{i}", "positive", 4, None)
    judged = feedback / (time.perf_counter() - started)
    started = time.perf_counter()
    outcomes = store.outcomes("bench", since=0)
    report_ms = (time.perf_counter() - started) * 1000
    assert len(outcomes) == answers
    store.close()
    return {"answers/s": writes, "feedback/s": judged, "report read (ms)": report_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--feedback", type=int, default=2_000)
    parser.add_argument("--postgresql-url", help="an existing database instead of a throwaway cluster")
    args = parser.parse_args()
    cluster = None
    if args.postgresql_url is None:
        from tests.postgres import Postgres

        cluster = Postgres()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = {
                "sqlite": measure(f"sqlite:///{tmp}/bench.sqlite", args.answers, args.feedback),
                "postgresql": measure(args.postgresql_url or cluster.create_database(), args.answers, args.feedback),  # type: ignore[union-attr]
            }
    finally:
        if cluster is not None:
            cluster.close()
    for what in results["sqlite"]:
        sqlite, postgresql = results["sqlite"][what], results["postgresql"][what]
        print(f"{what:>17}: sqlite {sqlite:9.1f}  postgresql {postgresql:9.1f}  postgresql/sqlite {postgresql / sqlite:5.2f}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.answers} answers, {args.feedback} feedback calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
