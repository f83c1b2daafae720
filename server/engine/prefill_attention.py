"""Every prompt chunk of a step attending at once: the prefill spans padded into one batch.

Attending span by span costs a gather, a mask and an attention call per span per layer; on a GPU
each is a handful of kernel launches that do almost nothing, so a wave of 32 new prompts spent most
of its time to first token launching them. Here the spans' queries and contexts are padded to one
`[spans, heads, width, head_dim]` batch with one mask, laid out once per step, and each layer makes
one gather and one attention call for all of them. Padding wastes arithmetic, so the layout is only
made while the padded mask stays small (`fits`); past that the spans attend one by one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from server.engine.kv_cache import gather_kv

# padded query x key cells of one step's mask; past it, one call per span wastes less than padding
MAX_PADDED_CELLS = 1 << 23


@dataclass(frozen=True)
class PrefillLayout:
    """Where each prefill row sits in the padded batch, and what it may attend to."""

    rows: torch.Tensor  # [R] flat index in [spans * width] of each prefill row, in batch order
    kv_slots: torch.Tensor  # [spans, context] cache slots, padded with slot 0 (zeroed, finite)
    mask: torch.Tensor  # [spans, 1, width, context], True where a query sees a key
    spans: int
    width: int  # the longest span's query tokens
    positions: torch.Tensor  # [spans, width] each query's position in its context

    def within(self, window: int) -> PrefillLayout:
        """The same layout for a layer whose queries see only keys after their position - window."""
        keys = torch.arange(self.kv_slots.shape[1], device=self.mask.device)[None, None, :]
        inside = keys > self.positions[:, :, None] - window
        return dataclasses.replace(self, mask=self.mask & inside[:, None])


def fits(lengths: list[int], contexts: list[int]) -> bool:
    """Whether padding these spans (query tokens, context tokens) stays within MAX_PADDED_CELLS."""
    return len(lengths) * max(lengths) * max(contexts) <= MAX_PADDED_CELLS


def prefill_layout(lengths: list[int], kv_slots: list[torch.Tensor], device: torch.device) -> PrefillLayout:
    """The padded layout of spans of `lengths` query tokens over contexts `kv_slots` (the last
    `length` slots of each are its queries' own). Query j of span p sits at context position
    context_p - length_p + j and sees keys up to it; padding queries see every key (their output is
    dropped, but a row that sees nothing would be NaN)."""
    spans, width = len(lengths), max(lengths)
    rows = torch.cat([torch.arange(n) + p * width for p, n in enumerate(lengths)]).to(device, non_blocking=True)
    padded = torch.nn.utils.rnn.pad_sequence(kv_slots, batch_first=True)
    offsets = torch.tensor([len(s) - n for s, n in zip(kv_slots, lengths, strict=True)]).to(device, non_blocking=True)
    last = offsets[:, None] + torch.arange(width, device=device)[None, :]  # [spans, width]
    mask = torch.arange(padded.shape[1], device=device)[None, None, :] <= last[:, :, None]
    return PrefillLayout(rows=rows, kv_slots=padded, mask=mask[:, None], spans=spans, width=width, positions=last)


def attend_prefills(q: torch.Tensor, kv: torch.Tensor, layout: PrefillLayout, scale: float) -> torch.Tensor:
    """q: [R, H, hd] every prefill row's query, in batch order; kv: one layer's cache
    [S, 2 * Hkv, hd] -> [R, H * hd]."""
    heads, head_dim = q.shape[1], q.shape[2]
    padded = q.new_zeros(layout.spans * layout.width, heads, head_dim).index_copy_(0, layout.rows, q)
    padded = padded.view(layout.spans, layout.width, heads, head_dim).transpose(1, 2)
    k, v = gather_kv(kv, layout.kv_slots)  # [spans, context, Hkv, hd]
    k, v = k.transpose(1, 2), v.transpose(1, 2)
    groups = heads // k.shape[1]
    if groups > 1 and q.is_cuda:
        # aten's memory-efficient kernel (the one that takes a mask on CUDA) has no grouped-query
        # form; with enable_gqa a masked call falls back to the unfused math one
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        out = F.scaled_dot_product_attention(padded, k, v, attn_mask=layout.mask, scale=scale)
    else:
        out = F.scaled_dot_product_attention(padded, k, v, attn_mask=layout.mask, scale=scale, enable_gqa=True)
    return out.transpose(1, 2).reshape(layout.spans * layout.width, heads * head_dim).index_select(0, layout.rows)
