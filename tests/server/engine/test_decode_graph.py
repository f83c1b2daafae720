"""The compiled decode step: which steps take it (pure), and that it computes what the eager step does.

Whether the graph computes what the eager step does is a question of mechanics (cache writes,
attention over ragged contexts, LoRA rows, warm-up, the switch from eager steps): those tests run on
the tiny random Llama (tests/tiny_model.py), whose two-layer graph compiles in seconds where the
embedded model's thirty layers take a minute or more with a cold compiler cache. What the automatic
precision does to the quality of real answers is checked on the embedded model."""

import math

import pytest
import torch

from common.adapter_manifest import AdapterManifest
from common.errors import FailedPrecondition
from common.threads import run_on_fresh_thread
from server.adapters.lora import LoraRouting, LoraTables
from server.engine import decode_graph as decode_graph_module
from server.engine.config import EngineConfig
from server.engine.decode_graph import MAX_GRAPH_ROWS, DecodeGraph, decode_accepts, row_buckets, unavailable_reason
from server.engine.engine import Engine
from server.engine.kernels import build as kernels
from server.engine.kv_cache import block_slots
from server.engine.model_runner import PrefillSpan, StepBatch
from tests.server.engine.test_model_runner import chat_ids, runner_for
from tests.tiny_model import WINDOW, build_tiny_model, load_tiny

TEXT = (
    "The lighthouse stood at the end of a narrow spit of rock, and for forty years the same family had kept its lamp "
    "burning. Every evening the keeper climbed the spiral stairs, trimmed the wick, polished the great lens and wrote "
    "the weather into a leather book. Ships passed in the dark without ever knowing his name."
)


def decode_batch(rows: int, context: int = 5, **changes) -> StepBatch:
    batch = StepBatch(
        input_ids=torch.zeros(rows, dtype=torch.long),
        positions=torch.full((rows,), context - 1),
        write_slots=torch.arange(rows),
        logits_rows=torch.arange(rows),
        num_decode=rows,
        decode_kv_slots=torch.zeros(rows, context, dtype=torch.long),
    )
    for name, value in changes.items():
        setattr(batch, name, value)
    return batch


def test_row_buckets_split_where_the_weight_kernels_switch():
    assert row_buckets([16, 6], 16) == [(1, 1), (2, 6), (7, 16)]
    assert row_buckets([16, 8], 16) == [(1, 1), (2, 8), (9, 16)]
    assert row_buckets([16, 6], 6) == [(1, 1), (2, 6)]
    assert row_buckets([16, 6, 0], 1) == [(1, 1)]
    buckets = row_buckets([16, 8])
    assert buckets[-1][1] == MAX_GRAPH_ROWS and all(low <= high for low, high in buckets)
    assert [low for low, _ in buckets[1:]] == [high + 1 for _, high in buckets[:-1]]  # no gaps, no overlaps


def test_only_plain_decode_steps_take_the_graph():
    assert decode_accepts(decode_batch(1), lora_in_graph=False)
    assert decode_accepts(decode_batch(MAX_GRAPH_ROWS), lora_in_graph=False)
    assert not decode_accepts(decode_batch(MAX_GRAPH_ROWS + 1), lora_in_graph=False)  # full weights: eager
    assert not decode_accepts(decode_batch(2, exact_logits=True), lora_in_graph=False)  # label scoring: full head
    assert not decode_accepts(decode_batch(2, logits_rows=torch.tensor([1])), lora_in_graph=False)
    assert not decode_accepts(decode_batch(1, context=1), lora_in_graph=False)  # a graph of its own: eager
    mixed = decode_batch(1, input_ids=torch.zeros(4, dtype=torch.long), prefills=[PrefillSpan(1, 3, torch.arange(3))])
    assert not decode_accepts(mixed, lora_in_graph=False)
    # adapter deltas: on the graph where it adds them with the kernel, else eagerly
    by_kernel = LoraRouting(2, None, [], frozenset({"qkv"}), decode_slots=torch.tensor([1, 0]))
    by_torch = LoraRouting(2, None, [], frozenset({"qkv"}))
    assert decode_accepts(decode_batch(2, lora=by_kernel), lora_in_graph=True)
    assert not decode_accepts(decode_batch(2, lora=by_kernel), lora_in_graph=False)
    assert not decode_accepts(decode_batch(2, lora=by_torch), lora_in_graph=True)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Each test's graphs compiled as in a process of their own: after the tiny model's graph dynamo
    would compile the embedded model's with the sizes that differ made dynamic (automatic dynamic
    shapes), a graph slower to build (measured: 149 s against 60 s) and to run."""
    yield
    torch._dynamo.reset()


def compilable(base):
    """`base`, or a skip where this machine cannot compile the decode step."""
    reason = unavailable_reason(runner_for(base, blocks=1))
    if reason is not None:
        pytest.skip(reason)
    return base


@pytest.fixture(scope="module")
def auto_model(auto_model):
    """The session's model at the automatic precision (tests/conftest.py), or a skip where it cannot compile."""
    return compilable(auto_model)


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    """The tiny random Llama in float32, where graph and eager step agree to the order of float32 sums."""
    return compilable(load_tiny(tiny_llama_dir))


@pytest.fixture(scope="module")
def tiny_auto(tiny_llama_dir):
    """The tiny random Llama in the precision the server picks here (bf16, int4 decode weights)."""
    return compilable(load_tiny(tiny_llama_dir, dtype="auto", quantization="auto"))


@pytest.fixture(scope="module")
def tiny_gemma_auto(tmp_path_factory):
    """The same of a tiny random Gemma 3, whose sliding layers read only their window."""
    model_dir = build_tiny_model(tmp_path_factory.mktemp("tiny-gemma3") / "model", "gemma3_text")
    return compilable(load_tiny(model_dir, dtype="auto", quantization="auto"))


def teacher_forced(base, ids: list[int], graph: bool, lora: LoraTables | None = None, warm: bool = False) -> torch.Tensor:
    """Logits of every next token of `ids` after the first, decoding one row per step (with the
    adapter in slot 1 of `lora`, if given; `warm`: the graph warmed up first, as the engine does)."""
    runner = runner_for(base, blocks=64)
    runner.lora = lora
    step = DecodeGraph(runner) if graph else None
    if step is not None and warm:
        # with compile_decode 'auto' warm-up runs while sequences decode: it must leave every block
        # the allocator hands out (block 0 included) as it found it
        runner.cache.kv.normal_()
        held = runner.cache.pad_block * runner.cache.block_size
        before = runner.cache.kv[:, :held].clone()
        step.warm_up()
        assert torch.equal(runner.cache.kv[:, :held], before), "warm-up wrote into a block a sequence may hold"
    compiled = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    slots = block_slots(list(range(1, 64)), 16, base.device)
    rows = []
    for position, token in enumerate(ids[:-1]):
        batch = StepBatch(
            input_ids=torch.tensor([token]),
            positions=torch.tensor([position]),
            write_slots=slots[position : position + 1],
            logits_rows=torch.tensor([0]),
            num_decode=1,
            decode_kv_slots=slots[: position + 1][None],
        )
        if position == 0:  # a context of one token is a prefill's business, never a decode row's
            batch.prefills, batch.num_decode = [PrefillSpan(0, 1, slots[:1])], 0
        if lora is not None:
            batch.lora = lora.route([], [(0, 1, 1)]) if position == 0 else lora.route([1], [])
        with torch.inference_mode():
            rows.append(step(batch)[0] if step is not None and position > 0 else runner.forward(batch)[0])
    if warm:
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == compiled, "a step compiled what warm-up had not"
    return torch.stack(rows)


def perplexity(logits: torch.Tensor, ids: list[int]) -> float:
    return math.exp(float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]))))


@pytest.mark.slow
def test_compiled_decode_computes_what_the_eager_step_does(tiny):
    # In float32 nothing is rounded to bf16 or int8 along the way: graph and eager step agree to the
    # order of float32 sums, which checks the graph itself (cache writes, attention, weights)
    ids = tiny.tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    eager = run_on_fresh_thread(lambda: teacher_forced(tiny, ids, graph=False))
    compiled = run_on_fresh_thread(lambda: teacher_forced(tiny, ids, graph=True))
    # one graph for one row, however long the context grew
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs_before == 1
    assert torch.allclose(compiled, eager, rtol=0, atol=1e-3)


@pytest.mark.slow
def test_compiled_decode_adds_lora_rows_as_the_eager_step_does(tiny, monkeypatch):
    """Random rank-8 weights on every module, in float32: the graph calls the same kernel as the eager
    step. Warm-up compiles the one-row graph with and without LoRA rows, and steps built as the
    engine builds them (routing outside inference mode) compile nothing more."""
    from server.adapters.loader import BaseSpec, LoadedAdapter
    from server.engine.kernels.lora_add import LoraKernel

    if (reason := kernels.unavailable_reason()) is not None:
        pytest.skip(reason)
    spec = BaseSpec.from_base(tiny)
    g = torch.Generator().manual_seed(0)
    weights = {
        (layer, m): (torch.randn(8, i, generator=g) / i**0.5, torch.randn(o, 8, generator=g) / 8)
        for layer in range(spec.num_layers)
        for m, (i, o) in spec.shapes.items()
    }
    manifest = AdapterManifest(name="r", base_fingerprint="f", rank=8, alpha=16.0, target_modules=list(spec.shapes), files={"w": "r"})
    tables = LoraTables(spec, 2, 8, tiny.device, LoraKernel())
    tables.write(1, LoadedAdapter("r", 1, manifest, 8, 2.0, weights, modules=frozenset(spec.shapes)))
    ids = tiny.tokenizer(TEXT, add_special_tokens=False)["input_ids"][:24]
    monkeypatch.setattr(decode_graph_module, "row_buckets", lambda switches: [(1, 1)])  # one bucket: half the compiling
    eager = run_on_fresh_thread(lambda: teacher_forced(tiny, ids, graph=False, lora=tables))
    compiled = run_on_fresh_thread(lambda: teacher_forced(tiny, ids, graph=True, lora=tables, warm=True))
    plain = run_on_fresh_thread(lambda: teacher_forced(tiny, ids, graph=False))
    assert torch.allclose(compiled, eager, rtol=0, atol=1e-3)
    assert (compiled - plain).abs().max() > 1, "the adapter's deltas are in the graph's logits"


@pytest.mark.slow
def test_compiled_decode_keeps_the_quality_of_the_automatic_precision(base_model, auto_model):
    # With bf16 activations, and inputs quantized to int8 by the VNNI weight kernel, rounding at other
    # points than the eager operators moves this short text's perplexity by a percent or so either
    # way. The contract is the quality test's: no more than 2% above float32's perplexity, and
    # nearly always the same next token.
    ids = auto_model.tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    reference = perplexity(run_on_fresh_thread(lambda: teacher_forced(base_model, ids, graph=False)), ids)
    eager = run_on_fresh_thread(lambda: teacher_forced(auto_model, ids, graph=False))
    compiled = run_on_fresh_thread(lambda: teacher_forced(auto_model, ids, graph=True))
    # one-sided: on this short text the rounding lands either way by a couple of percent (compiled
    # 55.2 against float32's 56.4 since prefill reads the full weights); a loss is what must not happen
    assert perplexity(compiled, ids) / reference < 1.02
    assert perplexity(eager, ids) / reference < 1.02
    assert (compiled.argmax(-1) == eager.argmax(-1)).float().mean() >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny_auto", "tiny_gemma_auto"])
def test_compiled_ragged_batch_decodes_as_the_eager_step_does(model, request):
    """Three rows of different lengths decode together (a padded, masked context). The graph is fed
    the eager step's tokens, so both see the same contexts; in bf16 with int8 inputs to the int4
    weights their logits differ by rounding only, and a row that read another's keys or the padding would be far off.
    On Gemma 3 the rows' contexts pass its sliding layers' window while they decode."""
    tiny_auto = request.getfixturevalue(model)
    questions = ["Name a river.", "Write one sentence about the moon and the tides.", "Hi?"]
    prompts = [chat_ids(tiny_auto, q) for q in questions]
    if any(tiny_auto.shape.windows):  # a row within the window beside one past it, and one crossing it
        assert min(len(p) for p in prompts) + 1 < WINDOW < max(len(p) for p in prompts), [len(p) for p in prompts]

    def run(graph: bool, forced: list[list[int]] | None = None) -> tuple[list[list[int]], list[torch.Tensor]]:
        runner = runner_for(tiny_auto, blocks=96)
        runner.cache.kv.normal_(0, 30)  # what other sequences left: a row that reads past its length is far off
        step = DecodeGraph(runner) if graph else None
        slots = [block_slots(list(range(1 + 32 * i, 32 * (i + 1))), 16, tiny_auto.device) for i in range(3)]
        tokens: list[list[int]] = []
        for prompt, own in zip(prompts, slots, strict=True):  # prefills, eagerly
            n = len(prompt)
            batch = StepBatch(torch.tensor(prompt), torch.arange(n), own[:n], torch.tensor([n - 1]), prefills=[PrefillSpan(0, n, own[:n])])
            with torch.inference_mode():
                tokens.append([int(runner.forward(batch)[0].argmax())])
        if forced is not None:
            tokens = [t[:1] for t in forced]
        steps = []
        for i in range(6):
            lengths = [len(p) + len(t) for p, t in zip(prompts, tokens, strict=True)]
            longest = max(lengths)
            context = torch.stack([torch.cat([s[:n], s.new_zeros(longest - n)]) for s, n in zip(slots, lengths, strict=True)])
            mask = (torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]
            batch = StepBatch(
                input_ids=torch.tensor([t[-1] for t in tokens]),
                positions=torch.tensor(lengths) - 1,
                write_slots=torch.stack([s[n - 1] for s, n in zip(slots, lengths, strict=True)]),
                logits_rows=torch.arange(3),
                num_decode=3,
                decode_kv_slots=context,
                decode_kv_mask=mask,
            )
            with torch.inference_mode():
                logits = step(batch) if step is not None else runner.forward(batch)
            steps.append(logits.float())
            for row, t in enumerate(tokens):
                t.append(forced[row][i + 1] if forced is not None else int(logits[row].argmax()))
        return tokens, steps

    eager_tokens, eager = run_on_fresh_thread(lambda: run(False))
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    _, compiled = run_on_fresh_thread(lambda: run(True, eager_tokens))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > graphs_before, "the steps ran compiled"
    agree = torch.stack([(c.argmax(-1) == e.argmax(-1)).float() for c, e in zip(compiled, eager, strict=True)])
    # measured on the tiny model: 16 of 18 next tokens the same (its logits are close together),
    # logits within 0.2 (of ~7); rows that also read the padding were off by 9.4
    assert agree.mean() >= 0.8
    assert max(float((c - e).abs().max()) for c, e in zip(compiled, eager, strict=True)) < 1.0


def test_an_engine_that_cannot_compile_decodes_eagerly_or_refuses_when_told(base_model, monkeypatch):
    kernels.unavailable_reason()  # built (or not) once per process, before the compiler "goes away"
    monkeypatch.setattr(decode_graph_module.shutil, "which", lambda name: None)
    config = EngineConfig(max_batch_size=4, max_batch_tokens=256, max_waiting=8, num_blocks=64, block_size=16, max_model_len=512)
    engine = Engine(base_model, EngineConfig(**{**config.__dict__, "compile_decode": "auto"}))
    engine.start()
    try:
        assert engine.decode_graph is None
        assert engine.decode_step.startswith("eager: no C++ compiler on this machine (torch.compile's CPU backend needs one); ")
    finally:
        engine.stop()
    refusing = Engine(base_model, EngineConfig(**{**config.__dict__, "compile_decode": "on"}))
    with pytest.raises(FailedPrecondition, match="compile_decode is 'on' but no C\\+\\+ compiler"):
        refusing.start()


@pytest.mark.slow
def test_auto_compiles_in_the_background_while_the_eager_step_serves(tiny, monkeypatch):
    """A replica is ready before its decode graph: 'auto' starts serving eagerly at once and the
    engine takes the graph when it is built, with the same greedy tokens before and after. The
    compile runs at the lowest CPU priority and hands the GIL over quickly, restored after."""
    import os
    import sys
    import threading

    from server.engine.background_work import COMPILE_NICENESS, COMPILE_SWITCH_INTERVAL_S
    from tests.server.engine.test_engine import request

    warm_up, seen = DecodeGraph.warm_up, []

    def watched(graph):
        seen.append((os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), sys.getswitchinterval()))
        return warm_up(graph)

    monkeypatch.setattr(DecodeGraph, "warm_up", watched)
    interval = sys.getswitchinterval()
    described: list[str] = []
    config = EngineConfig(max_batch_size=4, max_batch_tokens=256, max_waiting=8, num_blocks=64, block_size=16, max_model_len=512)
    engine = Engine(tiny, EngineConfig(**{**config.__dict__, "compile_decode": "auto"}))
    engine.on_decode_step = described.append
    engine.start()
    try:
        assert described[0].startswith("eager while the decode step compiles in the background; ")
        eager = engine.generate(request(tiny, "Name a colour of the rainbow."), timeout=600)[1]
        engine.wait_compiled(900)
        assert seen == [(COMPILE_NICENESS if sys.platform == "linux" else 0, pytest.approx(COMPILE_SWITCH_INTERVAL_S))]
        assert sys.getswitchinterval() == interval != COMPILE_SWITCH_INTERVAL_S
        assert engine.decode_graph is not None and len(described) == 2
        assert described[1] == engine.decode_step and not described[1].startswith("eager")
        compiled = engine.generate(request(tiny, "Name a colour of the rainbow."), timeout=120)[1]
        assert compiled[:8] == eager[:8]  # bf16/int8 rounding may part them later; the start is the same
    finally:
        engine.stop()


@pytest.mark.slow
def test_a_step_of_rows_of_equal_length_runs_on_the_warmed_graph(tiny):
    """A step of several rows of one length comes without a mask and the graph makes a full one.
    Made in the engine's inference mode, it was an inference tensor, unlike the ragged steps' masks
    and the warm-up's, so the graph compiled again while serving (a flake of the mechanics test)."""
    runner = runner_for(tiny, blocks=16)
    step = DecodeGraph(runner)
    run_on_fresh_thread(step.warm_up)
    compiled = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    pad_slot = runner.cache.pad_block * runner.cache.block_size
    even = decode_batch(2, context=3, write_slots=torch.full((2,), pad_slot), decode_kv_slots=torch.full((2, 3), pad_slot))
    with torch.inference_mode():
        step(even)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == compiled, "the step compiled again"
