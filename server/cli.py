"""`tuneserve-server` (and `python -m server`): runs the inference server until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
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
    from server.app import TuneserveServer  # torch and transformers load only once the flags parsed

    return asyncio.run(serve(TuneserveServer(settings)))


if __name__ == "__main__":
    sys.exit(main())
