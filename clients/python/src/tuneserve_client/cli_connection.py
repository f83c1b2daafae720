"""Connection flags shared by every `tuneserve` command: timeout, token and TLS."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per call")
    parser.add_argument(
        "--token",
        default=env("TUNESERVE_TOKEN"),
        help="bearer token (env TUNESERVE_TOKEN); never put it in shell history, prefer the variable",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=env("TUNESERVE_TLS", "") in ("1", "true"),
        help="connect over TLS with the system roots (env TUNESERVE_TLS=1)",
    )
    parser.add_argument(
        "--ca-file",
        default=env("TUNESERVE_CA_FILE"),
        help="PEM CA bundle that signed the server's certificate; implies --tls (env TUNESERVE_CA_FILE)",
    )
    parser.add_argument(
        "--cert-file", default=env("TUNESERVE_CERT_FILE"), help="client certificate for mutual TLS (env TUNESERVE_CERT_FILE)"
    )
    parser.add_argument("--key-file", default=env("TUNESERVE_KEY_FILE"), help="key of --cert-file (env TUNESERVE_KEY_FILE)")


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of Client for the parsed connection flags."""
    return {
        "timeout": args.timeout,
        "token": args.token or None,
        "tls": True if args.tls else None,
        "ca_file": args.ca_file,
        "cert_file": args.cert_file,
        "key_file": args.key_file,
    }
