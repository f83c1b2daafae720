"""What becomes of a job when its run ends: pure functions of the run's end and the job's record."""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from trainer.execution.executor import RunEnded
from trainer.jobs.records import JobState
from trainer.jobs.run_job import EXIT_CONCLUDED, EXIT_STOPPED, Outcome


def exit_meaning(code: int) -> tuple[Outcome | None, str]:
    """The outcome a child's exit status reports (subprocess's convention: -N for signal N)."""
    if code == EXIT_CONCLUDED:
        return Outcome.CONCLUDED, ""
    if code == EXIT_STOPPED:
        return Outcome.STOPPED, ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return None, f"killed by {name}"
    if code > 128:  # a shell or torchrun reports a signal this way
        return None, f"exited with code {code} (a signal, {code - 128}, ended it)"
    return None, f"exited with code {code}"


class Action(enum.Enum):
    NOTHING = "nothing"  # the record is right as it is
    REQUEUE = "requeue"  # back in the queue; resumes from its last checkpoint
    FAIL = "fail"  # failed, with the reason
    CANCEL = "cancel"  # cancelled, as asked


@dataclass(frozen=True)
class AfterRun:
    action: Action
    message: str = ""
    attempts: int = 0  # the job's count of runs that died, after this one


def after_run(
    ended: RunEnded, state: JobState, cancel_requested: bool, attempts: int, retries: int, stopping: bool, lost: bool
) -> AfterRun:
    """What the runner does with a job whose run ended.

    `attempts` counts the job's earlier runs that died without an outcome, `retries` how many such
    deaths a job survives; `stopping` says the trainer is shutting down, `lost` that another replica
    took the job's lease (it finishes the job)."""
    if lost:
        return AfterRun(Action.NOTHING, attempts=attempts)
    if state.terminal:
        return AfterRun(Action.NOTHING, attempts=attempts)
    if cancel_requested:
        return AfterRun(Action.CANCEL, "cancelled on request", attempts)
    if ended.outcome is Outcome.STOPPED or stopping:
        return AfterRun(Action.REQUEUE, "the run was stopped before it finished; the job resumes from its last checkpoint", attempts)
    reason = ended.reason or "it ended without recording an outcome"
    died = attempts + 1
    if ended.retried:  # the cluster retried it already; its reason says what happened
        return AfterRun(Action.FAIL, reason, died)
    if died > retries:
        runs = "once" if died == 1 else f"{died} times"
        return AfterRun(Action.FAIL, f"the training run died {runs} without an outcome; last: {reason}", died)
    return AfterRun(
        Action.REQUEUE,
        f"the training run died without an outcome ({reason}); the job resumes from its last checkpoint (retry {died} of {retries})",
        died,
    )
