"""Token parsing, matching and scope policy as pure functions (no server, no model)."""

from __future__ import annotations

import io
import logging
import os
import re
import time

import pytest

from common.errors import PermissionDenied, Unauthenticated
from common.security import auth
from common.security.auth import Scope, TokenFile, authorize, digest, listen_host, parse_tokens, required_scope
from common.security.token_cli import main as token_main


def tokens_yaml(*entries: tuple[str, str, list[str]]) -> str:
    lines = ["tokens:"]
    for name, token, scopes in entries:
        lines += [f"  - name: {name}", f"    sha256: '{digest(token)}'", f"    scopes: [{', '.join(scopes)}]"]
    return "\n".join(lines) + "\n"


ENTRIES = parse_tokens(
    tokens_yaml(("app", "tok-app", ["inference"]), ("ops", "tok-ops", ["admin", "inference"]), ("ml", "tok-ml", ["train"])), "t"
)


@pytest.mark.parametrize(
    ("method", "scope"),
    [
        ("/tuneserve.v1.Inference/Generate", Scope.INFERENCE),
        ("/tuneserve.v1.Inference/GenerateStream", Scope.INFERENCE),
        ("/tuneserve.v1.Tasks/Classify", Scope.INFERENCE),
        ("/tuneserve.v1.Tasks/RunTask", Scope.INFERENCE),
        ("/tuneserve.v1.Adapters/LoadAdapter", Scope.ADMIN),
        ("/tuneserve.v1.Adapters/ListAdapters", Scope.ADMIN),
        ("/tuneserve.v1.Trainer/CreateJob", Scope.TRAIN),
        ("/tuneserve.v1.Trainer/WatchJob", Scope.TRAIN),
        ("/grpc.health.v1.Health/Check", None),
        ("/grpc.health.v1.Health/Watch", None),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None),
        ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", None),
        ("/some.unknown.Service/Call", Scope.ADMIN),
    ],
)
def test_required_scope(method, scope):
    assert required_scope(method) == scope


def test_every_service_of_the_api_has_a_scope():
    from tuneserve.v1 import adapters_pb2, inference_pb2, tasks_pb2, trainer_pb2

    for module in (adapters_pb2, inference_pb2, tasks_pb2, trainer_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            assert service.full_name in auth.SCOPE_BY_SERVICE


def meta(token: str | None) -> list[tuple[str, str]]:
    return [("x-request-id", "r1")] + ([("authorization", f"Bearer {token}")] if token is not None else [])


def test_authorize_accepts_the_right_scope_and_names_the_caller():
    assert authorize(ENTRIES, "/tuneserve.v1.Inference/Generate", meta("tok-app")).name == "app"
    assert authorize(ENTRIES, "/tuneserve.v1.Adapters/LoadAdapter", meta("tok-ops")).name == "ops"
    assert authorize(ENTRIES, "/tuneserve.v1.Trainer/CreateJob", meta("tok-ml")).name == "ml"


def test_open_methods_need_no_token():
    assert authorize(ENTRIES, "/grpc.health.v1.Health/Check", meta(None)) is None


@pytest.mark.parametrize(
    "metadata", [meta(None), meta(""), [("authorization", "tok-app")], [("authorization", "Basic dG9r")], meta("tok-wrong")]
)
def test_missing_malformed_or_unknown_tokens_are_unauthenticated(metadata):
    with pytest.raises(Unauthenticated, match="token"):
        authorize(ENTRIES, "/tuneserve.v1.Inference/Generate", metadata)


def test_a_valid_token_without_the_scope_is_denied_with_what_it_has():
    with pytest.raises(PermissionDenied, match="'admin' scope; this token has: inference"):
        authorize(ENTRIES, "/tuneserve.v1.Adapters/LoadAdapter", meta("tok-app"))
    with pytest.raises(PermissionDenied, match="'train'"):
        authorize(ENTRIES, "/tuneserve.v1.Trainer/CreateJob", meta("tok-ops"))


def test_matching_compares_every_entry_in_constant_time(monkeypatch):
    compared: list[str] = []
    real = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append(b) or real(a, b))
    assert auth.match(ENTRIES, "tok-app").name == "app"
    assert len(compared) == len(ENTRIES), "no early exit once the token is found"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tokens: [", "not valid YAML"),
        ("- a\n", "'tokens' list"),
        ("tokens:\n  - name: a\n    sha256: abc\n    scopes: [inference]\n", "64 hex digits"),
        (f"tokens:\n  - name: a\n    sha256: {'1' * 64}\n    scopes: [inference]\n", "quoted string"),
        (f"tokens:\n  - name: a\n    sha256: '{'0' * 64}'\n    scopes: [root]\n", "unknown ['root']"),
        (f"tokens:\n  - name: a\n    sha256: '{'0' * 64}'\n    scopes: []\n", "at least one"),
        (f"tokens:\n  - sha256: '{'0' * 64}'\n    scopes: [admin]\n", "name: must be"),
        (f"tokens:\n  - name: a\n    token: x\n    sha256: '{'0' * 64}'\n    scopes: [admin]\n", "only the keys"),
        (
            f"tokens:\n  - {{name: a, sha256: '{'0' * 64}', scopes: [admin]}}\n  - {{name: b, sha256: '{'0' * 64}', scopes: [train]}}\n",
            "twice",
        ),
    ],
)
def test_bad_tokens_files_are_refused_naming_the_entry(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_tokens(text, "tokens.yaml")


def test_the_tokens_file_reloads_on_change_and_keeps_the_old_tokens_when_broken(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(auth, "RELOAD_CHECK_S", 0.0)
    path = tmp_path / "tokens.yaml"
    path.write_text(tokens_yaml(("app", "tok-1", ["inference"])))
    tokens = TokenFile(path)
    assert auth.match(tokens.current(), "tok-1")

    path.write_text(tokens_yaml(("app", "tok-2", ["inference"])))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert auth.match(tokens.current(), "tok-2") and not auth.match(tokens.current(), "tok-1")

    with caplog.at_level(logging.ERROR, logger="common.security.auth"):
        path.write_text("tokens: [")
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
        assert auth.match(tokens.current(), "tok-2"), "a broken file must not revoke every token"
    assert "not reloaded" in caplog.text and "tok-2" not in caplog.text


@pytest.mark.parametrize(
    ("host", "tokens", "allowed", "bound"),
    [
        ("127.0.0.1", False, False, "127.0.0.1"),
        ("::1", False, False, "::1"),
        ("localhost", False, False, "localhost"),
        ("0.0.0.0", False, False, "127.0.0.1"),
        ("::", False, False, "127.0.0.1"),
        ("10.1.2.3", False, False, "127.0.0.1"),
        ("0.0.0.0", True, False, "0.0.0.0"),
        ("0.0.0.0", False, True, "0.0.0.0"),
    ],
)
def test_without_tokens_only_loopback_is_bound_unless_allowed(host, tokens, allowed, bound):
    assert listen_host(host, tokens, allowed) == bound


def test_the_fallback_to_loopback_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="common.security.auth"):
        auth.announce("0.0.0.0", "127.0.0.1", None)
    assert "listening on 127.0.0.1 only instead of 0.0.0.0" in caplog.text


def test_token_cli_makes_a_token_whose_entry_parses(capsys, monkeypatch):
    assert token_main(["new", "--name", "backend", "--scope", "inference", "--scope", "admin"]) == 0
    token, *entry = capsys.readouterr().out.splitlines()
    [parsed] = parse_tokens("\n".join(entry), "stdout")
    assert parsed.name == "backend" and parsed.scopes == {Scope.INFERENCE, Scope.ADMIN}
    assert parsed.sha256 == digest(token) and token not in "\n".join(entry)

    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert token_main(["hash"]) == 0
    assert capsys.readouterr().out.strip() == digest(token)
