"""Decode attention over the paged KV cache without gathering it first (decode_attention.cpp).

A decode row's keys and values are scattered over cache blocks. The eager step gathers them into a
padded [rows, context, ...] copy for aten's attention, 30 times a step; this kernel reads each slot
where it lies, with one query token per row, in float32 like the CPU cache.
"""

from __future__ import annotations

import torch

from server.engine.kernels.build import unavailable_reason

__all__ = ["decode_attention", "reference", "unavailable_reason"]


@torch.library.register_fake("tuneserve::decode_attention")
def _fake(q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor | None, kv_heads: int, scale: float) -> torch.Tensor:
    return q.new_empty(q.shape)


def decode_attention(
    q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor | None, kv_heads: int, scale: float
) -> torch.Tensor:
    """q [rows, heads, head_dim] float32 attends over the cache slots `slots` [rows, context] of
    `kv` [cache slots, 2 * kv_heads, head_dim] (keys of every kv head, then values); `mask`
    [rows, context] bool marks real positions (None: all are). Returns [rows, heads, head_dim]."""
    return torch.ops.tuneserve.decode_attention(q.contiguous(), kv, slots.contiguous(), mask, kv_heads, scale)


def reference(
    q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor | None, kv_heads: int, scale: float
) -> torch.Tensor:
    """The same with a gather and aten's attention (for tests)."""
    past = kv[slots]  # [rows, context, 2 * kv_heads, head_dim]
    k, v = past[:, :, :kv_heads].transpose(1, 2), past[:, :, kv_heads:].transpose(1, 2)
    attn_mask = None if mask is None else mask[:, None, None, :]
    out = torch.nn.functional.scaled_dot_product_attention(q[:, :, None], k, v, attn_mask=attn_mask, scale=scale, enable_gqa=True)
    return out[:, :, 0]
