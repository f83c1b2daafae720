"""Fills torch.compile's on-disk caches with the decode step's graphs, in a process of its own.

A new server with `compile_decode=auto` serves on the eager step while its decode graph compiles
on a background thread. Most of that compile is Python (tracing the step, then AOTAutograd and
inductor lowering it), which holds the GIL for long stretches, so the eager step that answers
meanwhile runs several times slower. Done first in a child process at the lowest CPU priority,
the same compile leaves every graph in the inductor and AOTAutograd caches
(`TORCHINDUCTOR_CACHE_DIR`, inherited), and the server's own compile then only traces and loads
them: the slow stretch shrinks to that (figures in docs/performance.md, CPU serving).

The child builds the engine exactly as the server does, from the server's settings (sent as one
JSON line on stdin), with `compile_decode=on`; its KV cache is allocated but never touched beyond
the padding block, so it costs little memory beyond the weights. It serves nothing and opens no
port. It exits when its stdin closes: a server that stops, or dies, takes it along.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time

from common.base_model import load_base_model
from server.config import ServerSettings
from server.engine.background_work import COMPILE_NICENESS
from server.engine.config import EngineConfig
from server.engine.engine import Engine

log = logging.getLogger(__name__)

CHILD_TIMEOUT_S = 3600.0  # a child that compiles longer than this is stuck: the server compiles alone
_STDERR_TAIL = 2000  # characters of a failed child's stderr that go into the log


class CompileCacheChild:
    """The server's side: runs the child and waits for it (server.engine.engine.CompilePrelude)."""

    def __init__(self, settings: ServerSettings, timeout_s: float = CHILD_TIMEOUT_S) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._child: subprocess.Popen[str] | None = None
        self._cancelled = False
        self.seconds: float | None = None  # how long the child took, where it filled the caches

    def run(self) -> None:
        started = time.monotonic()
        with tempfile.TemporaryFile("w+") as stderr:  # a file, not a pipe: a chatty child never blocks on it
            with self._lock:
                if self._cancelled:
                    return
                self._child = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, text=True
                )
            child = self._child
            assert child.stdin is not None
            try:
                child.stdin.write(self._settings.model_dump_json() + "\n")
                child.stdin.flush()
                code = child.wait(self._timeout_s)
            except (subprocess.TimeoutExpired, OSError) as exc:  # stuck, or gone before it read its settings
                child.kill()
                code = child.wait()
                log.warning("the compile cache child did not finish; compiling in the server", extra={"reason": repr(exc)})
                return
            finally:
                child.stdin.close()
            if code != 0:
                stderr.seek(0)
                if not self._cancelled:
                    reason = stderr.read()[-_STDERR_TAIL:]
                    log.warning("the compile cache child failed; compiling in the server", extra={"exit_code": code, "stderr": reason})
                return
        self.seconds = time.monotonic() - started
        log.info("compile caches filled by a child process", extra={"seconds": round(self.seconds, 1)})

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._child is not None and self._child.poll() is None:
                self._child.kill()


def fill_compile_cache(settings: ServerSettings) -> float:
    """Compiles the decode step as a server with `settings` would; the seconds it took."""
    started = time.monotonic()
    settings = settings.model_copy(update={"compile_decode": "on", "warmup": False})
    base = load_base_model(settings)
    engine = Engine(base, EngineConfig.from_settings(settings, base))
    engine.start()  # 'on': every bucket is compiled before start returns
    engine.stop()
    return time.monotonic() - started


def _exit_when_orphaned() -> None:
    """Exits the process once stdin closes: the server stopped, or died, and nobody waits."""
    sys.stdin.read()
    os._exit(3)


def main() -> int:
    os.nice(COMPILE_NICENESS)  # the whole process: it only ever runs where serving leaves a core idle
    logging.basicConfig(level=logging.WARNING)
    settings = ServerSettings.model_validate_json(sys.stdin.readline())
    threading.Thread(target=_exit_when_orphaned, name="orphan-watch", daemon=True).start()
    seconds = fill_compile_cache(settings)
    print(f"decode step compiled in {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
