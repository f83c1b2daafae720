"""The ports one tuneserve process opens, in the order both the server and the trainer need.

gRPC (with health and reflection, tokens and TLS), the Prometheus endpoint, and the optional
plaintext health-only port. The caller adds its servicers between construction and `open()`.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from common.rpc.metrics import RpcMetrics, serve_metrics
from common.rpc.runtime import Security, add_health_and_reflection, listen, new_server, set_serving, start_health_port
from common.settings import SecuritySettings

log = logging.getLogger(__name__)


class Endpoints:
    def __init__(self, settings: SecuritySettings, metrics: RpcMetrics, max_message_bytes: int, service_names: list[str]) -> None:
        """Reads tokens and certificates (OSError naming a bad file) and builds the gRPC server.

        `settings` are ServerSettings or TrainerSettings: the security fields plus host, port,
        metrics_host and metrics_port, whose defaults differ between the two."""
        try:
            security = Security.load(settings)
        except ValueError as exc:
            raise OSError(str(exc)) from None
        self.settings, self.security, self.metrics, self.service_names = settings, security, metrics, service_names
        self.grpc = new_server(metrics, max_message_bytes, security)
        self.health = add_health_and_reflection(self.grpc, service_names)
        self._metrics_httpd: Any = None
        self._health_server: grpc.aio.Server | None = None
        self.port = self.metrics_port = self.health_port = 0

    async def open(self, what: str, **log_extra: Any) -> None:
        """Opens every port, reporting NOT_SERVING until `set_serving(True)`; logs where `what` listens."""
        settings: Any = self.settings
        await self.set_serving(False)
        host, self.port = listen(self.grpc, settings.host, settings.port, self.security)
        metrics_host = settings.metrics_host or host
        try:
            self._metrics_httpd, self.metrics_port = serve_metrics(self.metrics.registry, metrics_host, settings.metrics_port)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {metrics_host}:{settings.metrics_port}: {exc.strerror}") from None
        await self.grpc.start()
        if settings.health_port is not None:
            self._health_server, self.health_port = await start_health_port(self.health, settings.host, settings.health_port)
        log.info(f"{what} listening", extra={"grpc": f"{host}:{self.port}", "metrics": f"{metrics_host}:{self.metrics_port}", **log_extra})

    async def set_serving(self, serving: bool) -> None:
        await set_serving(self.health, self.service_names, serving)

    async def stop_grpc(self, grace: float) -> None:
        """Stops the gRPC ports; calls in flight get `grace` seconds."""
        await self.grpc.stop(grace)
        if self._health_server is not None:
            await self._health_server.stop(0)

    def close_metrics(self) -> None:
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
