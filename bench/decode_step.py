"""The decode step on CUDA, in one process: replayed graphs against the eager step on the same inputs.

For each row count in --rows and context in --contexts (every row at that many tokens): the median
time of one decode step (host work, input copy and the GPU, to the logits on the GPU) on CUDA
graphs of eager pieces, of compiled pieces with gathered attention and of compiled pieces with
attention as sums over the cached slots (server.engine.cuda_graph), and on the eager model step
(server.engine.model_runner); and, for one row, the share of the copy bandwidth (measured in the
same run) the fastest graph's step uses reading the weights. This separates the GPU's part of a
token from the server's (bench/serving.py measures the whole path). GPU only.

    python bench/decode_step.py --model /tmp/m1b [--quantization int4] [--rows 1,8,32] [--contexts 128,2048]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import copy_bandwidth, weight_bytes_per_decode_step  # noqa: E402
from common.base_model import load_base_model  # noqa: E402
from common.settings import ModelSettings  # noqa: E402
from server.engine.cuda_graph import CudaDecodeGraph, DecodeRow, compilable  # noqa: E402
from server.engine.kv_cache import PagedKVCache, block_slots  # noqa: E402
from server.engine.model_runner import ModelRunner, StepBatch  # noqa: E402


def timed(step, repeats: int) -> float:
    """Median seconds of `step()` to its results on the GPU."""
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def eager_batch(rows: list[DecodeRow], block_size: int, device: torch.device) -> StepBatch:
    contexts = [block_slots(row.blocks, block_size, device)[: row.position + 1] for row in rows]
    return StepBatch(
        input_ids=torch.tensor([row.token for row in rows], device=device),
        positions=torch.tensor([row.position for row in rows], device=device),
        write_slots=torch.stack([c[-1] for c in contexts]),
        logits_rows=torch.arange(len(rows), device=device),
        num_decode=len(rows),
        decode_kv_slots=torch.stack(contexts),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--quantization", default="auto")
    parser.add_argument("--rows", default="1,8,32")
    parser.add_argument("--contexts", default="128,2048")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU: the CUDA decode graph is not built here")
        return 0
    base = load_base_model(ModelSettings(model=args.model, quantization=args.quantization))
    rows_wanted = [int(r) for r in args.rows.split(",")]
    contexts = [int(c) for c in args.contexts.split(",")]
    config, block_size = base.config, 16
    most_pages = -(-max(contexts) // block_size)
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers,
        num_blocks=max(rows_wanted) * most_pages + 1,
        block_size=block_size,
        kv_heads=config.num_key_value_heads,
        head_dim=getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads,
        dtype=base.precision.kv_cache_dtype,
        device=base.device,
    )
    cache.kv.normal_(std=0.5)
    runner = ModelRunner(base, cache, 2 * max(contexts))
    variants = [("eager", "gathered")]
    if compilable(runner):
        variants += [("compiled", "gathered"), ("compiled", "slots")]
    graphs = {}
    for pieces, attention in variants:
        graph = CudaDecodeGraph(runner, max(rows_wanted), max(contexts), pieces=pieces, attention=attention)
        started = time.monotonic()
        try:
            captured = graph.warm_up()
        except Exception as exc:
            print(f"{pieces} pieces, {attention} attention failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
            continue
        print(f"{captured.describe()} ({time.monotonic() - started:.1f} s)", flush=True)
        graphs[f"{pieces}/{attention}"] = graph
    results: dict[str, dict[str, float]] = {}
    for context in contexts:
        pages = -(-context // block_size)
        for n in rows_wanted:
            rows = [DecodeRow(1, context - 1, 0, list(range(1 + i * pages, 1 + (i + 1) * pages))) for i in range(n)]
            batch = eager_batch(rows, block_size, base.device)
            figures = {f"graph {name}": timed(lambda g=graph, r=rows: g(r), args.repeats) for name, graph in graphs.items()}
            with torch.inference_mode():
                figures["eager step"] = timed(lambda b=batch: runner.forward(b), args.repeats)
            results[f"{n}x{context}"] = figures
            line = ", ".join(f"{name} {seconds * 1000:.3f}" for name, seconds in figures.items())
            best = min(v for k, v in figures.items() if k.startswith("graph"))
            print(f"{n:>3} rows at {context:>5} tokens (ms): {line}; eager / best graph {figures['eager step'] / best:.2f}x", flush=True)
    summary: dict[str, object] = {"results": results, "quantization": base.quantization, "gpu": torch.cuda.get_device_name(base.device)}
    one = results.get(f"1x{contexts[0]}")
    if one is not None:
        fastest = min(v for k, v in one.items() if k.startswith("graph"))
        bandwidth = copy_bandwidth()
        weights = weight_bytes_per_decode_step(json.loads((base.weights_dir / "config.json").read_text()), base.quantization)
        share = weights / fastest / bandwidth
        summary["bandwidth_share_1_row"] = share
        gigabytes, terabytes = weights / 1e9, bandwidth / 1e12
        print(f"1-row graph step reads {gigabytes:.2f} GB of weights: {share:.0%} of the copy bandwidth ({terabytes:.2f} TB/s)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
