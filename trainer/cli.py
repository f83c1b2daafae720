"""`tuneserve-trainer` (and `python -m trainer`): runs the trainer service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from common import logs
from common.rpc.lifecycle import parse_settings, serve
from trainer.config import TrainerSettings


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(TrainerSettings, argv)
    logs.configure(settings.log_level, settings.log_format)
    from trainer.app import TrainerServer  # torch loads only once the flags parsed

    return asyncio.run(serve(TrainerServer(settings)))


if __name__ == "__main__":
    sys.exit(main())
