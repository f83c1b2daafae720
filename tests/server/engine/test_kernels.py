"""tuneserve's C++ kernels (server/engine/kernels) against what they are meant to compute.

Random weights, inputs and caches: this is about the kernels' arithmetic and layout, not the model.
"""

import pytest
import torch

from common.errors import FailedPrecondition
from server.engine.kernels import build, decode_attention, lora_add, qlinear
from server.engine.weights import MAX_ROWS, Linear


@pytest.fixture(scope="module", autouse=True)
def kernel():
    reason = build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"the C++ kernels are not available here: {reason}")


def random(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8, 17])
def test_the_kernel_computes_quantized_inputs_times_dequantized_weights(bits, dtype, rows):
    w = random(48, 96, seed=bits, scale=0.05)
    x = random(rows, 96, seed=rows).to(dtype)
    y = qlinear.qlinear(x, qlinear.pack(w, bits), bits, 48)
    expected = qlinear.reference(x, w, bits)
    assert y.dtype == dtype and y.shape == (rows, 48)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-2  # float32 sums in another order; bf16 output rounding
    assert (y.float() - expected).abs().max() <= tolerance * expected.abs().max()


@pytest.mark.parametrize("bits", [4, 8])
def test_weights_on_the_grid_and_one_hot_inputs_come_back_exactly(bits):
    # one-hot rows quantize without loss, so the kernel returns the dequantized weights' columns
    levels = 2**bits - 1
    scale = (torch.rand(32, 2, 1) + 0.5).half().float() / 64
    low = (torch.randn(32, 2, 1) / 8).half().float()
    q = torch.randint(0, levels + 1, (32, 2, 32)).float()
    q[..., 0], q[..., 1] = 0, levels  # each block spans the whole range, so its scale and minimum are found again
    w = (q * scale + low).reshape(32, 64)
    recovered = qlinear.qlinear(torch.eye(64), qlinear.pack(w, bits), bits, 32).T
    assert torch.allclose(recovered, w, rtol=0, atol=1e-5)


def test_zero_inputs_give_zero_outputs():
    w = random(16, 64, scale=0.1)
    assert torch.equal(qlinear.qlinear(torch.zeros(2, 64), qlinear.pack(w, 4), 4, 16), torch.zeros(2, 16))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_row_that_is_not_finite_stays_not_finite_and_leaves_the_others_alone(bad):
    # int8 has no NaN or infinity: the kernel must not turn a broken row into finite numbers,
    # or the engine could not tell that request's output is broken (server.engine.sampling)
    w = random(32, 64, scale=0.1)
    x = random(3, 64)
    x[1, 40] = bad
    y = qlinear.qlinear(x, qlinear.pack(w, 4), 4, 32)
    assert torch.isnan(y[1]).all()
    assert torch.isfinite(y[[0, 2]]).all()


@pytest.mark.parametrize("rows", [1, 17, 40])
def test_prefetching_the_next_calls_tables_leaves_the_product_as_it_is(rows):
    # the LoRA tables of the same rows, fetched while the tiles compute: whatever the slots (the base
    # model's 0, repeats, none at all), the output is the one without
    w, x = random(64, 96, scale=0.05), random(rows, 96, seed=1).to(torch.bfloat16)
    packed = qlinear.pack(w, 4)
    tables = [torch.randint(0, 255, (5, 48, 96), dtype=torch.uint8), torch.randn(5, 16, 130), torch.randn(5, 7).bfloat16()]
    plain = qlinear.qlinear(x, packed, 4, 64)
    for slots in ([0, 3, 3, 1, 4], [0, 0], []):
        ahead = qlinear.qlinear(x, packed, 4, 64, tables, torch.tensor(slots, dtype=torch.long))
        assert torch.equal(ahead, plain), slots


def test_shapes_the_kernel_cannot_take_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="divisible"):
        qlinear.pack(random(20, 64), 4)
    packed = qlinear.pack(random(16, 64), 4)
    with pytest.raises(RuntimeError, match="do not match"):
        qlinear.qlinear(torch.randn(1, 96), packed, 4, 16)
    with pytest.raises(RuntimeError, match="in must divide by 32"):
        qlinear.qlinear(torch.randn(1, 40), packed, 4, 16)


def test_torch_compile_traces_the_op_as_one_call():
    w = random(32, 64, scale=0.1)
    packed = qlinear.pack(w, 4)

    def layer(x):
        return torch.relu(qlinear.qlinear(x * 2, packed, 4, 32))

    x = random(3, 64)
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(x), layer(x))


def test_a_vnni_linear_uses_its_copy_for_few_rows_and_the_full_weights_otherwise():
    """server.engine.weights.Linear on the VNNI kernel."""
    w = random(64, 64, seed=3).to(torch.bfloat16)
    linear = Linear(w, "int8", "vnni")
    limit = MAX_ROWS["vnni"]["int8"]
    few, many = random(limit, 64).to(torch.bfloat16), random(limit + 1, 64).to(torch.bfloat16)
    full = torch.nn.functional.linear
    assert linear.max_rows == limit
    assert torch.equal(linear(few), qlinear.qlinear(few, qlinear.pack(w, 8), 8, 64))
    assert torch.equal(linear(few, exact=True), full(few, w))
    assert torch.equal(linear(many), full(many, w))


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_decode_attention_reads_the_paged_cache_as_a_gather_and_sdpa_would(rows):
    kv = random(512, 6, 64, seed=1)  # 3 kv heads: keys then values per slot
    q = random(rows, 9, 64, seed=2)
    slots = torch.randint(0, 512, (rows, 40), generator=torch.Generator().manual_seed(3))
    mask = torch.rand(rows, 40, generator=torch.Generator().manual_seed(4)) > 0.3 if rows > 1 else None
    if mask is not None:
        mask[:, 0] = True  # every row has a context
    out = decode_attention.decode_attention(q, kv, slots, mask, 3, 0.125)
    expected = decode_attention.reference(q, kv, slots, mask, 3, 0.125)
    assert out.shape == (rows, 9, 64)
    assert torch.allclose(out, expected, atol=1e-5)


def test_decode_attention_keeps_nan_in_the_row_it_came_from():
    kv, q = random(32, 2, 64), random(2, 1, 64)
    kv[5, 0, 3] = float("nan")  # a key only the second row reads
    out = decode_attention.decode_attention(q, kv, torch.tensor([[1, 2], [5, 6]]), None, 1, 0.125)
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1]).all()


def test_decode_attention_refuses_slots_outside_the_cache():
    kv, q = random(16, 2, 64), random(1, 1, 64)
    with pytest.raises(RuntimeError, match="slot 16 is outside the cache of 16 slots"):
        decode_attention.decode_attention(q, kv, torch.tensor([[0, 16]]), None, 1, 0.125)
    with pytest.raises(RuntimeError, match="heads divisible by kv_heads"):
        decode_attention.decode_attention(random(1, 4, 64), random(16, 6, 64), torch.tensor([[0]]), None, 3, 0.125)


def test_decode_attention_is_traced_by_torch_compile():
    kv, q, slots = random(64, 2, 64), random(2, 2, 64), torch.tensor([[1, 2, 3], [4, 5, 0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])

    def attend(q):
        return decode_attention.decode_attention(q * 2, kv, slots, mask, 1, 0.125)

    assert torch.equal(torch.compile(attend, backend="aot_eager", fullgraph=True)(q), attend(q))


# -- LoRA rows -------------------------------------------------------------------------------------

# a fused group of three members with outputs of 144, 32 and 48 (chunks of 64, 64, 16, 32, 48),
# five slots (slot 0 the base model) with ranks 8, 3, 5 and 1 and different targeted members
BOUNDS = [0, 144, 176, 224]
RANKS, MEMBERS = [0, 8, 3, 5, 1], [0, 0b111, 0b001, 0b101, 0b010]
ROW_SLOTS = [1, 0, 3, 1, 2, 4, 1, 1, 1, 1, 3]  # slot 1 has six rows, more than one tile of four


def lora_tables(dtype, rmax=8, inputs=128):
    """A group's tables for one layer, zero past each slot's rank as LoraTables writes them."""
    a = random(5, 3 * rmax, inputs, seed=11, scale=0.1)
    b = random(5, rmax, BOUNDS[-1], seed=12, scale=0.1)
    for slot, rank in enumerate(RANKS):
        for member in range(3):
            a[slot, member * rmax + rank : (member + 1) * rmax] = 0
        b[slot, rank:] = 0
    return a.to(dtype), b.to(dtype)


def add_lora(x, out, a, b, int8, row_slots=ROW_SLOTS):
    kernel = lora_add.LoraKernel()
    tables = (*kernel.quantize(a, b, BOUNDS),) if int8 else (a, None, b, None)
    qa, sa, qb, sb = tables
    kernel(out, x, qa, sa, qb, sb, torch.tensor(row_slots), torch.tensor(RANKS), torch.tensor(MEMBERS), BOUNDS)


@pytest.mark.parametrize(
    ("dtype", "int8", "tolerance"),
    [(torch.float32, False, 1e-6), (torch.bfloat16, False, 1e-2), (torch.bfloat16, True, 3e-2), (torch.float32, True, 3e-2)],
)
def test_lora_rows_get_their_own_slots_delta_and_the_other_rows_nothing(dtype, int8, tolerance):
    a, b = lora_tables(dtype)
    x = random(13, 128, seed=13).to(dtype)  # rows 11 and 12 are not decode rows: no slot, no delta
    out = random(13, BOUNDS[-1], seed=14).to(dtype)
    before = out.clone()
    add_lora(x, out, a, b, int8)
    expected = lora_add.reference(x, a, b, ROW_SLOTS, RANKS, MEMBERS, BOUNDS)
    delta = out.double() - before.double()
    # float32 sums in another order; bf16 rounds the output; int8 tables and inputs cost ~1% of the delta
    assert (delta[:11] - expected).abs().max() <= tolerance * expected.abs().max()
    assert torch.equal(out[[1, 11, 12]], before[[1, 11, 12]]), "the base row and the rows past row_slots are untouched"
    assert torch.equal(delta[4, BOUNDS[1] :], torch.zeros(BOUNDS[-1] - BOUNDS[1], dtype=torch.float64)), "slot 2 targets member 0 only"


def test_a_lora_rows_delta_does_not_depend_on_the_rows_beside_it():
    # the engine's outputs must be the same alone and batched (tests/server/adapters/test_lora.py)
    a, b = lora_tables(torch.bfloat16)
    x = random(11, 128, seed=15).to(torch.bfloat16)
    batched = torch.zeros(11, BOUNDS[-1], dtype=torch.bfloat16)
    add_lora(x, batched, a, b, int8=True)
    for row in (0, 2, 5):
        alone = torch.zeros(1, BOUNDS[-1], dtype=torch.bfloat16)
        add_lora(x[row : row + 1], alone, a, b, int8=True, row_slots=[ROW_SLOTS[row]])
        assert torch.equal(alone[0], batched[row])


@pytest.mark.parametrize("int8", [False, True])
def test_a_lora_row_that_is_not_finite_stays_not_finite_and_leaves_the_others_alone(int8):
    a, b = lora_tables(torch.bfloat16)
    x = random(11, 128, seed=16).to(torch.bfloat16)
    x[3, 70] = float("nan")  # slot 1's row
    out = torch.zeros(11, BOUNDS[-1], dtype=torch.bfloat16)
    add_lora(x, out, a, b, int8)
    assert torch.isnan(out[3]).all()
    assert torch.isfinite(out[[0, 2, 4, 5, 6]]).all()


def test_lora_inputs_the_kernel_cannot_take_are_refused_with_the_reason():
    a, b = lora_tables(torch.float32)
    x, out = random(2, 128), torch.zeros(2, BOUNDS[-1])
    with pytest.raises(RuntimeError, match="slot 5 is outside the 5 slots"):
        add_lora(x, out, a, b, False, row_slots=[1, 5])
    with pytest.raises(RuntimeError, match="share one dtype"):
        add_lora(x.to(torch.bfloat16), out, a, b, False, row_slots=[1])
    kernel = lora_add.LoraKernel()
    assert not kernel.fits(torch.float32, 100, BOUNDS) and not kernel.fits(torch.float64, 128, BOUNDS)
    assert kernel.int8(torch.bfloat16, 128, 16) and not kernel.int8(torch.float32, 128, 16) and not kernel.int8(torch.bfloat16, 96, 16)


def test_lora_add_is_traced_by_torch_compile():
    a, b = lora_tables(torch.float32)
    slots, ranks, members = torch.tensor(ROW_SLOTS), torch.tensor(RANKS), torch.tensor(MEMBERS)

    def project(x):
        out = x[:, :1].repeat(1, BOUNDS[-1])
        torch.ops.tuneserve.lora_add(out, x, a, None, b, None, slots, ranks, members, BOUNDS)
        return out * 2

    x = random(11, 128, seed=17)
    assert torch.equal(torch.compile(project, backend="aot_eager", fullgraph=True)(x), project(x))


def test_the_kernels_are_chosen_where_they_build_and_aten_otherwise(monkeypatch):
    cpu = torch.device("cpu")
    assert build.choose("auto", cpu)[0] is True
    assert build.choose("off", cpu)[0] is False
    assert build.choose("auto", torch.device("cuda"))[0] is False
    monkeypatch.setattr(build, "unavailable_reason", lambda: "the CPU lacks avx512_vnni")
    use, why = build.choose("auto", cpu)
    assert use is False and "avx512_vnni" in why
    with pytest.raises(FailedPrecondition, match="cpu_kernels is 'on' but the CPU lacks avx512_vnni"):
        build.choose("on", cpu)
