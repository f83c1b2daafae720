"""Tokens, scopes and TLS on a real server over loopback (the session's embedded model)."""

from __future__ import annotations

import logging
import subprocess
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tuneserve_client import Client
from tuneserve_client.errors import PermissionDeniedError, UnauthenticatedError, UnavailableError

from common.security.auth import digest
from tests.certs import CertificateAuthority, Pem
from tests.conftest import running_server, server_settings
from tests.tools import tool
from tests.waiting import wait_for

TOKENS = {"app": ("tok-app-secret", ["inference"]), "ops": ("tok-ops-secret", ["admin"]), "ml": ("tok-ml-secret", ["train"])}


def write_tokens(path: Path) -> Path:
    lines = ["tokens:"] + [f"  - {{name: {n}, sha256: '{digest(t)}', scopes: [{', '.join(s)}]}}" for n, (t, s) in TOKENS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def authed_server(base_model, cache_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    tokens = write_tokens(root / "tokens.yaml")
    with running_server(base_model, cache_dir, auth_tokens_file=tokens, health_port=0, adapter_store=root / "adapters") as running:
        yield running


def grpcurl(address: str, verb: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("grpcurl"), "-plaintext", *flags, address, verb], capture_output=True, text=True, timeout=60)


def token(name: str) -> str:
    return TOKENS[name][0]


def test_inference_needs_a_known_token(authed_server):
    with Client(authed_server.address, retries=0) as anonymous:
        with pytest.raises(UnauthenticatedError, match="needs a token"):
            anonymous.generate("Hi", max_new_tokens=1)
    with Client(authed_server.address, token="tok-guessed", retries=0) as wrong:
        with pytest.raises(UnauthenticatedError, match="not known"):
            wrong.generate("Hi", max_new_tokens=1)
        with pytest.raises(UnauthenticatedError):
            list(wrong.generate_stream("Hi", max_new_tokens=1))


def test_each_scope_opens_its_own_services_only(authed_server):
    with Client(authed_server.address, token=token("app"), retries=0) as app:
        assert app.generate("Hi", max_new_tokens=2).usage.generated_tokens >= 1
        assert [m.text for m in app.generate_stream("Hi", max_new_tokens=2)]
        app.list_tasks()
        with pytest.raises(PermissionDeniedError, match="'admin' scope"):
            app.list_adapters()
    with Client(authed_server.address, token=token("ops"), retries=0) as ops:
        ops.list_adapters()
        with pytest.raises(PermissionDeniedError, match="'inference' scope"):
            ops.generate("Hi", max_new_tokens=1)


def test_health_and_reflection_stay_open(authed_server):
    with grpc.insecure_channel(authed_server.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    listed = grpcurl(authed_server.address, "list")
    assert listed.returncode == 0 and "tuneserve.v1.Inference" in listed.stdout
    request = ["-d", '{"prompt": "Hi", "parameters": {"max_new_tokens": 1}}']
    denied = grpcurl(authed_server.address, "tuneserve.v1.Inference/Generate", *request)
    assert denied.returncode != 0 and "Unauthenticated" in denied.stderr
    allowed = grpcurl(authed_server.address, "tuneserve.v1.Inference/Generate", "-H", f"authorization: Bearer {token('app')}", *request)
    assert allowed.returncode == 0 and '"usage"' in allowed.stdout


def test_the_health_only_port_answers_probes_and_nothing_else(authed_server):
    address = f"127.0.0.1:{authed_server.server.health_port}"
    with grpc.insecure_channel(address) as channel:
        assert (
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    with Client(address, token=token("app"), retries=0) as client:
        with pytest.raises(Exception, match="UNIMPLEMENTED"):
            client.generate("Hi", max_new_tokens=1)


def test_refusals_are_counted_and_tokens_never_logged(authed_server, caplog):
    with caplog.at_level(logging.DEBUG):
        with Client(authed_server.address, token="tok-leaked-in-logs?", retries=0) as wrong:
            with pytest.raises(UnauthenticatedError):
                wrong.generate("Hi", max_new_tokens=1)
        with Client(authed_server.address, token=token("app"), retries=0) as app:
            app.generate("Hi", max_new_tokens=1)
    assert "tok-leaked-in-logs" not in caplog.text and token("app") not in caplog.text
    scrape = urllib.request.urlopen(f"http://127.0.0.1:{authed_server.server.metrics_port}/metrics", timeout=10).read().decode()
    assert 'tuneserve_requests_total{api="grpc",code="UNAUTHENTICATED",rpc="tuneserve.v1.Inference/Generate"}' in scrape


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca, stranger = CertificateAuthority(directory, "tuneserve-test-ca"), CertificateAuthority(directory, "stranger-ca")
    return {
        "ca": ca.pem,
        "server": ca.issue("server", server=True),
        "client": ca.issue("client", server=False),
        "stranger": stranger.pem,
        "stranger_client": stranger.issue("stranger-client", server=False),
    }


def tls_server(base_model, cache_dir, pki, mutual: bool):
    extra = {"tls_client_ca_file": pki["ca"].cert} if mutual else {}
    return running_server(base_model, cache_dir, tls_cert_file=pki["server"].cert, tls_key_file=pki["server"].key, **extra)


def test_tls_serves_clients_that_trust_its_ca_and_refuses_the_rest(base_model, cache_dir, pki):
    with tls_server(base_model, cache_dir, pki, mutual=False) as running:
        with Client(running.address, ca_file=pki["ca"].cert, retries=0) as trusted:
            assert trusted.generate("Hi", max_new_tokens=1).usage.generated_tokens == 1
        with Client(running.address, retries=0, timeout=10) as plaintext:
            with pytest.raises(UnavailableError):
                plaintext.generate("Hi", max_new_tokens=1)
        with Client(running.address, ca_file=pki["stranger"].cert, retries=0, timeout=10) as untrusting:
            with pytest.raises(UnavailableError):
                untrusting.generate("Hi", max_new_tokens=1)


def test_mutual_tls_refuses_clients_without_a_certificate_from_its_ca(base_model, cache_dir, pki):
    with tls_server(base_model, cache_dir, pki, mutual=True) as running:
        client_cert = {"cert_file": pki["client"].cert, "key_file": pki["client"].key}
        with Client(running.address, ca_file=pki["ca"].cert, retries=0, **client_cert) as good:
            assert good.generate("Hi", max_new_tokens=1).usage.generated_tokens == 1
        with Client(running.address, ca_file=pki["ca"].cert, retries=0, timeout=10) as no_cert:
            with pytest.raises(UnavailableError):
                no_cert.generate("Hi", max_new_tokens=1)
        stranger = {"cert_file": pki["stranger_client"].cert, "key_file": pki["stranger_client"].key}
        with Client(running.address, ca_file=pki["ca"].cert, retries=0, timeout=10, **stranger) as untrusted:
            with pytest.raises(UnavailableError):
                untrusted.generate("Hi", max_new_tokens=1)


def test_tls_settings_must_come_in_pairs(cache_dir, tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="go together"):
        server_settings(cache_dir, tls_cert_file=tmp_path / "a.crt")
    with pytest.raises(ValidationError, match="mutual TLS"):
        server_settings(cache_dir, tls_client_ca_file=tmp_path / "ca.crt")


def test_the_trainer_needs_a_train_token(cache_dir, tmp_path):
    from tests.trainer.conftest import running_trainer, trainer_settings

    settings = trainer_settings(tmp_path, cache_dir, auth_tokens_file=write_tokens(tmp_path / "tokens.yaml"), health_port=0)
    with running_trainer(settings) as running:
        with Client(running.address, token=token("ml"), retries=0) as ml:
            assert list(ml.list_jobs()) == []
        with Client(running.address, token=token("app"), retries=0) as app:
            with pytest.raises(PermissionDeniedError, match="'train' scope"):
                app.list_jobs()
        with Client(running.address, retries=0) as anonymous:
            with pytest.raises(UnauthenticatedError):
                anonymous.get_job("nope")
        with grpc.insecure_channel(f"127.0.0.1:{running.server.health_port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_cli_sends_the_token_from_the_environment(authed_server, monkeypatch, capsys):
    from tuneserve_client.cli import main

    argv = ["--server", authed_server.address, "generate", "--no-stream", "--max-new-tokens", "2", "Hi"]
    monkeypatch.delenv("TUNESERVE_TOKEN", raising=False)
    assert main(argv) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    monkeypatch.setenv("TUNESERVE_TOKEN", token("app"))
    assert main(argv) == 0


def test_async_client_over_mutual_tls_with_a_token(base_model, cache_dir, pki, tmp_path):
    import asyncio

    from tuneserve_client import AsyncClient

    settings = dict(
        tls_cert_file=pki["server"].cert,
        tls_key_file=pki["server"].key,
        tls_client_ca_file=pki["ca"].cert,
        auth_tokens_file=write_tokens(tmp_path / "tokens.yaml"),
    )

    async def call(address: str) -> int:
        async with AsyncClient(
            address, token=token("app"), ca_file=pki["ca"].cert, cert_file=pki["client"].cert, key_file=pki["client"].key
        ) as client:
            return (await client.generate("Hi", max_new_tokens=1)).usage.generated_tokens

    with running_server(base_model, cache_dir, **settings) as running:
        assert asyncio.run(call(running.address)) == 1


def test_a_missing_or_broken_tokens_file_stops_the_start_with_its_name(cache_dir, tmp_path):
    import asyncio

    from server.app import TuneserveServer

    for path, words in ((tmp_path / "absent.yaml", "absent.yaml"), (tmp_path / "broken.yaml", "64 hex digits")):
        if path.name == "broken.yaml":
            path.write_text("tokens:\n  - {name: a, sha256: 'abc', scopes: [inference]}\n")
        server = TuneserveServer(server_settings(cache_dir, auth_tokens_file=path))
        with pytest.raises(OSError, match=words):
            asyncio.run(server.start())


def test_rotated_certificates_are_served_without_a_restart(base_model, cache_dir, tmp_path):
    import os
    import shutil

    old_ca, new_ca = CertificateAuthority(tmp_path / "old", "old-ca"), CertificateAuthority(tmp_path / "new", "new-ca")
    old, new = old_ca.issue("server", server=True), new_ca.issue("server", server=True)
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(old.cert, live / "tls.crt")
    shutil.copy(old.key, live / "tls.key")
    with tls_server(base_model, cache_dir, {"server": Pem(live / "tls.crt", live / "tls.key")}, mutual=False) as running:
        with Client(running.address, ca_file=old_ca.pem.cert, retries=0) as before:
            assert before.generate("Hi", max_new_tokens=1).usage.generated_tokens == 1
        # as a Secret update does: new files replace the old ones in place
        for source, target in ((new.cert, live / "tls.crt"), (new.key, live / "tls.key")):
            shutil.copy(source, target.with_suffix(".tmp"))
            os.replace(target.with_suffix(".tmp"), target)

        def served_with_the_new_certificate() -> bool:
            try:
                with Client(running.address, ca_file=new_ca.pem.cert, retries=0, timeout=10) as after:
                    return after.generate("Hi", max_new_tokens=1).usage.generated_tokens == 1
            except UnavailableError:  # files are looked at once a second; until then the old certificate is served
                return False

        wait_for(served_with_the_new_certificate, 10, interval=0.3, what="the rotated certificate")
        with Client(running.address, ca_file=old_ca.pem.cert, retries=0, timeout=10) as stale:
            with pytest.raises(UnavailableError):
                stale.generate("Hi", max_new_tokens=1)
