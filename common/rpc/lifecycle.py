"""Running a tuneserve process: settings from flags and the environment, start, serve until
SIGTERM or Ctrl-C, stop gracefully. `tuneserve-server` and `tuneserve-trainer` both run this way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, CliApp

from common.rpc.app import RpcApp

log = logging.getLogger(__name__)
S = TypeVar("S", bound=BaseSettings)


def parse_settings(cls: type[S], argv: Sequence[str] | None) -> S:
    """Settings from flags over TUNESERVE_* variables; a bad value exits 2 naming the setting."""
    try:
        return CliApp.run(cls, cli_args=list(sys.argv[1:] if argv is None else argv))
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            flag = "--" + name.replace("_", "-")
            env = "TUNESERVE_" + name.upper()
            print(f"invalid setting {flag} ({env}): {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


async def serve(server: RpcApp) -> int:
    """Starts a server, runs it until SIGTERM or Ctrl-C, and stops it gracefully; the exit code."""
    try:
        await server.start()
    except OSError as exc:
        log.error(str(exc))
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = asyncio.ensure_future(server.wait_ready())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({ready, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if ready.done() and ready.exception() is not None:
        stopping.cancel()
        await server.stop(grace=0)
        return 1
    await stopping
    await server.stop()
    return 0
