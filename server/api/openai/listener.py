"""The HTTP port: uvicorn serving the OpenAI routes on the server's own event loop.

It binds like the gRPC port (loopback only without tokens unless allowed) and uses the same TLS
certificate files; the process's signal handlers, not uvicorn's, decide when it stops. Slow and
idle connections are bounded (http_protocol, and uvicorn's keep-alive timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import uvicorn

from common.security.auth import listen_host
from server.api.openai.http_protocol import BoundedH11Protocol

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGTERM belongs to the process's graceful stop, which closes this port in its turn
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}") from None
    sock.listen(512)
    sock.setblocking(False)
    return sock


class HttpListener:
    def __init__(self, app: Any, settings: Any, host: str, port: int, tokens_configured: bool) -> None:
        self.host = listen_host(host, tokens_configured, settings.allow_unauthenticated)
        self._socket = _bind(self.host, port)
        self.port = int(self._socket.getsockname()[1])
        tls: dict[str, Any] = {}
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            tls = {"ssl_certfile": str(settings.tls_cert_file), "ssl_keyfile": str(settings.tls_key_file)}
            if settings.tls_client_ca_file is not None:
                tls |= {"ssl_ca_certs": str(settings.tls_client_ca_file), "ssl_cert_reqs": ssl.CERT_REQUIRED}
        self.tls = bool(tls)
        config = uvicorn.Config(
            app,
            http=BoundedH11Protocol.bounded(settings.http_header_timeout_s, settings.http_max_connections),
            timeout_keep_alive=max(1, round(settings.http_idle_timeout_s)),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
            **tls,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise OSError(f"the HTTP port {self.host}:{self.port} stopped while starting")
            await asyncio.sleep(0.01)
        log.info("HTTP (OpenAI-compatible) listening", extra={"http": f"{self.host}:{self.port}", "tls": self.tls})

    async def close(self, grace: float) -> None:
        """Stops accepting; requests in flight get `grace` seconds."""
        if self._task is None:
            self._socket.close()
            return
        self._server.config.timeout_graceful_shutdown = max(1, int(grace))
        self._server.should_exit = True
        await self._task
        self._task = None
