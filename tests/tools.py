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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
