"""Prometheus metrics of the trainer: job states, progress and loss."""

from __future__ import annotations

import functools
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from common.rpc.metrics import RpcMetrics
from trainer.jobs.records import JobState
from trainer.training.loop import Progress


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
        self.executor_jobs = Gauge(
            "tuneserve_trainer_executor_jobs",
            "Jobs by executor and state: queued (in the shared queue), admitted (handed to this replica's "
            "executor, not training yet: a Job waiting for Kueue or its pod), running.",
            ["executor", "state"],
            registry=r,
        )
        self.runs_started = Counter(
            "tuneserve_trainer_executor_runs_started", "Runs this replica handed to its executor.", ["executor"], registry=r
        )
        self.runs_ended = Counter(
            "tuneserve_trainer_executor_runs_ended",
            "Runs that ended, by executor and what became of the job: succeeded, failed, cancelled, requeued "
            "(stopped or died with retries left: it resumes from its checkpoint), taken_over (by another replica).",
            ["executor", "result"],
            registry=r,
        )
        self.progress_ratio = Gauge("tuneserve_trainer_progress_ratio", "Fraction of the running job's steps done.", registry=r)

    def bind_jobs(self, count: Callable[[JobState], float]) -> None:
        for state in JobState:
            self.jobs.labels(state.value).set_function(functools.partial(count, state))

    def bind_executor(self, executor: str, queued: Callable[[], float], in_phase: Callable[[str], float]) -> None:
        self.executor_jobs.labels(executor, "queued").set_function(queued)
        for phase in ("admitted", "running"):
            self.executor_jobs.labels(executor, phase).set_function(functools.partial(in_phase, phase))
        self.runs_started.labels(executor)

    def run_started(self, executor: str) -> None:
        self.runs_started.labels(executor).inc()

    def run_ended(self, executor: str, result: str) -> None:
        self.runs_ended.labels(executor, result).inc()

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
