"""The server's side of experiments: answers are queued and written by one background thread (the
request path never waits for SQLite), feedback is joined to a recorded answer, and reports and
guard verdicts are read back from the store."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from common.errors import InvalidRequest, NotFound
from common.rollout import RolloutPolicy
from server.experiments.guard import guard_verdict
from server.experiments.report import ArmReport, build_report
from server.experiments.stats import same_answer
from server.experiments.store import Event, ExperimentStore, Served

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 4096
MAX_LABEL_CHARS = 4096
MAX_QUEUED = 100_000
_BATCH = 512
_PRUNE_EVERY_S = 600.0


class ExperimentMetrics(Protocol):
    def experiment_answer(self, name: str, version: int, role: str, outcome: str) -> None: ...
    def feedback_given(self, name: str, version: int, kind: str) -> None: ...
    def rollout_rolled_back(self, name: str) -> None: ...


@dataclass(frozen=True)
class FeedbackResult:
    answer: Served
    correct: bool | None  # whether the answer was the label given; None without a label


class Experiments:
    def __init__(self, store: ExperimentStore, metrics: ExperimentMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self._queue: queue.Queue[Served | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._writer = threading.Thread(target=self._write, name="tuneserve-experiments", daemon=True)
        self._writer.start()

    def served(self, answer: Served) -> None:
        """Records an answer (a shadow's too); never blocks and never raises into the request."""
        answer = dataclasses.replace(answer, output=answer.output[:MAX_OUTPUT_CHARS], created=answer.created or time.time())
        try:
            self._queue.put_nowait(answer)
            outcome = "ok" if answer.ok else "error"
        except queue.Full:  # the disk cannot keep up: losing records beats growing without bound
            outcome = "dropped"
        if self.metrics is not None:
            self.metrics.experiment_answer(answer.name, answer.version, answer.role, outcome)

    def flush(self) -> None:
        """Waits until every answer queued so far is in the store (blocking)."""
        self._queue.join()

    def _write(self) -> None:
        last_prune = time.monotonic()
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            answers = [a for a in batch if a is not None]
            try:
                if answers:
                    self.store.add(answers)
                if time.monotonic() - last_prune > _PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    self.store.prune()
            except Exception:  # a full disk loses records, never requests
                log.exception("could not record %d experiment answers", len(answers))
            finally:
                for _ in batch:
                    self._queue.task_done()
            if None in batch:
                return

    async def feedback(self, request_id: str, label: str | None, rating: int | None, thumb: int | None) -> FeedbackResult:
        """Records a caller's judgement of an answer; NotFound when the answer is not (or no longer) kept."""
        if label is not None and not 1 <= len(label) <= MAX_LABEL_CHARS:
            raise InvalidRequest("label", f"must have 1 to {MAX_LABEL_CHARS} characters")
        await asyncio.to_thread(self.flush)
        answer = await asyncio.to_thread(self.store.request, request_id)
        if answer is None:
            hours = self.store.retention_s / 3600
            raise NotFound(
                f"no answer with request id {request_id!r} is kept: only requests to an adapter name are recorded, for {hours:g} hours"
            )
        await asyncio.to_thread(self.store.set_feedback, request_id, label, rating, thumb)
        correct = same_answer(answer.output, label) if label is not None else None
        if self.metrics is not None:
            kinds = [
                *([("correct" if correct else "incorrect")] if correct is not None else []),
                *([f"rating_{rating}"] if rating else []),
                *([{1: "thumbs_up", -1: "thumbs_down"}[thumb]] if thumb else []),
            ]
            for kind in kinds:
                self.metrics.feedback_given(answer.name, answer.version, kind)
        return FeedbackResult(answer, correct)

    async def report(
        self, name: str, policy: RolloutPolicy | None, serving_version: int, since: float
    ) -> tuple[list[ArmReport], list[Event]]:
        """The arms of `name`'s experiment since `since` (Unix seconds), and the guard's events."""
        await asyncio.to_thread(self.flush)
        outcomes = await asyncio.to_thread(self.store.outcomes, name, since)
        events = await asyncio.to_thread(self.store.events, name, since)
        return build_report(outcomes, policy, serving_version), events

    async def guard_check(self, name: str, policy: RolloutPolicy, serving_version: int) -> str | None:
        """Why `name`'s split must end by its guard rule, or None."""
        if policy.guard is None or not policy.weights:
            return None
        arms, _ = await self.report(name, policy, serving_version, policy.started_at)
        control = next((a for a in arms if a.role == "control"), None)
        if control is None:
            return None
        for canary in (a for a in arms if a.role == "canary"):
            reason = guard_verdict(policy.guard, control, canary)
            if reason is not None:
                return reason
        return None

    async def rolled_back(self, name: str, reason: str) -> None:
        await asyncio.to_thread(self.store.add_event, name, "rollback", reason)
        if self.metrics is not None:
            self.metrics.rollout_rolled_back(name)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        self.store.close()
