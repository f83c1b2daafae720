"""The decode step as one compiled graph: per-operator overhead out of few-client streams on the CPU.

A decode step of a small model is mostly per-operator overhead: each of its ~40 operators per
layer costs a few microseconds of dispatch however little it computes. torch.compile (inductor)
turns the whole step, 30 layers and the head, into one call of generated C++ loops: norms,
rotary, residual adds and the KV cache writes fuse into a handful of kernels around the matrix
products, and only one set of guards is checked per step. It takes the steps that only decode,
with at most `MAX_GRAPH_ROWS` rows, and their LoRA rows where the adapters' deltas come from
tuneserve's kernel (server.adapters.lora `in_graph`: one graph with and one without them per
bucket); everything else (prefill, label scoring, large batches where the matrix products
dominate) runs eagerly in server.engine.model_runner, on the same weights, tables and cache.

Shapes: the context length is dynamic, so a step never recompiles as sequences grow; the number
of rows is specialised at 1 and dynamic above, split where the weights used change (each
projection's `max_rows`, server.engine.weights.MAX_ROWS), which bounds the graphs to
`row_buckets()` and lets warm-up compile every one of them before the server says SERVING.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from server.adapters.lora import LoraRouting
from server.engine.decoder_layer import attention_inputs, final_logits, layer_output, window_context
from server.engine.model_runner import LoraAdder, ModelRunner, StepBatch
from server.engine.weights import Linear, Projection

# Decode steps of up to this many rows run compiled: past it the matrix products dominate a step and
# the graph gained nothing over eager steps, while a graph for 7-16 rows cost a minute of start-up
# (figures in docs/performance.md).
MAX_GRAPH_ROWS = 6

# Generated kernels run on the calling thread only. Compiled with the system's g++ -fopenmp they would
# bring the system's libgomp, a second OpenMP runtime beside torch's own: its team and torch's then
# spin against each other on a small machine, and the step gets slower than the eager one.
_INDUCTOR_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {"cpp.threads": 1}


def row_buckets(switches: Iterable[int], max_rows: int = MAX_GRAPH_ROWS) -> list[tuple[int, int]]:
    """Row ranges that share one compiled graph: 1 alone, then up to each row count after which a
    projection switches weights (`switches`), up to `max_rows`."""
    edges = sorted({1, *(limit for limit in switches if 0 < limit < max_rows), max_rows})
    return [(low + 1 if i else 1, high) for i, (low, high) in enumerate(zip([0, *edges], edges, strict=False))]


def unavailable_reason(runner: ModelRunner) -> str | None:
    """Why the decode graph cannot serve this model here; None when it can."""
    if runner.device.type != "cpu":
        return f"compiled decode is built for the CPU; {runner.device.type} runs eagerly"
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return "no C++ compiler on this machine (torch.compile's CPU backend needs one)"
    if not all(isinstance(p, Linear) for p in projections(runner)):
        return "some projections are bitsandbytes modules, which the graph does not take"
    return None


def projections(runner: ModelRunner) -> list[Projection]:
    return [p for w in runner.layers for p in (w.qkv, w.o, w.gate_up, w.down)] + [runner.lm_head]


def decode_accepts(batch: StepBatch, lora_in_graph: bool) -> bool:
    """Whether a step can run on the decode graph: one-token rows only, all sampled, and adapters
    only where the graph adds their deltas (`lora_in_graph`) with the kernel."""
    rows = int(batch.input_ids.shape[0])
    lora = batch.lora
    return (
        not batch.prefills
        and batch.num_decode == rows
        and 0 < rows <= MAX_GRAPH_ROWS
        # a context of one token would be a graph of its own (the compiler specialises sizes 0 and 1):
        # compiled in the middle of serving, it would stall every stream for seconds
        and batch.decode_kv_slots is not None
        and int(batch.decode_kv_slots.shape[1]) >= 2
        and int(batch.logits_rows.shape[0]) == rows  # each row wants its own next token, in order
        and not batch.exact_logits
        # rows of a LongRoPE sequence on the long factors (batch.rope_rows) too: a decode row of one
        # lies at or past the original window, where both copies of the rope tables hold the same
        # rotation (server.engine.model_runner.rope_tables), so its position indexes them
        and (lora is None or not lora.groups or (lora_in_graph and lora.decode_slots is not None))
    )


@dataclass
class Compiled:
    """What compiling produced, for ModelInfo, the start-up log and the metrics."""

    seconds: float
    buckets: list[tuple[int, int]]
    lora: bool = False  # each bucket also compiled with LoRA rows

    def describe(self) -> str:
        rows = ", ".join(f"{low}" if low == high else f"{low}-{high}" for low, high in self.buckets)
        with_lora = " (with and without LoRA rows)" if self.lora else ""
        return f"compiled decode (torch.compile) for steps of {rows} rows{with_lora}, {self.seconds:.1f} s at start-up"


class DecodeGraph:
    """The decode-only step of a `ModelRunner`, compiled once per row bucket at warm-up."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner
        cache = runner.cache
        layers, slots = cache.kv.shape[:2]
        self._stride = slots  # flat slot of (layer, slot) is layer * slots + slot
        # The cache goes in as an argument: a tensor the graph mutates must be one of its inputs,
        # or the compiler copies it whole on every step.
        self._kv = cache.kv.view(layers * slots, *cache.kv.shape[2:])
        torch._dynamo.maybe_mark_dynamic(self._kv, 0)  # one graph whatever the cache's size
        self._step: Callable[..., torch.Tensor] = torch.compile(self._decode, fullgraph=True, options=_INDUCTOR_OPTIONS)
        self.lora: LoraAdder | None = runner.lora if runner.lora is not None and runner.lora.in_graph else None
        self._windows = sorted({w for w in runner.shape.windows if w is not None})  # the order of `_decode`'s `windowed`

    @property
    def takes_lora(self) -> bool:
        """Whether steps with LoRA rows run on the graph."""
        return self.lora is not None

    def _project(self, layer: int, group: str, projection: Projection, x: torch.Tensor, lora_slots: torch.Tensor | None) -> torch.Tensor:
        if lora_slots is None or self.lora is None:
            return projection(x)
        out = projection(x, prefetch=self.lora.decode_reads(layer, group), prefetch_slots=lora_slots)
        self.lora.add_decode(layer, group, x, out, lora_slots)
        return out

    def _decode(
        self,
        kv: torch.Tensor,
        ids: torch.Tensor,
        positions: torch.Tensor,
        write_slots: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor | None,
        windowed: tuple[tuple[torch.Tensor, torch.Tensor], ...],
        lora_slots: torch.Tensor | None,
    ) -> torch.Tensor:
        # ids, positions, write_slots: [B]; context: [B, L] cache slots; mask: [B, 1, 1, L] or None;
        # windowed: per window of `self._windows`, the slots [B, W] and mask [B, 1, 1, W] of the
        # context within it; lora_slots: [B] each row's LoRA slot (0: the base model), or None
        r, shape = self.runner, self.runner.shape
        h = r.embed(ids).to(r.dtype)
        ropes = r.ropes_at(positions)
        contexts: dict[int | None, tuple[torch.Tensor, torch.Tensor | None]] = {None: (context, mask)}
        contexts.update(zip(self._windows, windowed, strict=True))
        for i, w in enumerate(r.layers):

            def project(group: str, projection: Projection, x: torch.Tensor, i: int = i) -> torch.Tensor:
                return self._project(i, group, projection, x, lora_slots)

            offset = i * self._stride
            qkv = attention_inputs(shape, w, h, project, *ropes[shape.rope_kinds[i]], kv.dtype)
            kv.index_copy_(0, write_slots + offset, qkv[:, shape.heads :])
            slots, layer_mask = contexts[shape.windows[i]]
            attended = r.attend_cached(qkv[:, : shape.heads], kv, slots + offset, layer_mask)
            h = layer_output(shape, w, h, attended, project, r.act)
        return final_logits(shape, h, r.final_norm, r.lm_head)

    def __call__(self, batch: StepBatch) -> torch.Tensor:
        """Next-token logits of a step that `decode_accepts`: [B, vocab], float32."""
        assert batch.decode_kv_slots is not None, "decode rows come with their context"
        context, mask = batch.decode_kv_slots, batch.decode_kv_mask
        lora_slots = batch.lora.decode_slots if batch.lora is not None and batch.lora.groups else None
        rows = context.shape[0]
        if rows > 1 and mask is None:  # one graph per bucket: steps of equal lengths pass a full mask
            # made as the batch builder makes a ragged step's, outside inference mode: an inference
            # tensor has other dispatch keys, a guard of the graph, which compiled again mid-serving
            with torch.inference_mode(False):
                mask = torch.ones(rows, 1, 1, context.shape[1], dtype=torch.bool, device=context.device)
        torch._dynamo.maybe_mark_dynamic(context, 1)
        if rows > 1:  # compiled for a range of rows at once, not first for one count and then again
            for rows_first in (batch.input_ids, batch.positions, batch.write_slots, context, lora_slots):
                if rows_first is not None:
                    torch._dynamo.maybe_mark_dynamic(rows_first, 0)
        if mask is not None:
            torch._dynamo.maybe_mark_dynamic(mask, 0)
            torch._dynamo.maybe_mark_dynamic(mask, 3)
        windowed = self._window_contexts(batch.positions, context, mask, rows > 1)
        return self._step(self._kv, batch.input_ids, batch.positions, batch.write_slots, context, mask, windowed, lora_slots)

    def _window_contexts(
        self, positions: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None, rows_vary: bool
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        """The context within each window (always gathered and masked, so that the graph's inputs keep
        their kinds), made before the graph: a width of min(window, context) computed inside it
        would make the compiler guard on which side of the window the context lies, and compile
        again, stalling every stream, when a context first crosses it."""
        real = None if mask is None else mask[:, 0, 0]
        windowed = []
        for window in self._windows:
            slots, window_mask = window_context(window, context, positions, real)
            window_mask = window_mask[:, None, None, :]
            torch._dynamo.maybe_mark_dynamic(slots, 1)
            torch._dynamo.maybe_mark_dynamic(window_mask, 3)
            if rows_vary:
                torch._dynamo.maybe_mark_dynamic(slots, 0)
                torch._dynamo.maybe_mark_dynamic(window_mask, 0)
            windowed.append((slots, window_mask))
        return tuple(windowed)

    def warm_up(self) -> Compiled:
        """Compiles the graph of every row bucket, writing and reading only the cache's padding block.

        Not slot 0: with 'auto' this runs while the eager step serves, and block 0 is handed out like
        any other, so a write there overwrote the first token of whichever sequence held it."""
        started = time.monotonic()
        buckets = row_buckets(p.max_rows for p in projections(self.runner) if isinstance(p, Linear))
        device = self.runner.device
        pad_slot = self.runner.cache.pad_block * self.runner.cache.block_size
        for low, _ in buckets:
            # Two context tokens, so the context length is never specialised as 1.
            # Distinct tensors: the graph's guards would otherwise hold that ids is positions.
            ids, positions = (torch.zeros(low, dtype=torch.long, device=device) for _ in range(2))
            write_slots = torch.full((low,), pad_slot, dtype=torch.long, device=device)
            context = torch.full((low, 2), pad_slot, dtype=torch.long, device=device)
            mask = torch.ones(low, 1, 1, 2, dtype=torch.bool, device=device) if low > 1 else None
            batch = StepBatch(
                input_ids=ids,
                positions=positions,
                write_slots=write_slots,
                logits_rows=torch.arange(low, device=device),
                num_decode=low,
                decode_kv_slots=context,
                decode_kv_mask=mask,
            )
            # the same with LoRA rows, all of slot 0 (the base model: nothing added)
            slots = torch.zeros(low, dtype=torch.long, device=device)
            lora = LoraRouting(low, None, [], frozenset({"qkv"}), decode_slots=slots)
            with torch.inference_mode():  # as the engine steps; its inputs, like the engine's, from outside it
                self(batch)
                if self.lora is not None:
                    self(dataclasses.replace(batch, lora=lora))
        return Compiled(time.monotonic() - started, buckets, self.lora is not None)
