"""Bridging the engine thread's events to an asyncio task that serves one RPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from server.engine import Engine
from server.request import GenerationEvent, GenerationRequest


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
