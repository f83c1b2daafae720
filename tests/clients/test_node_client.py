"""The Node.js client (clients/node) against a live server with tokens and a classification task."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from common.security.auth import digest
from tests.conftest import running_server
from tests.server.api.test_tasks_api import SENTIMENT
from tests.tools import tool

NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"
TOKEN = "tok-node-client-inference"


@pytest.fixture(scope="module")
def node_server(base_model, cache_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("node")
    (root / "tasks").mkdir()
    (root / "tasks" / "sentiment.yaml").write_text(yaml.safe_dump(SENTIMENT))
    (root / "tokens.yaml").write_text(f"tokens:\n  - {{name: node-test, sha256: '{digest(TOKEN)}', scopes: [inference]}}\n")
    settings = dict(auth_tokens_file=root / "tokens.yaml", task_dir=root / "tasks", adapter_store=root / "adapters")
    with running_server(base_model, cache_dir, **settings) as running:
        yield running


def test_node_client_generates_streams_classifies_and_is_refused_without_a_token(node_server):
    node = tool("node")
    if not (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        message = "clients/node has no node_modules: run `npm ci --prefix clients/node` (make install does)"
        if os.environ.get("TUNESERVE_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "TUNESERVE_TEST_ADDRESS": node_server.address, "TUNESERVE_TEST_TOKEN": TOKEN, "TUNESERVE_TEST_TASK": "sentiment"}
    done = subprocess.run([node, "--test", "test/"], cwd=NODE_CLIENT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout and "# pass 9" in done.stdout


def test_the_node_client_balances_and_retries_as_the_python_client_does():
    from tuneserve_client.routing import ADAPTER_HEADER, SERVICE_CONFIG

    node = tool("node")
    if not (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("clients/node has no node_modules: run `npm ci --prefix clients/node` (make install does)")
    script = 'import("./src/index.js").then((m) => console.log(JSON.stringify([m.SERVICE_CONFIG, m.ADAPTER_HEADER])))'
    done = subprocess.run([node, "-e", script], cwd=NODE_CLIENT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [SERVICE_CONFIG, ADAPTER_HEADER]


def node_modules_or_skip() -> None:
    if not (NODE_CLIENT / "node_modules" / "typescript").is_dir():
        message = "clients/node has no node_modules: run `npm ci --prefix clients/node` (make install does)"
        if os.environ.get("TUNESERVE_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_the_node_clients_types_are_the_generated_messages_and_compile():
    # the declared client over the generated message types, used as a caller would (test/types-check.ts)
    node_modules_or_skip()
    done = subprocess.run(
        [tool("node"), "node_modules/typescript/bin/tsc", "-p", "tsconfig.json"],
        cwd=NODE_CLIENT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    declared = (NODE_CLIENT / "src" / "index.d.ts").read_text()
    assert "export interface GenerateRequest" not in declared, "messages come from src/generated, not by hand"
