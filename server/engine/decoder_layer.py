"""The decoder layer's body, written once for every path that runs the model step.

The eager step (server.engine.model_runner), the compiled CPU decode step
(server.engine.decode_graph) and the CUDA graphs' pieces (server.engine.cuda_graph) differ in how
they read and write the KV cache and add LoRA deltas, not in the layer's arithmetic. Each layer is
therefore two halves around its attention: `attention_inputs` (norm, fused q/k/v, per-head q/k
norms, rotary) and `layer_output` (o projection, the norms around the residuals, the gated MLP);
each path attends and writes its cache in between, and says how to project through a `Project`.
What varies by family is data in the `ModelShape` and the `LayerWeights` (common.model_families),
so a family is never a branch in a path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
import torch.nn.functional as F

from common.model_families import ModelShape, soft_capped
from server.engine.weights import LayerWeights, Projection

# (group, projection, input) -> output: a fused projection of the layer, plus its LoRA deltas where the path adds them
Project = Callable[[str, Projection, torch.Tensor], torch.Tensor]
Activation = Callable[[torch.Tensor], torch.Tensor]


def norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    if weight.dtype != x.dtype:  # a float32 weight (Gemma's): the whole norm in float32, rounded once
        return F.rms_norm(x.float(), (x.shape[-1],), weight, eps).to(x.dtype)
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


def rotate_(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    # In place. x: [T, heads, head_dim], cos/sin: [T, 1, head_dim] (sin signed). The usual
    # cat((-x2, x1)) form is five operations; this is three, and each one costs at batch 1.
    rolled = x.roll(x.shape[-1] // 2, dims=-1)
    x.mul_(cos).addcmul_(rolled, sin)


def attention_inputs(
    shape: ModelShape, w: LayerWeights, h: torch.Tensor, project: Project, cos: torch.Tensor, sin: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """[T, heads + 2 * kv_heads, head_dim] in `dtype` (the cache's): the rotated queries, then the
    rotated keys and the values, side by side as the cache holds them."""
    heads, kv_heads = shape.heads, shape.kv_heads
    qkv = project("qkv", w.qkv, norm(h, w.attention_norm, shape.eps)).view(h.shape[0], shape.qkv_width, shape.head_dim)
    if w.q_norm is not None and w.k_norm is not None:
        q = norm(qkv[:, :heads], w.q_norm, shape.eps)
        k = norm(qkv[:, heads : heads + kv_heads], w.k_norm, shape.eps)
        qkv = torch.cat((q, k, qkv[:, heads + kv_heads :]), dim=1)
    qkv = qkv.to(dtype)  # a fresh tensor either way: rotated in place
    # the rotary tables' width: the head size, or its leading part under a partial rotary (Phi-4 mini)
    rotate_(qkv[:, : heads + kv_heads, : cos.shape[-1]], cos, sin)
    return qkv


def layer_output(
    shape: ModelShape, w: LayerWeights, h: torch.Tensor, attended: torch.Tensor, project: Project, act: Activation
) -> torch.Tensor:
    """The next hidden states, from the layer's input `h` and its attention's output [T, heads * head_dim]."""
    out = project("o", w.o, attended.to(h.dtype))
    if w.attention_out_norm is not None:
        out = norm(out, w.attention_out_norm, shape.eps)
    h = h + out
    gate, up = project("gate_up", w.gate_up, norm(h, w.mlp_norm, shape.eps)).chunk(2, dim=-1)
    out = project("down", w.down, act(gate) * up)
    if w.mlp_out_norm is not None:
        out = norm(out, w.mlp_out_norm, shape.eps)
    return h + out


def final_logits(shape: ModelShape, h: torch.Tensor, final_norm: torch.Tensor, head: Projection, exact: bool = False) -> torch.Tensor:
    """Next-token logits [N, vocab], float32, of final hidden states [N, hidden]."""
    return soft_capped(head(norm(h, final_norm, shape.eps), exact=exact).float(), shape.final_softcap)


Mask = TypeVar("Mask", torch.Tensor, torch.Tensor | None)  # which columns are real; None: all are


def window_context(
    window: int, slots: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode rows' context as a layer that attends within `window` reads it: the slots of the
    positions after the row's position - window, out of `slots` [rows, columns], and which of them
    are real ([rows, min(window, columns)] each; `mask` [rows, columns] says which columns are
    real, None: all are). Context column c is position c.

    A sliding layer thus reads and attends over its window, not the whole context: at 2048 tokens
    Gemma 3's five local layers of six would otherwise gather four times the keys they use (where
    attention reads a gathered copy: aten's, CUDA's; the CPU paged kernel skips masked slots)."""
    width = min(window, slots.shape[1])
    start = (positions - (window - 1)).clamp(min=0)  # [rows]
    columns = start[:, None] + torch.arange(width, device=slots.device)[None, :]  # all within the context
    inside = columns <= positions[:, None]  # rows shorter than the window read padding columns too
    return slots.gather(1, columns), inside if mask is None else inside & mask.gather(1, columns)


def window_contexts(
    windows: Iterable[int | None], slots: torch.Tensor, positions: torch.Tensor, mask: Mask
) -> dict[int, tuple[torch.Tensor, Mask]]:
    """`window_context` for each window the layers attend within; where every row's context fits
    the window, the whole context as it is (unmasked where it was)."""
    return {
        window: (slots, mask) if slots.shape[1] <= window else window_context(window, slots, positions, mask)
        for window in {w for w in windows if w is not None}
    }
