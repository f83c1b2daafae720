"""Bridging the engine thread's events to an asyncio task that serves one RPC."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from common.errors import TuneserveError
from server.engine.engine import Engine
from server.engine.request import EventSink, Finished, GenerationEvent, GenerationRequest


async def stream_generation(engine: Engine, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
    """Submits a request and yields its events; leaving early (client gone) cancels it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[GenerationEvent] = asyncio.Queue()

    def sink(event: GenerationEvent) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, event)
        except RuntimeError:  # the event loop is gone; nobody waits for this answer any more
            pass

    seq_id = engine.submit(request, sink)
    done = False
    try:
        while not done:
            event = await queue.get()
            done = event.finished is not None
            yield event
    finally:
        if not done:
            engine.cancel(seq_id)


def raise_if_failed(finished: Finished) -> None:
    """Raises what ended a request early: a domain error as it is (its own status), else a bug."""
    if isinstance(finished.error, TuneserveError):
        raise finished.error
    if finished.error is not None:
        raise RuntimeError("the engine failed this request") from finished.error


async def finish_all(engine: Engine, requests: list[GenerationRequest]) -> list[Finished]:
    """Submits requests as one unit and returns how each ended, in order.

    The first one that ends with an error raises it, and that, or the caller leaving, cancels
    all the others still queued or running: a failed call leaves nothing behind in the engine.
    """
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Finished]] = [loop.create_future() for _ in requests]

    def sink_for(future: asyncio.Future[Finished]) -> EventSink:
        def settle(finished: Finished) -> None:
            if not future.done():
                future.set_result(finished)

        def sink(event: GenerationEvent) -> None:
            if event.finished is not None:
                with contextlib.suppress(RuntimeError):  # the event loop is gone
                    loop.call_soon_threadsafe(settle, event.finished)

        return sink

    ids = engine.submit_group([(request, sink_for(future)) for request, future in zip(requests, futures, strict=True)])
    try:
        for next_done in asyncio.as_completed(futures):
            raise_if_failed(await next_done)
        return [future.result() for future in futures]
    finally:
        for seq_id, future in zip(ids, futures, strict=True):
            if not future.done():
                engine.cancel(seq_id)
