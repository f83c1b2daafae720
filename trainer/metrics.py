"""Prometheus metrics of the trainer: job states, progress and loss."""

from __future__ import annotations

import functools
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from common.rpc.metrics import RpcMetrics
from trainer.jobs_db import JobState
from trainer.training import Progress


class TrainerMetrics(RpcMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.jobs = Gauge("tuneserve_trainer_jobs", "Training jobs by state.", ["state"], registry=r)
        self.steps = Counter("tuneserve_trainer_steps", "Optimizer steps taken.", registry=r)
        self.tokens = Counter("tuneserve_trainer_tokens", "Training tokens processed (padding excluded).", registry=r)
        self.train_loss = Gauge("tuneserve_trainer_train_loss", "Training loss of the running job's last step.", registry=r)
        self.validation_loss = Gauge("tuneserve_trainer_validation_loss", "Holdout loss of the running job at its last check.", registry=r)
        self.tokens_per_second = Gauge(
            "tuneserve_trainer_tokens_per_second", "Training throughput of the running job's last step.", registry=r
        )
        self.progress_ratio = Gauge("tuneserve_trainer_progress_ratio", "Fraction of the running job's steps done.", registry=r)

    def bind_jobs(self, count: Callable[[JobState], float]) -> None:
        for state in JobState:
            self.jobs.labels(state.value).set_function(functools.partial(count, state))

    def progress(self, progress: Progress) -> None:
        self.steps.inc()
        self.tokens.inc(progress.tokens)
        self.train_loss.set(progress.train_loss)
        self.tokens_per_second.set(progress.tokens_per_second)
        self.progress_ratio.set(progress.step / max(progress.total_steps, 1))
        if progress.validation_loss is not None:
            self.validation_loss.set(progress.validation_loss)

    def job_finished(self) -> None:
        self.progress_ratio.set(0)
        self.tokens_per_second.set(0)
