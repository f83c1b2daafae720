"""`tuneserve-db`: the shared database's schema, by hand or from a deployment's migration hook.

    tuneserve-db upgrade    # bring the database to this release's schema (what start-up also does)
    tuneserve-db current    # the version it is at, and this release's

The database comes from --database-url or TUNESERVE_DATABASE_URL (the server's and the trainer's
setting), the password, where the URL has none, from --password-file,
TUNESERVE_DATABASE_PASSWORD_FILE or libpq's PG* variables.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from common.database.connect import create_engine, database_url, describe
from common.database.migrate import current, head, migrate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tuneserve-db", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["upgrade", "current"])
    parser.add_argument("--database-url", default=os.environ.get("TUNESERVE_DATABASE_URL"), help="sqlite:///PATH or postgresql://...")
    parser.add_argument("--password-file", type=Path, default=os.environ.get("TUNESERVE_DATABASE_PASSWORD_FILE") or None)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("no database: pass --database-url or set TUNESERVE_DATABASE_URL")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        url = database_url(args.database_url, args.password_file)
    except (ValueError, OSError) as exc:
        print(f"tuneserve-db: {exc}", file=sys.stderr)
        return 2
    engine = create_engine(url)
    try:
        if args.command == "upgrade":
            before = current(engine)
            after = migrate(engine)
            print(
                f"{describe(url)}: schema {before or 'none'} -> {after}" if before != after else f"{describe(url)}: schema {after}, current"
            )
        else:
            print(f"{describe(url)}: schema {current(engine) or 'none'} (this release: {head()})")
    except Exception as exc:  # unreachable database, refused login: one line, not a traceback
        print(f"tuneserve-db: {describe(url)}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
