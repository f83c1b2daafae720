"""What the services do for a request to an adapter name: record its answer for the experiment
report (and feedback), and, under a shadow rollout, send the shadow version a copy whose answer is
recorded and never returned. Neither may slow down or fail the request it follows."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from common.errors import Cancelled, InvalidRequest, NotFound, PermissionDenied, Unauthenticated
from server.adapters.manager import Route
from server.api.event_stream import finish_all, raise_if_failed, stream_generation
from server.engine.request import GenerationRequest
from server.experiments.recorder import Experiments
from server.experiments.store import SHADOW, Served

if TYPE_CHECKING:  # serving_state holds the Shadows of this module
    from server.api.serving_state import Serving

log = logging.getLogger(__name__)

# what the caller did wrong, not the version that answered: not counted against an arm
_CALLER_ERRORS = (InvalidRequest, NotFound, Cancelled, Unauthenticated, PermissionDenied)


def record(serving: Serving, route: Route, request_id: str, output: str, latency_s: float, ok: bool = True) -> None:
    """Records an answer to an adapter name (nothing for the base model, or without a store)."""
    if serving.experiments is None or not route.name:
        return
    serving.experiments.served(Served(request_id, route.name, route.version, route.arm, output, latency_s * 1000, ok))


def record_failure(serving: Serving, route: Route, request_id: str, exc: Exception, started: float) -> None:
    """Counts a request that failed on the server's side against the version that took it."""
    if not isinstance(exc, _CALLER_ERRORS):
        record(serving, route, request_id, "", time.monotonic() - started, ok=False)


@contextlib.contextmanager
def failures_recorded(serving: Serving, route: Route, request_id: str, started: float) -> Iterator[None]:
    """`record_failure` for whatever the block raises."""
    try:
        yield
    except Exception as exc:
        record_failure(serving, route, request_id, exc, started)
        raise


class Shadows:
    """Shadow copies in flight, at most `limit` at once: past it, copies are dropped and counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._tasks: set[asyncio.Task[None]] = set()

    def copy(self, serving: Serving, route: Route, generation: GenerationRequest, labels: Sequence[str] = ()) -> None:
        """Sends `generation` (its prompt as the serving arm got it) to the route's shadow version;
        for a classification, `labels` name the scored branches."""
        if not route.shadow or serving.experiments is None:
            return
        if len(self._tasks) >= self.limit:
            serving.metrics.experiment_answer(route.name, route.shadow, SHADOW, "dropped")
            return
        task = asyncio.ensure_future(self._run(serving, serving.experiments, route, generation, tuple(labels)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, serving: Serving, experiments: Experiments, route: Route, generation: GenerationRequest, labels: tuple[str, ...]
    ) -> None:
        started = time.monotonic()
        request_id = generation.request_id
        try:
            adapter = await serving.adapters.acquire(f"{route.name}@{route.shadow}", serving.settings.adapter_load_timeout_s)
            try:
                copy = dataclasses.replace(
                    generation, request_id=f"{request_id}-shadow", adapter=adapter, arrival=started, deadline_at=None, time_limit_at=None
                )
                output = await self._answer(serving, copy, labels)
            finally:
                serving.adapters.release(adapter)
            ok = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken shadow is recorded, never felt by the caller
            log.warning("shadow request failed", extra={"adapter": f"{route.name}@{route.shadow}", "error": str(exc)})
            output, ok = "", False
        experiments.served(
            Served(request_id, route.name, route.shadow, "shadow", output, (time.monotonic() - started) * 1000, ok, role=SHADOW)
        )

    @staticmethod
    async def _answer(serving: Serving, generation: GenerationRequest, labels: tuple[str, ...]) -> str:
        if generation.branches:
            finished = (await finish_all(serving.engine, [generation]))[0]
            if len(finished.scores) != len(labels):
                raise RuntimeError("the shadow's labels were not all scored")
            return labels[max(range(len(labels)), key=finished.scores.__getitem__)]
        texts = []
        async for event in stream_generation(serving.engine, generation):
            texts.append(event.text)
            if event.finished is not None:
                raise_if_failed(event.finished)
        return "".join(texts)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
