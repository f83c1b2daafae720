"""What a gateway's endpoint picker reads from a replica (the Inference Extension's model-server
protocol): the LoRA gauge naming exactly the adapters running and waiting, the cache's shape, and
the metrics page on the serving HTTP port, on a real server under load."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.request

import pytest
from tuneserve_client import Client

from common.file_adapter_store import FileAdapterStore
from tests.adapter_training import publish
from tests.conftest import running_server
from tests.tools import free_port, tool
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def one_slot_server(tmp_path_factory, trained_adapters, base_spec, base_model, cache_dir):
    store = FileAdapterStore(tmp_path_factory.mktemp("protocol-store"))
    publish(store, trained_adapters["banana"], "banana", base_spec)
    publish(store, trained_adapters["cherry"], "cherry", base_spec)
    # one LoRA slot: a request for the second adapter waits while the first one runs
    with running_server(base_model, cache_dir, adapter_store=store.root, max_loras=1, http_port=free_port()) as running:
        yield running


def lora_gauge(page: str) -> dict[str, str]:
    [line] = [line for line in page.splitlines() if line.startswith("tuneserve_lora_requests_info{")]
    return dict(re.findall(r'(\w+)="([^"]*)"', line))


def test_the_lora_gauge_names_the_running_and_waiting_adapters_and_passes_promtool(one_slot_server):
    server = one_slot_server
    engine = server.server.state.require().engine
    url = server.http_url.removesuffix("/v1") + "/metrics"
    with Client(server.address, timeout=300) as client:
        client.generate("warm up", adapter="cherry", max_new_tokens=1)
        idle = urllib.request.urlopen(url, timeout=10).read().decode()
        assert lora_gauge(idle) == {"max_lora": "1", "running_lora_adapters": "", "waiting_lora_adapters": ""}
        cache = re.search(r'tuneserve_cache_config_info\{block_size="(\d+)",num_gpu_blocks="(\d+)"\} 1.0', idle)
        assert cache and (int(cache[1]), int(cache[2])) == (engine.config.block_size, engine.config.num_blocks)

        stream = client.generate_stream("Count slowly to fifty:", adapter="banana", max_new_tokens=400, min_new_tokens=400)
        next(stream)  # banana is running
        waiting = threading.Thread(target=client.generate, args=("Name a fruit.",), kwargs={"adapter": "cherry", "max_new_tokens": 2})
        waiting.start()
        wait_for(lambda: engine.num_waiting == 1, 60, what="the cherry request to wait for the slot")
        before = time.time()
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        gauge = lora_gauge(page)
        assert gauge == {"max_lora": "1", "running_lora_adapters": "banana@1", "waiting_lora_adapters": "cherry@1"}
        value = float(re.search(r"tuneserve_lora_requests_info\{[^}]*\} (\S+)", page)[1])
        assert before - 1 <= value <= time.time() + 1, "the value is when it was read"
        banana = server.server.state.require().adapters.status("banana")
        assert engine.slots is not None and len(engine.slots.resident_adapters()) == 1 and banana.serving_version == 1
        stream.close()  # the stream ends, its slot frees, and the waiting request runs
        waiting.join(120)
    for name in ("tuneserve_waiting_requests 1.0", "tuneserve_running_requests 1.0", "tuneserve_kv_cache_usage_ratio"):
        assert name in page, f"{name}: what the chart's endpoint-picker mapping reads (templates/gateway.yaml)"
    check = subprocess.run([tool("promtool"), "check", "metrics"], input=page, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    metrics_port = urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10).read().decode()
    assert "tuneserve_lora_requests_info" in metrics_port and "tuneserve_kv_cache_usage_ratio" in metrics_port
