"""Server lifecycle and the standard tools around it: health, reflection, grpcurl, metrics, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest
from tuneserve_client import Client, errors

from server.app import TuneserveServer
from tests.background import BackgroundServer
from tests.conftest import server_settings
from tests.tools import free_port, tool
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


class GatedServer(TuneserveServer):
    """A server whose model 'loads' only when the test opens the gate."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    async def _load_base(self):
        await asyncio.to_thread(self.gate.wait)
        return await super()._load_base()


def test_health_is_not_serving_until_the_model_is_ready(base_model, cache_dir):
    gated = GatedServer(server_settings(cache_dir), base_model)
    running = BackgroundServer(None, server=gated).start(wait_ready=False)
    try:
        with Client(running.address, retries=0) as client:
            assert client.health() == "NOT_SERVING"
            assert client.health("tuneserve.v1.Inference") == "NOT_SERVING"
            with pytest.raises(errors.UnavailableError, match="still loading"):
                client.generate("hi")
            gated.gate.set()
            running.wait_ready()
            assert client.health() == "SERVING"
            assert client.generate("hi", max_new_tokens=2).usage.generated_tokens == 2
    finally:
        running.stop()


def test_client_retries_unavailable_until_the_server_is_ready(base_model, cache_dir):
    gated = GatedServer(server_settings(cache_dir), base_model)
    running = BackgroundServer(None, server=gated).start(wait_ready=False)
    try:
        threading.Timer(0.5, gated.gate.set).start()
        with Client(running.address, retries=4, backoff=1.0) as client:  # gRPC waits up to 1, 2, 4, 8 s
            assert client.generate("hi", max_new_tokens=1).usage.generated_tokens == 1
    finally:
        running.stop()


def test_full_queue_answers_resource_exhausted(base_model, cache_dir):
    running = BackgroundServer(server_settings(cache_dir, max_batch_size=1, max_waiting=1), base_model).start()
    results: list[object] = []

    def call(prompt: str) -> None:
        try:
            with Client(running.address, retries=0) as c:
                results.append(c.generate(prompt, max_new_tokens=64, min_new_tokens=64))
        except errors.TuneserveError as exc:
            results.append(exc)

    try:
        threads = [threading.Thread(target=call, args=(f"Story number {i}:",)) for i in range(2)]
        for t in threads:
            t.start()
        engine = running.server.state.require().engine
        wait_for(lambda: engine.num_running == 1 and engine.num_waiting == 1, 30, interval=0.01, what="one running and one waiting")
        with Client(running.address, retries=0) as c, pytest.raises(errors.ResourceExhaustedError, match="max_waiting=1"):
            c.generate("one too many")
        for t in threads:
            t.join()
        assert all(not isinstance(r, Exception) for r in results)
    finally:
        running.stop()


def scrape(server) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as response:
        return response.read().decode()


def test_metrics_pass_promtool_and_count_what_happened(client, server):
    before = scrape(server)
    client.generate(messages=[{"role": "user", "content": "Say hi."}], max_new_tokens=5, min_new_tokens=5)
    with pytest.raises(errors.InvalidArgumentError):
        client.generate("")
    text = scrape(server)
    check = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in (
        'tuneserve_requests_total{api="grpc",code="OK",rpc="tuneserve.v1.Inference/Generate"}',
        'tuneserve_requests_total{api="grpc",code="INVALID_ARGUMENT",rpc="tuneserve.v1.Inference/Generate"}',
        "tuneserve_time_to_first_token_seconds_bucket",
        "tuneserve_inter_token_latency_seconds_bucket",
        "tuneserve_generation_duration_seconds_bucket",
        "tuneserve_queue_time_seconds_bucket",
        "tuneserve_prompt_tokens_total",
        "tuneserve_generated_tokens_total",
        "tuneserve_running_requests",
        "tuneserve_waiting_requests",
        "tuneserve_batch_size_bucket",
        "tuneserve_kv_cache_usage_ratio",
        'tuneserve_model_info{architecture="LlamaForCausalLM"',
        "tuneserve_ready 1.0",
        "tuneserve_prefix_cache_hit_tokens_total",
        "tuneserve_prefix_cache_blocks",
    ):
        assert name in text, name

    def value(body: str, line_start: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(line_start))

    assert value(text, "tuneserve_generated_tokens_total") >= value(before, "tuneserve_generated_tokens_total") + 5


@pytest.mark.slow
def test_prometheus_scrapes_the_server(server):
    prometheus = tool("prometheus")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: tuneserve\n    static_configs: [{{targets: ['127.0.0.1:{server.server.metrics_port}']}}]\n"
        )
        proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def scraped() -> list:
                try:
                    url = f"http://127.0.0.1:{port}/api/v1/query?query=tuneserve_ready"
                    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
                except OSError:
                    return []

            result = wait_for(scraped, 60, interval=0.5, what="prometheus to scrape tuneserve_ready")
            assert result[0]["value"][1] == "1"
        finally:
            proc.terminate()
            proc.wait(10)


def grpcurl(*args: str, data: str | None = None) -> subprocess.CompletedProcess:
    command = [tool("grpcurl"), "-plaintext", *(["-d", data] if data is not None else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_grpcurl_lists_describes_checks_health_and_generates(server):
    listed = grpcurl(server.address, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {"tuneserve.v1.Inference", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
    described = grpcurl(server.address, "describe", "tuneserve.v1.GenerateRequest")
    assert described.returncode == 0
    assert all(
        field in described.stdout
        for field in ("string prompt = 1", "repeated .tuneserve.v1.ChatMessage messages = 2", "string adapter = 3")
    )
    health = grpcurl(server.address, "grpc.health.v1.Health/Check", data='{"service": ""}')
    assert json.loads(health.stdout) == {"status": "SERVING"}
    generated = grpcurl(
        server.address,
        "tuneserve.v1.Inference/Generate",
        data='{"messages": [{"role": "user", "content": "What is the capital of France?"}], "parameters": {"max_new_tokens": 20}}',
    )
    assert generated.returncode == 0, generated.stderr
    reply = json.loads(generated.stdout)
    assert "Paris" in reply["text"] and reply["stop_reason"] == "STOP_REASON_END_OF_SEQUENCE"
    bad = grpcurl(server.address, "tuneserve.v1.Inference/Generate", data='{"prompt": "hi", "parameters": {"top_p": 2}}')
    assert "InvalidArgument" in bad.stderr and "parameters.top_p" in bad.stderr


def test_help_lists_every_setting_with_its_docstring():
    out = subprocess.run([sys.executable, "-m", "server", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    from server.config import ServerSettings

    for name, field in ServerSettings.model_fields.items():
        assert "--" + name.replace("_", "-") in out.stdout, name
        assert field.description, f"{name} needs a docstring"
    assert "default: 50051" in out.stdout and "default: 9090" in out.stdout


def test_bad_settings_exit_2_naming_the_setting():
    out = subprocess.run([sys.executable, "-m", "server", "--port", "70000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--port (TUNESERVE_PORT)" in out.stderr
    env = {**os.environ, "TUNESERVE_QUANTIZATION": "fp3"}
    out = subprocess.run([sys.executable, "-m", "server"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "--quantization (TUNESERVE_QUANTIZATION)" in out.stderr


@pytest.mark.slow
def test_console_script_serves_until_sigterm(cache_dir):
    port, metrics_port, http_port = free_port(), free_port(), free_port()
    env = {**os.environ, "TUNESERVE_PORT": str(port), "TUNESERVE_CACHE_DIR": str(cache_dir), "TUNESERVE_KV_CACHE_MEMORY_MB": "128"}
    env["TUNESERVE_HTTP_PORT"] = str(http_port)
    # Compiling the decode step at start-up takes minutes on a cold cache; .ci/check-runtime starts
    # the server with it, and tests/server/engine/test_decode_graph.py checks what it computes.
    env["TUNESERVE_COMPILE_DECODE"] = "off"
    proc = subprocess.Popen(
        [tool("tuneserve-server"), "--metrics-port", str(metrics_port), "--log-format", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Client(f"127.0.0.1:{port}") as client:
            client.wait_until_ready(timeout=120)
            cli = subprocess.run(
                [tool("tuneserve"), "--server", f"127.0.0.1:{port}", "generate", "What is the capital of France?", "--chat"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert cli.returncode == 0 and "Paris" in cli.stdout, cli.stderr
            assert "end_of_sequence" in cli.stderr
        body = json.dumps({"model": "", "prompt": "Hello", "max_tokens": 3}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/v1/completions", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.loads(response.read())["usage"]["completion_tokens"] == 3
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0
        logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        messages = [entry["msg"] for entry in logs]
        assert "serving" in messages and "stopped" in messages
        rpc = next(entry for entry in logs if entry["msg"] == "rpc" and entry["rpc"].endswith("GenerateStream"))
        assert rpc["code"] == "OK" and rpc["request_id"]
    finally:
        if proc.poll() is None:
            proc.kill()
