"""Running one training job: the entry point every executor runs (trainer.execution).

    python -m trainer.jobs.run_job JOB_ID                                   (one process)
    torchrun --nproc-per-node 4 -m trainer.jobs.run_job JOB_ID              (DDP: one rank per GPU)

The thread executor calls `run_one` inside the trainer; the process executor starts this module as
a child process; the kubernetes executor starts it as the command of a Job's pod. In each case the
run reads the job from the database, marks it running, reports progress there, stops at the next
step when the job is cancelled (the database says so) or the process is asked to stop (SIGTERM),
trains, evaluates and publishes; under torchrun every rank trains and rank 0 does the rest.

The exit code tells the executor what became of the run:
- 0 (EXIT_CONCLUDED): the job reached an outcome and recorded it: succeeded, failed with a reason
  (bad data, a training error), or cancelled;
- 75 (EXIT_STOPPED, sysexits' TEMPFAIL): asked to stop before an outcome; the job resumes from its
  last checkpoint when it runs again;
- anything else, or a signal: the run died without an outcome (killed, out of memory, node lost).
Settings come from TUNESERVE_* variables and flags, as for `tuneserve-trainer`.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from common.adapter_store import AdapterStore
from common.errors import Cancelled, InvalidRequest
from trainer.config import TrainerSettings
from trainer.jobs.records import JobState, JobStore
from trainer.training.loop import Distributed, Progress

log = logging.getLogger(__name__)

EXIT_CONCLUDED = 0
EXIT_STOPPED = 75
# set in a child's environment: the trainer replica that holds the job's lease; a run whose lease
# has gone to another replica stops, so a job is never trained by two processes at once
RUNNER_VARIABLE = "TUNESERVE_JOB_RUNNER"


def command(job_id: str, processes: int, python: str) -> list[str]:
    """The command that runs one job: this module, or torchrun over it with one rank per device."""
    if processes > 1:
        return [
            python,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "trainer.jobs.run_job",
            job_id,
        ]
    return [python, "-m", "trainer.jobs.run_job", job_id]


def record_progress(jobs: JobStore, job_id: str, progress: Progress) -> None:
    """A step's progress in the job record and its events, where WatchJob and every replica see it."""
    jobs.update(
        job_id,
        step=progress.step,
        total_steps=progress.total_steps,
        train_loss=progress.train_loss,
        **({"validation_loss": progress.validation_loss} if progress.validation_loss is not None else {}),
    )
    jobs.add_event(job_id, "progress", progress.__dict__)


class Outcome(enum.Enum):
    CONCLUDED = "concluded"  # the record says succeeded, failed or cancelled
    STOPPED = "stopped"  # asked to stop before an outcome: resumes from its last checkpoint


def finish_cancelled(job_id: str, jobs: JobStore, settings: TrainerSettings) -> None:
    from trainer.jobs.job import cleanup
    from trainer.jobs.storage import open_job_storage
    from trainer.jobs.workdir import JobFiles

    if not jobs.get(job_id).state.terminal:
        jobs.transition(job_id, JobState.CANCELLED, "cancelled", "cancelled on request")
    cleanup(JobFiles.of(settings.work_dir, job_id), open_job_storage(settings.job_store, settings.work_dir), job_id)


def run_one(
    job_id: str,
    settings: TrainerSettings,
    jobs: JobStore,
    store: AdapterStore,
    tokenizer: Any,
    should_stop: Callable[[], bool],
    cancelled: Callable[[], bool],
    on_progress: Callable[[Progress], None],
) -> Outcome:
    """Runs the job to an outcome, or until `should_stop`; `cancelled` tells a cancel from a stop."""
    from trainer.jobs.job import execute
    from trainer.training.data import DataRejected

    main_rank = Distributed.from_env().main
    job = jobs.get(job_id)
    if job.state.terminal:
        return Outcome.CONCLUDED
    if job.state is not JobState.RUNNING and main_rank:  # a job taken over is running already
        jobs.transition(job_id, JobState.RUNNING)
    try:
        execute(job_id, settings, jobs, store, tokenizer, should_stop=should_stop, on_progress=on_progress)
        return Outcome.CONCLUDED
    except Cancelled:
        if not cancelled():
            return Outcome.STOPPED
        if main_rank:
            finish_cancelled(job_id, jobs, settings)
        return Outcome.CONCLUDED
    except (DataRejected, InvalidRequest) as exc:
        if main_rank:
            jobs.transition(job_id, JobState.FAILED, "invalid_data", exc.message)
        return Outcome.CONCLUDED
    except Exception as exc:
        log.exception("training job failed", extra={"job": job_id})
        if main_rank and not jobs.get(job_id).state.terminal:
            jobs.transition(job_id, JobState.FAILED, "training_error", f"{type(exc).__name__}: {exc}")
        return Outcome.CONCLUDED


class StopSignals:
    """What asks a run in its own process to stop: SIGTERM (the executor, a node drain, Kueue
    preempting the Job), the parent trainer gone, the lease taken over, or a cancel in the database
    (asked at most once a second)."""

    def __init__(self, job_id: str, jobs: JobStore, runner: str) -> None:
        self.job_id, self.jobs, self.runner = job_id, jobs, runner
        self.signalled = threading.Event()
        self.parent = os.getppid()
        self._asked = 0.0
        self._cancelled = False
        self._lost = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.signalled.set())

    def cancelled(self) -> bool:
        self._ask(force=True)
        return self._cancelled

    def should_stop(self) -> bool:
        if self.signalled.is_set() or (self.runner and os.getppid() != self.parent):
            return True
        self._ask()
        return self._cancelled or self._lost

    def _ask(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._asked < 1.0:
            return
        self._asked = now
        try:
            job = self.jobs.get(self.job_id)
        except Exception:  # the database away for a moment: keep training, ask again later
            return
        self._cancelled = job.cancel_requested
        self._lost = bool(self.runner) and job.runner != self.runner


def main(argv: Sequence[str] | None = None) -> int:
    import torch
    import torch.distributed as dist

    from common import logs
    from common.base_model import load_tokenizer
    from common.database.connect import open_database
    from common.rpc.lifecycle import parse_settings

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print("usage: python -m trainer.jobs.run_job JOB_ID [trainer settings flags]", file=sys.stderr)
        return 2
    job_id, settings = args[0], parse_settings(TrainerSettings, args[1:])
    logs.configure(settings.log_level, settings.log_format)
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            settings = settings.model_copy(update={"device": f"cuda:{local_rank}"})
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    jobs = JobStore(open_database(settings.job_database(), settings.database_password_file))
    stop = StopSignals(job_id, jobs, os.environ.get(RUNNER_VARIABLE, ""))
    stop.install()
    main_rank = Distributed.from_env().main

    def on_progress(progress: Progress) -> None:
        if main_rank:
            record_progress(jobs, job_id, progress)

    try:
        store = settings.open_adapter_store(settings.adapter_store, settings.cache_dir)
        outcome = run_one(job_id, settings, jobs, store, load_tokenizer(settings), stop.should_stop, stop.cancelled, on_progress)
    finally:
        if world > 1:
            dist.destroy_process_group()
        jobs.close()
    log.info("training run ended", extra={"job": job_id, "outcome": outcome.value})
    return EXIT_CONCLUDED if outcome is Outcome.CONCLUDED else EXIT_STOPPED


if __name__ == "__main__":
    sys.exit(main())
