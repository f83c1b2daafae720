"""The job queue: validation as soon as a job arrives, one training job at a time per device.

Each job trains on a thread of its own that ends with the job (see common.threads for why torch
work gets fresh threads). Several trainer replicas may share one queue (the jobs database on
PostgreSQL): each claims the oldest queued job by a lease on its row (trainer.jobs_db), renews its
leases every third of `job_lease_s`, and takes over a running or validating job whose holder stopped
renewing, resuming it from its last checkpoint. A cancel recorded by any replica stops the run at
its next step. One trainer on its own SQLite file does the same, and on start-up it also puts
straight back in the queue what it was running when it died (no other replica can hold it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
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
        self._lost: set[str] = set()  # leases another replica took over: ours to drop, not to finish
        self._validating: set[str] = set()
        self._cancel_seen: dict[str, float] = {}  # job -> when the database was last asked about a cancel
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._heart: threading.Thread | None = None
        self.running_job: str | None = None
        # who holds a lease: unique per process, readable in the jobs table
        self.runner_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.shared = jobs.engine.dialect.name == "postgresql"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.store.clean_temporaries()  # what a publish killed half-way left
        if not self.shared:  # alone on this database: whatever was running or validating was ours
            for job in self.jobs.list([JobState.RUNNING]):
                self.jobs.add_event(job.id, "message", {"text": "the trainer restarted; the job resumes from its last checkpoint"})
                self.jobs.transition(job.id, JobState.QUEUED)
            for job in self.jobs.list([JobState.VALIDATING]):
                self.jobs.update(job.id, runner="", heartbeat=None)
        self._worker = threading.Thread(target=self._work, name="tuneserve-trainer-queue", daemon=True)
        self._worker.start()
        self._heart = threading.Thread(target=self._renew_leases, name="tuneserve-trainer-leases", daemon=True)
        self._heart.start()

    def stop(self, timeout: float = 30) -> None:
        with self._wake:
            self._stopping = True  # the running job stops at its next step and goes back to the queue
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
        if self._heart is not None:
            self._heart.join(timeout)

    def _renew_leases(self) -> None:
        """Renews this replica's leases until it stops; a lease found taken marks its job lost."""
        interval = self.settings.job_lease_s / 3
        while True:
            with self._wake:
                if self._stopping:
                    return
                held = sorted(self._validating | ({self.running_job} if self.running_job else set()))
            try:
                lost = self.jobs.renew(self.runner_id, held) if held else []
            except Exception as exc:  # the database away for a moment: try again next time
                log.warning("could not renew job leases", extra={"error": str(exc).splitlines()[0]})
                lost = []
            if lost:
                log.warning("job leases lost to another replica", extra={"jobs": lost})
                with self._wake:
                    self._lost.update(lost)
            with self._wake:
                self._wake.wait(interval)

    # -- submission and cancellation ------------------------------------------------------------

    def submit(self, config: JobConfig, training: bytes, validation: bytes | None) -> JobRecord:
        job = self.jobs.create(config.adapter_name, config.model_dump(), runner=self.runner_id)
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
        """Whether the run of `job_id` must stop: cancelled (here, or through another replica, which
        the database says; asked at most once a second), its lease lost, or the trainer stopping."""
        if job_id in self._cancelled or job_id in self._lost or self._stopping:
            return True
        now = time.monotonic()
        if now - self._cancel_seen.get(job_id, 0.0) >= 1.0:
            self._cancel_seen[job_id] = now
            try:
                if self.jobs.get(job_id).cancel_requested:
                    self._cancelled.add(job_id)
                    return True
            except Exception:  # the database away for a moment: keep training, ask again later
                return False
        return False

    # -- validation ---------------------------------------------------------------------------

    def _spawn_validation(self, job_id: str) -> None:
        with self._wake:
            self._validating.add(job_id)
        threading.Thread(target=self._validate_leased, args=(job_id,), name=f"validate-{job_id}", daemon=True).start()

    def _validate_leased(self, job_id: str) -> None:
        try:
            self._validate(job_id)
        finally:
            with self._wake:
                self._validating.discard(job_id)

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

    def _next_job(self) -> JobRecord | None:
        """Leases the next job to train (a queued one, else one whose holder went away), and starts
        validating any job left unvalidated by a replica that went away."""
        lease = self.settings.job_lease_s
        orphan = self.jobs.claim(JobState.VALIDATING, self.runner_id, lease)
        if orphan is not None:
            self.jobs.add_event(orphan.id, "message", {"text": f"validated again by {self.runner_id}: its validator went away"})
            self._spawn_validation(orphan.id)
        job = self.jobs.claim(JobState.QUEUED, self.runner_id, lease)
        if job is None:
            job = self.jobs.claim(JobState.RUNNING, self.runner_id, lease, expired_only=True)
            if job is not None:
                text = f"taken over by {self.runner_id} after {job.runner or 'its runner'} stopped renewing its lease"
                text += "; resuming from the last checkpoint"
                self.jobs.add_event(job.id, "message", {"text": text})
        return job

    def _work(self) -> None:
        while True:
            with self._wake:
                job = None
                while not self._stopping:
                    try:
                        job = self._next_job()
                    except Exception as exc:  # the database away for a moment: the queue waits
                        log.warning("could not read the job queue", extra={"error": str(exc).splitlines()[0]})
                    if job is not None:
                        break
                    self._wake.wait(timeout=1.0)
                if self._stopping or job is None:
                    return
                self.running_job = job.id
            thread = threading.Thread(target=self._run, args=(job.id,), name=f"train-{job.id}", daemon=True)
            thread.start()
            thread.join()
            with self._wake:
                self.running_job = None
                self._lost.discard(job.id)

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
        if self.jobs.get(job_id).state is not JobState.RUNNING:  # a job taken over is running already
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
            if job_id in self._lost:
                return  # another replica holds it now and finishes it
            if self._stopping and job_id not in self._cancelled:
                # shutting down (a rolling update, say): back to the queue, where this trainer
                # after its restart, or another replica at once, resumes it from its checkpoint
                self.jobs.add_event(job_id, "message", {"text": "the trainer stopped; the job resumes from its last checkpoint"})
                self.jobs.transition(job_id, JobState.QUEUED)
                return
            self._finish_cancelled(job_id)
        except (DataRejected, InvalidRequest) as exc:
            self.jobs.transition(job_id, JobState.FAILED, "invalid_data", exc.message)
        except Exception as exc:
            log.exception("training job failed", extra={"job": job_id})
            self.jobs.transition(job_id, JobState.FAILED, "training_error", f"{type(exc).__name__}: {exc}")
        finally:
            if self.metrics is not None:
                self.metrics.job_finished()
