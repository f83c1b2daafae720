"""Sliding layers reading their window against reading the whole context, in one process.

A model with sliding-window layers (Gemma 3, Mistral where its config sets a window) attends each
such layer's queries over the latest `window` positions only. The eager model step gathers just
those keys and values (server.engine.decoder_layer.window_contexts); the baseline, which the step
did before, gathers the whole context for every layer and masks what lies before the window. For
each context in --contexts and row count in --rows (every row at that many tokens, its cache
filled with random keys and values), both ways run alternately on the same inputs: the median time
of one decode step each, their ratio, and the largest difference of their logits (the two read the
same keys, so it stays at rounding). --steps compiled times the CPU decode graph
(server.engine.decode_graph) the same way, after compiling it for each. Runs on the model's
device (CPU here), on the kernels the engine would choose (--kernels off: aten's attention over
a gathered copy, the way the CUDA path reads; tuneserve's CPU kernel skips masked slots itself).

    python bench/window_reads.py [--model PATH|gemma3] [--contexts 512,2048,8192] [--rows 1,8] [--steps eager,compiled]
                                 [--kernels auto|off]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peer import model_path  # noqa: E402
from server.engine import decode_graph, model_runner  # noqa: E402
from server.engine.decode_graph import DecodeGraph  # noqa: E402
from server.engine.decoder_layer import window_context, window_contexts  # noqa: E402
from server.engine.kernels.build import choose as choose_kernels  # noqa: E402
from server.engine.kv_cache import PagedKVCache, block_slots  # noqa: E402
from server.engine.model_runner import ModelRunner, StepBatch  # noqa: E402


def whole_context(window: int, slots: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None):
    """The baseline's context of a window: the whole context, masked before the window."""
    inside = torch.arange(slots.shape[1], device=slots.device)[None, :] > positions[:, None] - window
    return slots, inside if mask is None else inside & mask


def whole_contexts(windows, slots: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None):
    """`whole_context` for each window, as `window_contexts` gives the window reads."""
    return {window: whole_context(window, slots, positions, mask) for window in {w for w in windows if w is not None}}


# what each way puts in place of the names the eager step and the CPU decode graph read their contexts by
WAYS = {
    "window": {(model_runner, "window_contexts"): window_contexts, (decode_graph, "window_context"): window_context},
    "whole": {(model_runner, "window_contexts"): whole_contexts, (decode_graph, "window_context"): whole_context},
}


def use(way: str) -> None:
    for (module, name), function in WAYS[way].items():
        setattr(module, name, function)


def step_seconds(step: Callable[[StepBatch], torch.Tensor], batch: StepBatch) -> float:
    """Seconds of one model step to its logits."""
    started = time.perf_counter()
    step(batch)
    if batch.input_ids.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def decode_batch(rows: int, context: int, block_size: int, device: torch.device) -> StepBatch:
    """`rows` decode rows, each the next token after `context` - 1 cached ones in blocks of its own."""
    pages = -(-context // block_size)
    slots = [block_slots(list(range(1 + r * pages, 1 + (r + 1) * pages)), block_size, device)[:context] for r in range(rows)]
    return StepBatch(
        input_ids=torch.arange(rows, device=device) + 100,
        positions=torch.full((rows,), context - 1, device=device),
        write_slots=torch.stack([s[-1] for s in slots]),
        logits_rows=torch.arange(rows, device=device),
        num_decode=rows,
        decode_kv_slots=torch.stack(slots),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3", help="a GGUF file or model directory with sliding layers; 'gemma3'")
    parser.add_argument("--quantization", default="auto")
    parser.add_argument("--contexts", default="512,2048,8192")
    parser.add_argument("--rows", default="1,8")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps of each way per figure, alternating")
    parser.add_argument("--steps", default="eager", help="'eager' (the model step), 'compiled' (the CPU decode graph) or both")
    parser.add_argument("--kernels", default="auto", help="tuneserve's CPU kernels: 'auto' as the engine chooses, or 'off' (aten's)")
    args = parser.parse_args()
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    base = load_base_model(ModelSettings(model=str(model_path(args.model)), quantization=args.quantization))
    shape = base.shape
    windows = sorted({w for w in shape.windows if w is not None})
    if not windows:
        print(f"{shape.family.label} here has no sliding layers: both ways are the same step")
        return 0
    contexts, row_counts, block_size = [int(c) for c in args.contexts.split(",")], [int(r) for r in args.rows.split(",")], 16
    cache = PagedKVCache(
        num_layers=shape.layers,
        num_blocks=max(row_counts) * -(-max(contexts) // block_size) + 1,
        block_size=block_size,
        kv_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        dtype=base.precision.kv_cache_dtype,
        device=base.device,
    )
    cache.kv.normal_(std=0.5)
    use_kernels, kernels = choose_kernels(args.kernels, base.device)
    runner = ModelRunner(base, cache, max(contexts) + 1, use_kernels)
    steps: dict[str, Callable[[StepBatch], torch.Tensor]] = {"eager": runner.forward}
    if "compiled" in args.steps:
        steps["compiled"] = DecodeGraph(runner)
    sliding = sum(w is not None for w in shape.windows)
    print(f"{shape.family.label}, {sliding} of {shape.layers} layers within {windows}; {base.quantization}, {base.precision.dtype_name}")
    print(f"kernels: {kernels}")
    for kind in args.steps.split(","):
        step = steps[kind]
        for context in contexts:
            for rows in row_counts:
                batch = decode_batch(rows, context, block_size, base.device)
                logits, times = {}, {way: [] for way in WAYS}
                with torch.inference_mode():
                    for way in WAYS:
                        use(way)
                        logits[way] = step(batch).float()  # also the warm-up (and the compile)
                    for _ in range(args.repeats):
                        for way in WAYS:
                            use(way)
                            times[way].append(step_seconds(step, batch))
                use("window")
                window, whole = statistics.median(times["window"]), statistics.median(times["whole"])
                difference = (logits["window"] - logits["whole"]).abs().max().item()
                print(
                    f"{kind} step, {rows:>3} rows at {context:>5} tokens: window reads {window * 1000:.1f} ms, whole context "
                    f"{whole * 1000:.1f} ms, {whole / window:.2f}x; logits differ by at most {difference:.2e}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
