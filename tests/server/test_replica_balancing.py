"""One client target over three real server processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (the
same port, as pods behind a headless Service): calls spread over every replica, a replica killed
with SIGKILL under load fails no call, and a replica started later gets traffic. The replicas serve the
tiny random Llama: balancing and fail-over do not depend on the model, and on it the 300-odd calls cost
little beside the processes themselves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tuneserve_client import Client

from tests import load
from tests.tools import free_port
from tests.waiting import wait_for

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


class Replica:
    def __init__(self, host: str, port: int, model: Path, cache_dir: Path, log: Path) -> None:
        self.host, self.port, self.metrics_port = host, port, free_port()
        env = {
            **os.environ,
            "TUNESERVE_HOST": host,
            "TUNESERVE_PORT": str(port),
            "TUNESERVE_METRICS_PORT": str(self.metrics_port),
            "TUNESERVE_HTTP_PORT": "0",
            "TUNESERVE_MODEL": str(model),
            "TUNESERVE_CACHE_DIR": str(cache_dir),
            "TUNESERVE_EXPERIMENT_DB": str(log.with_suffix(".sqlite")),
            "TUNESERVE_KV_CACHE_MEMORY_MB": "128",
            "TUNESERVE_COMPILE_DECODE": "off",
            "TUNESERVE_WARMUP": "false",
            "TUNESERVE_LOG_FORMAT": "text",
            "TUNESERVE_MAX_CONNECTION_AGE_S": "5",  # clients re-resolve often, as in a cluster with pods coming and going
            "TUNESERVE_MAX_CONNECTION_AGE_GRACE_S": "30",
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "server"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def ready(self) -> None:
        with Client(f"{self.host}:{self.port}", timeout=10) as client:
            client.wait_until_ready(300)

    def calls(self) -> int:
        """Generate calls this replica answered (its own metrics)."""
        text = urllib.request.urlopen(f"http://{self.host}:{self.metrics_port}/metrics", timeout=10).read().decode()
        found = re.findall(r'tuneserve_requests_total\{api="grpc",code="OK",rpc="tuneserve.v1.Inference/Generate"\} (\S+)', text)
        return int(float(found[0])) if found else 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def generate(client: Client, i: int | str) -> str:
    return client.generate(messages=[{"role": "user", "content": f"Say {i}."}], max_new_tokens=2).text


@pytest.mark.slow
def test_one_target_spreads_over_three_replicas_survives_a_kill_and_finds_a_new_one(tiny_llama_dir, cache_dir, tmp_path):
    port = free_port()
    replicas = [Replica(host, port, tiny_llama_dir, cache_dir, tmp_path / f"replica-{n}.log") for n, host in enumerate(HOSTS)]
    target = "ipv4:" + ",".join(f"{host}:{port}" for host in HOSTS)
    try:
        for replica in replicas:
            replica.ready()
        with Client(target, timeout=60) as client:
            for i in range(90):
                generate(client, i)
        shares = [replica.calls() / 90 for replica in replicas]
        assert sum(replica.calls() for replica in replicas) == 90 and min(shares) >= 0.2, shares

        # four users on the one target, calling until 160 calls after the kill, so it lands under load
        with load.users([target] * 4, generate) as (done, failures):
            wait_for(lambda: len(done) >= 40, 120, what="the load to be under way")
            replicas[2].kill()  # SIGKILL mid-load: calls in flight on it are retried elsewhere
            at_kill = len(done)
            wait_for(lambda: len(done) >= at_kill + 160, 300, what="160 calls after the kill")
        assert failures == [], (len(done), failures[:3])

        replicas[2] = Replica(HOSTS[2], port, tiny_llama_dir, cache_dir, tmp_path / "replica-2-again.log")
        replicas[2].ready()
        with Client(target, timeout=60) as client:  # a channel opened before the replica came back
            started = time.monotonic()
            i = 0
            while replicas[2].calls() == 0:
                assert time.monotonic() - started < 60, "the new replica got no traffic within a minute"
                generate(client, i)
                i += 1
    finally:
        for replica in replicas:
            replica.proc.kill()
            replica.proc.wait(10)
