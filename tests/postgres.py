"""A throwaway PostgreSQL from the system's server binaries, for the tests of shared state.

initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user. The cluster
listens on a free loopback port with fsync off and trusts local connections; every test gets its
own database. Without the binaries the tests that need it skip with that reason, unless CI asks
for every tool (TUNESERVE_REQUIRE_TOOLS=1), where that is a failure (tests/conftest.py). The
benchmarks start one the same way.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.tools import free_port


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def _binaries() -> Path | None:
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(directory, "initdb").exists():
            return Path(directory)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class Postgres:
    """One running cluster; `create_database()` gives a fresh, empty database's URL."""

    def __init__(self) -> None:
        binaries = _binaries()
        if binaries is None:
            raise PostgresMissing("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bin = binaries
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.root = Path(tempfile.mkdtemp(prefix="tuneserve-pg-"))
        self.data = self.root / "data"
        if self.as_user:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
