"""Running a real server (or trainer) on a background thread with its own event loop, for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from common.base_model import BaseModel
from common.rpc.app import RpcApp
from server.app import TuneserveServer
from server.config import ServerSettings


class BackgroundServer:
    """Any tuneserve server (inference by default, or e.g. trainer.app.TrainerServer via `server=`)."""

    def __init__(self, settings: ServerSettings | None, base: BaseModel | None = None, *, server: RpcApp | None = None) -> None:
        if server is None:
            assert settings is not None, "settings for an inference server, or a server"
            server = TuneserveServer(settings, base)
        self.server: Any = server  # tests reach into the concrete server (state, engine, settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tuneserve-test-loop", daemon=True)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 60) -> Any:
        """Runs a coroutine on the server's event loop (as its own code would) and returns its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def start(self, timeout: float | None = 300, wait_ready: bool = True) -> BackgroundServer:
        """Starts the server and (unless told not to) waits until it reports SERVING."""
        self._thread.start()
        self.run(self.server.start(), timeout)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float | None = 300) -> None:
        self.run(self.server.wait_ready(), timeout)

    def stop(self, grace: float = 0) -> None:
        self.run(self.server.stop(grace), 60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def host(self) -> str:
        host = getattr(self.server.settings, "host", "127.0.0.1")
        return "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") else host

    @property
    def address(self) -> str:
        return f"{self.host}:{self.server.port}"

    @property
    def http_url(self) -> str:
        """Base URL of the OpenAI-compatible API (the server needs a non-zero http_port)."""
        assert isinstance(self.server, TuneserveServer) and self.server.http_port, "start the server with http_port set"
        return f"http://{self.host}:{self.server.http_port}/v1"

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
