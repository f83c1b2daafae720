"""Runs each job on a thread of the trainer process: one machine, nothing to set up.

Each run gets a fresh thread that ends with it (see common.threads for why torch work does); the
runner's own flags stop it (cancel, lease lost, trainer stopping), read at every step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from trainer.execution.executor import ExitHandler, PhaseHandler, RunEnded
from trainer.jobs.run_job import Outcome

log = logging.getLogger(__name__)


class ThreadExecutor:
    name = "thread"

    def __init__(self, run: Callable[[str], Outcome], on_exit: ExitHandler, on_phase: PhaseHandler) -> None:
        self.run = run
        self.on_exit = on_exit
        self.on_phase = on_phase
        self._threads: dict[str, threading.Thread] = {}

    def start(self, job_id: str) -> str:
        thread = threading.Thread(target=self._run, args=(job_id,), name=f"train-{job_id}", daemon=True)
        self._threads[job_id] = thread
        self.on_phase(job_id, "running", "")
        thread.start()
        return f"thread {thread.name}"

    def _run(self, job_id: str) -> None:
        try:
            ended = RunEnded(job_id, self.run(job_id))
        except BaseException as exc:  # run_one records what it can; this is what it could not
            log.exception("training run died", extra={"job": job_id})
            ended = RunEnded(job_id, None, f"{type(exc).__name__}: {exc}")
        finally:
            self._threads.pop(job_id, None)
        self.on_exit(ended)

    def cancel(self, job_id: str) -> None:
        pass  # the run reads the runner's cancel flags at its next step

    def stop(self, timeout: float) -> None:
        for thread in list(self._threads.values()):  # they see the runner stopping at their next step
            thread.join(timeout)
