"""Noticing new adapter versions: polling the store, or file-system events through watchfiles."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Refreshable(Protocol):
    async def refresh(self) -> None: ...


async def _refresh(manager: Refreshable) -> None:
    try:
        await manager.refresh()
    except Exception:  # a broken store must not stop the watcher
        log.exception("looking at the adapter store failed")


async def watch_store(manager: Refreshable, root: Path, mode: str, interval_s: float, stop: asyncio.Event) -> None:
    """Refreshes once, then on every change (events) or every `interval_s` (poll) until `stop`."""
    await _refresh(manager)
    if mode == "off":
        return
    if mode == "events":
        from watchfiles import awatch

        async for _ in awatch(root, stop_event=stop, recursive=True, debounce=100, step=20):
            await _refresh(manager)
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            await _refresh(manager)
