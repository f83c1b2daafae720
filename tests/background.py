"""Running a server on a background thread with its own event loop (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from common.base_model import BaseModel
from common.rpc.lifecycle import Servable
from server.app import TuneserveServer
from server.config import ServerSettings


class BackgroundServer:
    """Any tuneserve server (inference by default, or e.g. trainer.app.TrainerServer via `server=`)."""

    def __init__(self, settings: ServerSettings | None, base: BaseModel | None = None, *, server: Servable | None = None) -> None:
        self.server: Any = server or TuneserveServer(settings, base)  # type: ignore[arg-type]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tuneserve-test-loop", daemon=True)

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float | None) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def start(self, timeout: float | None = 300, wait_ready: bool = True) -> BackgroundServer:
        """Starts the server and (unless told not to) waits until it reports SERVING."""
        self._thread.start()
        self._call(self.server.start(), timeout)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float | None = 300) -> None:
        self._call(self.server.wait_ready(), timeout)

    def stop(self, grace: float = 0) -> None:
        self._call(self.server.stop(grace), 60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
