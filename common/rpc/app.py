"""The life-cycle both gRPC processes share: ports first, the slow part in the background, a graceful stop.

`start` opens every port at once, reporting NOT_SERVING through the standard health service, so
orchestrators can probe the process from its first second and callers get UNAVAILABLE (retryable);
`bring_up` (loading a model, a tokenizer) then runs in the background, and health turns SERVING
when it is done. `stop` reports NOT_SERVING, lets calls in flight finish for a grace period, then
shuts down what `bring_up` started. The server (server.app) and the trainer (trainer.app) supply
their services and those two steps.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any

import grpc

from common.rpc.endpoints import Endpoints
from common.rpc.metrics import RpcMetrics
from common.settings import SecuritySettings

log = logging.getLogger(__name__)


class RpcApp(abc.ABC):
    """One tuneserve gRPC process: its services on `port`, Prometheus metrics on `metrics_port`."""

    what = "tuneserve"  # how the log names the process

    def __init__(self, settings: SecuritySettings, metrics: RpcMetrics, max_message_bytes: int, service_names: list[str]) -> None:
        self.settings = settings
        self.metrics = metrics
        self.max_message_bytes = max_message_bytes
        self.service_names = service_names
        self.endpoints: Endpoints | None = None
        self._bring_up: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.endpoints.port if self.endpoints else 0

    @property
    def metrics_port(self) -> int:
        return self.endpoints.metrics_port if self.endpoints else 0

    @property
    def health_port(self) -> int:
        return self.endpoints.health_port if self.endpoints else 0

    @abc.abstractmethod
    def add_services(self, server: grpc.aio.Server) -> None:
        """Adds the process's servicers to its gRPC server."""

    @abc.abstractmethod
    async def bring_up(self) -> None:
        """The slow part of starting (models, tokenizers); the process reports SERVING once it returns."""

    @abc.abstractmethod
    async def shut_down(self) -> None:
        """Stops what `bring_up` started, once no call is served any more."""

    def stop_accepting(self) -> None:  # noqa: B027 - a hook: most processes have nothing to refuse early
        """Refuses new work while calls in flight finish (called as the graceful stop begins)."""

    def default_grace(self) -> float:
        """Seconds calls in flight get on SIGTERM."""
        return 5.0

    def log_fields(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        """Opens the ports and starts `bring_up`; returns before the process is ready."""
        endpoints = Endpoints(self.settings, self.metrics, self.max_message_bytes, self.service_names)
        self.add_services(endpoints.grpc)
        self.endpoints = endpoints
        await endpoints.open(self.what, **self.log_fields())
        self._bring_up = asyncio.create_task(self._bring_up_and_serve())

    async def _bring_up_and_serve(self) -> None:
        await self.bring_up()
        assert self.endpoints is not None
        await self.endpoints.set_serving(True)

    async def wait_ready(self) -> None:
        """Returns once SERVING; raises what stopped `bring_up`."""
        assert self._bring_up is not None, "start() first"
        await asyncio.shield(self._bring_up)

    async def stop(self, grace: float | None = None) -> None:
        """Stops taking calls, lets those in flight finish for `grace` seconds, then shuts down."""
        grace = self.default_grace() if grace is None else grace
        log.info("stopping", extra={"grace_s": grace})
        endpoints = self.endpoints
        if endpoints is not None:
            await endpoints.health.enter_graceful_shutdown()
        self.stop_accepting()
        if endpoints is not None:
            await endpoints.stop_grpc(grace)
        if self._bring_up is not None and not self._bring_up.done():
            self._bring_up.cancel()
        await self.shut_down()
        if endpoints is not None:
            endpoints.close_metrics()
        log.info("stopped", extra={"service": self.what})
