"""Noticing new adapter versions and task files: polling, or file-system events through watchfiles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)


async def _refresh(refresh: Callable[[], Awaitable[None]]) -> None:
    try:
        await refresh()
    except Exception:  # a broken store or task directory must not stop the watcher
        log.exception("looking at the adapter store and task files failed")


async def watch(
    refresh: Callable[[], Awaitable[None]],
    paths: list[Path],
    mode: str,
    interval_s: float,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
) -> None:
    """Refreshes once, then on every change under `paths` (events) or every `interval_s` (poll),
    and, polling, also as soon as `wake` is set (a store's change notification)."""
    await _refresh(refresh)
    if mode == "off" or (not paths and wake is None):
        return
    if mode == "events":
        from watchfiles import awatch

        async for _ in awatch(*paths, stop_event=stop, recursive=True, debounce=100, step=20):
            await _refresh(refresh)
        return
    wake = wake or asyncio.Event()
    while not stop.is_set():
        woken = asyncio.ensure_future(wake.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({woken, stopped}, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        stopped.cancel()
        if not stop.is_set():
            wake.clear()
            await _refresh(refresh)
