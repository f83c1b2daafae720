"""Assembling the trainer service: job database, queue, gRPC API, health, metrics."""

from __future__ import annotations

import asyncio
import logging

import grpc
from tuneserve.v1 import trainer_pb2, trainer_pb2_grpc

from common.base_model import load_family, load_tokenizer
from common.database.connect import describe, open_database
from common.rpc.app import RpcApp
from common.threads import arun_on_fresh_thread
from trainer.api.files_db import FileStore
from trainer.api.service import TrainerService
from trainer.config import TrainerSettings
from trainer.execution.runner import JobRunner
from trainer.jobs.records import JobState, JobStore
from trainer.metrics import TrainerMetrics

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
        self.jobs = JobStore(open_database(settings.job_database(), settings.database_password_file))
        log.info("job database open", extra={"database": describe(self.jobs.engine.url)})
        self.metrics.bind_jobs(self._count)
        files = FileStore(self.jobs.engine, settings.max_data_bytes)
        self.service = TrainerService(
            self.jobs, None, settings.max_data_bytes, settings.data_dirs, settings.work_dir, files, settings.forgetting_probe
        )
        self.runner: JobRunner | None = None

    def _count(self, state: JobState) -> float:
        try:
            return self.jobs.count(state)
        except Exception:  # the database away for a moment: the gauge says so, the scrape still works
            return float("nan")

    def add_services(self, server: grpc.aio.Server) -> None:
        trainer_pb2_grpc.add_TrainerServicer_to_server(self.service, server)

    async def bring_up(self) -> None:
        """Loads the tokenizer and the model's family (to check data and target modules) and starts
        the job queue, resuming interrupted jobs."""
        tokenizer, family = await arun_on_fresh_thread(
            lambda: (load_tokenizer(self.settings), load_family(self.settings)), "tuneserve-tokenizer-loader"
        )
        self.service.family = family
        store = self.settings.open_adapter_store(self.settings.adapter_store, self.settings.cache_dir)
        self.runner = JobRunner(self.settings, self.jobs, store, tokenizer, self.metrics)
        self.runner.start()
        runner = self.runner
        self.metrics.bind_executor(
            runner.executor_kind(),
            lambda: self._count(JobState.QUEUED),
            lambda phase: float(sum(1 for p in list(runner.active.values()) if p == phase)),
        )
        self.service.runner = self.runner
        log.info(
            "trainer ready",
            extra={
                "store": store.location,
                "queued_jobs": self.jobs.count(JobState.QUEUED),
                "replica": self.runner.runner_id,
                "executor": self.runner.executor_kind(),
                "max_concurrent_jobs": self.settings.max_concurrent_jobs,
                "job_store": self.runner.storage.location,
            },
        )

    async def shut_down(self) -> None:
        if self.runner is not None:
            await asyncio.to_thread(self.runner.stop)
        self.jobs.close()
