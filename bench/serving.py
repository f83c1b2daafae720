"""Serving benchmark: tuneserve under 1, 8 and 32 concurrent gRPC clients against plain transformers.

In one run, on the same chat prompts, greedy, up to --max-new-tokens each (generation stops at EOS
as it would in production):

* tuneserve: a real server process on loopback, N concurrent streaming clients;
* transformers `generate`, one request at a time (what a naive service does);
* transformers `generate` on one static, left-padded batch of all the prompts.

Prints tokens/s, TTFT and inter-token latency percentiles, and the ratios the issue targets:
tuneserve@32 >= 3x one-at-a-time and >= the static batch; TTFT p50 @1 within 1.2x of plain
transformers' prefill-plus-first-token on the same prompt.

    python bench/serving.py [--max-new-tokens 128] [--model embedded] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Who wrote Hamlet?",
    "Explain gravity in one sentence.",
    "What is 12 times 7?",
    "Name a colour of the rainbow.",
    "Give me a synonym for happy.",
    "What do bees make?",
    "How many days are in a week?",
    "Describe a cat in five words.",
    "What is the boiling point of water?",
    "Suggest a name for a pet goldfish.",
    "What is photosynthesis?",
    "Translate 'thank you' into French.",
    "Why is the sky blue?",
    "What is the largest ocean?",
    "Give one tip for better sleep.",
    "What is a noun?",
    "Name a famous painter.",
    "What does a thermometer measure?",
    "Write a one-line joke about computers.",
    "What is the square root of 81?",
    "Name a fruit that is yellow.",
    "What is the opposite of cold?",
    "How do you greet someone in Spanish?",
    "What is the tallest animal?",
    "Name a planet with rings.",
    "What is the main ingredient of guacamole?",
    "What is an adjective?",
    "Recommend a hobby for a rainy day.",
    "What is the speed of light, roughly?",
]


@dataclass
class Sample:
    ttft: float
    total: float
    tokens: int
    gaps: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- tuneserve -----------------------------------------------------------------------------------


def start_server(**settings: str) -> tuple[subprocess.Popen, str]:
    """A real server process on loopback with TUNESERVE_* `settings`; returns it once SERVING."""
    port = free_port()
    env = {
        **os.environ,
        "TUNESERVE_PORT": str(port),
        "TUNESERVE_METRICS_PORT": str(free_port()),
        "TUNESERVE_MAX_BATCH_SIZE": "32",
        "TUNESERVE_LOG_LEVEL": "WARNING",
        **{f"TUNESERVE_{key.upper()}": value for key, value in settings.items()},
    }
    proc = subprocess.Popen([sys.executable, "-m", "server"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from tuneserve_client import Client

    with Client(f"127.0.0.1:{port}") as client:
        client.wait_until_ready(timeout=900)  # a first start compiles the decode step
    return proc, f"127.0.0.1:{port}"


async def one_request(stub, question: str, max_new_tokens: int) -> Sample:
    from tuneserve.v1 import common_pb2, inference_pb2

    request = inference_pb2.GenerateRequest(
        messages=[common_pb2.ChatMessage(role="user", content=question)],
        parameters=common_pb2.GenerationParameters(max_new_tokens=max_new_tokens, temperature=0.0),
    )
    start = time.perf_counter()
    first = last = None
    tokens = 0
    gaps: list[float] = []
    async for chunk in stub.GenerateStream(request):
        now = time.perf_counter()
        if chunk.token_ids:
            if first is None:
                first = now
            else:
                # a chunk can carry several tokens (text held back); spread its gap evenly
                gaps.extend([(now - last) / len(chunk.token_ids)] * len(chunk.token_ids))
            last = now
            tokens += len(chunk.token_ids)
    end = time.perf_counter()
    return Sample(ttft=(first or end) - start, total=end - start, tokens=tokens, gaps=gaps)


async def run_clients(address: str, clients: int, requests: int, max_new_tokens: int) -> tuple[list[Sample], float]:
    from tuneserve.v1 import inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        queue = [QUESTIONS[i % len(QUESTIONS)] for i in range(requests)]
        samples: list[Sample] = []

        async def worker() -> None:
            while queue:
                samples.append(await one_request(stub, queue.pop(0), max_new_tokens))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return samples, time.perf_counter() - start


# -- plain transformers ----------------------------------------------------------------------------


def hf_prompt_ids(tokenizer, question: str) -> list[int]:
    text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def generated_count(row: list[int], eos: set[int]) -> int:
    for i, token in enumerate(row):
        if token in eos:
            return i + 1
    return len(row)


def hf_baselines(base, questions: list[str], max_new_tokens: int) -> dict[str, float]:
    import torch

    model, tokenizer = base.model, base.tokenizer
    eos = set(base.eos_token_ids)
    prompts = [hf_prompt_ids(tokenizer, q) for q in questions]
    kwargs = dict(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=sorted(eos), pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        model.generate(torch.tensor([prompts[0]]), **{**kwargs, "max_new_tokens": 4})  # warm-up
        ttfts = []
        for ids in prompts[:8]:
            start = time.perf_counter()
            model.generate(torch.tensor([ids]), **{**kwargs, "max_new_tokens": 1})
            ttfts.append(time.perf_counter() - start)
        start, tokens = time.perf_counter(), 0
        for ids in prompts:
            out = model.generate(torch.tensor([ids]), **kwargs)
            tokens += generated_count(out[0, len(ids) :].tolist(), eos)
        sequential = tokens / (time.perf_counter() - start)
        width = max(len(p) for p in prompts)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        start = time.perf_counter()
        out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        elapsed = time.perf_counter() - start
        tokens = sum(generated_count(row[width:].tolist(), eos) for row in out)
    return {"sequential_tps": sequential, "static_batch_tps": tokens / elapsed, "ttft_p50": statistics.median(ttfts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    proc, address = start_server(model=args.model)
    rows = {}
    try:
        for clients in (int(x) for x in args.levels.split(",")):
            requests = max(8, 2 * clients)
            asyncio.run(run_clients(address, clients, min(clients, 4), 8))  # warm the path
            samples, wall = asyncio.run(run_clients(address, clients, requests, args.max_new_tokens))
            gaps = [g for s in samples for g in s.gaps]
            rows[clients] = {
                "requests": requests,
                "tokens_per_s": sum(s.tokens for s in samples) / wall,
                "ttft_p50": percentile([s.ttft for s in samples], 0.5),
                "ttft_p90": percentile([s.ttft for s in samples], 0.9),
                "ttft_p99": percentile([s.ttft for s in samples], 0.99),
                "itl_p50": percentile(gaps, 0.5),
                "itl_p90": percentile(gaps, 0.9),
                "itl_p99": percentile(gaps, 0.99),
            }
            row = rows[clients]
            print(
                f"tuneserve {clients:>2} clients: {row['tokens_per_s']:7.1f} tok/s  "
                f"TTFT p50/p90/p99 {row['ttft_p50'] * 1000:6.0f}/{row['ttft_p90'] * 1000:6.0f}/{row['ttft_p99'] * 1000:6.0f} ms  "
                f"ITL p50/p90/p99 {row['itl_p50'] * 1000:5.1f}/{row['itl_p90'] * 1000:5.1f}/{row['itl_p99'] * 1000:5.1f} ms",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(30)

    from common.base_model import load_base_model
    from common.settings import ModelSettings

    base = load_base_model(ModelSettings(model=args.model))
    hf = hf_baselines(base, QUESTIONS[:32], args.max_new_tokens)
    print(
        f"transformers one at a time: {hf['sequential_tps']:7.1f} tok/s; static padded batch of 32: {hf['static_batch_tps']:7.1f} tok/s; "
        f"TTFT p50 {hf['ttft_p50'] * 1000:.0f} ms"
    )
    top = rows.get(32)
    ratios = {}
    if top:
        ratios["tps@32 / one-at-a-time (target >= 3)"] = top["tokens_per_s"] / hf["sequential_tps"]
        ratios["tps@32 / static batch (target >= 1)"] = top["tokens_per_s"] / hf["static_batch_tps"]
    if 1 in rows:
        ratios["TTFT p50 @1 / transformers (target <= 1.2)"] = rows[1]["ttft_p50"] / hf["ttft_p50"]
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {base.device}, {base.quantization}, {str(base.dtype).removeprefix('torch.')}"
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"tuneserve": rows, "transformers": hf, "ratios": ratios, "machine": machine}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
