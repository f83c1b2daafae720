"""Locating the external programs the tests drive (installed into the venv or on PATH)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest


def tool(name: str) -> str:
    """Path of a program from this venv's bin directory or PATH; CI fails without it, else skip."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("TUNESERVE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is required in CI but was not found")
    pytest.skip(f"{name} is not installed")


def free_port() -> int:
    """A loopback port that stays free until the server the test starts binds it.

    A port merely found free can be taken in between: by another test's server, or as the local
    port of any outgoing connection (a suite run lost one so, "Address already in use"). This one
    is left in TIME_WAIT by a connection accepted and closed here first, and the kernel hands such
    a port neither to a bind to port 0 nor to an outgoing connection, while a server binding with
    SO_REUSEADDR takes it: gRPC's, tuneserve's HTTP listener, prometheus_client's, PostgreSQL's
    and moto's all do (Yelp's ephemeral-port-reserve does the same)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # the accepting side closes first, so its end (this port) waits in TIME_WAIT
    return port
