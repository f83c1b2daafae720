"""Assembling the trainer service: job database, queue, gRPC API, health, metrics."""

from __future__ import annotations

import asyncio
import logging

from tuneserve.v1 import trainer_pb2, trainer_pb2_grpc

from common.adapter_store import AdapterStore
from common.base_model import load_tokenizer
from common.rpc.endpoints import Endpoints
from common.threads import arun_on_fresh_thread
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
        self.service = TrainerService(self.jobs, None, settings.max_data_bytes, settings.data_dirs)
        self.runner: JobRunner | None = None
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

    async def start(self) -> None:
        endpoints = Endpoints(self.settings, self.metrics, _MAX_MESSAGE_BYTES, [TRAINER_SERVICE])
        trainer_pb2_grpc.add_TrainerServicer_to_server(self.service, endpoints.grpc)
        self.endpoints = endpoints
        await endpoints.open("trainer")
        self._bring_up = asyncio.create_task(self._start_runner())

    async def _start_runner(self) -> None:
        tokenizer = await arun_on_fresh_thread(lambda: load_tokenizer(self.settings), "tuneserve-tokenizer-loader")
        store = AdapterStore(self.settings.adapter_store)
        self.runner = JobRunner(self.settings, self.jobs, store, tokenizer, self.metrics)
        self.runner.start()
        self.service.runner = self.runner
        assert self.endpoints is not None
        await self.endpoints.set_serving(True)
        queued = len(self.jobs.list([JobState.QUEUED]))
        log.info("trainer ready", extra={"store": str(store.root), "queued_jobs": queued})

    async def wait_ready(self) -> None:
        assert self._bring_up is not None, "start() first"
        await asyncio.shield(self._bring_up)

    async def stop(self, grace: float | None = None) -> None:
        endpoints = self.endpoints
        if endpoints is not None:
            await endpoints.health.enter_graceful_shutdown()
            await endpoints.stop_grpc(5 if grace is None else grace)
        if self.runner is not None:
            await asyncio.to_thread(self.runner.stop)
        if endpoints is not None:
            endpoints.close_metrics()
        self.jobs.close()
        log.info("trainer stopped")
