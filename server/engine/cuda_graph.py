"""The decode step on CUDA: one layer body, compiled, captured as CUDA graphs per bucket and replayed.

An eager decode step on a GPU is bound by the host, not the GPU: ~30 operators a layer, each a
launch of a few microseconds for a kernel that runs a few microseconds, plus the Python around
them (the H200 served one stream slower than transformers' `generate`). Here a decode-only step
of up to `max_rows` rows is one `CUDAGraph.replay()`:

* **Static inputs.** Each step's token ids, positions, cache write slots, context lengths and
  LoRA slots, and each row's block table, are written into pinned host arrays and copied in one
  go into device buffers that every graph reads (`StaticInputs`); nothing else changes between
  replays. A step is padded up to its bucket: padding rows write into the cache's padding block
  and their logits are dropped; padded table entries point at the padding block, masked out.
* **Buckets.** A graph per (rows, pages of context, with or without LoRA rows): rows in
  `row_buckets` (1, 2, 4, 8, 16, 24, 32, ... up to the batch size), pages of `block_size`
  tokens in powers of two up to the context window (`page_buckets`). Attention reads the keys
  and values of the bucket's pages, so a short context does not pay for the longest one, and a
  sliding layer only the slots of its window within them (a width fixed per bucket).
* **One layer body.** `layer_pre` (norm, fused q/k/v, rotary) and `layer_post` (attention over
  the cached context, o projection, norm, MLP, residuals) are the pieces every layer runs, the two
  halves of server.engine.decoder_layer around the attention, eager
  by default; with `pieces="compiled"` each is compiled once with torch.compile (dynamic rows and
  context, so a handful of compiles serve every bucket and layer) and inductor fuses the norms,
  rotary, residuals and activations around the matrix products. The cache write sits between
  them, eager, so no compiled piece mutates the cache. Where compiling fails the eager pieces
  are captured instead. Captured, the eager pieces measured faster than the compiled ones with
  `attend_slots` on an H200 (docs/performance.md), and they add no compiling to a start.
* **Attention from the paged cache.** Each row's keys and values are read through its block
  table. `attend_gathered` gathers them into one copy for aten's attention (flash or the
  memory-efficient kernel); `attend_slots`, for compiled pieces, is written as sums over the
  cached slots, which inductor turns into indirect loads inside its reductions, with no copy.
  flex_attention was the other candidate: its decode kernel needs a static batch and a
  power-of-two query group, and SmolLM2's group is 3.
* **LoRA rows** take their deltas inside the graph from every slot's tables at once
  (server.adapters.lora `add_dense`): shapes fixed by the tables, nothing data-dependent.

The engine builds its own next step while the GPU runs this one, and streams the previous
step's text meanwhile (server.engine.engine). Off CUDA the class runs the same static step
without capturing (`capture=False`), which is how the CPU tests exercise it.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from common.model_families import ModelShape
from server.adapters.lora import LoraTables
from server.engine.decode_graph import projections
from server.engine.decoder_layer import attention_inputs, final_logits, layer_output, window_contexts
from server.engine.kv_cache import gather_kv
from server.engine.model_runner import ModelRunner, attend_decode
from server.engine.weights import LayerWeights, Linear, Projection

log = logging.getLogger(__name__)

# Steps of these many rows share a graph (and larger batches up to the configured batch size)
_ROW_STEPS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
# The smallest context bucket, in pages: 64 tokens of 16
_MIN_PAGES = 4

LoraPiece = tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None  # one layer's (A, block-diagonal B, one-hot rows)


def row_buckets(max_rows: int) -> list[int]:
    """Row counts that get their own graphs, up to and including `max_rows`."""
    return [rows for rows in _ROW_STEPS if rows < max_rows] + [max_rows]


def page_buckets(max_pages: int) -> list[int]:
    """Context sizes in pages that get their own graphs: powers of two, then `max_pages`."""
    buckets, pages = [], _MIN_PAGES
    while pages < max_pages:
        buckets.append(pages)
        pages *= 2
    return [*buckets, max_pages]


def bucket_for(value: int, buckets: list[int]) -> int | None:
    """The smallest bucket that holds `value`; None past the largest."""
    index = bisect.bisect_left(buckets, value)
    return buckets[index] if index < len(buckets) else None


@dataclass(frozen=True)
class DecodeRow:
    """What a graph needs of one decode row: its last token, where it sits, and its context's blocks."""

    token: int
    position: int  # of `token`; the row attends to positions [0, position]
    lora_slot: int  # 0: the base model
    blocks: list[int]  # the cache blocks of its context, in order


# -- the layer body ---------------------------------------------------------------------------------


def project(projection: Projection, x: torch.Tensor, lora: LoraPiece) -> torch.Tensor:
    out = projection(x)
    if lora is not None:
        a, b, one_hot = lora
        out = LoraTables.add_dense(x, out, a, b, one_hot)
    return out


def layer_pre(
    h: torch.Tensor,
    w: LayerWeights,
    cos: torch.Tensor,
    sin: torch.Tensor,
    lora: LoraPiece,
    shape: ModelShape,
    cache_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's first half (server.engine.decoder_layer): the queries [rows, heads, hd] and the
    new keys and values [rows, 2 * kv_heads, hd]."""

    def qkv_project(group: str, projection: Projection, x: torch.Tensor) -> torch.Tensor:
        return project(projection, x, lora)

    fused = attention_inputs(shape, w, h, qkv_project, cos, sin, cache_dtype)
    return fused[:, : shape.heads], fused[:, shape.heads :]


def layer_post(
    h: torch.Tensor,
    q: torch.Tensor,
    kv: torch.Tensor,
    slots: torch.Tensor,
    mask: torch.Tensor,
    w: LayerWeights,
    act: Callable[[torch.Tensor], torch.Tensor],
    lora: tuple[LoraPiece, LoraPiece, LoraPiece],
    attend: Callable[..., torch.Tensor],
    shape: ModelShape,
) -> torch.Tensor:
    """Attention over the cached context, then the layer's second half (server.engine.decoder_layer): the next h."""
    pieces = dict(zip(("o", "gate_up", "down"), lora, strict=True))

    def out_project(group: str, projection: Projection, x: torch.Tensor) -> torch.Tensor:
        return project(projection, x, pieces[group])

    return layer_output(shape, w, h, attend(q, kv, slots, mask, shape.scale), out_project, act)


def attend_slots(q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Decode attention as sums over the cached slots, for the compiler to fuse (see the module's docstring).

    q: [rows, heads, hd]; kv: [cache slots, 2 * kv_heads, hd]; slots, mask: [rows, context] -> [rows, heads * hd]."""
    rows, heads, head_dim = q.shape
    kv_heads = kv.shape[1] // 2
    # slots past a row's length (the rest of its last block) may hold anything, NaN included
    valid = mask[:, :, None, None]
    k = torch.where(valid, kv[slots, :kv_heads].float(), 0.0)  # [rows, context, kv_heads, hd]
    v = torch.where(valid, kv[slots, kv_heads:].float(), 0.0)
    queries = q.float().view(rows, 1, kv_heads, heads // kv_heads, head_dim)
    scores = (queries * k[:, :, :, None, :]).sum(-1) * scale  # [rows, context, kv_heads, group]
    weights = scores.masked_fill(~valid, float("-inf")).softmax(dim=1)
    out = (weights[..., None] * v[:, :, :, None, :]).sum(1)  # [rows, kv_heads, group, hd]
    return out.reshape(rows, heads * head_dim).to(q.dtype)


def attend_gathered(q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """The same through a gathered copy and aten's attention: what the eager pieces run, where
    `attend_slots` would hold every product at once."""
    k, v = gather_kv(kv, slots, valid=mask)
    return attend_decode(q, k, v, mask[:, None, None, :], scale)


_COMPILED: tuple[Callable[..., Any], ...] = ()


def compiled_pieces() -> tuple[Callable[..., Any], ...]:
    """`layer_pre`, `layer_post` and `final_logits` compiled, once per process, so every graph and
    engine shares one cache of compiled code (each torch.compile call would keep its own)."""
    global _COMPILED
    if not _COMPILED:
        # Each piece compiles once for one row, once for more (and once more where the weights
        # switch to the full copies), with and without LoRA rows: dynamo's default of 8 versions
        # a function would leave a second model in the same process (tests) running eagerly.
        config = torch._dynamo.config
        limit = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
        setattr(config, limit, max(getattr(config, limit), 64))
        # Not dynamic=True: that makes every size symbolic, the weights' and the model's head
        # counts included, and reasoning over them (sympy) took most of each compile. Only rows
        # and context vary (`mark_varying`); anything else that does is made dynamic on recompiling.
        _COMPILED = tuple(torch.compile(fn, fullgraph=True) for fn in (layer_pre, layer_post, final_logits))
    return _COMPILED


def mark_varying(rows: list[torch.Tensor | None], rows_and_context: list[torch.Tensor | None]) -> None:
    """Marks the sizes that differ between buckets as dynamic for the compiled pieces: the rows
    (first dimension) and, where there is one, the context (second). `maybe`: one row stays a
    graph of its own, as dynamo specialises sizes of 1."""
    for t in rows + rows_and_context:
        if t is not None:
            torch._dynamo.maybe_mark_dynamic(t, 0)
    for t in rows_and_context:
        if t is not None:
            torch._dynamo.maybe_mark_dynamic(t, 1)


# -- inputs and graphs -----------------------------------------------------------------------------------


class StaticInputs:
    """The buffers every graph reads, and the pinned host arrays a step is written into first.

    meta rows: token ids, positions, cache write slots, context lengths, LoRA slots. One copy to the
    device a step. A step is written only after the previous one's tokens were read back, so the
    host arrays are never rewritten while a copy from them is still queued."""

    IDS, POSITIONS, WRITE_SLOTS, LENGTHS, LORA_SLOTS = range(5)

    def __init__(self, max_rows: int, max_pages: int, pad_block: int, block_size: int, device: torch.device) -> None:
        pin = device.type == "cuda"
        self.pad_block = pad_block
        self.pad_slot = pad_block * block_size
        self.host_meta = torch.zeros(5, max_rows, dtype=torch.long, pin_memory=pin)
        self.host_tables = torch.full((max_rows, max_pages), pad_block, dtype=torch.long, pin_memory=pin)
        self._meta = self.host_meta.numpy()
        self._tables = self.host_tables.numpy()
        self.meta = torch.zeros_like(self.host_meta, device=device)
        self.tables = torch.full_like(self.host_tables, pad_block, device=device)
        self.block_size = block_size
        self._pad(0, max_rows, max_pages)

    def _pad(self, start: int, stop: int, pages: int) -> None:
        meta = self._meta
        meta[self.IDS, start:stop] = 0
        meta[self.POSITIONS, start:stop] = 0
        meta[self.WRITE_SLOTS, start:stop] = self.pad_slot
        meta[self.LENGTHS, start:stop] = 1
        meta[self.LORA_SLOTS, start:stop] = 0
        self._tables[start:stop, :pages] = self.pad_block

    def write(self, rows: list[DecodeRow], bucket_rows: int, bucket_pages: int) -> None:
        """Fills the host arrays for a step of `rows`, padded to the bucket, and copies them over."""
        meta, tables, size = self._meta, self._tables, self.block_size
        for i, row in enumerate(rows):
            position, blocks = row.position, row.blocks
            meta[self.IDS, i] = row.token
            meta[self.POSITIONS, i] = position
            meta[self.WRITE_SLOTS, i] = blocks[position // size] * size + position % size
            meta[self.LENGTHS, i] = position + 1
            meta[self.LORA_SLOTS, i] = row.lora_slot
            tables[i, : len(blocks)] = blocks
            tables[i, len(blocks) : bucket_pages] = self.pad_block
        self._pad(len(rows), bucket_rows, bucket_pages)
        non_blocking = self.meta.device.type == "cuda"
        self.meta.copy_(self.host_meta, non_blocking=non_blocking)
        self.tables[:bucket_rows].copy_(self.host_tables[:bucket_rows], non_blocking=non_blocking)


@dataclass
class Captured:
    """What building the graphs produced, for ModelInfo, the start-up log and the metrics."""

    seconds: float
    rows: list[int]
    pages: list[int]
    pieces: str  # "compiled" or "eager", and why where it fell back
    lora: bool
    graphs: int
    captured: bool

    def describe(self) -> str:
        what = "CUDA graphs" if self.captured else "static decode step (not captured)"
        lora = " with and without LoRA rows" if self.lora else ""
        rows = ", ".join(str(r) for r in self.rows)
        return (
            f"{what} of {self.pieces} layer pieces for decode steps of {rows} rows{lora}, "
            f"contexts up to {self.pages[-1]} pages ({self.graphs} graphs, {self.seconds:.1f} s at start-up)"
        )


class CudaDecodeGraph:
    """The decode-only steps of a `ModelRunner` as replayed CUDA graphs (see the module's docstring)."""

    def __init__(
        self,
        runner: ModelRunner,
        max_rows: int,
        max_model_len: int,
        lora: LoraTables | None = None,
        pieces: str = "eager",
        capture: bool = True,
        attention: str = "gathered",
    ) -> None:
        # pieces: "eager" or "compiled"; attention: "gathered" (`attend_gathered`) or "slots" (`attend_slots`,
        # compiled pieces only: eagerly it would hold every product at once)
        cache = runner.cache
        self.runner = runner
        self.lora = lora if lora is not None and lora.block_diagonal else None
        self.block_size = cache.block_size
        self.rows = row_buckets(max_rows)
        self.pages = page_buckets(-(-max_model_len // cache.block_size))
        self.capture = capture
        self.inputs = StaticInputs(self.rows[-1], self.pages[-1], cache.pad_block, cache.block_size, runner.device)
        self._offsets = torch.arange(cache.block_size, device=runner.device)
        self._columns = torch.arange(self.pages[-1] * cache.block_size, device=runner.device)
        self._slot_ids = torch.arange(self.lora.num_slots + 1 if self.lora is not None else 1, device=runner.device)
        self.pieces = pieces
        self.attention = attention
        self._use(pieces == "compiled")
        self._graphs: dict[tuple[int, int, bool], tuple[Any, torch.Tensor]] = {}

    @property
    def max_rows(self) -> int:
        return self.rows[-1]

    @property
    def max_pages(self) -> int:
        return self.pages[-1]

    def _use(self, compiled: bool) -> None:
        if compiled:
            self._pre, self._post, self._head = compiled_pieces()
            self._attend: Callable[..., torch.Tensor] = attend_slots if self.attention == "slots" else attend_gathered
        else:
            self._pre, self._post, self._head, self._attend = layer_pre, layer_post, final_logits, attend_gathered

    def accepts(self, rows: list[DecodeRow]) -> bool:
        """Whether a step of these rows fits a graph: few enough rows, short enough contexts, and
        adapters only where the graphs add their deltas."""
        return (
            0 < len(rows) <= self.max_rows
            and max(len(row.blocks) for row in rows) <= self.max_pages
            and (self.lora is not None or not any(row.lora_slot for row in rows))
        )

    def _step(self, rows: int, pages: int, with_lora: bool) -> torch.Tensor:
        """The whole decode step on the static inputs, for a bucket: logits [rows, vocab], float32.

        aten picks the attention kernel itself here, cuDNN's included, which the eager model step
        leaves out (server.engine.model_runner.attention_backends): a graph's shapes are fixed when
        it is captured, so cuDNN builds its plan once per bucket at start-up, and its attention is the
        quicker one inside a graph (measured on an H200, docs/performance.md)."""
        r, inputs = self.runner, self.inputs
        meta = inputs.meta[:, :rows]
        ids, positions, write_slots, lengths = meta[0], meta[1], meta[2], meta[3]
        table = inputs.tables[:rows, :pages]
        slots = (table[:, :, None] * self.block_size + self._offsets).reshape(rows, pages * self.block_size)
        mask = self._columns[: pages * self.block_size][None, :] < lengths[:, None]
        h = r.embed(ids).to(r.dtype)
        ropes = r.ropes_at(positions)
        one_hot = None
        if with_lora and self.lora is not None:
            one_hot = (meta[4][:, None] == self._slot_ids[None, :]).to(r.dtype)  # [rows, slots]
        shape = r.shape
        # a sliding layer reads its window's slots only; its width, min(window, context), is fixed per bucket
        contexts = {None: (slots, mask)} | window_contexts(shape.windows, slots, positions, mask)
        mark = self._pre is not layer_pre
        if mark:
            read: list[torch.Tensor | None] = [t for context in contexts.values() for t in context]
            mark_varying(rows=[h, one_hot, *(t for rope in ropes.values() for t in rope)], rows_and_context=read)
        for i, w in enumerate(r.layers):
            lora = self._lora_pieces(i, one_hot)
            q, new_kv = self._pre(h, w, *ropes[shape.rope_kinds[i]], lora[0], shape, r.cache.dtype)
            kv = r.cache.kv[i]
            kv.index_copy_(0, write_slots, new_kv)
            if mark:
                mark_varying(rows=[q], rows_and_context=[])
            h = self._post(h, q, kv, *contexts[shape.windows[i]], w, r.act, lora[1:], self._attend, shape)
            if mark:
                mark_varying(rows=[h], rows_and_context=[])
        return self._head(shape, h, r.final_norm, r.lm_head)

    def _lora_pieces(self, layer: int, one_hot: torch.Tensor | None) -> tuple[LoraPiece, LoraPiece, LoraPiece, LoraPiece]:
        if one_hot is None or self.lora is None:
            return None, None, None, None
        tables = self.lora
        return tuple((*tables.dense_tables(layer, group), one_hot) for group in tables.layout)  # type: ignore[return-value]

    def warm_up(self) -> Captured:
        """Compiles the pieces and captures every bucket's graph (writing only into the padding block).

        Largest buckets first, so the graphs' shared memory pool is sized by them and the smaller
        ones fit in what they leave. Compiling that fails falls back to the eager pieces."""
        started = time.monotonic()
        fallback = ""
        variants = [False, True] if self.lora is not None else [False]
        try:
            self._build(variants)
        except Exception as exc:
            if self.pieces != "compiled":
                raise
            fallback = f" (compiling failed: {type(exc).__name__}: {str(exc)[:200]})"
            log.warning("compiling the CUDA decode pieces failed; capturing the eager pieces", extra={"error": str(exc)[:500]})
            self._use(False)
            self._graphs.clear()
            self._build(variants)
        pieces = ("compiled" if self._pre is not layer_pre else "eager") + fallback
        return Captured(time.monotonic() - started, self.rows, self.pages, pieces, self.lora is not None, len(self._graphs), self.capture)

    def _build(self, variants: list[bool]) -> None:
        with torch.inference_mode():
            self.inputs.write([], self.max_rows, self.max_pages)
            # compile first: the smallest context of each row bucket, then a second context, so
            # the context is dynamic before any capture
            for rows in self.rows:
                for with_lora in variants:
                    for pages in self.pages[:2]:
                        self._step(rows, pages, with_lora)
            if not self.capture:
                return
            torch.cuda.synchronize()
            pool = torch.cuda.graph_pool_handle()
            for rows in reversed(self.rows):
                for pages in reversed(self.pages):
                    for with_lora in variants:
                        self._step(rows, pages, with_lora)  # lazily made handles and workspaces, outside the capture
                        graph = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(
                            graph, pool=pool, capture_error_mode="thread_local"
                        ):  # other threads may use the GPU meanwhile
                            logits = self._step(rows, pages, with_lora)
                        self._graphs[rows, pages, with_lora] = (graph, logits)
            torch.cuda.synchronize()

    def __call__(self, rows: list[DecodeRow]) -> torch.Tensor:
        """Next-token logits of a step that `accepts`: [len(rows), vocab], float32. On CUDA the result
        is a view of the graph's output, valid until the next step."""
        bucket_rows = bucket_for(len(rows), self.rows)
        bucket_pages = bucket_for(max(len(row.blocks) for row in rows), self.pages)
        assert bucket_rows is not None and bucket_pages is not None, "the caller checks `accepts` first"
        with_lora = self.lora is not None and any(row.lora_slot for row in rows)
        self.inputs.write(rows, bucket_rows, bucket_pages)
        if not self.capture:
            with torch.inference_mode():
                return self._step(bucket_rows, bucket_pages, with_lora)[: len(rows)]
        graph, logits = self._graphs[bucket_rows, bucket_pages, with_lora]
        graph.replay()
        return logits[: len(rows)]


def compilable(runner: ModelRunner) -> bool:
    """Whether torch.compile can trace the layer pieces (bitsandbytes modules it cannot)."""
    return all(isinstance(p, Linear) for p in projections(runner))
