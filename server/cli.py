"""`tuneserve-server` (and `python -m server`): runs the inference server until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from common import logs
from common.rpc.lifecycle import parse_settings, serve
from server.config import ServerSettings


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(ServerSettings, argv)
    logs.configure(settings.log_level, settings.log_format)
    if settings.prepare_only:
        from common.base_model import weights_dir_for

        print(weights_dir_for(settings))
        return 0
    if "torch" not in sys.modules:
        # OpenMP workers that sleep between the many small operations of a decode step pay a wake-up
        # on every one: with libgomp's default they spin briefly, then sleep. Spinning ~10 ms before
        # sleeping makes many-request steps faster (docs/performance.md) and stops soon after the
        # engine goes idle (OMP_WAIT_POLICY=active would spin forever). libgomp reads it once, when
        # torch loads it.
        os.environ.setdefault("GOMP_SPINCOUNT", "10000000")
    from server.app import TuneserveServer  # torch and transformers load only once the flags parsed

    return asyncio.run(serve(TuneserveServer(settings)))


if __name__ == "__main__":
    sys.exit(main())
