"""How work beside the model step (grammar and decode-step compiles) runs so that serving goes
first: the CPU's scheduler gives it the cores the step leaves idle, and the GIL changes hands
quickly while it holds it."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

COMPILE_NICENESS = 19  # the lowest priority: a compile runs when the model step leaves a core idle
# The eager step releases the GIL for each torch op and waits, to take it back, for the holder to
# hand it over: CPython's default switch interval, paid per op while torch.compile traces in
# Python, made answers many times slower (the ledger: docs/performance.md, CPU serving)
COMPILE_SWITCH_INTERVAL_S = 2e-5


def lower_thread_priority() -> None:
    """Gives the calling thread the lowest CPU priority, where the OS sets it per thread (Linux);
    elsewhere a nice value is the whole process's, and the thread keeps its priority."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPILE_NICENESS)


@contextlib.contextmanager
def quick_gil_handoffs() -> Iterator[None]:
    """While Python-heavy background work runs: the interpreter's switch interval (process-wide)
    short, so a thread that waits for the GIL gets it within microseconds; restored after."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(COMPILE_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
