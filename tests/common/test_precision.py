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


@pytest.mark.parametrize(
    "ampere,expected",
    [(True, (torch.bfloat16, "int4", torch.bfloat16, "CUDA int4 kernel")), (False, (torch.float16, "nf4", torch.float16, "nf4"))],
)
def test_a_gpu_gets_int4_decode_weights_from_ampere_on_and_nf4_before(monkeypatch, ampere, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: ampere)
    monkeypatch.setattr(precision, "cuda_int4_available", lambda device: ampere)
    chosen = precision.choose("auto", "auto", CUDA)
    *formats, reason = expected
    assert [chosen.dtype, chosen.quantization, chosen.kv_cache_dtype] == formats
    assert reason in chosen.reason


def test_settings_override_the_choice_and_say_so(native_bf16):
    chosen = precision.choose("float32", "none", CPU)
    assert (chosen.dtype, chosen.quantization) == (torch.float32, "none")
    assert "as set" in chosen.reason
    assert precision.choose("bfloat16", "nf4", CPU).quantization == "nf4"
    assert precision.choose("auto", "int8", CPU).dtype == torch.float32, "bitsandbytes on the CPU computes in float32"


def test_int4_only_where_its_kernels_run(native_bf16, monkeypatch):
    with pytest.raises(ValueError, match="int4 runs with dtype bfloat16"):
        precision.choose("float32", "int4", CPU)
    monkeypatch.setattr(precision, "cuda_int4_available", lambda device: False)
    with pytest.raises(ValueError, match="int4 on CUDA needs an Ampere or newer GPU"):
        precision.choose("bfloat16", "int4", CUDA)


def test_the_flags_of_this_machine_are_read():
    assert isinstance(precision.cpu_flags(), frozenset)
