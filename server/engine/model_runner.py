"""The model step: one forward pass over the new tokens of every scheduled sequence at once.

Tokens of all sequences are flattened into one `[T, hidden]` activation, so the linear layers
(quantized or not) and the LoRA deltas run once per layer for the whole batch, whatever mix of
prefill chunks and decode tokens it holds. Only attention is per sequence: decode rows attend
together over their gathered, padded KV; each prefill chunk attends causally over its context.

The layers are the Hugging Face modules of the loaded model (Llama, Mistral and Qwen2 share this
layout); the forward is ours because the cache is paged and the batch is ragged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from common.base_model import BaseModel
from server.adapters.lora import LoraRouting
from server.engine.kv_cache import PagedKVCache


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
    decode_kv_mask: torch.Tensor | None = None  # [Bd, 1, 1, Lmax], True where a real token
    prefills: list[PrefillSpan] = field(default_factory=list)
    lora: LoraRouting | None = None  # per-row adapter routing, see server.adapters.lora


class LoraAdder(Protocol):
    def add(self, layer: int, modules: Sequence[str], x: torch.Tensor, outs: Sequence[torch.Tensor], routing: LoraRouting) -> None: ...


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: [T, heads, head_dim], cos/sin: [T, 1, head_dim]
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def attend_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    # q: [Bd, H, hd], k/v: [Bd, Lmax, Hkv, hd], mask: [Bd, 1, 1, Lmax] -> [Bd, H * hd]
    out = F.scaled_dot_product_attention(q.unsqueeze(2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, scale=scale, enable_gqa=True)
    return out.reshape(q.shape[0], -1)


def attend_prefill(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    # q: [n, H, hd], k/v: [L, Hkv, hd] with L >= n; query i sits at context position L - n + i
    n, context = q.shape[0], k.shape[0]
    q, k, v = q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None]
    if n == context:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=True)
    else:
        rows = torch.arange(n, device=q.device)[:, None] + (context - n)
        mask = torch.arange(context, device=q.device)[None, :] <= rows  # [n, L]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)
    return out[0].transpose(0, 1).reshape(n, -1)


class ModelRunner:
    """Runs the base model (plus LoRA deltas) over a `StepBatch`, reading and writing the KV cache."""

    def __init__(self, base: BaseModel, cache: PagedKVCache, max_positions: int) -> None:
        model = base.model
        config = model.config
        self.inner = model.model
        self.layers = list(self.inner.layers)
        self.lm_head = model.lm_head
        self.cache = cache
        self.dtype = base.dtype
        self.device = base.device
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.scale = self.head_dim**-0.5
        self.lora: LoraAdder | None = None
        positions = torch.arange(max_positions, device=self.device)[None]
        probe = torch.zeros(1, dtype=torch.float32, device=self.device)
        cos, sin = self.inner.rotary_emb(probe, positions)  # [1, P, hd]
        self.cos = cos[0].to(self.dtype)[:, None, :]  # [P, 1, hd]
        self.sin = sin[0].to(self.dtype)[:, None, :]

    def _project(self, layer: int, x: torch.Tensor, linears: Sequence[tuple[str, torch.nn.Module]], batch: StepBatch) -> list[torch.Tensor]:
        """Base outputs of the linears that read `x`, plus each row's LoRA delta."""
        outs = [linear(x) for _, linear in linears]
        if self.lora is not None and batch.lora is not None:
            self.lora.add(layer, [name for name, _ in linears], x, outs, batch.lora)
        return outs

    def _attention(self, i: int, layer: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, batch: StepBatch) -> torch.Tensor:
        attn = layer.self_attn
        tokens = x.shape[0]
        q, k, v = self._project(i, x, (("q_proj", attn.q_proj), ("k_proj", attn.k_proj), ("v_proj", attn.v_proj)), batch)
        q = rotate(q.view(tokens, self.heads, self.head_dim), cos, sin)
        k = rotate(k.view(tokens, self.kv_heads, self.head_dim), cos, sin)
        v = v.view(tokens, self.kv_heads, self.head_dim)
        self.cache.write(i, batch.write_slots, k, v)
        out = torch.empty(tokens, self.heads * self.head_dim, dtype=x.dtype, device=x.device)
        if batch.num_decode:
            assert batch.decode_kv_slots is not None and batch.decode_kv_mask is not None, "decode rows come with their context"
            dk, dv = self.cache.gather(i, batch.decode_kv_slots)
            out[: batch.num_decode] = attend_decode(q[: batch.num_decode], dk, dv, batch.decode_kv_mask, self.scale)
        for span in batch.prefills:
            pk, pv = self.cache.gather(i, span.kv_slots)
            rows = slice(span.start, span.start + span.length)
            out[rows] = attend_prefill(q[rows], pk, pv, self.scale)
        return self._project(i, out, (("o_proj", attn.o_proj),), batch)[0]

    def _mlp(self, i: int, layer: Any, x: torch.Tensor, batch: StepBatch) -> torch.Tensor:
        mlp = layer.mlp
        gate, up = self._project(i, x, (("gate_proj", mlp.gate_proj), ("up_proj", mlp.up_proj)), batch)
        return self._project(i, mlp.act_fn(gate) * up, (("down_proj", mlp.down_proj),), batch)[0]

    def hidden_states(self, batch: StepBatch) -> torch.Tensor:
        """Final-norm hidden states of the logits rows: [N, hidden]."""
        h = self.inner.embed_tokens(batch.input_ids).to(self.dtype)  # [T, D]
        cos, sin = self.cos[batch.positions], self.sin[batch.positions]  # [T, 1, hd]
        for i, layer in enumerate(self.layers):
            h = h + self._attention(i, layer, layer.input_layernorm(h), cos, sin, batch)
            h = h + self._mlp(i, layer, layer.post_attention_layernorm(h), batch)
        return self.inner.norm(h[batch.logits_rows])

    @torch.inference_mode()
    def forward(self, batch: StepBatch) -> torch.Tensor:
        """Next-token logits of the logits rows: [N, vocab], float32."""
        return self.lm_head(self.hidden_states(batch)).float()
