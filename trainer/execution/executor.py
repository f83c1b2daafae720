"""What every executor offers the runner, and how it tells the runner that a run ended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from trainer.jobs.run_job import Outcome

Phase = Literal["admitted", "running"]
"""admitted: handed to the executor, not yet training (a Job waiting for Kueue or its pod);
running: the entry point runs."""


@dataclass(frozen=True)
class RunEnded:
    job_id: str
    outcome: Outcome | None
    """None: the run died without an outcome (its process killed, its pod failed)."""
    reason: str = ""
    """What the executor knows of a death: "killed by SIGKILL", "the pod was OOMKilled"."""
    retried: bool = False
    """The executor retried the run already (a Kubernetes Job's backoffLimit): fail, do not requeue."""


ExitHandler = Callable[[RunEnded], None]
PhaseHandler = Callable[[str, Phase, str], None]
"""(job id, phase, what to tell the job's watchers or "")"""


class Executor(Protocol):
    name: str

    def start(self, job_id: str) -> str:
        """Starts the job's run, or adopts the one already there; returns where it runs. The
        executor calls its ExitHandler once when the run ends."""

    def cancel(self, job_id: str) -> None:
        """The job was cancelled (the database says so): stop its run soon."""

    def stop(self, timeout: float) -> None:
        """The trainer is stopping: runs that end with it are asked to stop (they resume later)."""
