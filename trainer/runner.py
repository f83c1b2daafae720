"""The job queue: validation as soon as a job arrives, one training job at a time per device.

Each job trains on a thread of its own that ends with the job (see common.threads for why torch
work gets fresh threads). On start-up, jobs that were running when the process died go back to the
queue and resume from their last checkpoint; jobs that were being validated are validated again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from common.adapter_store import AdapterStore
from common.errors import Cancelled, FailedPrecondition, InvalidRequest
from trainer.config import JobConfig, TrainerSettings
from trainer.data import DataRejected
from trainer.job import JobFiles, cleanup, execute, prepare, record_invalid_lines
from trainer.jobs_db import JobRecord, JobState, JobStore
from trainer.run_job import run_distributed
from trainer.training import Progress

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, settings: TrainerSettings, jobs: JobStore, store: AdapterStore, tokenizer: Any, metrics: Any = None) -> None:
        self.settings = settings
        self.jobs = jobs
        self.store = store
        self.tokenizer = tokenizer
        self.metrics = metrics
        self._wake = threading.Condition()
        self._cancelled: set[str] = set()
        self._stopping = False
        self._worker: threading.Thread | None = None
        self.running_job: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.store.clean_temporaries()  # what a publish killed half-way left
        for job in self.jobs.list([JobState.RUNNING]):
            self.jobs.add_event(job.id, "message", {"text": "the trainer restarted; the job resumes from its last checkpoint"})
            self.jobs.transition(job.id, JobState.QUEUED)
        for job in self.jobs.list([JobState.VALIDATING]):
            self._spawn_validation(job.id)
        self._worker = threading.Thread(target=self._work, name="tuneserve-trainer-queue", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30) -> None:
        with self._wake:
            self._stopping = True
            if self.running_job:
                self._cancelled.add(self.running_job)
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)

    # -- submission and cancellation ------------------------------------------------------------

    def submit(self, config: JobConfig, training: bytes, validation: bytes | None) -> JobRecord:
        job = self.jobs.create(config.adapter_name, config.model_dump())
        JobFiles.of(self.settings.work_dir, job.id).create(training, validation)
        self._spawn_validation(job.id)
        return self.jobs.get(job.id)

    def cancel(self, job_id: str) -> JobRecord:
        job = self.jobs.get(job_id)
        if job.state is JobState.CANCELLED:
            return job
        if job.state.terminal:
            raise FailedPrecondition(f"job {job_id} already {job.state.value}; only unfinished jobs can be cancelled")
        self.jobs.request_cancel(job_id)
        with self._wake:
            self._cancelled.add(job_id)
            running = self.running_job == job_id
        if not running and job.state in (JobState.QUEUED, JobState.VALIDATING):
            self._finish_cancelled(job_id)
        return self.jobs.get(job_id)

    def _finish_cancelled(self, job_id: str) -> None:
        if not self.jobs.get(job_id).state.terminal:
            self.jobs.transition(job_id, JobState.CANCELLED, "cancelled", "cancelled on request")
        cleanup(JobFiles.of(self.settings.work_dir, job_id))

    def _is_cancelled(self, job_id: str) -> bool:
        return job_id in self._cancelled or self._stopping

    # -- validation ---------------------------------------------------------------------------

    def _spawn_validation(self, job_id: str) -> None:
        threading.Thread(target=self._validate, args=(job_id,), name=f"validate-{job_id}", daemon=True).start()

    def _validate(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        files = JobFiles.of(self.settings.work_dir, job_id)
        try:
            data = prepare(JobConfig.model_validate(job.config), self.tokenizer, files)
        except DataRejected as exc:
            reported = record_invalid_lines(files, exc)
            self.jobs.update(job_id, result={"invalid_lines": reported, "invalid_line_count": len(exc.errors)})
            self.jobs.transition(job_id, JobState.FAILED, "invalid_data", exc.message)
            return
        except InvalidRequest as exc:
            self.jobs.transition(job_id, JobState.FAILED, "invalid_config", exc.message)
            return
        except Exception as exc:  # unreadable files and the like: the job fails, the trainer stays up
            log.exception("validating a job failed", extra={"job": job_id})
            self.jobs.transition(job_id, JobState.FAILED, "internal", f"validation failed: {exc}")
            return
        if self.jobs.get(job_id).state is not JobState.VALIDATING:
            return  # cancelled meanwhile
        self.jobs.update(
            job_id, result={"train_examples": len(data.train), "holdout_examples": len(data.holdout), "dropped_lines": data.dropped}
        )
        summary = f"{len(data.train)} training and {len(data.holdout)} holdout examples, {data.spec.kind} task"
        if data.spec.labels:
            summary += f" with labels {data.spec.labels}"
        if data.dropped:
            summary += f"; dropped {len(data.dropped)} over-long line(s)"
        self.jobs.add_event(job_id, "message", {"text": summary})
        self.jobs.transition(job_id, JobState.QUEUED)
        with self._wake:
            self._wake.notify_all()

    # -- training -----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._wake:
                job = None
                while not self._stopping and (job := self.jobs.oldest(JobState.QUEUED)) is None:
                    self._wake.wait(timeout=1.0)
                if self._stopping or job is None:
                    return
                self.running_job = job.id
            thread = threading.Thread(target=self._run, args=(job.id,), name=f"train-{job.id}", daemon=True)
            thread.start()
            thread.join()
            with self._wake:
                self.running_job = None

    def _progress(self, job_id: str, progress: Progress) -> None:
        self.jobs.update(
            job_id,
            step=progress.step,
            total_steps=progress.total_steps,
            train_loss=progress.train_loss,
            **({"validation_loss": progress.validation_loss} if progress.validation_loss is not None else {}),
        )
        self.jobs.add_event(job_id, "progress", progress.__dict__)
        if self.metrics is not None:
            self.metrics.progress(progress)

    def _run_distributed(self, job_id: str) -> None:
        """torchrun's ranks record progress and success themselves; a failure may be a cancel."""
        if self._is_cancelled(job_id):
            self.jobs.request_cancel(job_id)  # the ranks read cancel requests from the database
        try:
            run_distributed(job_id, self.settings)
        except RuntimeError:
            job = self.jobs.get(job_id)
            if job.cancel_requested:
                raise Cancelled("the job was cancelled") from None
            if not job.state.terminal:
                raise

    def _run(self, job_id: str) -> None:
        self.jobs.transition(job_id, JobState.RUNNING)
        try:
            if self.settings.processes > 1:
                self._run_distributed(job_id)
            else:
                execute(
                    job_id,
                    self.settings,
                    self.jobs,
                    self.store,
                    self.tokenizer,
                    should_stop=lambda: self._is_cancelled(job_id),
                    on_progress=lambda p: self._progress(job_id, p),
                )
        except Cancelled:
            if self._stopping and job_id not in self._cancelled:
                return  # the trainer is shutting down: leave the job RUNNING so a restart resumes it
            self._finish_cancelled(job_id)
        except (DataRejected, InvalidRequest) as exc:
            self.jobs.transition(job_id, JobState.FAILED, "invalid_data", exc.message)
        except Exception as exc:
            log.exception("training job failed", extra={"job": job_id})
            self.jobs.transition(job_id, JobState.FAILED, "training_error", f"{type(exc).__name__}: {exc}")
        finally:
            if self.metrics is not None:
                self.metrics.job_finished()
