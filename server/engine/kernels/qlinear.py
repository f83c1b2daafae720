"""Few-row linear layers on 4- and 8-bit block-quantized weights with AVX-512 VNNI (qlinear.cpp).

A decode step multiplies one row (or a few) by every weight matrix of the model. aten's weight-only
kernels widen each 4-bit weight to float before multiplying; this one quantizes the few input rows
to int8 per block of 32 instead, as llama.cpp does, and multiplies 64 weight-input pairs per
instruction (vpdpbusd). At 1 row it is as fast as aten's int4 kernel (both wait on memory); at a
few rows, where aten's widens every weight, it is faster (bench/weight_kernels.py; figures in
docs/performance.md). Weights are GGUF's
Q4_1 form: per output row and block of 32 inputs a scale and a minimum, so the embedded model's
4-bit layers are the file's own.

`qlinear(x, packed, bits, out_features, prefetch, prefetch_slots)` is the registered op
`torch.ops.tuneserve.qlinear`, with a fake implementation so that torch.compile traces it into the
decode graph as one call. With many rows the product is bound by arithmetic and memory sits idle,
so it can fetch the slots of the LoRA tables that the same rows read next into cache as it goes:
the LoRA calls that follow then wait less than the products slow down (whole steps with 32
adapters on 32 rows are quicker; docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from server.engine.kernels.build import unavailable_reason

__all__ = ["BLOCK", "TILE", "pack", "qlinear", "quantize", "reference", "unavailable_reason"]

BLOCK = 32  # inputs per quantization block
TILE = 16  # output rows per tile: one 512-bit register of int32 sums


@torch.library.register_fake("tuneserve::qlinear")
def _qlinear_fake(x: torch.Tensor, packed: torch.Tensor, bits: int, out_features: int, *prefetch: object) -> torch.Tensor:
    return x.new_empty((x.shape[0], out_features))  # what to prefetch changes nothing of the result


def qlinear(
    x: torch.Tensor,
    packed: torch.Tensor,
    bits: int,
    out_features: int,
    prefetch: Sequence[torch.Tensor] = (),
    prefetch_slots: torch.Tensor | None = None,
) -> torch.Tensor:
    """x [rows, in] (float32 or bfloat16) times the packed weights -> [rows, out], x's dtype.

    `prefetch`: tables [slots, ...] whose rows `prefetch_slots` (int64, 0 and repeats skipped) the
    caller reads next; they are fetched into cache while the product computes."""
    return torch.ops.tuneserve.qlinear(x.contiguous(), packed, bits, out_features, list(prefetch), prefetch_slots)


def quantize(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`weight` [out, in] as unsigned `bits`-bit values q with a float16 scale d and minimum m per
    row and block of 32 (w ~ d * q + m): q [out, in] uint8, d and m [out, in / 32] float16."""
    out_features, in_features = weight.shape
    levels = 2**bits - 1
    groups = weight.float().reshape(out_features, in_features // BLOCK, BLOCK)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = ((high - low) / levels).clamp(min=1e-8).half()
    low = low.half()
    # the values are rounded against the stored (float16) scale and minimum, not the exact ones
    q = torch.round((groups - low.float()[..., None]) / scale.float()[..., None]).clamp(0, levels)
    return q.to(torch.uint8).reshape(out_features, in_features), scale, low


def pack(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """`weight` [out, in] in qlinear.cpp's layout: per tile of 16 rows and block of 32 inputs, the
    values in 8 groups of 4 inputs (lane i: row i), then 16 scales and 16 minimums (float16)."""
    out_features, in_features = weight.shape
    if out_features % TILE or in_features % BLOCK:
        raise ValueError(f"qlinear needs out_features divisible by {TILE} and in_features by {BLOCK}, not {tuple(weight.shape)}")
    q, scale, low = quantize(weight, bits)
    tiles, blocks = out_features // TILE, in_features // BLOCK
    values = q.reshape(tiles, TILE, blocks, 8, 4).permute(0, 2, 3, 1, 4)  # [tile, block, group, row, 4]
    if bits == 4:  # groups 0-3 in the low nibbles, 4-7 in the high ones
        values = values[:, :, :4] | (values[:, :, 4:] << 4)
    per_tile = [values.reshape(tiles, blocks, -1)]
    for half in (scale, low):
        per_tile.append(half.reshape(tiles, TILE, blocks).permute(0, 2, 1).contiguous().view(torch.uint8))
    return torch.cat(per_tile, dim=-1).reshape(-1).contiguous()


def reference(x: torch.Tensor, weight: torch.Tensor, bits: int) -> torch.Tensor:
    """What `qlinear` computes, in float32 torch ops: quantized inputs times dequantized weights (for tests)."""
    q, scale, low = quantize(weight, bits)
    out_features, in_features = weight.shape
    w = (q.float().reshape(out_features, -1, BLOCK) * scale.float()[..., None] + low.float()[..., None]).reshape(out_features, in_features)
    rows = x.shape[0]
    blocks = x.float().reshape(rows, -1, BLOCK)
    amax = blocks.abs().amax(-1, keepdim=True)
    xq = torch.round(blocks * torch.where(amax > 0, 127 / amax, torch.zeros_like(amax))).clamp(-127, 127)
    return (xq * (amax / 127)).reshape(rows, in_features) @ w.T
