"""Structured-output and HTTP benchmark, in one run against one server process.

* 32 concurrent gRPC streams on the same prompts, free vs constrained to a nested JSON schema
  (greedy, up to --max-new-tokens): tokens/s of each and the ratio (target >= 0.9);
* the grammar compile time of that schema (cold, and cached), in this process;
* 32 concurrent streaming clients with forced lengths over gRPC vs over the OpenAI-compatible
  HTTP API (the official `openai` client, SSE): tokens/s and the ratio (target >= 0.9).

    python bench/structured.py [--max-new-tokens 128] [--clients 32] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, free_port, start_server  # noqa: E402

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 32},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "mood": {"enum": ["happy", "sad", "neutral"]},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 24}, "maxItems": 4},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 24}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["city", "zip"],
        },
    },
    "required": ["name", "age", "mood", "hobbies", "address"],
}
SUBJECTS = ["a sailor", "a violinist", "a farmer", "a chess player", "a baker", "a runner", "a nurse", "a pilot"]


def json_prompts(n: int) -> list[str]:
    return [f"Invent a profile of {SUBJECTS[i % len(SUBJECTS)]} number {i}, as JSON." for i in range(n)]


async def grpc_run(address: str, prompts: list[str], max_new: int, schema: dict | None, forced: bool) -> tuple[int, float]:
    """(tokens generated, wall seconds) of all prompts at once over gRPC streams."""
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)

        async def one(prompt: str) -> int:
            params = common_pb2.GenerationParameters(max_new_tokens=max_new, temperature=0.0)
            if forced:
                params.min_new_tokens = max_new
            if schema is not None:
                params.structured_output.json_schema = json.dumps(schema)
            request = inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="user", content=prompt)], parameters=params)
            return sum([len(chunk.token_ids) async for chunk in stub.GenerateStream(request)])

        start = time.perf_counter()
        counts = await asyncio.gather(*(one(p) for p in prompts))
        return sum(counts), time.perf_counter() - start


async def http_run(base_url: str, prompts: list[str], max_new: int) -> tuple[int, float]:
    """(tokens generated, wall seconds) of all prompts at once, streamed over the OpenAI API."""
    import openai

    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600) as client:

        async def one(prompt: str) -> int:
            stream = await client.chat.completions.create(
                model="",
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_new,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"min_tokens": max_new},
            )
            tokens = 0
            async for chunk in stream:
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            return tokens

        start = time.perf_counter()
        counts = await asyncio.gather(*(one(p) for p in prompts))
        return sum(counts), time.perf_counter() - start


def compile_times() -> dict[str, float]:
    from common.base_model import load_tokenizer
    from common.settings import ModelSettings
    from server.engine.structured_output import ConstraintSpec, GrammarCompiler

    tokenizer = load_tokenizer(ModelSettings())
    compiler = GrammarCompiler(tokenizer, len(tokenizer), frozenset({tokenizer.eos_token_id}))
    start = time.perf_counter()
    compiler.compile(ConstraintSpec("regex", "a"), "warm")  # builds the token trie once per process
    tokenizer_s = time.perf_counter() - start
    spec = ConstraintSpec("json_schema", json.dumps(PERSON, sort_keys=True))
    start = time.perf_counter()
    compiled = compiler.compile(spec, "bench")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    compiler.compile(spec, "bench")
    cached = time.perf_counter() - start
    start = time.perf_counter()
    compiled.matcher()
    matcher = time.perf_counter() - start
    return {"tokenizer_s": tokenizer_s, "schema_cold_s": cold, "schema_cached_s": cached, "matcher_copy_s": matcher}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    n, max_new = args.clients, args.max_new_tokens

    http_port = free_port()
    proc, address = start_server(http_port=str(http_port))
    base_url = f"http://127.0.0.1:{http_port}/v1"
    figures: dict[str, float] = {}
    try:
        prompts = json_prompts(n)
        asyncio.run(grpc_run(address, prompts[:4], 8, PERSON, forced=False))  # warm both paths
        asyncio.run(http_run(base_url, QUESTIONS[:4], 8))
        for label, schema in (("free", None), ("json_schema", PERSON), ("free_again", None)):
            tokens, wall = asyncio.run(grpc_run(address, prompts, max_new, schema, forced=False))
            figures[f"{label}_tps"] = tokens / wall
            print(f"gRPC {n} streams, {label:>11}: {tokens:5d} tokens in {wall:6.2f} s = {tokens / wall:6.1f} tok/s", flush=True)
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]
        for label, run in (
            ("grpc", lambda: grpc_run(address, questions, 64, None, forced=True)),
            ("http", lambda: http_run(base_url, questions, 64)),
        ):
            tokens, wall = asyncio.run(run())
            figures[f"{label}_forced_tps"] = tokens / wall
            print(f"{label:>4} {n} clients, 64 forced tokens: {tokens:5d} tokens in {wall:6.2f} s = {tokens / wall:6.1f} tok/s", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    figures |= compile_times()
    free = (figures["free_tps"] + figures["free_again_tps"]) / 2
    ratios = {
        "json_schema / free tok/s (target >= 0.9)": figures["json_schema_tps"] / free,
        "http / grpc tok/s (target >= 0.9)": figures["http_forced_tps"] / figures["grpc_forced_tps"],
    }
    print(
        f"grammar: llguidance tokenizer {figures['tokenizer_s'] * 1000:.0f} ms once per process; schema compile "
        f"{figures['schema_cold_s'] * 1000:.1f} ms cold, {figures['schema_cached_s'] * 1e6:.0f} us cached; "
        f"matcher per request {figures['matcher_copy_s'] * 1e6:.0f} us"
    )
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
