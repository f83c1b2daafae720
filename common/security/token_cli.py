"""`tuneserve-token`: make bearer tokens and the hashed entries of the tokens file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import yaml

from common.security.auth import Scope, digest, new_token


def main(argv: Sequence[str] | None = None) -> int:
    """`tuneserve-token`: make a token and its tokens-file entry, or hash an existing token."""
    parser = argparse.ArgumentParser(prog="tuneserve-token", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="print a new random token (line 1) and its tokens-file entry")
    new.add_argument("--name", required=True, help="who holds the token (shows in logs, never the token)")
    new.add_argument("--scope", action="append", choices=[s.value for s in Scope], required=True, help="repeat for several scopes")
    sub.add_parser("hash", help="print the SHA-256 of a token read from stdin")
    args = parser.parse_args(argv)
    if args.command == "hash":
        token = sys.stdin.readline().strip()
        if not token:
            parser.error("no token on stdin")
        print(digest(token))
        return 0
    token = new_token()
    print(token)
    print(
        yaml.safe_dump({"tokens": [{"name": args.name, "sha256": digest(token), "scopes": sorted(set(args.scope))}]}, sort_keys=False),
        end="",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
