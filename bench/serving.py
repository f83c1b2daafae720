"""Serving benchmark: tuneserve under 1, 8 and 32 concurrent gRPC clients against plain transformers.

In one run, on the same chat prompts, greedy, up to --max-new-tokens each (generation stops at EOS
as it would in production):

* tuneserve: a real server process on loopback, N concurrent streaming clients, once per weight
  format in --formats (`auto` is the server's default; `int4`, `none` (bf16), `nf4` name one;
  `int4:cuda_graph_pieces=eager` adds server settings);
* transformers `generate`, one request at a time (what a naive service does), on --baseline-requests;
* transformers `generate` on one static, left-padded batch of all the prompts.

The baselines load the model unquantized in its own dtype (bf16 on a GPU): the faster of
transformers' formats there, so the ratios are against the stronger baseline.

Prints tokens/s, TTFT and inter-token latency percentiles, and the ratios the issues target:
CPU: tuneserve@32 >= 3x one-at-a-time and >= the static batch; TTFT p50 @1 within 1.2x of plain
transformers' prefill-plus-first-token on the same prompt. GPU: ITL p50 @1 <= 3 ms, tok/s @1 >= 5x
one-at-a-time, @32 >= 5,000 tok/s and >= 4x the static batch. On a GPU it also reports the share
of the copy bandwidth (measured in the same run) that one client's decode steps use reading the
weights, at ITL p50.

    python bench/serving.py [--max-new-tokens 128] [--model embedded] [--formats auto,nf4] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# a port reserved until the server binds it, as the tests take theirs (the other benches import it from here)
from tests.tools import free_port  # noqa: E402

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


# -- tuneserve -----------------------------------------------------------------------------------


def start_server(**settings: str) -> tuple[subprocess.Popen, str]:
    """A real server process on loopback with TUNESERVE_* `settings`; returns it once SERVING."""
    port = free_port()
    env = {
        **os.environ,
        "TUNESERVE_PORT": str(port),
        "TUNESERVE_METRICS_PORT": str(free_port()),
        "TUNESERVE_HTTP_PORT": "0",
        "TUNESERVE_MAX_BATCH_SIZE": "32",
        "TUNESERVE_LOG_LEVEL": "WARNING",
        **{f"TUNESERVE_{key.upper()}": value for key, value in settings.items()},
    }
    log = open(Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"server-{port}.log", "w")  # noqa: SIM115 - the server's lifetime
    proc = subprocess.Popen([sys.executable, "-m", "server"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    from tuneserve_client import Client

    with Client(f"127.0.0.1:{port}") as client:
        client.wait_until_ready(timeout=900)  # a first start compiles the decode step
        info = client.model_info()
    print(f"server ready: quantization {info.quantization}, dtype {info.dtype}; {info.decode_step}", flush=True)
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


def hf_baselines(base, questions: list[str], max_new_tokens: int, sequential_requests: int) -> dict[str, float]:
    import torch

    model, tokenizer = base.model, base.tokenizer
    eos = set(base.eos_token_ids)
    prompts = [hf_prompt_ids(tokenizer, q) for q in questions]
    kwargs = dict(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=sorted(eos), pad_token_id=tokenizer.pad_token_id)
    device = base.device

    def tensor(rows: list[list[int]]) -> torch.Tensor:
        return torch.tensor(rows, device=device)

    def synchronized() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    with torch.inference_mode():
        model.generate(tensor([prompts[0]]), **{**kwargs, "max_new_tokens": 4})  # warm-up
        ttfts = []
        for ids in prompts[:8]:
            start = synchronized()
            model.generate(tensor([ids]), **{**kwargs, "max_new_tokens": 1})
            ttfts.append(synchronized() - start)
        start, tokens = synchronized(), 0
        for ids in prompts[:sequential_requests]:
            out = model.generate(tensor([ids]), **kwargs)
            tokens += generated_count(out[0, len(ids) :].tolist(), eos)
        sequential = tokens / (synchronized() - start)
        width = max(len(p) for p in prompts)
        pad = tokenizer.pad_token_id
        input_ids = tensor([[pad] * (width - len(p)) + p for p in prompts])
        attention = tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        start = synchronized()
        out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        elapsed = synchronized() - start
        tokens = sum(generated_count(row[width:].tolist(), eos) for row in out)
    return {"sequential_tps": sequential, "static_batch_tps": tokens / elapsed, "ttft_p50": statistics.median(ttfts)}


def parse_format(spec: str) -> tuple[str, dict[str, str]]:
    """`int4:cuda_graph_pieces=eager` -> ("int4", {"quantization": "int4", "cuda_graph_pieces": "eager"})."""
    name, *extra = spec.split(":")
    settings = dict(item.split("=", 1) for item in extra)
    if name != "auto":
        settings["quantization"] = name
    return spec, settings


def serve_levels(model: str, settings: dict[str, str], levels: list[int], max_new_tokens: int) -> tuple[dict[int, dict[str, float]], str]:
    """The figures at each level of clients, and the weight format the server chose."""
    from tuneserve_client import Client

    proc, address = start_server(model=model, **settings)
    with Client(address) as client:
        quantization = client.model_info().quantization
    rows = {}
    try:
        for clients in levels:
            requests = max(8, 2 * clients)
            asyncio.run(run_clients(address, clients, min(clients, 4), 8))  # warm the path
            samples, wall = asyncio.run(run_clients(address, clients, requests, max_new_tokens))
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
    return rows, quantization


def weight_bytes_per_decode_step(config, quantization: str) -> float:
    """Bytes of weights one decode step of one row reads: the decoder's linear layers in the format
    the server streams them (int4: 4-bit values and a bf16 scale and zero per 32; nf4: 4-bit values
    and a scale per 64; else bf16) and the bf16 head."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
    kv = config["num_key_value_heads"] * head_dim
    per_layer = hidden * (hidden + 2 * kv) + hidden * hidden + 3 * hidden * config["intermediate_size"]
    per_param = {"int4": 0.5 + 4 / 32, "nf4": 0.5 + 4 / 64}.get(quantization, 2.0)
    return layers * per_layer * per_param + 2 * config["vocab_size"] * hidden


def copy_bandwidth() -> float:
    """Bytes read plus written per second by a large device-to-device copy (the ceiling used)."""
    import torch

    src = torch.empty(2**30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        dst.copy_(src)
    torch.cuda.synchronize()
    return 2 * 10 * src.numel() / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--formats", default="auto", help="comma-separated weight formats to serve, each with optional :setting=value")
    parser.add_argument("--baseline-requests", type=int, default=32, help="requests transformers answers one at a time")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch

    levels = [int(x) for x in args.levels.split(",")]
    served: dict[str, dict[int, dict[str, float]]] = {}
    formats: dict[str, str] = {}  # the weight format each spec served
    for spec, settings in map(parse_format, args.formats.split(",")):
        print(f"-- tuneserve, format {spec}", flush=True)
        try:
            served[spec], formats[spec] = serve_levels(args.model, settings, levels, args.max_new_tokens)
        except Exception as exc:  # one format failing leaves the others' figures
            print(f"format {spec} failed: {type(exc).__name__}: {exc}", flush=True)

    from common.base_model import load_base_model
    from common.settings import ModelSettings

    base = load_base_model(ModelSettings(model=args.model, quantization="none"))
    hf = hf_baselines(base, QUESTIONS[:32], args.max_new_tokens, args.baseline_requests)
    print(
        f"transformers ({base.quantization}, {str(base.dtype).removeprefix('torch.')}) one at a time: {hf['sequential_tps']:7.1f} tok/s; "
        f"static padded batch of 32: {hf['static_batch_tps']:7.1f} tok/s; TTFT p50 {hf['ttft_p50'] * 1000:.0f} ms"
    )
    gpu = base.device.type == "cuda"
    bandwidth = copy_bandwidth() if gpu else None
    config = json.loads((base.weights_dir / "config.json").read_text())
    ratios: dict[str, dict[str, float]] = {}
    for spec, rows in served.items():
        mine: dict[str, float] = {}
        top, one = rows.get(32), rows.get(1)
        if top and gpu:
            mine["tok/s @32 (target >= 5000)"] = top["tokens_per_s"]
            mine["tok/s @32 / static batch (target >= 4)"] = top["tokens_per_s"] / hf["static_batch_tps"]
        elif top:
            mine["tps@32 / one-at-a-time (target >= 3)"] = top["tokens_per_s"] / hf["sequential_tps"]
            mine["tps@32 / static batch (target >= 1)"] = top["tokens_per_s"] / hf["static_batch_tps"]
        if one and gpu:
            mine["ITL p50 @1 in ms (target <= 3)"] = one["itl_p50"] * 1000
            mine["tok/s @1 / one-at-a-time (target >= 5)"] = one["tokens_per_s"] / hf["sequential_tps"]
            assert bandwidth is not None
            mine["copy bandwidth used reading weights @1, at ITL p50"] = (
                weight_bytes_per_decode_step(config, formats[spec]) / one["itl_p50"] / bandwidth
            )
        elif one:
            mine["TTFT p50 @1 / transformers (target <= 1.2)"] = one["ttft_p50"] / hf["ttft_p50"]
        ratios[spec] = mine
        for name, value in mine.items():
            print(f"{spec}: {name}: {value:.2f}")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {base.device}"
    if gpu:
        machine += f", {torch.cuda.get_device_name(base.device)}, copy bandwidth {bandwidth / 1e12:.2f} TB/s"  # type: ignore[operator]
    versions = f"torch {torch.__version__}, transformers {__import__('transformers').__version__}"
    shape = {
        k: config.get(k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads")
    }
    print(f"machine: {machine}; {versions}; shape {shape}")
    if args.json:
        report = {"tuneserve": served, "transformers": hf, "ratios": ratios, "machine": machine, "versions": versions, "shape": shape}
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
