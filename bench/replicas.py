"""Replica benchmark: one server against two behind one balancing client target, adapters from an
object store, in one run.

Everything is real and on loopback: moto's S3-compatible server holds the adapter blobs, a
throwaway PostgreSQL the catalog (LISTEN/NOTIFY), and the replicas are `tuneserve-server`
processes whose adapter store is `s3://...`. Each replica is pinned to one core (sched_setaffinity,
one torch thread), so "2 replicas" is twice the hardware of "1 replica" and the ratio says how much
of it the client's round robin turns into throughput (target >= 1.8x).

Prints:
- tok/s of 1 and 2 replicas under the same load per replica (--clients streams per replica, each
  sending --rounds requests of --tokens forced tokens over --adapters adapters), and the ratio;
- the control: both replicas driven at once, each through a channel of its own, which separates
  what balancing costs from what the machine allows;
- each replica's share of the requests (from its own tuneserve_generations counter);
- adapter cold load from the object store, split into fetch + verify (into an empty cache) and
  load (parse and check against the base), in this process; and a request's latency on a replica
  for an adapter it has never loaded against one it has;
- publish to served: the time from publishing a new version until every replica answers the bare
  name with it;
- time to ready of each replica (process start to SERVING) and to its compiled decode step, which
  'auto' builds in the background while the eager path serves.

On a two-core machine the client shares the cores with the two replicas, so the 2-replica figure is
a floor.

    python bench/replicas.py [--tokens 32] [--clients 8] [--rounds 4] [--adapters 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.adapters import make_adapters  # noqa: E402
from bench.serving import QUESTIONS, free_port  # noqa: E402
from common.model_families import ALL_LINEAR  # noqa: E402


def start_replica(core: int, store: str, env: dict[str, str]) -> tuple[subprocess.Popen, int, int, float]:
    """A server pinned to `core`; returns it, its gRPC and metrics ports and its start time."""
    port, metrics = free_port(), free_port()
    variables = {
        **os.environ,
        **env,
        "TUNESERVE_PORT": str(port),
        "TUNESERVE_METRICS_PORT": str(metrics),
        "TUNESERVE_HTTP_PORT": "0",
        "TUNESERVE_MAX_BATCH_SIZE": "32",
        "TUNESERVE_LOG_LEVEL": "WARNING",
        "TUNESERVE_TORCH_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "TUNESERVE_ADAPTER_STORE": store,
        "TUNESERVE_ADAPTER_CACHE_DIR": tempfile.mkdtemp(prefix=f"tuneserve-replica-{core}-"),
    }
    log = open(Path(tempfile.gettempdir()) / f"replica-{port}.log", "w")  # noqa: SIM115 - the server's lifetime
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server"],
        env=variables,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    return proc, port, metrics, started


def wait_ready(port: int, started: float) -> float:
    from tuneserve_client import Client

    with Client(f"127.0.0.1:{port}") as client:
        client.wait_until_ready(timeout=900)
    return time.perf_counter() - started


def wait_compiled(port: int, started: float) -> float:
    """Seconds from start until the decode step compiled in the background (if any) took over."""
    from tuneserve_client import Client

    with Client(f"127.0.0.1:{port}") as client:
        while client.model_info().decode_step.startswith("eager while"):
            time.sleep(1)
    return time.perf_counter() - started


def generations(metrics_port: int) -> float:
    """Finished generations the replica counted, over every stop reason."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("tuneserve_generations_total{"))


async def workload(target: str, adapters: list[str], requests: int, clients: int, tokens: int) -> tuple[int, float]:
    """`requests` forced-length generations, `clients` at a time, over one balancing channel; the
    tokens generated and the seconds it took."""
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc
    from tuneserve_client.client import channel_options

    params = common_pb2.GenerationParameters(max_new_tokens=tokens, min_new_tokens=tokens, temperature=0.0)
    async with grpc.aio.insecure_channel(target, options=channel_options(4 * 2**20, target)) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        queue = list(range(requests))
        generated = 0

        async def worker() -> None:
            nonlocal generated
            while queue:
                i = queue.pop(0)
                request = inference_pb2.GenerateRequest(
                    messages=[common_pb2.ChatMessage(role="user", content=QUESTIONS[i % len(QUESTIONS)])],
                    adapter=adapters[i % len(adapters)],
                    parameters=params,
                )
                answer = await stub.Generate(request, timeout=600)
                generated += answer.usage.generated_tokens  # not `+= await`: that reads the sum before waiting

        # a fresh channel sends its first calls to whichever replica connected first; a few short
        # calls first, so the timed burst is spread the way a long-lived client's is
        short = common_pb2.GenerationParameters(max_new_tokens=1)
        hello = inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="user", content="Hi")], parameters=short)
        for _ in range(4):
            await stub.Generate(hello)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return generated, time.perf_counter() - started


def rate(done: tuple[int, float]) -> float:
    generated, seconds = done
    print(f"  {generated} tokens in {seconds:.1f} s", flush=True)
    return generated / seconds


async def separately(ports: list[int], adapters: list[str], requests: int, clients: int, tokens: int) -> float:
    """The control: each replica driven through a channel of its own at once (no balancing); tok/s."""
    started = time.perf_counter()
    done = await asyncio.gather(*(workload(f"127.0.0.1:{port}", adapters, requests, clients, tokens) for port in ports))
    return sum(generated for generated, _ in done) / (time.perf_counter() - started)


def ask(port: int, adapter: str) -> tuple[str, float]:
    """One short request straight to a replica: the version that answered and the latency."""
    from tuneserve_client import Client

    with Client(f"127.0.0.1:{port}") as client:
        started = time.perf_counter()
        answer = client.generate("Hello", adapter=adapter, max_new_tokens=1)
        return answer.adapter, time.perf_counter() - started


def cold_load(store_location: str, database_url: str, base, names: list[str]) -> dict[str, float]:
    """Fetch + verify into an empty cache, then load, for each adapter, in this process (ms, mean)."""
    from common.adapter_store import open_adapter_store
    from server.adapters.loader import BaseSpec, load_stored

    spec = BaseSpec.from_base(base)
    store = open_adapter_store(
        store_location, database_url=database_url, database_password_file=None, cache_dir=Path(tempfile.mkdtemp()), cache_bytes=2**30
    )
    fetch = load = 0.0
    for name in names:
        started = time.perf_counter()
        root = store.local_root(name, 1)
        fetched = time.perf_counter()
        load_stored(root, name, 1, spec, 64)
        fetch, load = fetch + fetched - started, load + time.perf_counter() - fetched
    store.close()
    return {"fetch_verify_ms": 1000 * fetch / len(names), "load_ms": 1000 * load / len(names)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--clients", type=int, default=8, help="concurrent streams per replica")
    parser.add_argument("--rounds", type=int, default=4, help="requests per client")
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--cold", action="store_true", help="replicas start with empty kernel and inductor caches, as on a new node")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        print("needs two cores (one per replica)")
        return 0

    from common.base_model import load_base_model
    from common.object_adapter_store import ObjectAdapterStore
    from common.settings import ModelSettings
    from server.adapters.loader import BaseSpec, manifest_for_peft_dir
    from tests.object_store import ObjectStore
    from tests.postgres import Postgres

    results: dict[str, object] = {}
    s3, cluster = ObjectStore(), Postgres()
    procs: list[subprocess.Popen] = []
    try:
        os.environ.update(s3.env())
        database_url = cluster.create_database()
        location = s3.bucket()
        base = load_base_model(ModelSettings())
        spec = BaseSpec.from_base(base)
        work = Path(tempfile.mkdtemp(prefix="tuneserve-bench-"))
        names = [f"task{i}" for i in range(args.adapters)]
        dirs, _ = make_adapters(base, args.adapters + 1, args.rank, [ALL_LINEAR], work)
        publisher = ObjectAdapterStore.open(location, database_url, None, work / "publisher-cache", 2**30)
        for name, directory in zip(names, dirs, strict=False):
            publisher.publish(directory, manifest_for_peft_dir(directory, spec, 64, name, "bench"))
        results["cold_load_in_process"] = cold_load(location, database_url, base, names)
        del base

        env = {"TUNESERVE_DATABASE_URL": database_url}
        if args.cold:
            env |= {"TORCH_EXTENSIONS_DIR": str(work / "extensions"), "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor")}
        replicas = [start_replica(core, location, env) for core in (0, 1)]
        procs = [proc for proc, *_ in replicas]
        ready = [wait_ready(port, started) for _, port, _, started in replicas]
        results["time_to_ready_s"] = ready
        ports = [port for _, port, _, _ in replicas]

        first, warm = ask(ports[0], names[0]), ask(ports[0], names[0])
        results["first_request_ms"] = {"never_loaded": 1000 * first[1], "loaded": 1000 * warm[1]}
        # measured once both serve at full speed: decode graphs built, every adapter loaded on each
        results["time_to_compiled_s"] = [wait_compiled(port, started) for _, port, _, started in replicas]
        for port in ports:
            for name in names:
                ask(port, name)

        # the same load per replica: twice the clients for twice the replicas
        per_replica = args.clients * args.rounds
        one = rate(asyncio.run(workload(f"127.0.0.1:{ports[0]}", names, per_replica, args.clients, args.tokens)))
        before = [generations(metrics) for *_, metrics, _ in replicas]
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
        two = rate(asyncio.run(workload(target, names, 2 * per_replica, 2 * args.clients, args.tokens)))
        after = [generations(metrics) for *_, metrics, _ in replicas]
        counted = [a - b for a, b in zip(after, before, strict=True)]
        direct = asyncio.run(separately(ports, names, per_replica, args.clients, args.tokens))
        results["tokens_per_s"] = {"1_replica": one, "2_replicas": two, "ratio": two / one, "2_replicas_own_channels": direct}
        results["request_share"] = [c / sum(counted) for c in counted]

        published = time.perf_counter()
        publisher.publish(dirs[-1], manifest_for_peft_dir(dirs[-1], spec, 64, names[0], "bench"))
        served: dict[int, float] = {}
        while len(served) < len(ports) and time.perf_counter() - published < 120:
            for port in ports:
                if port not in served and ask(port, names[0])[0] == f"{names[0]}@2":
                    served[port] = time.perf_counter() - published
            time.sleep(0.05)
        results["publish_to_served_s"] = sorted(served.values()) if len(served) == len(ports) else "not within 120 s"
        publisher.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        cluster.close()
        s3.close()

    tps = results["tokens_per_s"]
    assert isinstance(tps, dict)
    print(f"tok/s  1 replica {tps['1_replica']:7.1f}   2 replicas {tps['2_replicas']:7.1f}   ratio {tps['ratio']:.2f} (target >= 1.8)")
    print(f"       2 replicas, each through its own channel (no balancing): {tps['2_replicas_own_channels']:7.1f}")
    print("request share per replica: " + ", ".join(f"{share:.0%}" for share in results["request_share"]))  # type: ignore[attr-defined]
    print(f"adapter cold load (in process, mean): {results['cold_load_in_process']}")
    print(f"first request on a replica: {results['first_request_ms']}")
    print(f"publish -> served on every replica: {results['publish_to_served_s']}")
    print(f"time to ready per replica (s): {[round(t, 1) for t in results['time_to_ready_s']]}")  # type: ignore[attr-defined]
    print(f"time to the compiled decode step (s): {[round(t, 1) for t in results['time_to_compiled_s']]}")  # type: ignore[attr-defined]
    load = f"{args.clients} clients x {args.rounds} requests x {args.tokens} tokens per replica"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {load}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
