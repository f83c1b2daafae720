"""The server's side of experiments: answers are queued and written by one background thread (the
request path never waits for the database), feedback is joined to a recorded answer, and reports
and guard verdicts are read back from the store.

When the database is slow or down, requests are served as before: answers wait in a bounded queue
(MAX_QUEUED) while the writer retries its batch, and past the bound they are counted as dropped.
Writes are idempotent, so a batch retried after a lost connection is recorded once. Pruning and the
guard's verdicts are the leader's (common.database.leader), so several replicas on one database
prune and judge once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from common.database.leader import EXPERIMENT_JUDGE, Leadership
from common.errors import InvalidRequest, NotFound, Unavailable
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
_RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0)  # between tries of a batch the database refused, then every 2 s
_FLUSH_WAIT_S = 2.0  # how long feedback waits for this replica's queued answers
_OTHER_REPLICA_WAIT_S = 2.0  # how long it waits for an answer another replica may not have written yet


class ExperimentMetrics(Protocol):
    def experiment_answer(self, name: str, version: int, role: str, outcome: str) -> None: ...
    def feedback_given(self, name: str, version: int, kind: str) -> None: ...
    def rollout_rolled_back(self, name: str) -> None: ...


@dataclass(frozen=True)
class FeedbackResult:
    answer: Served
    correct: bool | None  # whether the answer was the label given; None without a label


def _unavailable(exc: sa.exc.DBAPIError) -> Unavailable:
    return Unavailable(f"the experiment record's database cannot be reached now ({str(exc.orig).splitlines()[0]}); retry later")


class Experiments:
    def __init__(self, store: ExperimentStore, metrics: ExperimentMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.leadership = Leadership(store.engine, EXPERIMENT_JUDGE)
        self._queue: queue.Queue[Served | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._closing = threading.Event()
        self._progress = threading.Condition()
        self._queued = 0  # answers put on the queue so far
        self._settled = 0  # of those, written or given up
        self._writer = threading.Thread(target=self._write, name="tuneserve-experiments", daemon=True)
        self._writer.start()

    @property
    def shared(self) -> bool:
        """Whether other replicas write to the same record."""
        return self.store.engine.dialect.name == "postgresql"

    def leads(self) -> bool:
        """Whether this replica judges splits and prunes for every replica (blocking: may ask the database)."""
        return self.leadership.held()

    def served(self, answer: Served) -> None:
        """Records an answer (a shadow's too); never blocks and never raises into the request."""
        answer = dataclasses.replace(answer, output=answer.output[:MAX_OUTPUT_CHARS], created=answer.created or time.time())
        try:
            with self._progress:
                self._queue.put_nowait(answer)
                self._queued += 1
            outcome = "ok" if answer.ok else "error"
        except queue.Full:  # the database cannot keep up: losing records beats growing without bound
            outcome = "dropped"
        if self.metrics is not None:
            self.metrics.experiment_answer(answer.name, answer.version, answer.role, outcome)

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every answer queued so far is written (blocking); False if `timeout` passed first."""
        with self._progress:
            target = self._queued
            return self._progress.wait_for(lambda: self._settled >= target, timeout)

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
            if answers:
                self._write_batch(answers)
            with self._progress:
                self._settled += len(answers)
                self._progress.notify_all()
            if time.monotonic() - last_prune > _PRUNE_EVERY_S:
                last_prune = time.monotonic()
                self._prune()
            if None in batch:
                return

    def _write_batch(self, answers: list[Served]) -> None:
        """Writes `answers`, retrying while the database is unreachable (the queue meanwhile fills
        up to its bound); gives up only on closing, or on an error a retry cannot mend."""
        for attempt in range(1_000_000):
            try:
                self.store.add(answers)
                if attempt:
                    log.info("experiment record reachable again", extra={"answers": len(answers), "tries": attempt + 1})
                return
            except sa.exc.OperationalError as exc:
                if attempt == 0:
                    log.warning("experiment record unreachable; answers wait in memory", extra={"error": str(exc.orig).splitlines()[0]})
                if self._closing.wait(_RETRY_S[min(attempt, len(_RETRY_S) - 1)]):
                    break
            except Exception:  # a bad row or a full disk loses records, never requests
                log.exception("could not record %d experiment answers", len(answers))
                break
        if self.metrics is not None:  # counted once more, as lost: queued, then never written
            for answer in answers:
                self.metrics.experiment_answer(answer.name, answer.version, answer.role, "lost")

    def _prune(self) -> None:
        try:
            if self.leads():
                self.store.prune()
        except Exception:
            log.exception("could not prune the experiment record")

    async def feedback(self, request_id: str, label: str | None, rating: int | None, thumb: int | None) -> FeedbackResult:
        """Records a caller's judgement of an answer; NotFound when the answer is not (or no longer) kept."""
        if label is not None and not 1 <= len(label) <= MAX_LABEL_CHARS:
            raise InvalidRequest("label", f"must have 1 to {MAX_LABEL_CHARS} characters")
        answer = await self._recorded(request_id)
        if answer is None:
            if await self._recorded(f"{request_id}-0") is not None:  # a request of several answers (n, a batch of prompts)
                raise NotFound(f"request {request_id!r} had several answers, each recorded on its own: name one as {request_id}-<index>")
            hours = self.store.retention_s / 3600
            raise NotFound(
                f"no answer with request id {request_id!r} is kept: only requests to an adapter name are recorded, for {hours:g} hours"
            )
        try:
            await asyncio.to_thread(self.store.set_feedback, request_id, label, rating, thumb)
        except sa.exc.OperationalError as exc:
            raise _unavailable(exc) from None
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

    async def _recorded(self, request_id: str) -> Served | None:
        """The recorded answer to `request_id`: after this replica's queue is written, and on a shared
        database after a short wait for the replica that answered it to write its own."""
        await asyncio.to_thread(self.flush, _FLUSH_WAIT_S)
        deadline = time.monotonic() + (_OTHER_REPLICA_WAIT_S if self.shared else 0.0)
        while True:
            try:
                answer = await asyncio.to_thread(self.store.request, request_id)
            except sa.exc.OperationalError as exc:
                raise _unavailable(exc) from None
            if answer is not None or time.monotonic() >= deadline:
                return answer
            await asyncio.sleep(0.1)

    async def report(
        self, name: str, policy: RolloutPolicy | None, serving_version: int, since: float
    ) -> tuple[list[ArmReport], list[Event]]:
        """The arms of `name`'s experiment since `since` (Unix seconds), and the guard's events."""
        await asyncio.to_thread(self.flush, _FLUSH_WAIT_S)
        try:
            outcomes = await asyncio.to_thread(self.store.outcomes, name, since)
            events = await asyncio.to_thread(self.store.events, name, since)
        except sa.exc.OperationalError as exc:
            raise _unavailable(exc) from None
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
        """Writes what is queued (for up to 10 s while the database answers), then lets go of the lead."""
        try:
            self._queue.put(None, timeout=10)
        except queue.Full:
            pass
        self.flush(10)
        self._closing.set()
        self._writer.join(timeout=10)
        self.leadership.release()
        self.store.close()
