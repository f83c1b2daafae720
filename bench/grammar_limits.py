"""Grammar compile limits: what the worst grammar the limits accept costs, and what it costs
everybody else while it compiles, in one run against one server process.

* the largest JSON schema of a family that grows (N string properties, each with a pattern) that
  the default limits still accept, and the compile time of it, in this process;
* plain requests (--clients streams of --tokens greedy tokens, no constraint) timed quiet, then
  again while one more client keeps sending that worst grammar, each time with a new property
  name so that every request compiles afresh: p50 and p95 of the plain requests' latency in both
  phases and the ratio of the p95s (target <= 1.2x); and a control phase, the same extra client
  sending the same requests without a grammar, which separates compiling from being one more client.

    python bench/grammar_limits.py [--clients 8] [--tokens 32] [--rounds 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, start_server  # noqa: E402


def schema(properties: int, salt: str = "") -> dict:
    props = {f"field_{salt}{i}": {"type": "string", "pattern": f"^[a-z]{{2,{8 + i % 7}}}-[0-9]{{1,4}}$"} for i in range(properties)}
    return {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}


def worst_accepted() -> tuple[int, float]:
    """The most properties the default limits accept (doubling, then bisecting), and its compile time."""
    from common.base_model import load_tokenizer
    from common.errors import InvalidRequest
    from common.settings import ModelSettings
    from server.config import ServerSettings
    from server.engine.structured_output import ConstraintSpec, GrammarCompiler

    tokenizer = load_tokenizer(ModelSettings())
    compiler = GrammarCompiler(tokenizer, len(tokenizer), frozenset({tokenizer.eos_token_id}), cache_size=1)
    compiler.compile(ConstraintSpec("regex", "a"), "warm")

    def accepted(n: int) -> bool:
        source = json.dumps(schema(n, f"{n}_"))
        if len(source) > ServerSettings().max_structured_output_chars:  # refused before compiling
            return False
        try:
            compiler.compile(ConstraintSpec("json_schema", source), "bench")
            return True
        except InvalidRequest:
            return False

    low, high = 1, 2
    while accepted(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if accepted(middle) else (low, middle)
    start = time.perf_counter()
    compiler.compile(ConstraintSpec("json_schema", json.dumps(schema(low, "timed_"))), "bench")
    return low, time.perf_counter() - start


async def plain_latencies(address: str, clients: int, tokens: int, rounds: int, hostile_properties: int, side: bool = True) -> list[float]:
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        latencies: list[float] = []
        done = asyncio.Event()

        async def plain(i: int) -> None:
            for r in range(rounds):
                params = common_pb2.GenerationParameters(max_new_tokens=tokens, min_new_tokens=tokens, temperature=0.0)
                question = QUESTIONS[(i + r) % len(QUESTIONS)]
                request = inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="user", content=question)], parameters=params)
                start = time.perf_counter()
                await stub.Generate(request)
                latencies.append(time.perf_counter() - start)

        async def hostile() -> None:
            n = 0
            while not done.is_set():
                n += 1
                params = common_pb2.GenerationParameters(max_new_tokens=1)
                if hostile_properties:
                    params.structured_output.json_schema = json.dumps(schema(hostile_properties, f"h{n}_"))
                request = inference_pb2.GenerateRequest(prompt="x", parameters=params)
                try:
                    await stub.Generate(request)
                except grpc.aio.AioRpcError:
                    pass

        extra = asyncio.ensure_future(hostile()) if side else None
        await asyncio.gather(*(plain(i) for i in range(clients)))
        done.set()
        if extra is not None:
            await extra
        return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    properties, compile_s = worst_accepted()
    print(f"worst accepted schema: {properties} patterned string properties, compiled in {compile_s * 1000:.0f} ms")
    proc, address = start_server(compile_decode="on")  # quiet means quiet: no compile in the background
    try:
        asyncio.run(plain_latencies(address, args.clients, args.tokens, 1, 0, side=False))  # warm
        quiet = asyncio.run(plain_latencies(address, args.clients, args.tokens, args.rounds, 0, side=False))
        # the control: the same extra client sending the same 1-token requests without a grammar
        control = asyncio.run(plain_latencies(address, args.clients, args.tokens, args.rounds, 0))
        busy = asyncio.run(plain_latencies(address, args.clients, args.tokens, args.rounds, properties))
    finally:
        proc.terminate()
        proc.wait(60)
    ratio = p95(busy) / p95(quiet)
    print(f"plain requests quiet: p50 {statistics.median(quiet):.3f} s, p95 {p95(quiet):.3f} s")
    print(f"plain requests while the worst grammar compiles again and again: p50 {statistics.median(busy):.3f} s, p95 {p95(busy):.3f} s")
    print(f"plain requests beside the same client without a grammar (control): p95 {p95(control):.3f} s")
    print(f"p95 ratio busy/quiet: {ratio:.2f}x (target <= 1.2x); busy/control: {p95(busy) / p95(control):.2f}x")
    if args.json:
        args.json.write_text(
            json.dumps({"properties": properties, "compile_s": compile_s, "quiet": quiet, "busy": busy, "control": control, "ratio": ratio})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
