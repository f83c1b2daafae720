"""Which dtype and weight format the base model runs in, chosen for the hardware at hand.

`auto` picks what is fastest here while keeping quality (tests/server/engine/test_quality.py checks
it against float32; bench/weight_kernels.py measures the kernels behind these rules):

* CUDA: bfloat16 (float16 without bf16 support), with the decoder's linear layers also kept as
  4-bit weights in groups of 32 (`int4`, aten's CUDA int4 kernel) for steps of few rows, where a
  decode step waits on the weights' bytes; nf4 through bitsandbytes (QLoRA's format) where the GPU
  is older than Ampere or bf16 is missing. bench/serving.py --formats measures the three.
* A CPU with native bf16 (avx512_bf16 or AMX): bfloat16, with the decoder's linear layers also kept
  as 4-bit weights in groups of 32 (`int4`): the model step streams every weight once per decode
  step, and a 4-bit kernel reads a quarter of the bytes, so it is faster than bf16 at the few rows
  of a decode step (tuneserve's VNNI kernel where it builds, aten's otherwise:
  server.engine.weights). Steps with many rows (prefill, large batches) use the bf16 weights, where bf16
  is faster. The embedded model's layers are Q4_1 in its GGUF file: 4 bits in groups of 32 with a
  scale and a minimum, so these 4-bit weights are the file's own.
* Any other CPU: float32 (bf16 there is emulated and slower); no weight quantization.

On the CPU the KV cache and the attention stay float32 whatever the weights: aten's CPU attention
is several times slower in bf16.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype  # activations and unquantized weights
    quantization: str  # "none", "int4" (weight-only, CPU: server.engine.weights), "nf4" or "int8" (bitsandbytes)
    reason: str  # why, for ModelInfo, the start-up log and the metrics
    kv_cache_dtype: torch.dtype  # keys and values, and the attention over them

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux), empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    return any(flag in cpu_flags() for flag in _NATIVE_BF16_FLAGS)


def int4_kernels_available() -> bool:
    return hasattr(torch, "_weight_int4pack_mm_for_cpu") and hasattr(torch, "_convert_weight_to_int4pack_for_cpu")


def cuda_int4_available(device: torch.device) -> bool:
    """Whether aten's CUDA int4 kernel runs on this GPU (Ampere or newer, with bf16)."""
    return (
        hasattr(torch, "_weight_int4pack_mm")
        and torch.cuda.is_available()
        and torch.cuda.get_device_capability(device)[0] >= 8
        and torch.cuda.is_bf16_supported()
    )


def choose(dtype: str, quantization: str, device: torch.device) -> Precision:
    """The precision for the `dtype` and `quantization` settings ('auto' or explicit) on `device`."""
    reasons = []
    if dtype == "auto":
        if device.type == "cuda":
            chosen_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            reasons.append(f"{chosen_dtype} on CUDA")
        elif quantization in ("nf4", "int8"):
            chosen_dtype = torch.float32  # bitsandbytes' CPU int8 path loses accuracy with bf16 activations
            reasons.append("float32: bitsandbytes on the CPU computes in float32")
        elif cpu_has_native_bf16():
            chosen_dtype = torch.bfloat16
            reasons.append("bfloat16: the CPU has native bf16 (avx512_bf16/amx_bf16)")
        else:
            chosen_dtype = torch.float32
            reasons.append("float32: the CPU has no native bf16")
    else:
        chosen_dtype = getattr(torch, dtype)
        reasons.append(f"dtype {dtype} as set")
    if quantization == "auto":
        if device.type == "cuda" and chosen_dtype == torch.bfloat16 and cuda_int4_available(device):
            chosen_quantization = "int4"
            reasons.append("int4 weights for decode steps (aten's CUDA int4 kernel): a quarter of the bytes a step")
        elif device.type == "cuda":
            chosen_quantization = "nf4"
            reasons.append("nf4 weights (bitsandbytes) on CUDA")
        elif chosen_dtype == torch.bfloat16 and int4_kernels_available():
            chosen_quantization = "int4"
            reasons.append("int4 weights for decode steps: 4-bit GEMV streams a quarter of the bytes")
        else:
            chosen_quantization = "none"
            reasons.append("no weight quantization")
    else:
        chosen_quantization = quantization
        reasons.append(f"quantization {quantization} as set")
    if chosen_quantization == "int4":
        if chosen_dtype != torch.bfloat16:
            raise ValueError("quantization int4 runs with dtype bfloat16 (aten's int4 kernels)")
        if device.type == "cuda" and not cuda_int4_available(device):
            raise ValueError("quantization int4 on CUDA needs an Ampere or newer GPU (aten's CUDA int4 kernel); use nf4 or none")
        if device.type == "cpu" and not int4_kernels_available():
            raise ValueError("this build of torch has no CPU int4 kernels; use quantization none")
    # The CPU's attention kernels are several times faster in float32 than in bf16 (10x for 32
    # decode rows, bench/weight_kernels.py), and keys and values of a small model are cheap to hold.
    kv_dtype = chosen_dtype if device.type == "cuda" else torch.float32
    if kv_dtype != chosen_dtype:
        reasons.append("float32 KV cache and attention (faster on the CPU)")
    return Precision(chosen_dtype, chosen_quantization, "; ".join(reasons), kv_dtype)
