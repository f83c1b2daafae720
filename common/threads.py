"""Running blocking torch work on a fresh thread that ends with it.

A thread that ran parallel torch ops keeps an OpenMP team for as long as it lives; with two such
teams on a small machine libgomp stops spin-waiting and every parallel op pays a wake-up. Work
that is not the engine's loop (loading a model, say) therefore runs on a thread of its own that
exits when done, never on the event loop's thread or a pool thread that lingers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_on_fresh_thread(fn: Callable[[], T], name: str = "tuneserve-worker") -> T:
    """Runs `fn` on a new thread, waits for it, and returns its result or raises its error."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def arun_on_fresh_thread(fn: Callable[[], T], name: str = "tuneserve-worker") -> T:
    """`run_on_fresh_thread` for coroutines: the event loop keeps running meanwhile."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def target() -> None:
        try:
            value = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def release_openmp_threads() -> bool:
    """Frees the calling thread's OpenMP team (libgomp's omp_pause_resource_all, hard).

    For processes that embed a server next to other torch work (tests, notebooks, benchmarks):
    after the main thread ran parallel torch ops, calling this on it lets the engine thread's
    team spin-wait again. Returns False where torch does not use libgomp.
    """
    import ctypes
    import glob
    import os

    import torch

    libs = glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libgomp*.so*"))
    if not libs:
        return False
    omp_pause_hard = 2
    return ctypes.CDLL(libs[0]).omp_pause_resource_all(omp_pause_hard) == 0
