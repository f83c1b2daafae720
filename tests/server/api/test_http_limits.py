"""The HTTP port under hostile use, on a real server: a non-streaming request whose client left is
cancelled, slow and silent connections are closed, connections are capped, JSON endpoints take
only application/json, and CORS is off unless origins are named."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import running_server
from tests.server.api.test_openai_api import _read_response, free_port
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def limited(base_model, cache_dir):
    settings = dict(
        http_port=free_port(),
        http_header_timeout_s=1.0,
        http_body_timeout_s=1.0,
        http_idle_timeout_s=1.0,
        http_max_connections=12,
        http_cors_origins=["https://app.example"],
    )
    with running_server(base_model, cache_dir, **settings) as running:
        yield running


def port_of(server) -> int:
    return int(server.http_url.split(":")[-1].split("/")[0])


def metric(server, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(server.http_url.removesuffix("/v1") + "/metrics", timeout=30) as response:
        page = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def post(server, path: str, body: bytes, content_type: str | None = "application/json", origin: str | None = None):
    headers = {**({"content-type": content_type} if content_type else {}), **({"origin": origin} if origin else {})}
    request = urllib.request.Request(server.http_url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def closed(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (reads end-of-file)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


@pytest.mark.parametrize(
    ("prompt", "stream"),
    [("Count:", False), ("Count:", True), (["Count:", "List:", "Name:"], False), (["Count:", "List:", "Name:"], True)],
    ids=["one", "one streamed", "a batch", "a streamed batch"],
)
def test_a_whole_answer_stops_being_generated_when_its_client_leaves(limited, prompt, stream):
    body = json.dumps({"model": "", "prompt": prompt, "max_tokens": 400, "min_tokens": 400, "temperature": 0, "stream": stream}).encode()
    generations = len(prompt) if isinstance(prompt, list) else 1
    cancelled_before = metric(limited, "tuneserve_generations_total", reason="cancelled")
    http_cancelled_before = metric(limited, "tuneserve_requests_total", api="http", code="CANCELLED")
    with socket.create_connection(("127.0.0.1", port_of(limited)), timeout=30) as raw:
        raw.sendall(
            b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        wait_for(lambda: metric(limited, "tuneserve_running_requests") == generations, 60, what="the generations to run")
    # the client is gone: the slots free within a step or two, not after 400 tokens
    wait_for(lambda: metric(limited, "tuneserve_running_requests") == 0, 15, what="the generations to be cancelled")
    assert metric(limited, "tuneserve_generations_total", reason="cancelled") == cancelled_before + generations
    wait_for(lambda: metric(limited, "tuneserve_requests_total", api="http", code="CANCELLED") == http_cancelled_before + 1, 10)


def test_slow_and_silent_connections_are_closed_and_connections_are_capped(limited):
    port = port_of(limited)
    silent = socket.create_connection(("127.0.0.1", port), timeout=30)
    slow = socket.create_connection(("127.0.0.1", port), timeout=30)
    started = time.monotonic()
    try:
        for byte in b"POST /v1/completions HTTP/1.1\r\nhost: x\r\n":  # a byte at a time, never a whole head
            slow.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:  # closed under it: what should happen, once its head is overdue
        assert time.monotonic() - started >= 0.9
    wait_for(lambda: closed(silent) and closed(slow), 10, interval=0.1, what="the idle and the slow connection to be closed")
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(20)]
    try:
        time.sleep(0.3)
        assert sum(closed(s) for s in held) >= 8, "connections past http_max_connections are closed at once"
    finally:
        for s in [silent, slow, *held]:
            s.close()
    time.sleep(1.5)  # the held ones are gone: the port serves again
    status, _, _ = post(limited, "/completions", json.dumps({"model": "", "prompt": "Hi", "max_tokens": 1}).encode())
    assert status == 200


def test_a_body_that_does_not_arrive_in_time_gets_408(limited):
    with socket.create_connection(("127.0.0.1", port_of(limited)), timeout=30) as raw:
        raw.sendall(b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        head, payload = _read_response(raw)
    assert head.startswith("HTTP/1.1 408") and "http_body_timeout_s" in json.loads(payload)["error"]["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
@pytest.mark.parametrize("path", ["/chat/completions", "/completions", "/feedback"])
def test_json_endpoints_take_only_application_json(limited, path, content_type):
    body = json.dumps({"model": "", "prompt": "Hi", "messages": [{"role": "user", "content": "Hi"}], "request_id": "x"}).encode()
    status, _, answer = post(limited, path, body, content_type)
    assert status == 415 and answer["error"]["param"] == "content-type" and "application/json" in answer["error"]["message"]
    ok, _, _ = post(
        limited, "/completions", json.dumps({"model": "", "prompt": "Hi", "max_tokens": 1}).encode(), "application/json; charset=utf-8"
    )
    assert ok == 200


def test_cors_only_for_the_named_origins(limited, base_model, cache_dir):
    body = json.dumps({"model": "", "prompt": "Hi", "max_tokens": 1}).encode()
    _, allowed, _ = post(limited, "/completions", body, origin="https://app.example")
    _, other, _ = post(limited, "/completions", body, origin="https://evil.example")
    assert allowed.get("access-control-allow-origin") == "https://app.example"
    assert "access-control-allow-origin" not in {k.lower() for k in other}
    with running_server(base_model, cache_dir, http_port=free_port()) as plain:
        _, headers, _ = post(plain, "/completions", body, origin="https://app.example")
    assert "access-control-allow-origin" not in {k.lower() for k in headers}, "no CORS unless configured"
    from pydantic import ValidationError

    from server.config import ServerSettings

    with pytest.raises(ValidationError, match="no '\\*'"):
        ServerSettings(http_cors_origins=["*"])


def test_a_replica_not_ready_answers_503_with_retry_after():
    # mechanics only, no model: the routes of a server whose model is still loading
    from starlette.testclient import TestClient

    from common.rpc.metrics import RpcMetrics
    from server.api.openai.routes import RETRY_AFTER_S, OpenAIRoutes
    from server.api.serving_state import ServingState

    app = OpenAIRoutes(ServingState(), RpcMetrics(), None, 1 << 20).app()
    with TestClient(app) as client:
        answer = client.post("/v1/chat/completions", json={"model": "", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 503 and answer.headers["retry-after"] == str(RETRY_AFTER_S[503])
    error = answer.json()["error"]
    assert error["type"] == "service_unavailable_error" and error["code"] == "unavailable" and "loading" in error["message"]
