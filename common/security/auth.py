"""Bearer-token authentication and scope authorisation for the gRPC services.

Callers send `authorization: Bearer <token>`. The tokens file (a mounted Secret in Kubernetes)
holds only SHA-256 digests of the tokens, each with a name and its scopes:

    tokens:
      - name: checkout-backend
        sha256: 3f0c...e1
        scopes: [inference]

Tokens are random 256-bit strings made by `tuneserve-token new`, so a plain SHA-256 is enough at
rest: there is nothing to brute-force, and a slow password hash would cost every request. The
file is re-read when it changes (Secret rotation needs no restart); a broken new version is
logged and the previous tokens stay in force.

Which scope an RPC needs is decided per service by `required_scope`, a pure function; health and
reflection stay open so probes and `grpcurl list` work without credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import grpc
import yaml

from common.errors import PermissionDenied, Unauthenticated
from common.rpc.handlers import kind_of, with_behavior
from common.security.file_changes import FileChanges

log = logging.getLogger(__name__)


class Scope(str, Enum):
    INFERENCE = "inference"
    """Generate, Tokenize, ModelInfo, and the Tasks service (Classify, RunTask, ListTasks, GetTask)."""
    ADMIN = "admin"
    """The Adapters service: list, import, load, unload, set the current version."""
    TRAIN = "train"
    """The Trainer service: create, watch, list and cancel jobs."""


OPEN_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"})
SCOPE_BY_SERVICE = {
    "tuneserve.v1.Inference": Scope.INFERENCE,
    "tuneserve.v1.Tasks": Scope.INFERENCE,
    "tuneserve.v1.Adapters": Scope.ADMIN,
    "tuneserve.v1.Trainer": Scope.TRAIN,
}
AUTHORIZATION_KEY = "authorization"
RELOAD_CHECK_S = 1.0


def required_scope(method: str) -> Scope | None:
    """The scope `/package.Service/Method` needs; None when it is open. Unknown services need admin."""
    service = method.lstrip("/").split("/", 1)[0]
    if service in OPEN_SERVICES:
        return None
    return SCOPE_BY_SERVICE.get(service, Scope.ADMIN)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "tsk_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenEntry:
    name: str
    sha256: str
    scopes: frozenset[Scope]


def parse_tokens(text: str, source: str) -> list[TokenEntry]:
    """The entries of a tokens file; ValueError naming the entry and field at fault."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from None
    items = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{source}: expected a mapping with a 'tokens' list")
    entries: list[TokenEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{source}: tokens[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "sha256", "scopes"}:
            raise ValueError(f"{where}: expected only the keys name, sha256 and scopes")
        name, hashed, scopes = item.get("name"), item.get("sha256"), item.get("scopes")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name: must be a non-empty string")
        if not isinstance(hashed, str) or len(hashed) != 64 or any(c not in "0123456789abcdef" for c in hashed.lower()):
            raise ValueError(f"{where}.sha256: must be the 64 hex digits of the token's SHA-256 as a quoted string (tuneserve-token hash)")
        hashed = hashed.lower()
        if hashed in seen:
            raise ValueError(f"{where}: the same token is listed twice")
        if not isinstance(scopes, list) or not scopes:
            raise ValueError(f"{where}.scopes: must list at least one of {[s.value for s in Scope]}")
        unknown = [s for s in scopes if s not in {x.value for x in Scope}]
        if unknown:
            raise ValueError(f"{where}.scopes: unknown {unknown}; use {[s.value for s in Scope]}")
        seen.add(hashed)
        entries.append(TokenEntry(name, hashed, frozenset(Scope(s) for s in scopes)))
    return entries


def match(entries: Iterable[TokenEntry], token: str) -> TokenEntry | None:
    """The entry of `token`, comparing against every entry in constant time (no early exit)."""
    presented = digest(token)
    found = None
    for entry in entries:
        if hmac.compare_digest(presented, entry.sha256):
            found = entry
    return found


def bearer_token(metadata: Sequence[tuple[str, Any]] | None) -> str | None:
    for key, value in metadata or ():
        if key == AUTHORIZATION_KEY:
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def authorize(entries: Iterable[TokenEntry], method: str, metadata: Sequence[tuple[str, Any]] | None) -> TokenEntry | None:
    """The caller's entry, or None for open methods; raises Unauthenticated or PermissionDenied."""
    scope = required_scope(method)
    if scope is None:
        return None
    token = bearer_token(metadata)
    if token is None:
        raise Unauthenticated("this call needs a token: send metadata 'authorization: Bearer <token>'")
    entry = match(entries, token)
    if entry is None:
        raise Unauthenticated("the token is not known to this server (revoked, mistyped, or meant for another deployment)")
    if scope not in entry.scopes:
        have = ", ".join(sorted(s.value for s in entry.scopes))
        raise PermissionDenied(f"{method.lstrip('/')} needs a token with the '{scope.value}' scope; this token has: {have}")
    return entry


class TokenFile:
    """The tokens of one file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._changes = FileChanges([path], RELOAD_CHECK_S)
        self.entries = parse_tokens(path.read_text(), str(path))

    def current(self) -> list[TokenEntry]:
        if self._changes.poll():
            try:
                self.entries = parse_tokens(self.path.read_text(), str(self.path))
                log.info("tokens reloaded", extra={"file": str(self.path), "tokens": len(self.entries)})
            except (OSError, ValueError) as exc:  # reported once: the next change is looked at again
                log.error("tokens file not reloaded; the previous tokens stay in force", extra={"error": str(exc)})
        return self.entries


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a token of the scope they need, before any servicer code runs.

    A refused call gets a handler of its own kind that raises the domain error, so the status
    interceptor (outside this one) maps, counts and logs it like any other failure.
    """

    def __init__(self, tokens: TokenFile) -> None:
        self._tokens = tokens

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        try:
            authorize(self._tokens.current(), details.method, details.invocation_metadata)
        except (Unauthenticated, PermissionDenied) as exc:
            handler = await continuation(details)
            return _refusing(handler, exc) if handler is not None else handler
        return await continuation(details)


def _refusing(handler: grpc.RpcMethodHandler, error: Exception) -> grpc.RpcMethodHandler:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise error

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise error
        yield  # an async generator, so the status interceptor treats it as a stream

    return with_behavior(handler, stream if kind_of(handler).endswith("_stream") else unary)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen_host(host: str, tokens_configured: bool, allow_unauthenticated: bool) -> str:
    """Where to bind: without tokens, a non-loopback `host` falls back to loopback unless allowed."""
    if tokens_configured or allow_unauthenticated or is_loopback(host):
        return host
    return "127.0.0.1"


def announce(host: str, bound_host: str, tokens: TokenFile | None) -> None:
    """Says in the log how callers are authenticated; tokens themselves are never logged."""
    if tokens is not None:
        log.info("token authentication on", extra={"file": str(tokens.path), "tokens": len(tokens.entries)})
    elif bound_host != host:
        log.warning(
            f"no tokens file: listening on {bound_host} only instead of {host}; set TUNESERVE_AUTH_TOKENS_FILE, "
            "or TUNESERVE_ALLOW_UNAUTHENTICATED=true to accept remote callers without tokens"
        )
    elif is_loopback(host):
        log.info(f"no tokens file: authentication is off and only loopback callers ({host}) can connect")
    else:
        log.warning(f"authentication is off and the server listens on {host}: anyone who reaches it can call every RPC")
