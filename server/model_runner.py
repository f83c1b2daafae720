"""The model step: one forward pass over the new tokens of every scheduled sequence at once.

Tokens of all sequences are flattened into one `[T, hidden]` activation, so the linear layers
(quantized or not) and the LoRA deltas run once per layer for the whole batch, whatever mix of
prefill chunks and decode tokens it holds. Only attention is per sequence: decode rows attend
together over their gathered, padded KV; each prefill chunk attends causally over its context.

The layers are the Hugging Face modules of the loaded model (Llama, Mistral and Qwen2 share this
layout); the forward is ours because the cache is paged and the batch is ragged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from server.base_model import BaseModel
from server.kv_cache import PagedKVCache


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
    lora: Any = None  # per-row adapter routing, see server.lora


class LoraDelta(Protocol):
    def __call__(self, layer: int, module: str, x: torch.Tensor, routing: Any) -> torch.Tensor | None: ...


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: [T, heads, head_dim], cos/sin: [T, 1, head_dim]
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def attend_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    # q: [Bd, H, hd], k/v: [Bd, Lmax, Hkv, hd], mask: [Bd, 1, 1, Lmax] -> [Bd, H * hd]
    out = F.scaled_dot_product_attention(
        q.unsqueeze(2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, scale=scale, enable_gqa=True
    )
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
        self.lora_delta: LoraDelta | None = None
        positions = torch.arange(max_positions, device=self.device)[None]
        probe = torch.zeros(1, dtype=torch.float32, device=self.device)
        cos, sin = self.inner.rotary_emb(probe, positions)  # [1, P, hd]
        self.cos = cos[0].to(self.dtype)[:, None, :]  # [P, 1, hd]
        self.sin = sin[0].to(self.dtype)[:, None, :]

    def _project(self, linear: torch.nn.Module, x: torch.Tensor, layer: int, name: str, batch: StepBatch) -> torch.Tensor:
        out = linear(x)
        if self.lora_delta is not None and batch.lora is not None:
            delta = self.lora_delta(layer, name, x, batch.lora)
            if delta is not None:
                out = out + delta
        return out

    def _attention(self, i: int, layer: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, batch: StepBatch) -> torch.Tensor:
        attn = layer.self_attn
        tokens = x.shape[0]
        q = self._project(attn.q_proj, x, i, "q_proj", batch).view(tokens, self.heads, self.head_dim)
        k = self._project(attn.k_proj, x, i, "k_proj", batch).view(tokens, self.kv_heads, self.head_dim)
        v = self._project(attn.v_proj, x, i, "v_proj", batch).view(tokens, self.kv_heads, self.head_dim)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        self.cache.write(i, batch.write_slots, k, v)
        out = torch.empty(tokens, self.heads * self.head_dim, dtype=x.dtype, device=x.device)
        if batch.num_decode:
            dk, dv = self.cache.gather(i, batch.decode_kv_slots)
            out[: batch.num_decode] = attend_decode(q[: batch.num_decode], dk, dv, batch.decode_kv_mask, self.scale)
        for span in batch.prefills:
            pk, pv = self.cache.gather(i, span.kv_slots)
            rows = slice(span.start, span.start + span.length)
            out[rows] = attend_prefill(q[rows], pk, pv, self.scale)
        return self._project(attn.o_proj, out, i, "o_proj", batch)

    def _mlp(self, i: int, layer: Any, x: torch.Tensor, batch: StepBatch) -> torch.Tensor:
        mlp = layer.mlp
        gate = self._project(mlp.gate_proj, x, i, "gate_proj", batch)
        up = self._project(mlp.up_proj, x, i, "up_proj", batch)
        return self._project(mlp.down_proj, mlp.act_fn(gate) * up, i, "down_proj", batch)

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
