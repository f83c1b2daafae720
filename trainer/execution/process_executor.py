"""Runs each job in a child process: `python -m trainer.jobs.run_job JOB_ID`, or torchrun with one rank
per device when `processes` is above 1.

The child gets the trainer's settings as TUNESERVE_* variables and the id of the replica holding
the job's lease; it stops by itself when the job is cancelled, when the lease goes to another
replica or when its parent trainer dies, so a job is never trained twice at once. Its exit status
says what became of it (trainer.jobs.run_job); a killed child is a death the runner may retry.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from common.settings import as_environment
from trainer.config import TrainerSettings
from trainer.execution.decisions import exit_meaning
from trainer.execution.executor import ExitHandler, PhaseHandler, RunEnded
from trainer.jobs.run_job import RUNNER_VARIABLE, command

log = logging.getLogger(__name__)


def child_threads(settings: TrainerSettings, cores: int | None) -> int:
    """Torch threads of one child: the trainer's setting, else the cores shared by the runs at once."""
    if settings.torch_threads is not None:
        return settings.torch_threads
    return max(1, (cores or 1) // (settings.max_concurrent_jobs * settings.processes))


class ProcessExecutor:
    name = "process"

    def __init__(self, settings: TrainerSettings, runner_id: str, on_exit: ExitHandler, on_phase: PhaseHandler) -> None:
        self.settings = settings
        self.on_exit = on_exit
        self.on_phase = on_phase
        threads = child_threads(settings, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
        self.env = {
            **os.environ,
            **as_environment(settings.model_copy(update={"torch_threads": threads})),
            RUNNER_VARIABLE: runner_id,
        }
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str) -> str:
        child = subprocess.Popen(command(job_id, self.settings.processes, sys.executable), env=self.env, start_new_session=True)
        with self._lock:
            self._children[job_id] = child
        self.on_phase(job_id, "running", "")
        threading.Thread(target=self._wait, args=(job_id, child), name=f"wait-{job_id}", daemon=True).start()
        log.info("training run started", extra={"job": job_id, "pid": child.pid})
        return f"pid {child.pid}"

    def _wait(self, job_id: str, child: subprocess.Popen[bytes]) -> None:
        code = child.wait()
        with self._lock:
            self._children.pop(job_id, None)
        outcome, reason = exit_meaning(code)
        if outcome is None:
            log.warning("training run died", extra={"job": job_id, "pid": child.pid, "reason": reason})
        self.on_exit(RunEnded(job_id, outcome, reason))

    def cancel(self, job_id: str) -> None:
        pass  # the child reads the cancel from the database within a second

    def stop(self, timeout: float) -> None:
        """SIGTERM to every child (each stops at its next step, exit 75), SIGKILL past `timeout`."""
        with self._lock:
            children = list(self._children.values())
        for child in children:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(child, signal.SIGKILL)
                child.wait()

    @staticmethod
    def _signal(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(child.pid, sig)  # torchrun's ranks too
        except ProcessLookupError:
            pass
