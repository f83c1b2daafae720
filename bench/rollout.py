"""Rollout benchmark: what a split, a shadow and feedback cost, all in one run on the same requests.

One adapter name with two versions (real PEFT LoRA adapters, random weights: rank 8 on q_proj and
v_proj by default) on a real server. Rounds of 32 concurrent keyed requests, each producing exactly
--tokens tokens, alternate between:
(a) the name's current version alone (no rollout);
(b) the same keyed requests pinned (name@N) to the versions a 90/10 split would give them: the
    same batches as (c) without the rollout machinery;
(c) a 90/10 split between the two versions (every answer recorded for the experiment report);
(d) the same split with a shadow copy of every request to a third version.
Ratios are medians over --rounds rounds. Target: (c)/(a) >= 0.95; (c)/(b) isolates routing and
recording from the cost of mixing two adapters in a batch. A shadow doubles the work of each
request, so (d)/(a) shows what it costs the callers sharing the engine. Also: Feedback RPC latency
and GetExperiment time.

With --database postgresql the record lives in a throwaway PostgreSQL (tests/postgres.py), as
several replicas would share it; the split's target is the same.

    python bench/rollout.py [--tokens 64] [--rounds 3] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.adapters import published_adapters  # noqa: E402
from bench.serving import QUESTIONS, percentile, start_server  # noqa: E402

CLIENTS = 32


SPLIT = {1: 90, 2: 10}


async def keyed_run(address: str, tokens: int, round_no: int, pinned: bool = False) -> tuple[float, list[str]]:
    """32 concurrent keyed requests for the bare name (or, `pinned`, for the version the split would
    choose); returns generated tokens/s and the request ids."""
    from common.rollout import RolloutPolicy, choose_version

    policy = RolloutPolicy(weights=SPLIT)
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    params = common_pb2.GenerationParameters(max_new_tokens=tokens, min_new_tokens=tokens)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)

        async def one(i: int) -> tuple[int, str]:
            key = f"user-{round_no}-{i}"
            request = inference_pb2.GenerateRequest(
                messages=[common_pb2.ChatMessage(role="user", content=QUESTIONS[i % len(QUESTIONS)])],
                adapter=f"exp@{choose_version(policy, 'exp', key)}" if pinned else "exp",
                parameters=params,
                routing_key=key,
            )
            reply = await stub.Generate(request)
            return reply.usage.generated_tokens, reply.request_id

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
        return sum(n for n, _ in results) / (time.perf_counter() - start), [rid for _, rid in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--targets", default="q_proj,v_proj")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    from tuneserve_client import Client

    base, _, work, store, _, _ = published_adapters(3, args.rank, args.targets.split(","), ["exp"] * 3)
    store.set_current("exp", 1)
    del base

    cluster = None
    record = {"experiment_db": str(work / "experiments.sqlite")}
    if args.database == "postgresql":
        from tests.postgres import Postgres

        cluster = Postgres()
        record = {"database_url": cluster.create_database()}
    proc, address = start_server(adapter_store=str(store.root), max_loras="4", **record)
    runs: dict[str, list[float]] = {"plain": [], "pinned mix": [], "split": [], "split+shadow": []}
    feedback_ms: list[float] = []
    try:
        with Client(address) as client:
            for version in (1, 2, 3):
                client.load_adapter(f"exp@{version}")
            asyncio.run(keyed_run(address, 8, -1))  # warm-up
            for round_no in range(args.rounds):
                for mode in runs:
                    if mode in ("plain", "pinned mix"):
                        client.clear_rollout("exp")
                    else:
                        client.set_rollout("exp", SPLIT, shadow=3 if mode == "split+shadow" else 0)
                    tps, request_ids = asyncio.run(keyed_run(address, args.tokens, round_no, pinned=mode == "pinned mix"))
                    runs[mode].append(tps)
                    if mode == "split":
                        for request_id in request_ids:
                            started = time.perf_counter()
                            client.feedback(request_id, label="x", rating=4)
                            feedback_ms.append((time.perf_counter() - started) * 1000)
                    time.sleep(2)  # shadows in flight finish before the next round
            started = time.perf_counter()
            experiment = client.get_experiment("exp")
            report_ms = (time.perf_counter() - started) * 1000
            recorded = sum(arm.requests for arm in experiment.arms)
    finally:
        proc.terminate()
        proc.wait(30)
        if cluster is not None:
            cluster.close()
    shutil.rmtree(work, ignore_errors=True)

    medians = {mode: statistics.median(values) for mode, values in runs.items()}
    for mode, values in runs.items():
        print(f"{mode:>13}: median {medians[mode]:7.1f} tok/s over {len(values)} rounds ({', '.join(f'{v:.1f}' for v in values)})")
    print(f"split / plain (target >= 0.95): {medians['split'] / medians['plain']:.3f}")
    print(f"split / pinned mix (routing and recording alone): {medians['split'] / medians['pinned mix']:.3f}")
    print(f"split+shadow / plain: {medians['split+shadow'] / medians['plain']:.3f} (each request answered twice)")
    print(f"Feedback RPC p50 {percentile(feedback_ms, 0.5):.1f} ms, p99 {percentile(feedback_ms, 0.99):.1f} ms")
    print(f"GetExperiment over {recorded} recorded answers: {report_ms:.0f} ms")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {CLIENTS} clients, {args.tokens} tokens each; record on {args.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
