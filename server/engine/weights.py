"""The base model's weights as the model step runs them.

Linear layers that read the same input are fused into one matrix (q, k and v; gate and up), so a
decoder layer is four matrix products instead of seven. With the `int4` precision
(common.precision) every fused matrix also carries a 4-bit copy in groups of 32, and the
language-model head an 8-bit one: a step with few rows (decoding) streams those, a quarter and a
half of the bytes; a step with many rows (prefill, large batches) uses the full weights, where
that is faster (bench/weight_kernels.py measures where the two cross). A step that scores labels
(Classify) takes its logits from the full head: the 8-bit one keeps generation's perplexity within
0.2% but moves close label scores enough to cost classification accuracy
(tests/server/engine/test_quality.py). The Hugging Face modules keep
views into the fused matrices, so nothing is held twice but the quantized copies.

The quantized copies run on one of two kernels: tuneserve's own (server.engine.kernels.qlinear:
int8 inputs times 4- or 8-bit weights with AVX-512 VNNI, built at first use; as fast as aten's at
1 row, where both wait on memory, and faster at a few rows) where the CPU has VNNI and a
compiler is at hand (setting `cpu_kernels`, server.engine.kernels.build.choose), else aten's
weight-only kernels. On CUDA the 4-bit copies take aten's CUDA int4 kernel (tinygemm, the kernel
of gpt-fast and torchao's int4 weight-only format) and the head stays bf16.

Models quantized by bitsandbytes (nf4, int8) keep their own modules; a group then calls each and
joins the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from common.errors import FailedPrecondition
from common.model_families import BLOCKS, Family
from server.engine.kernels import qlinear

# Rows up to which a step uses each quantized copy, per kernel: the most rows at which the kernel
# still beat the bf16 weights on the reference CPU, for aten's kernels one by one and for whole
# decode steps on tuneserve's (bench/weight_kernels.py; figures in docs/performance.md).
MAX_ROWS = {"aten": {"int4": 16, "int8": 6}, "vnni": {"int4": 40, "int8": 40}, "cuda": {"int4": 16}}
INT4_GROUP = 32
Kernel = Literal["aten", "vnni"]


def quantize_int4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`weight` [out, in] as 4-bit values [out, in] (int32, 0 to 15) and aten's scales and zeros
    [in / 32, out, 2] in the weight's dtype: a scale and a zero per 32 inputs.

    Asymmetric (min to max in 16 steps), the format of GGUF's Q4_1: weights that came from such a
    file are reproduced up to the rounding of their scales to the dtype. aten's int4 kernels (CPU
    and CUDA alike) compute (q - 8) * scale + zero.
    """
    out_features, in_features = weight.shape
    groups = weight.float().reshape(out_features, in_features // INT4_GROUP, INT4_GROUP)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = ((high - low) / 15).clamp(min=1e-8)
    values = torch.clamp(torch.round((groups - low[..., None]) / scale[..., None]), 0, 15).to(torch.int32)
    scales_and_zeros = torch.stack([scale, low + 8 * scale], dim=-1).transpose(0, 1).contiguous().to(weight.dtype)
    return values.reshape(out_features, in_features), scales_and_zeros


def pack_int4(weight: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """`weight` [out, in] in aten's CPU int4 layout, with its scales and zeros (`quantize_int4`)."""
    values, scales_and_zeros = quantize_int4(weight.to(dtype))
    return torch._convert_weight_to_int4pack_for_cpu(values, 1), scales_and_zeros


def cuda_int4_fits(out_features: int, in_features: int) -> bool:
    """Whether aten's CUDA int4 kernel (tinygemm) takes a matrix of this shape."""
    # 32 inputs are a group and the narrowest tiling (2 * 16)
    return out_features % 8 == 0 and in_features % INT4_GROUP == 0


def pack_int4_cuda(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`weight` [out, in] (bf16, on the GPU) in the layout of aten's CUDA int4 kernel, the one
    gpt-fast and torchao's int4 weight-only format use: two values a byte, then tiled."""
    values, scales_and_zeros = quantize_int4(weight)
    pairs = (values[:, ::2] << 4 | values[:, 1::2]).to(torch.uint8)
    # the widest tiling the inputs divide into (the kernel reads inner_k_tiles * 16 inputs a step)
    inner_k_tiles = next(t for t in (8, 4, 2) if weight.shape[1] % (t * 16) == 0)
    return torch._convert_weight_to_int4pack(pairs, inner_k_tiles), scales_and_zeros


def pack_int8(weight: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """`weight` [out, in] as symmetric 8-bit values with one scale per output row."""
    scale = (weight.float().abs().amax(dim=1) / 127).clamp(min=1e-8)
    return torch.round(weight.float() / scale[:, None]).to(torch.int8), scale.to(dtype)


class Linear:
    """One (possibly fused) linear map, with its bias if it has one (Qwen2's q/k/v): full weights,
    and optionally a quantized copy that steps of up to `max_rows` rows use."""

    def __init__(self, weight: torch.Tensor, quantized: str = "none", kernel: Kernel = "aten", bias: torch.Tensor | None = None) -> None:
        self.weight = weight  # [out, in]
        self.bias = bias  # [out] or None
        self.out_features = int(weight.shape[0])
        self.max_rows = 0
        self._int4: tuple[torch.Tensor, torch.Tensor] | None = None
        self._int8: tuple[torch.Tensor, torch.Tensor] | None = None
        self._packed: tuple[int, torch.Tensor] | None = None  # the VNNI kernel's: (bits, weights)
        self._int4_cuda: tuple[torch.Tensor, torch.Tensor] | None = None  # aten's CUDA int4 kernel's
        if quantized not in ("int4", "int8"):
            return
        bits = 4 if quantized == "int4" else 8
        out_features, in_features = weight.shape
        if weight.is_cuda:
            if quantized != "int4" or not cuda_int4_fits(out_features, in_features):
                return
            self._int4_cuda = pack_int4_cuda(weight)
            self.max_rows = MAX_ROWS["cuda"]["int4"]
            return
        if kernel == "vnni" and out_features % qlinear.TILE == 0 and in_features % qlinear.BLOCK == 0:
            reason = qlinear.unavailable_reason()  # builds it on first use
            if reason is not None:
                raise FailedPrecondition(f"the VNNI weight kernel is not available: {reason}")
            self._packed = bits, qlinear.pack(weight, bits)
        elif quantized == "int4" and in_features % INT4_GROUP == 0:
            self._int4 = pack_int4(weight, weight.dtype)
        elif quantized == "int8":
            self._int8 = pack_int8(weight, weight.dtype)
        else:
            return
        self.max_rows = MAX_ROWS["vnni" if self._packed is not None else "aten"][quantized]

    def __call__(
        self, x: torch.Tensor, exact: bool = False, prefetch: Sequence[torch.Tensor] = (), prefetch_slots: torch.Tensor | None = None
    ) -> torch.Tensor:
        # x: [T, in] -> [T, out]; `exact` asks for the full weights whatever the rows; the VNNI
        # kernel fetches the `prefetch` tables' rows of `prefetch_slots` into cache as it computes
        if not exact and x.shape[0] <= self.max_rows:
            out = self._quantized(x, prefetch, prefetch_slots)
            if out is not None:
                return out if self.bias is None else out.add_(self.bias)
        return F.linear(x, self.weight, self.bias)

    def _quantized(self, x: torch.Tensor, prefetch: Sequence[torch.Tensor], prefetch_slots: torch.Tensor | None) -> torch.Tensor | None:
        if self._packed is not None:
            return qlinear.qlinear(x, self._packed[1], self._packed[0], self.out_features, prefetch, prefetch_slots)
        if self._int4_cuda is not None:
            return torch._weight_int4pack_mm(x, self._int4_cuda[0], INT4_GROUP, self._int4_cuda[1])
        if self._int4 is not None:
            return torch._weight_int4pack_mm_for_cpu(x, self._int4[0], INT4_GROUP, self._int4[1])
        if self._int8 is not None:
            return torch._weight_int8pack_mm(x, self._int8[0], self._int8[1])
        return None


class ModuleGroup:
    """Modules that cannot be fused (bitsandbytes layers, subclassed linears): called one by one, outputs joined."""

    def __init__(self, modules: Sequence[torch.nn.Module]) -> None:
        self.modules = list(modules)

    def __call__(
        self, x: torch.Tensor, exact: bool = False, prefetch: Sequence[torch.Tensor] = (), prefetch_slots: torch.Tensor | None = None
    ) -> torch.Tensor:
        outs = [module(x) for module in self.modules]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)


Projection = Linear | ModuleGroup


def fuse(modules: Sequence[torch.nn.Module], quantized: str, kernel: Kernel = "aten") -> Projection:
    """One projection for linears that read the same input; the modules become views of its weight."""
    linears: list[torch.nn.Linear] = []
    for module in modules:
        if type(module) is not torch.nn.Linear:
            return ModuleGroup(modules)  # a bitsandbytes layer
        linears.append(module)
    fused = torch.cat([m.weight.detach() for m in linears]) if len(linears) > 1 else linears[0].weight.detach()
    bias = None
    if any(m.bias is not None for m in linears):  # a copy, joined; the modules keep their own
        bias = torch.cat([m.bias.detach() if m.bias is not None else fused.new_zeros(m.out_features) for m in linears])
    start = 0
    for linear in linears:
        rows = int(linear.out_features)
        linear.weight = torch.nn.Parameter(fused[start : start + rows], requires_grad=False)
        start += rows
    return Linear(fused, quantized, kernel, bias)


def norm_weight(module: Any, family: Family) -> torch.Tensor:
    """A norm's weight as F.rms_norm multiplies by it. Gemma stores it less one, and its norms run
    in float32 (as transformers runs them): 1 + w kept in float32, not rounded to bf16 again."""
    weight = module.weight.detach()
    return weight.float() + family.norm_offset if family.norm_offset else weight


@dataclass
class LayerWeights:
    """One decoder layer: norms, fused projections and how the fused outputs split.

    Norms a family does not have are None (see common.model_families)."""

    attention_norm: torch.Tensor  # [D] the attention's input
    mlp_norm: torch.Tensor  # [D] the MLP's input
    qkv: Projection  # -> [q | k | v]
    o: Projection
    gate_up: Projection  # -> [gate | up]
    down: Projection
    q_norm: torch.Tensor | None = None  # [head_dim] each query head, before the rotary
    k_norm: torch.Tensor | None = None  # [head_dim] each key head, before the rotary
    attention_out_norm: torch.Tensor | None = None  # [D] attention's output, before the residual
    mlp_out_norm: torch.Tensor | None = None  # [D] the MLP's output, before the residual

    @classmethod
    def of(cls, layer: Any, family: Family, quantized: str, kernel: Kernel = "aten") -> LayerWeights:
        attn = layer.self_attn

        def optional(module: Any) -> torch.Tensor | None:
            return None if module is None else norm_weight(module, family)

        def projection(group: str) -> Projection:
            block = getattr(layer, BLOCKS[group])
            return fuse([getattr(block, module) for module in family.groups[group]], quantized, kernel)

        return cls(
            attention_norm=norm_weight(layer.input_layernorm, family),
            mlp_norm=norm_weight(getattr(layer, family.mlp_norm), family),
            qkv=projection("qkv"),
            o=projection("o"),
            gate_up=projection("gate_up"),
            down=projection("down"),
            q_norm=optional(attn.q_norm if family.qk_norm else None),
            k_norm=optional(attn.k_norm if family.qk_norm else None),
            attention_out_norm=optional(getattr(layer, family.attention_out_norm) if family.attention_out_norm else None),
            mlp_out_norm=optional(getattr(layer, family.mlp_out_norm) if family.mlp_out_norm else None),
        )
