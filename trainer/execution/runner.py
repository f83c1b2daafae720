"""The job queue: validation as soon as a job arrives, then up to `max_concurrent_jobs` runs at
once, each handed to the executor the `executor` setting names (trainer.execution).

Several trainer replicas may share one queue (the jobs database on PostgreSQL): each claims the
oldest queued job by a lease on its row (trainer.jobs.records), renews its leases every third of
`job_lease_s` while its executor runs the job, and takes over a running or validating job whose
holder stopped renewing, resuming it from its last checkpoint (a Kubernetes Job is adopted, not
started again). A cancel recorded by any replica stops the run at its next step. When a run ends,
trainer.execution.decisions says what becomes of the job: nothing (it recorded its outcome), back
to the queue (stopped, or died and has retries left), failed, or cancelled. One trainer on its own
SQLite file does the same, and on start-up it also puts straight back in the queue what it was
running when it died (no other replica can hold it).
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
from common.errors import FailedPrecondition, InvalidRequest
from trainer.config import JobConfig, TrainerSettings
from trainer.execution.decisions import Action, after_run
from trainer.execution.executor import Executor, Phase, RunEnded
from trainer.jobs.job import prepare, record_invalid_lines
from trainer.jobs.records import JobRecord, JobState, JobStore
from trainer.jobs.run_job import Outcome, finish_cancelled, record_progress, run_one
from trainer.jobs.storage import open_job_storage
from trainer.jobs.workdir import JobFiles
from trainer.training.data import DataRejected
from trainer.training.loop import Progress

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
        self.active: dict[str, Phase] = {}  # jobs this replica's executor runs, and how far they got
        self.storage = open_job_storage(settings.job_store, settings.work_dir)
        self.executor: Executor | None = None
        # who holds a lease: unique per process, readable in the jobs table
        self.runner_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.shared = jobs.engine.dialect.name == "postgresql"

    # -- lifecycle ----------------------------------------------------------------------------

    def executor_kind(self) -> str:
        # torchrun's ranks need processes of their own
        return "process" if self.settings.executor == "thread" and self.settings.processes > 1 else self.settings.executor

    def _open_executor(self) -> Executor:
        kind = self.executor_kind()
        if kind == "thread":
            from trainer.execution.thread_executor import ThreadExecutor

            return ThreadExecutor(self._run_here, self._ended, self._phase)
        if kind == "process":
            from trainer.execution.process_executor import ProcessExecutor

            return ProcessExecutor(self.settings, self.runner_id, self._ended, self._phase)
        from trainer.execution.kubernetes_executor import KubernetesExecutor

        return KubernetesExecutor(self.settings, self.jobs, self._ended, self._phase)

    def start(self) -> None:
        self.store.clean_temporaries()  # what a publish killed half-way left
        self.executor = self._open_executor()
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
            self._stopping = True  # running jobs stop at their next step and go back to the queue
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
        if self.executor is not None:
            self.executor.stop(timeout)
            if self.executor.name != "kubernetes":  # a Job outlives its trainer; a thread or child does not
                with self._wake:
                    self._wake.wait_for(lambda: not self.active, timeout)
        if self._heart is not None:
            self._heart.join(timeout)

    def _renew_leases(self) -> None:
        """Renews this replica's leases until it stops; a lease found taken marks its job lost."""
        interval = self.settings.job_lease_s / 3
        while True:
            with self._wake:
                if self._stopping:
                    return
                held = sorted(self._validating | set(self.active))
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
        files = JobFiles.of(self.settings.work_dir, job.id)
        files.create(training, validation)
        self.storage.save_inputs(job.id, files)
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
            held = job_id in self.active
        if held and self.executor is not None:
            self.executor.cancel(job_id)
        elif job.state is JobState.VALIDATING or (job.state is JobState.QUEUED and not job.runner):
            finish_cancelled(job_id, self.jobs, self.settings)
        # otherwise another replica runs it: its run reads the cancel from the database
        return self.jobs.get(job_id)

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
            self.storage.restore_inputs(job_id, files)  # validated again here: its first validator went away
            data = prepare(JobConfig.model_validate(job.config), self.tokenizer, files)
        except DataRejected as exc:
            reported = record_invalid_lines(files, exc)
            self.storage.save_outputs(job_id, files)
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
        limit = self.settings.max_concurrent_jobs
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or len(self.active) < limit)
                if self._stopping:
                    return
            try:
                job = self._next_job()
            except Exception as exc:  # the database away for a moment: the queue waits
                log.warning("could not read the job queue", extra={"error": str(exc).splitlines()[0]})
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            self._launch(job)

    def _launch(self, job: JobRecord) -> None:
        """Hands a leased job to the executor; one it cannot start goes back to the queue."""
        assert self.executor is not None
        with self._wake:
            self.active[job.id] = "admitted"
        try:
            placement = self.executor.start(job.id)
        except Exception as exc:
            log.exception("could not start a training run", extra={"job": job.id})
            with self._wake:
                self.active.pop(job.id, None)
            try:
                text = f"could not start its run on {self.executor.name} ({type(exc).__name__}: {str(exc)[:300]}); back in the queue"
                self.jobs.add_event(job.id, "message", {"text": text})
                self.jobs.transition(job.id, JobState.QUEUED)
            except Exception:  # the lease runs out and the job is claimed again
                log.warning("could not put a job back in the queue", extra={"job": job.id})
            with self._wake:
                self._wake.wait(timeout=5.0)  # not at once: what failed may need a moment
            return
        self.jobs.update(job.id, executor=self.executor.name, placement=placement)
        if self.metrics is not None:
            self.metrics.run_started(self.executor.name)

    def _phase(self, job_id: str, phase: Phase, note: str) -> None:
        with self._wake:
            if job_id in self.active:
                self.active[job_id] = phase
        if note:
            self.jobs.add_event(job_id, "message", {"text": note})

    def _progress(self, job_id: str, progress: Progress) -> None:
        record_progress(self.jobs, job_id, progress)
        if self.metrics is not None:
            self.metrics.progress(progress)

    def _run_here(self, job_id: str) -> Outcome:
        """The thread executor's run: the entry point in this process, stopped by this runner's flags."""

        def cancelled() -> bool:
            return job_id in self._cancelled or self.jobs.get(job_id).cancel_requested

        try:
            return run_one(
                job_id,
                self.settings,
                self.jobs,
                self.store,
                self.tokenizer,
                should_stop=lambda: self._is_cancelled(job_id),
                cancelled=cancelled,
                on_progress=lambda p: self._progress(job_id, p),
            )
        finally:
            if self.metrics is not None:
                self.metrics.job_finished()

    def _ended(self, ended: RunEnded) -> None:
        """A run ended (called from the executor's threads): the job's record follows what it means."""
        job_id = ended.job_id
        executor = self.executor.name if self.executor is not None else self.settings.executor
        try:
            job = self.jobs.get(job_id)
            with self._wake:
                lost, stopping = job_id in self._lost, self._stopping
                cancel = job.cancel_requested or job_id in self._cancelled
            decision = after_run(ended, job.state, cancel, job.attempts, self.settings.job_retries, stopping, lost)
            if decision.attempts != job.attempts:
                self.jobs.update(job_id, attempts=decision.attempts)
            if decision.action is Action.CANCEL:
                finish_cancelled(job_id, self.jobs, self.settings)
            elif decision.action is Action.FAIL:
                self.jobs.transition(job_id, JobState.FAILED, "training_error", decision.message)
            elif decision.action is Action.REQUEUE:
                self.jobs.add_event(job_id, "message", {"text": decision.message})
                self.jobs.transition(job_id, JobState.QUEUED)
            if self.metrics is not None:
                result = "taken_over" if lost else "requeued" if decision.action is Action.REQUEUE else self.jobs.get(job_id).state.value
                self.metrics.run_ended(executor, result)
        except Exception:  # the database away: the lease runs out and the job is claimed again
            log.exception("could not record the end of a training run", extra={"job": job_id})
        finally:
            with self._wake:
                self.active.pop(job_id, None)
                self._lost.discard(job_id)
                self._wake.notify_all()
