"""The CUDA decode graph: its buckets and inputs (pure), its static step against the eager one on the
CPU with the capture turned off, and, on a GPU, the captured graphs against eager steps.

On the GPU machine the model may be one of random weights of real shapes (TUNESERVE_TEST_MODEL, made
by ../shared/device): these tests compare two ways of computing the same model, never its text.
"""

from __future__ import annotations

import os

import pytest
import torch

from common.adapter_manifest import AdapterManifest
from common.threads import run_on_fresh_thread
from server.adapters.loader import BaseSpec, LoadedAdapter
from server.adapters.lora import LoraTables
from server.engine.config import EngineConfig
from server.engine.cuda_graph import CudaDecodeGraph, DecodeRow, StaticInputs, bucket_for, page_buckets, row_buckets
from server.engine.engine import Engine
from server.engine.kv_cache import PagedKVCache, block_slots
from server.engine.model_runner import ModelRunner, PrefillSpan, StepBatch
from tests.server.engine.test_engine import Recorder, request

QUESTIONS = ["Name a river.", "Write one sentence about the moon and the tides.", "What is two plus two?"]


def test_buckets_cover_every_size_up_to_the_largest():
    assert row_buckets(32) == [1, 2, 4, 8, 16, 24, 32]
    assert row_buckets(20) == [1, 2, 4, 8, 16, 20]
    assert row_buckets(1) == [1]
    assert page_buckets(128) == [4, 8, 16, 32, 64, 128]
    assert page_buckets(100) == [4, 8, 16, 32, 64, 100]
    assert page_buckets(3) == [3]
    assert [bucket_for(n, [1, 2, 4, 8]) for n in (1, 2, 3, 5, 8, 9)] == [1, 2, 4, 8, 8, None]


def test_static_inputs_pad_rows_and_tables_with_the_padding_block():
    inputs = StaticInputs(max_rows=4, max_pages=6, pad_block=9, block_size=16, device=torch.device("cpu"))
    inputs.write([DecodeRow(5, 17, 2, [3, 7]), DecodeRow(6, 0, 0, [1])], bucket_rows=4, bucket_pages=4)
    ids, positions, write_slots, lengths, lora_slots = inputs.meta.tolist()
    assert ids == [5, 6, 0, 0] and positions == [17, 0, 0, 0] and lengths == [18, 1, 1, 1] and lora_slots == [2, 0, 0, 0]
    assert write_slots == [7 * 16 + 1, 16, 9 * 16, 9 * 16], "padding rows write into the padding block"
    assert inputs.tables[:4, :4].tolist() == [[3, 7, 9, 9], [1, 9, 9, 9], [9, 9, 9, 9], [9, 9, 9, 9]]
    # a later, shorter step leaves nothing of the earlier one inside its bucket
    inputs.write([DecodeRow(8, 2, 0, [4])], bucket_rows=1, bucket_pages=4)
    assert inputs.tables[0, :4].tolist() == [4, 9, 9, 9] and inputs.meta[2, 0].item() == 4 * 16 + 2


def random_adapter(spec: BaseSpec, name: str, rank: int, modules: list[str], seed: int) -> LoadedAdapter:
    """Random LoRA weights big enough to change the model's choices (mechanics only, no meaning)."""
    g = torch.Generator().manual_seed(seed)
    weights = {
        (layer, m): (
            torch.randn(rank, spec.shapes[m][0], generator=g) / spec.shapes[m][0] ** 0.5,
            torch.randn(spec.shapes[m][1], rank, generator=g) / rank,
        )
        for layer in range(spec.num_layers)
        for m in modules
    }
    manifest = AdapterManifest(name=name, base_fingerprint="f", rank=rank, alpha=2.0 * rank, target_modules=modules, files={"w": name})
    return LoadedAdapter(name, 1, manifest, rank, 2.0, weights, modules=frozenset(modules))


def mixed_adapters(base) -> list[LoadedAdapter]:
    spec = BaseSpec.from_base(base)
    return [random_adapter(spec, "all", 8, list(spec.shapes), 1), random_adapter(spec, "qv", 4, ["q_proj", "v_proj"], 2)]


def decode_on_both(base, pieces: str, steps: int, attention: str = "gathered") -> tuple[list[list[int]], list[list[int]]]:
    """Three prompts on adapter 1, the base model and adapter 2, prefilled eagerly, then greedy
    decode steps on the eager runner and on the static graph step; the tokens each produced."""
    config = base.config
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers,
        num_blocks=40,
        block_size=16,
        kv_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        dtype=base.precision.kv_cache_dtype,
        device=base.device,
    )
    # what the sequences' blocks held before: NaN, as a broken adapter's request may leave them; the
    # graph reads whole pages, and the slots past a row's length must not reach its attention
    cache.kv[:, cache.block_size : cache.pad_block * cache.block_size] = float("nan")
    runner = ModelRunner(base, cache, 1024)
    tables = LoraTables(BaseSpec.from_base(base), 2, 8, base.device, dense=True)
    for slot, adapter in enumerate(mixed_adapters(base), start=1):
        tables.write(slot, adapter)
    runner.lora = tables
    graph = CudaDecodeGraph(
        runner, max_rows=4, max_model_len=256, lora=tables, pieces=pieces, capture=base.device.type == "cuda", attention=attention
    )
    graph.warm_up()
    prompts = [request(base, q).prompt_ids for q in QUESTIONS]
    lora_slots = [1, 0, 2]
    blocks = [list(range(1 + 10 * i, 10 * (i + 1))) for i in range(3)]
    first = []
    with torch.inference_mode():
        for prompt, own, slot in zip(prompts, blocks, lora_slots, strict=True):
            n, slots = len(prompt), block_slots(own, 16, base.device)
            batch = StepBatch(
                torch.tensor(prompt, device=base.device),
                torch.arange(n, device=base.device),
                slots[:n],
                torch.tensor([n - 1], device=base.device),
                prefills=[PrefillSpan(0, n, slots[:n])],
            )
            batch.lora = tables.route([], [(0, n, slot)])
            first.append(int(runner.forward(batch)[0].argmax()))
    saved = cache.kv.clone()

    def run(on_graph: bool) -> list[list[int]]:
        cache.kv.copy_(saved)
        tokens = [[t] for t in first]
        for _ in range(steps):
            rows = [DecodeRow(t[-1], len(p) + len(t) - 1, s, b) for t, p, s, b in zip(tokens, prompts, lora_slots, blocks, strict=True)]
            if on_graph:
                logits = graph(rows)
            else:
                contexts = [block_slots(r.blocks, 16, base.device)[: r.position + 1] for r in rows]
                longest = max(len(c) for c in contexts)
                batch = StepBatch(
                    input_ids=torch.tensor([r.token for r in rows], device=base.device),
                    positions=torch.tensor([r.position for r in rows], device=base.device),
                    write_slots=torch.stack([c[-1] for c in contexts]),
                    logits_rows=torch.arange(3, device=base.device),
                    num_decode=3,
                    decode_kv_slots=torch.stack([torch.cat([c, c.new_zeros(longest - len(c))]) for c in contexts]),
                    decode_kv_mask=(
                        torch.arange(longest, device=base.device)[None]
                        < torch.tensor([len(c) for c in contexts], device=base.device)[:, None]
                    )[:, None, None, :],
                )
                batch.lora = tables.route(lora_slots, [])
                with torch.inference_mode():
                    logits = runner.forward(batch)
            for t, row in zip(tokens, logits.argmax(-1).tolist(), strict=True):
                t.append(row)
        return tokens

    return run(False), run(True)


def test_the_static_step_decodes_mixed_adapters_as_the_eager_step_does(base_model):
    # float32, eager pieces, no capture: the graph's own inputs (padded rows and tables, lengths
    # mask, one-hot LoRA over every slot) against the runner's, token for token
    eager, static = run_on_fresh_thread(lambda: decode_on_both(base_model, "eager", 12))
    assert static == eager
    assert len({tuple(t) for t in eager}) == 3


@pytest.mark.slow
def test_the_compiled_pieces_decode_as_the_eager_step_does(base_model):
    # the pieces torch.compile'd (on the CPU here: the same code inductor builds for CUDA, in C++)
    # and attention as sums over the cached slots
    compiled_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    eager, static = run_on_fresh_thread(lambda: decode_on_both(base_model, "compiled", 12, attention="slots"))
    assert static == eager
    # one layer body: a handful of graphs serve every layer, bucket and context
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - compiled_before <= 12


def test_an_engine_on_the_static_step_streaming_behind_answers_as_the_plain_engine(base_model):
    """The CUDA engine's way (graph rows built from the host, text streamed while the next step
    runs) with the capture off: same tokens, texts and endings as the plain engine, stop strings and
    limits included."""
    config = EngineConfig(max_batch_size=4, max_batch_tokens=256, max_waiting=8, num_blocks=64, block_size=16, max_model_len=512)
    cases = [
        request(base_model, QUESTIONS[0], max_new_tokens=20),
        request(base_model, QUESTIONS[1], max_new_tokens=30, stop=(" the",)),
        request(base_model, QUESTIONS[2], max_new_tokens=8),
        request(base_model, "Count from one to ten in words.", max_new_tokens=40, stop=("five",)),
    ]

    def run(graph: bool) -> list[tuple[str, list[int], object, int]]:
        engine = Engine(base_model, config)
        engine.start()
        try:
            if graph:
                engine.cuda_graph = counting = Counting(engine.runner, 4, 512, pieces="eager", capture=False)
                counting.warm_up()
                engine.defer_streaming = True
            recorders = [Recorder() for _ in cases]
            for case, recorder in zip(cases, recorders, strict=True):
                engine.submit(case, recorder)
            for recorder in recorders:
                assert recorder.done.wait(120)
            assert not graph or counting.calls > 20, "the decode steps ran on the graph"
            return [(r.text, [t for e in r.events for t in e.token_ids], r.finished.reason, r.finished.generated_tokens) for r in recorders]
        finally:
            engine.stop()

    plain = run(False)
    on_graph = run(True)
    assert on_graph == plain
    reasons = {str(reason) for _, _, reason, _ in plain}
    assert any("STOP_SEQUENCE" in r for r in reasons) and any("MAX_TOKENS" in r for r in reasons)


class Counting(CudaDecodeGraph):
    calls = 0

    def __call__(self, rows: list[DecodeRow]) -> torch.Tensor:
        self.calls += 1
        return super().__call__(rows)


# -- on a GPU ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu_model(cache_dir):
    """The model for GPU tests in float32: TUNESERVE_TEST_MODEL (a model directory) or the embedded one."""
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    settings = ModelSettings(
        model=os.environ.get("TUNESERVE_TEST_MODEL", "embedded"), cache_dir=cache_dir, dtype="float32", quantization="none"
    )
    return run_on_fresh_thread(lambda: load_base_model(settings))


def engine_tokens(base, compile_decode: str, cases, pieces: str = "eager") -> tuple[list[list[int]], Engine]:
    config = EngineConfig(
        max_batch_size=8,
        max_batch_tokens=512,
        max_waiting=64,
        num_blocks=256,
        block_size=16,
        max_model_len=512,
        max_loras=2,
        compile_decode=compile_decode,
        cuda_graph_pieces=pieces,
    )
    engine = Engine(base, config)
    engine.start()
    try:
        recorders = [Recorder() for _ in cases]
        for case, recorder in zip(cases, recorders, strict=True):
            engine.submit(case, recorder)
        for recorder in recorders:
            assert recorder.done.wait(300)
            assert recorder.finished.error is None, recorder.finished.error
        return [[t for e in r.events for t in e.token_ids] for r in recorders], engine
    finally:
        engine.stop()


@pytest.mark.gpu
@pytest.mark.parametrize("pieces", ["eager", "compiled"])
def test_cuda_graphs_decode_mixed_adapters_token_for_token_as_eager_steps(gpu_model, pieces):
    """64 greedy steps of 9 requests on two adapters and the base model, all in flight together: the
    replayed graphs against eager steps, in float32, where the two differ only in the order of
    float32 sums. Serving compiles nothing after start-up."""
    import dataclasses

    adapters = [*mixed_adapters(gpu_model), None]
    cases = [
        dataclasses.replace(request(gpu_model, q, max_new_tokens=64, min_new_tokens=64), adapter=adapters[i // 3])
        for i, q in enumerate(QUESTIONS * 3)
    ]
    eager, eager_engine = engine_tokens(gpu_model, "off", cases)
    assert eager_engine.cuda_graph is None
    graphs, engine = engine_tokens(gpu_model, "on", cases, pieces)
    assert engine.cuda_graph is not None and engine.decode_step.startswith(f"CUDA graphs of {pieces} layer pieces"), engine.decode_step
    warmed = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert [len(t) for t in graphs] == [64] * len(cases)
    assert graphs == eager
    again, _ = engine_tokens(gpu_model, "on", cases[:3], pieces)
    assert again == eager[:3]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == warmed, "serving compiled nothing new"
    assert len({tuple(t) for t in eager}) > 3, "the adapters change the tokens"


@pytest.mark.gpu
def test_the_cuda_int4_weights_compute_what_their_dequantized_values_do():
    from server.engine.weights import Linear, quantize_int4

    torch.manual_seed(0)
    weight = (torch.randn(3072, 576, device="cuda") * 0.05).to(torch.bfloat16)
    linear = Linear(weight, "int4")
    assert linear.max_rows > 0
    values, scales_and_zeros = quantize_int4(weight)
    scale, zero = scales_and_zeros.float().unbind(-1)  # [in / 32, out] each
    dequantized = (values.float() - 8).view(3072, -1, 32) * scale.T[:, :, None] + zero.T[:, :, None]
    for rows in (1, 2, 8, linear.max_rows):
        x = torch.randn(rows, 576, device="cuda", dtype=torch.bfloat16)
        expected = x.float() @ dequantized.view(3072, 576).T
        error = (linear(x).float() - expected).norm() / expected.norm()
        assert error < 2e-2, (rows, float(error))
    assert (linear(torch.ones(1, 576, device="cuda", dtype=torch.bfloat16)).float() - weight.float().sum(1)).abs().max() < 2.0
