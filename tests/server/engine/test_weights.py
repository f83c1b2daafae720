"""The model step's weights: 4-bit and 8-bit packing against plain matmuls, and which rows use them."""

from __future__ import annotations

import torch

from server.engine import weights
from server.engine.weights import INT4_GROUP, MAX_ROWS, Linear, fuse


def dequantize_int4_reference(w: torch.Tensor) -> torch.Tensor:
    """What a Q4_1-style quantization of `w` reproduces: 16 steps from each group's min to its max."""
    groups = w.reshape(w.shape[0], -1, INT4_GROUP)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    scale = (high - low) / 15
    return (torch.round((groups - low) / scale) * scale + low).reshape(w.shape)


def test_int4_packing_reproduces_the_groupwise_quantized_weights():
    w = torch.randn(96, 128, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 128, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(1))
    w = w.to(torch.bfloat16)
    linear = Linear(w, "int4")
    expected = x.float() @ dequantize_int4_reference(w.float()).T
    error_of_bf16 = (x.float() @ w.float().T - (x @ w.T).float()).abs().max()
    assert (linear(x).float() - expected).abs().max() <= 2 * error_of_bf16, "within the rounding a bf16 matmul makes anyway"


def test_a_q4_1_grid_survives_requantization_exactly_up_to_bf16_scales():
    # weights already on a 4-bit grid (as a Q4_1 GGUF file holds them) come back as they were
    low, scale = torch.randn(64, 4, 1), torch.rand(64, 4, 1) + 0.1
    q = torch.randint(0, 16, (64, 4, INT4_GROUP)).float()
    q[..., 0], q[..., 1] = 0, 15  # every group spans the whole range, as Q4_1's do
    w = (q * scale + low).reshape(64, 128)
    packed, scales_zeros = weights.pack_int4(w, torch.bfloat16)
    eye = torch.eye(128, dtype=torch.bfloat16)
    recovered = torch._weight_int4pack_mm_for_cpu(eye, packed, INT4_GROUP, scales_zeros).float().T
    assert (recovered - w).abs().max() < 0.02 * w.abs().max()


def test_few_rows_use_the_aten_quantized_copy_and_many_rows_or_exact_steps_the_full_weights():
    w = torch.randn(64, 64, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(2))
    linear = Linear(w, "int8")
    few = torch.randn(MAX_ROWS["aten"]["int8"], 64, dtype=torch.bfloat16)
    many = torch.randn(MAX_ROWS["aten"]["int8"] + 1, 64, dtype=torch.bfloat16)
    full = torch.nn.functional.linear
    assert not torch.equal(linear(few), full(few, w)), "8-bit weights differ a little from the full ones"
    assert torch.equal(linear(few, exact=True), full(few, w))
    assert torch.equal(linear(many), full(many, w))


def test_fusing_keeps_the_modules_working_as_views_of_the_fused_weight():
    q, k = torch.nn.Linear(8, 8, bias=False), torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(2, 8)
    before = torch.cat([q(x), k(x)], dim=-1).detach()
    fused = fuse([q, k], "none")
    assert isinstance(fused, Linear) and fused.weight.shape == (12, 8)
    # one product of the fused matrix sums in another order than two: equal up to float32 rounding
    assert torch.allclose(fused(x), before, atol=1e-6) and torch.allclose(torch.cat([q(x), k(x)], dim=-1), before, atol=1e-6)
    assert q.weight.data_ptr() == fused.weight.data_ptr(), "no second copy of the weights"


def test_biased_layers_fuse_with_their_biases_on_the_full_and_the_quantized_weights():
    """Qwen2's q/k/v: one matrix and one joined bias, added after the 4-bit product too."""
    torch.manual_seed(0)
    q, k, v = torch.nn.Linear(64, 64), torch.nn.Linear(64, 32), torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(2, 64)
    expected = torch.cat([q(x), k(x), v(x)], dim=-1).detach()
    fused = fuse([q, k, v], "int4")
    assert isinstance(fused, Linear) and fused.bias is not None and fused.max_rows > 0
    assert torch.allclose(fused(x, exact=True), expected, atol=1e-5)
    quantized = fused(x)  # 2 rows: the 4-bit copy
    unbiased = Linear(fused.weight, "int4")(x)  # the same 4-bit product without a bias
    assert torch.allclose(quantized, unbiased + fused.bias, atol=1e-6)
    assert (quantized - expected).norm() < 0.1 * expected.norm(), "and within 4-bit rounding of the full weights"
