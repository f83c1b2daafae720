"""The model step: one forward pass over the new tokens of every scheduled sequence at once.

Tokens of all sequences are flattened into one `[T, hidden]` activation, so the linear layers
(quantized or not) and the LoRA deltas run once per layer for the whole batch, whatever mix of
prefill chunks and decode tokens it holds. Only attention is per sequence: decode rows attend
together over their gathered, padded KV; prefill chunks attend causally over their contexts, one by
one or, on CUDA, padded into one call (server.engine.prefill_attention).

The weights are the loaded model's, fused and, for few-row steps, quantized as
server.engine.weights describes; each layer runs the one body of server.engine.decoder_layer,
shaped by the family's ModelShape (common.model_families). The forward is ours because the cache
is paged and the batch is ragged, and because a decode step of a small model is mostly
per-operator overhead: each layer is four projections, two fused norms (more in Gemma), one rotary
embedding for q and k, one cache write and the attention, within its sliding window where the
layer has one.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers.activations import ACT2FN

from common.base_model import BaseModel
from common.model_families import ModelShape
from server.adapters.lora import LoraRouting
from server.engine.decoder_layer import Activation, attention_inputs, final_logits, layer_output, window_contexts
from server.engine.kernels.decode_attention import decode_attention
from server.engine.kv_cache import PagedKVCache, gather_kv
from server.engine.prefill_attention import PrefillLayout, attend_prefills, fits, prefill_layout
from server.engine.weights import Kernel, LayerWeights, Linear, ModuleGroup, Projection, norm_weight


@dataclass
class PrefillSpan:
    """Query tokens of one sequence that is (still) reading its prompt."""

    start: int  # first row of this sequence in the flattened batch
    length: int  # query tokens: rows [start, start + length)
    kv_slots: torch.Tensor  # [context] cache slots of every token up to the last query


@dataclass
class StepBatch:
    """Inputs of one engine step; rows [0, num_decode) are one-token decode rows."""

    input_ids: torch.Tensor  # [T]
    positions: torch.Tensor  # [T]
    write_slots: torch.Tensor  # [T] cache slot of each new token's K/V
    logits_rows: torch.Tensor  # [N] rows whose next-token logits are wanted
    num_decode: int = 0
    decode_kv_slots: torch.Tensor | None = None  # [Bd, Lmax], padded with slot 0
    decode_kv_mask: torch.Tensor | None = None  # [Bd, 1, 1, Lmax], True where a real token; None: no padding
    prefills: list[PrefillSpan] = field(default_factory=list)
    lora: LoraRouting | None = None  # per-row adapter routing, see server.adapters.lora
    exact_logits: bool = False  # some logits rows score labels: no quantized head (server.engine.weights)
    rope_rows: torch.Tensor | None = None  # [T] rows of the rope tables where they are not `positions` (LongRoPE)


Rope = tuple[torch.Tensor, torch.Tensor]  # cos, signed sin: [T, 1, head_dim] each, float32


class LoraAdder(Protocol):
    """Each row's LoRA delta of a fused projection (server.adapters.lora.LoraTables)."""

    @property
    def in_graph(self) -> bool: ...

    def add(self, layer: int, group: str, x: torch.Tensor, out: torch.Tensor, routing: LoraRouting) -> None: ...

    def add_decode(self, layer: int, group: str, x: torch.Tensor, out: torch.Tensor, decode_slots: torch.Tensor) -> None: ...

    def decode_reads(self, layer: int, group: str) -> list[torch.Tensor]: ...


def signed_sin(sin: torch.Tensor) -> torch.Tensor:
    """sin with its first half negated, so that rotating is x * cos + roll(x, half) * signed_sin."""
    half = sin.shape[-1] // 2
    return torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


def rope_tables(
    rotary: Any, kinds: Iterable[str], max_positions: int, dtype: torch.dtype, device: torch.device, long_from: int | None = None
) -> dict[str, Rope]:
    """cos and signed sin of every position [P, 1, head_dim] for each rope kind the layers use,
    from the model's own rotary module (so its scaling, Llama 3's included, is the model's).

    Under LongRoPE switching at `long_from` < P the tables hold 2P rows: rows [0, P) rotate as a
    sequence whose prompt fits the original window (short factors before it, long ones from it),
    rows [P, 2P) by the long factors throughout, for a prompt longer than the window."""
    probe = torch.zeros(1, dtype=torch.float32, device=device)
    per_kind = "layer_type" in inspect.signature(rotary.forward).parameters

    def table(kind: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        # the module picks its factors from the largest position it is given, as in a forward pass
        positions = torch.arange(count, device=device)[None]
        cos, sin = rotary(probe, positions, kind) if per_kind else rotary(probe, positions)  # [1, count, hd]
        return cos[0], sin[0]

    tables = {}
    for kind in sorted(set(kinds)):
        cos, sin = table(kind, max_positions)
        if long_from is not None and long_from < max_positions:
            short_cos, short_sin = table(kind, long_from)
            cos = torch.cat((short_cos, cos[long_from:], cos))
            sin = torch.cat((short_sin, sin[long_from:], sin))
        # q and k are rotated in the cache's dtype, just before they are cached
        tables[kind] = cos.to(dtype)[:, None, :], signed_sin(sin).to(dtype)[:, None, :]
    return tables


def long_rope_rows(shape: ModelShape, max_positions: int) -> int | None:
    """Where the rows of the rope tables for a prompt longer than LongRoPE's original window start
    (a sequence's offset into them, StepBatch.rope_rows); None: the model rotates one way only."""
    switches = shape.long_rope_from is not None and shape.long_rope_from < max_positions
    return max_positions if switches else None


def attend_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    # q: [Bd, H, hd], k/v: [Bd, Lmax, Hkv, hd], mask: [Bd, 1, 1, Lmax] -> [Bd, H * hd]
    out = F.scaled_dot_product_attention(q.unsqueeze(2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, scale=scale, enable_gqa=True)
    return out.reshape(q.shape[0], -1)


def attend_paged(q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    # q: [Bd, H, hd], kv: [S, 2 * Hkv, hd] (one layer's cache, or all layers' with offset slots),
    # slots: [Bd, Lmax], mask: [Bd, 1, 1, Lmax] -> [Bd, H * hd]; read where the keys and values lie
    rows = q.shape[0]
    flat_mask = None if mask is None else mask.reshape(rows, -1)
    return decode_attention(q, kv, slots, flat_mask, kv.shape[1] // 2, scale).reshape(rows, -1)


def attend_prefill(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, window: int | None = None) -> torch.Tensor:
    # q: [n, H, hd], k/v: [L, Hkv, hd] with L >= n; query i sits at context position L - n + i and,
    # within a `window`, sees keys after its position - window
    n, context = q.shape[0], k.shape[0]
    q, k, v = q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None]
    if n == context and (window is None or window >= context):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=True)
    else:
        rows = torch.arange(n, device=q.device)[:, None] + (context - n)
        keys = torch.arange(context, device=q.device)[None, :]
        mask = keys <= rows  # [n, L]
        if window is not None:
            mask &= keys > rows - window
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)
    return out[0].transpose(0, 1).reshape(n, -1)


def within(kv_slots: torch.Tensor, queries: int, window: int | None) -> torch.Tensor:
    """The part of a prompt chunk's context (`kv_slots`, its last `queries` tokens the chunk's) that a
    layer attending within `window` reads: from the first query's position - window + 1 on."""
    if window is None:
        return kv_slots
    return kv_slots[max(0, kv_slots.shape[0] - queries - window + 1) :]


class ModelRunner:
    """Runs the base model (plus LoRA deltas) over a `StepBatch`, reading and writing the KV cache."""

    def __init__(self, base: BaseModel, cache: PagedKVCache, max_positions: int, use_kernels: bool = False) -> None:
        # use_kernels: tuneserve's C++ kernels (server.engine.kernels), built and loaded by the caller's choice
        inner = base.model.model
        self.shape = shape = base.shape
        self.cache = cache
        self.dtype = base.dtype
        self.device = base.device
        self.heads, self.kv_heads, self.head_dim = shape.heads, shape.kv_heads, shape.head_dim
        self.act: Activation = ACT2FN[shape.activation]
        kernel: Kernel = "vnni" if use_kernels else "aten"
        self.layers = layer_weights(base, kernel)
        self.embed = inner.embed_tokens  # Gemma's scales by sqrt(hidden) itself
        self.final_norm = norm_weight(inner.norm, shape.family)
        self.lm_head = head_weights(base, kernel)
        # decode rows attend straight from the paged cache, without a gather, where the kernel can read it
        self.paged_attention = use_kernels and cache.dtype == torch.float32 and self.head_dim % 16 == 0
        # a step's prompt chunks attend in one padded call (server.engine.prefill_attention) where
        # launches cost more than padding: on CUDA; the CPU's per-span calls waste no arithmetic
        self.batched_prefill = self.device.type == "cuda"
        self.lora: LoraAdder | None = None
        self.ropes = rope_tables(inner.rotary_emb, shape.rope_kinds, max_positions, cache.dtype, self.device, shape.long_rope_from)

    def ropes_at(self, positions: torch.Tensor) -> dict[str, Rope]:
        """Each rope kind's cos and sin at `positions` [T]: [T, 1, hd] each."""
        return {kind: (cos[positions], sin[positions]) for kind, (cos, sin) in self.ropes.items()}

    def _project(self, layer: int, group: str, projection: Projection, x: torch.Tensor, batch: StepBatch) -> torch.Tensor:
        """A fused projection of `x`, plus each row's LoRA delta for that group.

        A step that reads a prompt takes the full weights: prefilled on the quantized copies (int8
        inputs, 4-bit weights) a 37-token prompt answered "L'Étoile, la Marseillaise..." where the
        full weights answer "Paris" (likely the first tokens' outsized activations, which decode
        rows never hold); decode rows take the quantized copies up to their `max_rows`."""
        adder, lora = self.lora, batch.lora
        if adder is None or lora is None:
            return projection(x, exact=bool(batch.prefills))
        if batch.prefills or lora.decode_slots is None:
            out = projection(x, exact=bool(batch.prefills))
        else:  # the kernel's decode rows: their tables fetched while the projection computes
            out = projection(x, prefetch=adder.decode_reads(layer, group), prefetch_slots=lora.decode_slots)
        adder.add(layer, group, x, out, lora)
        return out

    def attend_cached(self, q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Decode rows' attention over their cached context (the eager step's and the decode graph's).

        q: [Bd, H, hd]; kv: [S, 2 * Hkv, hd], one layer's cache or all layers' with offset slots;
        slots: [Bd, Lmax]; mask: [Bd, 1, 1, Lmax] or None -> [Bd, H * hd]."""
        if self.paged_attention:
            return attend_paged(q, kv, slots, mask, self.shape.scale)
        k, v = gather_kv(kv, slots)
        return attend_decode(q, k, v, mask, self.shape.scale)

    def decode_contexts(self, batch: StepBatch) -> dict[int | None, tuple[torch.Tensor, torch.Tensor | None]]:
        """The decode rows' cache slots and mask ([Bd, 1, 1, L] or None) for the whole context and per
        window a layer attends within (server.engine.decoder_layer.window_contexts)."""
        slots, mask = batch.decode_kv_slots, batch.decode_kv_mask
        if not batch.num_decode or slots is None:
            return {}
        real = None if mask is None else mask[:, 0, 0]
        contexts = window_contexts(self.shape.windows, slots, batch.positions[: batch.num_decode], real)
        return {None: (slots, mask)} | {w: (s, None if m is None else m[:, None, None, :]) for w, (s, m) in contexts.items()}

    def _layout_prefills(self, batch: StepBatch) -> dict[int | None, PrefillLayout]:
        """The step's spans laid out to attend at once, per window (a sliding layer's over the part
        of each context its window reaches); a window without one attends span by span."""
        spans = batch.prefills
        if not self.batched_prefill or len(spans) < 2:
            return {}
        lengths, layouts = [s.length for s in spans], {}
        for window in set(self.shape.windows):
            contexts = [within(s.kv_slots, s.length, window) for s in spans]
            if fits(lengths, [len(c) for c in contexts]):
                layout = prefill_layout(lengths, contexts, self.device)
                layouts[window] = layout if window is None else layout.within(window)
        return layouts

    def _attend(self, i: int, qkv: torch.Tensor, batch: StepBatch, step: _Step) -> torch.Tensor:
        """Writes the layer's new keys and values and attends: [T, H * hd] in the cache's dtype."""
        heads, window = self.heads, self.shape.windows[i]
        q = qkv[:, :heads]
        self.cache.write(i, batch.write_slots, qkv[:, heads:])  # keys and values, side by side
        decoded = None
        if batch.num_decode:
            slots, mask = step.contexts[window]
            decoded = self.attend_cached(q[: batch.num_decode], self.cache.kv[i], slots, mask)
            if not batch.prefills:
                return decoded
        out = torch.empty(qkv.shape[0], heads * self.head_dim, dtype=self.cache.dtype, device=qkv.device)
        if decoded is not None:
            out[: batch.num_decode] = decoded
        layout = step.layouts.get(window)
        if layout is not None:
            out[batch.num_decode :] = attend_prefills(q[batch.num_decode :], self.cache.kv[i], layout, self.shape.scale)
            return out
        for span in batch.prefills:
            pk, pv = self.cache.gather(i, within(span.kv_slots, span.length, window))
            rows = slice(span.start, span.start + span.length)
            out[rows] = attend_prefill(q[rows], pk, pv, self.shape.scale, window)
        return out

    def hidden_states(self, batch: StepBatch) -> torch.Tensor:
        """Final-norm hidden states of the logits rows: [N, hidden]."""
        shape = self.shape
        h = self.embed(batch.input_ids).to(self.dtype)  # [T, D]
        rope_rows = batch.positions if batch.rope_rows is None else batch.rope_rows
        step = _Step(self.ropes_at(rope_rows), self.decode_contexts(batch), self._layout_prefills(batch))
        for i, weights in enumerate(self.layers):
            project = functools.partial(self._project, i, batch=batch)
            qkv = attention_inputs(shape, weights, h, project, *step.ropes[shape.rope_kinds[i]], self.cache.dtype)
            h = layer_output(shape, weights, h, self._attend(i, qkv, batch, step), project, self.act)
        return h[batch.logits_rows]

    @torch.inference_mode()
    def forward(self, batch: StepBatch) -> torch.Tensor:
        """Next-token logits of the logits rows: [N, vocab], float32."""
        with attention_backends(self.device):
            return final_logits(self.shape, self.hidden_states(batch), self.final_norm, self.lm_head, exact=batch.exact_logits)


@dataclass
class _Step:
    """What every layer of one eager step shares: rotary at the step's positions, and per window
    the decode rows' slots and masks and the prefill spans' padded layout (none: they attend one by one)."""

    ropes: dict[str, Rope]
    contexts: dict[int | None, tuple[torch.Tensor, torch.Tensor | None]]
    layouts: dict[int | None, PrefillLayout]


# aten's attention backends the model step may use on CUDA: all but cuDNN's, which builds a plan for
# every new shape it sees, and a prompt's length and a decode row's context are new shapes nearly
# every step (on an H200, 32 clients waited ~0.5 s for their first tokens; flash and the
# memory-efficient kernel need no plan)
_CUDA_ATTENTION = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def attention_backends(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Where the model step's attention may run on `device` (see `_CUDA_ATTENTION`)."""
    return sdpa_kernel(_CUDA_ATTENTION) if device.type == "cuda" else contextlib.nullcontext()


def layer_weights(base: BaseModel, kernel: Kernel = "aten") -> list[LayerWeights]:
    """The decoder layers as the model step runs them, built once per loaded model and kernel and shared by its engines."""
    key = f"layer_weights/{kernel}"
    cached: list[LayerWeights] | None = base.extra.get(key)
    if cached is None:
        family = base.shape.family
        cached = [LayerWeights.of(layer, family, base.quantization, kernel) for layer in base.model.model.layers]
        base.extra[key] = cached
    return cached


def head_weights(base: BaseModel, kernel: Kernel = "aten") -> Projection:
    """The language-model head, with an 8-bit copy for few-row steps under the int4 precision."""
    key = f"head_weights/{kernel}"
    cached: Projection | None = base.extra.get(key)
    if cached is None:
        head = base.model.lm_head
        quantized = "int8" if base.quantization == "int4" else "none"
        if type(head) is torch.nn.Linear:
            cached = Linear(head.weight.detach(), quantized, kernel, None if head.bias is None else head.bias.detach())
        else:
            cached = ModuleGroup([head])
        base.extra[key] = cached
    return cached
