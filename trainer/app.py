"""Assembling the trainer service: job database, queue, gRPC API, health, metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from tuneserve.v1 import trainer_pb2, trainer_pb2_grpc

from server.adapter_store import AdapterStore
from server.base_model import load_tokenizer
from server.grpc_runtime import Security, add_health_and_reflection, listen, new_server, set_serving, start_health_port
from server.metrics import serve_metrics
from server.threads import arun_on_fresh_thread
from trainer.config import TrainerSettings
from trainer.jobs_db import JobState, JobStore
from trainer.metrics import TrainerMetrics
from trainer.runner import JobRunner
from trainer.service import TrainerService

log = logging.getLogger(__name__)

TRAINER_SERVICE = trainer_pb2.DESCRIPTOR.services_by_name["Trainer"].full_name
_MAX_MESSAGE_BYTES = 300 * 2**20  # inline training data up to the default max_data_bytes


class TrainerServer:
    def __init__(self, settings: TrainerSettings) -> None:
        self.settings = settings
        self.metrics = TrainerMetrics()
        self.jobs = JobStore(settings.work_dir / "jobs.sqlite3")
        self.metrics.bind_jobs(lambda state: len(self.jobs.list([state], limit=1_000_000)))
        self.service = TrainerService(self.jobs, None, settings.max_data_bytes)
        self.runner: JobRunner | None = None
        self._grpc: grpc.aio.Server | None = None
        self._metrics_httpd: Any = None
        self._bring_up: asyncio.Task[None] | None = None
        self._health_server: grpc.aio.Server | None = None
        self.port = 0
        self.metrics_port = 0
        self.health_port = 0

    async def start(self) -> None:
        try:
            security = Security.load(self.settings)
        except ValueError as exc:
            raise OSError(str(exc)) from None
        self._grpc = new_server(self.metrics, _MAX_MESSAGE_BYTES, security)
        trainer_pb2_grpc.add_TrainerServicer_to_server(self.service, self._grpc)
        self.health = add_health_and_reflection(self._grpc, [TRAINER_SERVICE])
        await set_serving(self.health, [TRAINER_SERVICE], False)
        host, self.port = listen(self._grpc, self.settings.host, self.settings.port, security)
        metrics_host = self.settings.metrics_host or host
        self._metrics_httpd, self.metrics_port = serve_metrics(self.metrics.registry, metrics_host, self.settings.metrics_port)
        await self._grpc.start()
        if self.settings.health_port is not None:
            self._health_server, self.health_port = await start_health_port(self.health, self.settings.host, self.settings.health_port)
        log.info("trainer listening", extra={"grpc": f"{host}:{self.port}", "metrics": f"{metrics_host}:{self.metrics_port}"})
        self._bring_up = asyncio.create_task(self._start_runner())

    async def _start_runner(self) -> None:
        tokenizer = await arun_on_fresh_thread(lambda: load_tokenizer(self.settings), "tuneserve-tokenizer-loader")
        store = AdapterStore(self.settings.adapter_store)
        self.runner = JobRunner(self.settings, self.jobs, store, tokenizer, self.metrics)
        self.runner.start()
        self.service.runner = self.runner
        await set_serving(self.health, [TRAINER_SERVICE], True)
        queued = len(self.jobs.list([JobState.QUEUED]))
        log.info("trainer ready", extra={"store": str(store.root), "queued_jobs": queued})

    async def wait_ready(self) -> None:
        assert self._bring_up is not None, "start() first"
        await asyncio.shield(self._bring_up)

    async def stop(self, grace: float | None = None) -> None:
        await self.health.enter_graceful_shutdown()
        if self._grpc is not None:
            await self._grpc.stop(5 if grace is None else grace)
        if self._health_server is not None:
            await self._health_server.stop(0)
        if self.runner is not None:
            await asyncio.to_thread(self.runner.stop)
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
        self.jobs.close()
        log.info("trainer stopped")
