"""The automatic precision: a pure decision over the device and the CPU's flags."""

from __future__ import annotations

import pytest
import torch

from common import precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda:0")


@pytest.fixture()
def native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))


@pytest.fixture()
def no_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))


def test_a_cpu_with_native_bf16_gets_bf16_with_int4_decode_weights_and_a_float32_cache(native_bf16):
    chosen = precision.choose("auto", "auto", CPU)
    assert (chosen.dtype, chosen.quantization, chosen.kv_cache_dtype) == (torch.bfloat16, "int4", torch.float32)
    assert "avx512_bf16" in chosen.reason and "int4" in chosen.reason and "KV cache" in chosen.reason


def test_a_cpu_without_native_bf16_stays_float32(no_bf16):
    chosen = precision.choose("auto", "auto", CPU)
    assert (chosen.dtype, chosen.quantization, chosen.kv_cache_dtype) == (torch.float32, "none", torch.float32)
    assert "no native bf16" in chosen.reason


def test_cuda_gets_bf16_and_nf4(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    chosen = precision.choose("auto", "auto", CUDA)
    assert (chosen.dtype, chosen.quantization, chosen.kv_cache_dtype) == (torch.bfloat16, "nf4", torch.bfloat16)


def test_settings_override_the_choice_and_say_so(native_bf16):
    chosen = precision.choose("float32", "none", CPU)
    assert (chosen.dtype, chosen.quantization) == (torch.float32, "none")
    assert "as set" in chosen.reason
    assert precision.choose("bfloat16", "nf4", CPU).quantization == "nf4"
    assert precision.choose("auto", "int8", CPU).dtype == torch.float32, "bitsandbytes on the CPU computes in float32"


@pytest.mark.parametrize("dtype,device", [("float32", CPU), ("bfloat16", CUDA)])
def test_int4_only_where_its_kernels_run(native_bf16, dtype, device):
    with pytest.raises(ValueError, match="int4 runs on the CPU with dtype bfloat16"):
        precision.choose(dtype, "int4", device)


def test_the_flags_of_this_machine_are_read():
    assert isinstance(precision.cpu_flags(), frozenset)
