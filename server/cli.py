"""`tuneserve-server` (and `python -m server`): runs the inference server until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Protocol, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, CliApp

from server import logs
from server.config import ServerSettings

log = logging.getLogger("server")
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


class Servable(Protocol):
    async def start(self) -> None: ...
    async def wait_ready(self) -> None: ...
    async def stop(self, grace: float | None = None) -> None: ...


async def serve(server: Servable) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(ServerSettings, argv)
    logs.configure(settings.log_level, settings.log_format)
    if settings.prepare_only:
        from server.base_model import weights_dir_for

        print(weights_dir_for(settings))
        return 0
    from server.app import TuneserveServer  # torch and transformers load only once the flags parsed

    return asyncio.run(serve(TuneserveServer(settings)))


if __name__ == "__main__":
    sys.exit(main())
