"""Assembling the trainer service: job database, queue, gRPC API, health, metrics."""

from __future__ import annotations

import asyncio
import logging

import grpc
from tuneserve.v1 import trainer_pb2, trainer_pb2_grpc

from common.adapter_store import AdapterStore
from common.base_model import load_tokenizer
from common.rpc.app import RpcApp
from common.threads import arun_on_fresh_thread
from trainer.config import TrainerSettings
from trainer.jobs_db import JobState, JobStore
from trainer.metrics import TrainerMetrics
from trainer.runner import JobRunner
from trainer.service import TrainerService

log = logging.getLogger(__name__)

TRAINER_SERVICE = trainer_pb2.DESCRIPTOR.services_by_name["Trainer"].full_name
_MAX_MESSAGE_BYTES = 300 * 2**20  # inline training data up to the default max_data_bytes


class TrainerServer(RpcApp):
    """The trainer service: job database, queue, gRPC API, health and metrics."""

    what = "trainer"
    settings: TrainerSettings
    metrics: TrainerMetrics

    def __init__(self, settings: TrainerSettings) -> None:
        super().__init__(settings, TrainerMetrics(), _MAX_MESSAGE_BYTES, [TRAINER_SERVICE])
        self.jobs = JobStore(settings.work_dir / "jobs.sqlite3")
        self.metrics.bind_jobs(lambda state: len(self.jobs.list([state], limit=1_000_000)))
        self.service = TrainerService(self.jobs, None, settings.max_data_bytes, settings.data_dirs, settings.work_dir)
        self.runner: JobRunner | None = None

    def add_services(self, server: grpc.aio.Server) -> None:
        trainer_pb2_grpc.add_TrainerServicer_to_server(self.service, server)

    async def bring_up(self) -> None:
        """Loads the tokenizer (to check data) and starts the job queue, resuming interrupted jobs."""
        tokenizer = await arun_on_fresh_thread(lambda: load_tokenizer(self.settings), "tuneserve-tokenizer-loader")
        store = AdapterStore(self.settings.adapter_store)
        self.runner = JobRunner(self.settings, self.jobs, store, tokenizer, self.metrics)
        self.runner.start()
        self.service.runner = self.runner
        queued = len(self.jobs.list([JobState.QUEUED]))
        log.info("trainer ready", extra={"store": str(store.root), "queued_jobs": queued})

    async def shut_down(self) -> None:
        if self.runner is not None:
            await asyncio.to_thread(self.runner.stop)
        self.jobs.close()
