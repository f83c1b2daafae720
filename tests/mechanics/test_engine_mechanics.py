"""The fast tier: the engine's mechanics on a tiny random model of each family tuneserve serves
(Llama, Mistral with a sliding window, Qwen2 with biased q/k/v, Qwen3 with q/k norms, Gemma 3
with its norms, scaled embeddings and interleaved sliding and global layers: tests/tiny_model.py), token for
token against transformers and PEFT on the same weights. Batching, chunked prefill, the paged and prefix
caches and LoRA routing in mixed batches do not depend on the model being any good, so these run
in seconds; the same properties on the real embedded model are checked by tests/server/engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from server.adapters.loader import BaseSpec
from server.adapters.lora import LoraTables
from server.engine.cuda_graph import CudaDecodeGraph, DecodeRow
from server.engine.engine import Engine, EngineConfig
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams
from tests import load
from tests.greedy import greedy_tokens
from tests.tiny_model import FAMILIES, WINDOW, build_tiny_model, load_tiny

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Summarise this: " + " ".join(f"the sky is blue {i}." for i in range(12)),
    "Name a colour of the rainbow.",
]
NEW_TOKENS = 32


@pytest.fixture(scope="module", params=FAMILIES)
def tiny_dir(request, tmp_path_factory) -> Path:
    """Each family tuneserve serves, as a tiny random model with its config's quirks."""
    return build_tiny_model(tmp_path_factory.mktemp(f"tiny-{request.param}") / "model", request.param)


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path):
    return load_tiny(tiny_dir)


def make_peft_adapter(tiny_dir: Path) -> Path:
    """A LoRA adapter made by PEFT on the tiny model with PEFT's "all-linear" (every projection;
    Phi-3's fused qkv_proj and gate_up_proj whole), which PEFT saves as each module's full path,
    with non-zero B, next to the model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    torch.manual_seed(1)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    with torch.no_grad():  # B drawn as wide as A, so the adapter changes the greedy answer
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)
    out = tiny_dir.parent / "adapter"
    peft.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def peft_dir(tiny_dir: Path) -> Path:
    return make_peft_adapter(tiny_dir)


def make_engine(base, **overrides) -> Engine:
    # as the server sizes it: never past the model's context window (a sliding window caps it)
    values = dict(max_batch_size=8, max_batch_tokens=128, max_waiting=32, num_blocks=128, block_size=16, max_model_len=base.context_window)
    values.update(overrides)
    return Engine(base, EngineConfig(**values))


def prompt_ids(base, text: str) -> list[int]:
    rendered = base.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    return base.tokenizer(rendered, add_special_tokens=False)["input_ids"]


def request(base, text: str, rid: str, adapter=None) -> GenerationRequest:
    params = SamplingParams(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    return GenerationRequest(rid, tuple(prompt_ids(base, text)), params, arrival=time.monotonic(), adapter=adapter)


def reference(model, base, text: str) -> list[int]:
    return greedy_tokens(model, prompt_ids(base, text), base.eos_token_ids, NEW_TOKENS)


def run_concurrently(engine: Engine, requests: list[GenerationRequest]) -> list[list[int]]:
    return [tokens for _, tokens in load.run_concurrently(engine, requests)]


class StaticGraph(CudaDecodeGraph):
    """The CUDA engine's decode graph, counting its steps with and without adapter rows, and past LongRoPE's window."""

    steps: dict[str, int]

    def __call__(self, rows: list[DecodeRow]) -> torch.Tensor:
        self.steps["lora" if any(row.lora_slot for row in rows) else "base"] += 1
        long_from = self.runner.shape.long_rope_from  # rows past it rotate by LongRoPE's long factors
        self.steps["long rope"] += long_from is not None and any(row.position >= long_from for row in rows)
        return super().__call__(rows)


def on_static_graph(engine: Engine) -> StaticGraph:
    """Puts a started engine on the CUDA engine's way (prompt chunks attending in one padded batch,
    decode steps on the graph's static step, its rows built from the host, text streamed behind),
    captured as CUDA graphs where the model is on a GPU (bench/gpu.sh runs these tests there) and
    the capture off elsewhere, before any adapter is loaded: LoRA tables that keep the
    block-diagonal B the graph reads, as the engine makes them on CUDA."""
    engine.runner.batched_prefill = True
    tables = None
    if engine.slots is not None and engine.slots.tables is not None:
        old = engine.slots.tables
        tables = LoraTables(BaseSpec.from_base(engine.base), len(old.ranks) - 1, old.max_rank, engine.base.device, old.kernel, dense=True)
        engine.slots.tables = engine.runner.lora = tables
    config = engine.config
    capture = engine.base.device.type == "cuda"
    graph = StaticGraph(engine.runner, config.max_batch_size, config.max_model_len, tables, pieces="eager", capture=capture)
    graph.steps = {"base": 0, "lora": 0, "long rope": 0}
    graph.warm_up()
    engine.cuda_graph, engine.defer_streaming = graph, True
    return graph


def served_as_peft(tiny, tiny_dir, adapter_dir, tmp_path, prompts: list[str], copies: int = 1, static_graph: bool = False) -> None:
    """Publish the PEFT adapter at `adapter_dir` with the family's fingerprint, load it as the server
    does, and serve `prompts` without and with it in one mixed batch (`copies` times over): base rows
    equal transformers, adapter rows equal PEFT on the same adapter. `static_graph`: decode steps
    on the CUDA decode graph's static step (`on_static_graph`), which then takes steps of both kinds:
    the first prompt alone first, then the mixed batch."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from common.file_adapter_store import FileAdapterStore
    from server.adapters.loader import BaseSpec, load_stored
    from tests.adapter_training import publish

    spec = BaseSpec.from_base(tiny)
    store = FileAdapterStore(tmp_path / "store")
    version = publish(store, adapter_dir, "served", spec)
    assert store.manifest("served", version).base_fingerprint == tiny.fingerprint
    adapter = load_stored(store.root, "served", version, spec, 16)

    plain = [reference(AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32), tiny, text) for text in prompts]
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32), adapter_dir)
    adapted = [reference(with_adapter, tiny, text) for text in prompts]
    assert adapted != plain, "the adapter must change the answers for the test to mean anything"
    engine = make_engine(tiny, max_loras=2, max_lora_rank=16)
    engine.start()
    try:
        graph = on_static_graph(engine) if static_graph else None
        alone = engine.generate(request(tiny, prompts[0], "alone"), timeout=60)[1] if graph is not None else plain[0]
        requests = [request(tiny, text, f"b-{i}") for i, text in enumerate(prompts)]
        requests += [request(tiny, text, f"a-{i}", adapter=adapter) for i, text in enumerate(prompts)]
        served = run_concurrently(engine, requests * copies)
    finally:
        engine.stop()
    assert alone == plain[0]
    assert served == (plain + adapted) * copies
    if graph is not None:
        assert graph.steps["base"] > 0 and graph.steps["lora"] > 0, graph.steps


@pytest.fixture(scope="module")
def engine(tiny):
    engine = make_engine(tiny)
    engine.start()
    yield engine
    engine.stop()


def test_greedy_tokens_equal_transformers_alone_and_batched(engine, tiny, tiny_dir):
    from transformers import AutoModelForCausalLM

    if tiny.config.model_type in ("mistral", "gemma3_text", "phi3"):
        assert set(tiny.shape.windows) >= {WINDOW}, "its layers slide"
        assert max(len(prompt_ids(tiny, text)) for text in PROMPTS) > WINDOW, "some prompt reaches past the window"

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    expected = [reference(model, tiny, text) for text in PROMPTS]
    assert len({tuple(tokens) for tokens in expected}) > 1, "the prompts must lead to different answers"
    alone = [engine.generate(request(tiny, text, f"alone-{i}"), timeout=60)[1] for i, text in enumerate(PROMPTS)]
    assert alone == expected
    batched = run_concurrently(engine, [request(tiny, text, f"batch-{i}") for i, text in enumerate(PROMPTS * 3)])
    assert batched == expected * 3
    gaps = logprob_gaps(
        model, [(prompt_ids(tiny, t), *generate_with_logprobs(engine, prompt_ids(tiny, t), f"lp-{i}")) for i, t in enumerate(PROMPTS)]
    )
    assert max(gaps) < FLOAT32_LOGPROB_TOLERANCE, max(gaps)


def test_chunked_prefill_and_a_cramped_cache_give_the_same_tokens(engine, tiny):
    long = PROMPTS[3]
    assert len(prompt_ids(tiny, long)) > 3 * 16
    whole = engine.generate(request(tiny, long, "whole"), timeout=60)[1]
    small = make_engine(tiny, max_batch_tokens=16, num_blocks=24)
    small.start()
    try:
        chunked = run_concurrently(small, [request(tiny, long, f"chunk-{i}") for i in range(3)])
    finally:
        small.stop()
    assert chunked == [whole] * 3


def test_the_prefix_cache_reuses_blocks_without_changing_answers(engine, tiny):
    cached = make_engine(tiny, prefix_cache_blocks=64)
    cached.start()
    try:
        _, first, before = cached.generate(request(tiny, PROMPTS[3], "first"), timeout=60)
        _, second, after = cached.generate(request(tiny, PROMPTS[3], "second"), timeout=60)
    finally:
        cached.stop()
    plain = engine.generate(request(tiny, PROMPTS[3], "plain"), timeout=60)[1]
    assert first == second == plain
    assert before.cached_prompt_tokens == 0
    assert after.cached_prompt_tokens >= 16 * (len(prompt_ids(tiny, PROMPTS[3])) // 16 - 1), "the second reads the first's full blocks"


def test_longrope_past_the_original_window_rotates_as_transformers_does(tmp_path):
    """Phi-3.5's LongRoPE on the tiny Phi-3 (original window 512 of 2048 positions, no sliding window,
    so every position's rotation counts): a prompt longer than the window rotates by the long factors
    throughout; one that fits by the short ones until its next token lies past the window, where
    transformers' Phi-3 drops its cache and computes the whole sequence again by the long ones, and
    so does the engine. Alone, in one batch, and a long prompt again through the prefix cache. A
    scoring request whose continuations pass the window is rotated by the long factors throughout,
    as one transformers forward pass over its prompt and each continuation is. The long rows
    decode on the CUDA decode graph's step too (capture off), by their positions: past the original
    window the rope tables' two copies agree."""
    model_dir = build_tiny_model(tmp_path / "phi3", "phi3", sliding_window=None)
    tiny = load_tiny(model_dir)
    assert tiny.shape.long_rope_from == 512 and tiny.context_window == 2048
    text = " ".join(f"the sky is blue {i}, the grass is green." for i in range(400))
    ids = tiny.tokenizer(text, add_special_tokens=False)["input_ids"]
    prompts = {"long": ids[:600], "crossing": ids[:500], "short": ids[:100], "long again": ids[:600]}

    def requests(tag: str) -> list[GenerationRequest]:
        params = SamplingParams(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
        return [GenerationRequest(f"{tag}-{name}", tuple(p), params, arrival=time.monotonic()) for name, p in prompts.items()]

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    expected = [greedy_tokens(model, p, tiny.eos_token_ids, NEW_TOKENS) for p in prompts.values()]
    scored = {"crossing": (ids[:508], (tuple(ids[600:606]), tuple(ids[610:615]))), "short": (ids[:100], (tuple(ids[600:606]),))}
    scoring = [
        GenerationRequest(f"score-{name}", tuple(p), SamplingParams(max_new_tokens=11), time.monotonic(), branches=branches)
        for name, (p, branches) in scored.items()
    ]
    engine = make_engine(tiny, max_batch_tokens=256, num_blocks=200, prefix_cache_blocks=80)
    engine.start()
    try:
        runs = [engine.generate(r, timeout=60) for r in requests("alone")]
        batched = run_concurrently(engine, requests("batched"))
        scores = [finished.scores for _, _, finished in load.generate_concurrently(engine, scoring)]
    finally:
        engine.stop()
    engine = make_engine(tiny, max_batch_tokens=256, num_blocks=200)
    engine.start()
    try:
        graph = on_static_graph(engine)
        on_graph = run_concurrently(engine, requests("graph"))
    finally:
        engine.stop()
    assert [tokens for _, tokens, _ in runs] == expected
    assert batched == expected
    assert on_graph == expected
    assert graph.steps["long rope"] > 0, graph.steps
    assert runs[-1][2].cached_prompt_tokens >= 512, "the long prompt again reads the first one's blocks"
    for (p, branches), got in zip(scored.values(), scores, strict=True):
        assert got == pytest.approx([continuation_logprob(model, p, b) for b in branches], abs=1e-3)


def continuation_logprob(model, prompt: list[int], continuation: tuple[int, ...]) -> float:
    """log P(continuation | prompt) from one transformers forward pass over both."""
    with torch.no_grad():
        logits = model(torch.tensor([[*prompt, *continuation]])).logits[0, len(prompt) - 1 : -1]
    return float(torch.log_softmax(logits.double(), -1)[range(len(continuation)), list(continuation)].sum())


def test_a_mixed_batch_routes_each_row_to_its_adapter(tiny, tiny_dir, peft_dir, tmp_path):
    served_as_peft(tiny, tiny_dir, peft_dir, tmp_path, PROMPTS[:3], copies=2)


def test_the_cuda_decode_graph_step_equals_transformers_and_peft(tiny, tiny_dir, peft_dir, tmp_path):
    """What the CUDA decode graphs replay (captured on a GPU, without capturing here): base and
    adapter rows in one mixed batch equal transformers and PEFT, while the contexts cross the
    sliding window (a sliding layer's reads narrow to the window's slots there)."""
    if any(tiny.shape.windows):
        lengths = [len(prompt_ids(tiny, text)) for text in PROMPTS[:3]]
        assert min(lengths) < WINDOW < max(lengths) + NEW_TOKENS, "decoding crosses the window"
    served_as_peft(tiny, tiny_dir, peft_dir, tmp_path, PROMPTS[:3], static_graph=True)


def test_a_family_not_served_is_refused_with_the_ones_that_are(tmp_path):
    from common.base_model import load_base_model
    from common.errors import FailedPrecondition
    from common.settings import ModelSettings

    directory = build_tiny_model(tmp_path / "olmo2", "olmo2")
    with pytest.raises(FailedPrecondition) as refused:
        load_base_model(ModelSettings(model=str(directory), cache_dir=tmp_path / "cache", dtype="float32", quantization="none"))
    assert "'olmo2' is not supported" in str(refused.value)
    assert all(family in str(refused.value) for family in FAMILIES), "the message names what is served"


def test_an_image_text_gemma3_is_served_as_its_decoder(tmp_path):
    """Gemma 3 from 4B on is published as an image-text model: served text-only, its decoder
    answers as transformers' image-text model does on text (and as the text model it was made
    from), from a copy made once in the cache, without the vision weights."""
    from transformers import AutoModelForCausalLM, Gemma3ForConditionalGeneration

    from common.base_model import load_base_model
    from common.settings import ModelSettings
    from tests.tiny_model import build_tiny_image_text_gemma3

    text_dir = build_tiny_model(tmp_path / "text", "gemma3_text")
    image_text = build_tiny_image_text_gemma3(tmp_path / "image-text", text_dir)
    settings = ModelSettings(model=str(image_text), cache_dir=tmp_path / "cache", dtype="float32", quantization="none")
    base = load_base_model(settings)
    assert base.config.model_type == "gemma3_text" and base.shape.family.label == "Gemma 3"
    assert base.weights_dir.parent == tmp_path / "cache" / "text-only" and base.name == "image-text"
    assert not any("vision" in name for name in base.model.state_dict()), "the vision tower stays on disk"
    texts = PROMPTS[:3]
    engine = make_engine(base)
    engine.start()
    try:
        served = run_concurrently(engine, [request(base, text, f"it-{i}") for i, text in enumerate(texts)])
    finally:
        engine.stop()
    original = Gemma3ForConditionalGeneration.from_pretrained(image_text, dtype=torch.float32)
    assert served == [reference(original, base, text) for text in texts]
    assert served == [reference(AutoModelForCausalLM.from_pretrained(text_dir, dtype=torch.float32), base, text) for text in texts]
    assert load_base_model(settings).weights_dir == base.weights_dir, "the copy is made once"


def test_an_image_text_model_whose_decoder_is_not_served_is_refused(tmp_path):
    from common.base_model import load_base_model
    from common.errors import FailedPrecondition
    from common.settings import ModelSettings

    directory = tmp_path / "llava-olmo2"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "llava", "text_config": {"model_type": "olmo2"}}))
    (directory / "model.safetensors").write_bytes(b"")  # never read: the config is refused first
    with pytest.raises(FailedPrecondition) as refused:
        load_base_model(ModelSettings(model=str(directory), cache_dir=tmp_path / "cache", dtype="float32", quantization="none"))
    assert "image-text model whose decoder ('olmo2')" in str(refused.value)
    assert all(family in str(refused.value) for family in FAMILIES), "the message names what is served"


@pytest.fixture(scope="module")
def compiled_decode_runs(tmp_path_factory) -> dict[str, tuple[Path, Path, dict]]:
    """Each family's tiny model, PEFT adapter and compiled decode run (tests/mechanics/compiled_decode_run.py),
    all families in one process of their own: each family's graphs are new code to dynamo, compiled
    apart from this process's (whose recompile limit the tests after them need), and one process
    starts torch once instead of six times."""
    from tests.mechanics.compiled_decode_run import SERVING_MARK

    root = tmp_path_factory.mktemp("compiled")
    dirs = {}
    for family in FAMILIES:
        model_dir = build_tiny_model(root / family / "model", family)
        dirs[family] = (model_dir, make_peft_adapter(model_dir))
    run = subprocess.run(
        [sys.executable, "-m", "tests.mechanics.compiled_decode_run", *(str(path) for pair in dirs.values() for path in pair)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "TORCH_LOGS": "recompiles"},  # a graph compiled while serving then says which guard failed
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    # each family's part of the log after its warm-up: the guards that failed while it served, if any
    serving = [part.split("\n== ", 1)[0] for part in run.stderr.split(SERVING_MARK)[1:]]
    return {family: (*dirs[family], {**result, "recompiles": log}) for family, result, log in zip(FAMILIES, results, serving, strict=True)}


@pytest.mark.slow  # compiles the decode graphs with and without LoRA rows for every family; not in the fast tier
@pytest.mark.parametrize("family", FAMILIES)
def test_the_compiled_decode_step_equals_transformers_and_peft(compiled_decode_runs, family):
    """The CPU decode graph on each family: greedy tokens equal transformers' alone and, in a mixed
    batch of base and adapter rows that fits one graph (6 rows), transformers' and PEFT's; the graph
    ran steps of both kinds, and compiled nothing while serving, though some rows' contexts passed
    the sliding window (whose reads are narrower than the context past it). Under LongRoPE (Phi-3)
    a prompt past the original window and one whose decoding crosses it equal transformers too,
    their long rows decoding on the graph."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tests.mechanics.compiled_decode_run import TEXTS

    model_dir, adapter_dir, result = compiled_decode_runs[family]
    tiny = load_tiny(model_dir)
    plain_model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    adapted_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter_dir)
    expected = [reference(plain_model, tiny, text) for text in TEXTS] + [reference(adapted_model, tiny, text) for text in TEXTS]
    assert result["decode_step"].startswith("compiled decode"), result["decode_step"]
    assert result["alone"] == expected[:3]
    assert result["mixed"] == expected
    assert result["graph_steps"]["base"] > 0 and result["graph_steps"]["lora"] > 0, result["graph_steps"]
    if tiny.shape.long_rope_from is not None:
        assert set(result["long"]) == {"long", "crossing"}
        for prompt, tokens in result["long"].values():
            assert tokens == greedy_tokens(plain_model, prompt, tiny.eos_token_ids, NEW_TOKENS)
        assert result["graph_steps"]["long rope"] > 0, "LongRoPE's long rows decoded on the graph"
    if any(tiny.shape.windows):
        assert min(len(prompt_ids(tiny, text)) for text in TEXTS) < WINDOW, "a context crosses the window while decoding"
    assert result["compiled_while_serving"] == 0, result["recompiles"][-4000:]


def generate_with_logprobs(engine: Engine, ids: list[int], rid: str) -> tuple[list[int], list[float]]:
    done, tokens, logprobs = threading.Event(), [], []

    def sink(event) -> None:
        tokens.extend(event.token_ids)
        logprobs.extend(entry.logprob for entry in event.logprobs)
        if event.finished is not None:
            done.set()

    params = SamplingParams(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, logprobs=True)
    engine.submit(GenerationRequest(rid, tuple(ids), params, arrival=time.monotonic()), sink)
    assert done.wait(60)
    return tokens, logprobs


def logprob_gaps(reference_model, runs: list[tuple[list[int], list[int], list[float]]]) -> list[float]:
    """For each (prompt ids, tokens, the engine's log-probabilities of them), how far each is from
    the reference model's log-probability of the same token after the same context (nats)."""
    gaps: list[float] = []
    for ids, tokens, logprobs in runs:
        with torch.no_grad():
            scores = reference_model(torch.tensor([ids + tokens])).logits[0, len(ids) - 1 : -1].float().log_softmax(-1)
        expected = scores[torch.arange(len(tokens)), torch.tensor(tokens)]
        gaps += (expected - torch.tensor(logprobs)).abs().tolist()
    return gaps


# float32 against float32 differs by summation order alone: at most 7e-6 nats over every family's
# 32 tokens (2026-12-06)
FLOAT32_LOGPROB_TOLERANCE = 1e-4
# How far the log-probability the engine gave each token it chose may be from float32
# transformers' on the same tokens (nats). bf16 measured at most 0.13 over every family
# (2026-12-05). int4: decode steps stream 4-bit weights and an 8-bit head, and random weights
# drawn wide are hard on 4 bits: a mean of 0.14-0.45 per family, up to 2.6 at one step; with Qwen2's
# biases left out of the 4-bit path the mean was 0.71. The first token comes from the prompt's step,
# on the full bf16 weights, whatever the quantization. nf4 (bitsandbytes, whose CPU backend runs the
# same modules as on CUDA) is scored by transformers on the same nf4 weights, in bf16: the family's
# step around the quantized modules is what is checked; measured at most 0.17, means 0.011-0.034
# (2026-12-06).
LOGPROB_TOLERANCE = {"none": {"max": 0.3, "mean": 0.1}, "int4": {"max": 4.0, "mean": 0.6}, "nf4": {"max": 0.3, "mean": 0.1}}


@pytest.mark.parametrize("quantization", ["none", "int4", "nf4"])
def test_bf16_int4_and_nf4_decoding_stay_close_to_transformers(tiny_dir, quantization):
    """Each family in bf16, unquantized, with the int4 decode copies (tuneserve's kernels where they
    build) and on nf4 weights: the engine's own greedy tokens, scored by float32 transformers (nf4:
    transformers on the same quantized weights), keep the log-probabilities the engine reported
    within LOGPROB_TOLERANCE."""
    from transformers import AutoModelForCausalLM

    from server.engine.weights import Linear, ModuleGroup

    base = load_tiny(tiny_dir, dtype="bfloat16", quantization=quantization)
    engine = make_engine(base)
    engine.start()
    try:
        runs = [
            (prompt_ids(base, text), *generate_with_logprobs(engine, prompt_ids(base, text), f"q-{i}")) for i, text in enumerate(PROMPTS)
        ]
        if quantization == "int4":
            assert all(isinstance(w.qkv, Linear) and w.qkv.max_rows > 0 for w in engine.runner.layers), "decode rows take 4-bit copies"
    finally:
        engine.stop()
    if quantization == "nf4":
        assert all(isinstance(w.qkv, ModuleGroup) for w in engine.runner.layers), "the step runs bitsandbytes' modules"
        reference_model = base.model
    else:
        reference_model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    gaps = logprob_gaps(reference_model, runs)
    first = gaps[:: len(runs[0][1])]  # each prompt's first token
    tolerance = LOGPROB_TOLERANCE[quantization]
    assert max(first) < 0.15, f"the prompt's step runs on the full weights: {first}"
    assert max(gaps) < tolerance["max"] and sum(gaps) / len(gaps) < tolerance["mean"], (max(gaps), sum(gaps) / len(gaps))


def test_the_trainers_loss_runs_a_shared_prompt_once_with_the_same_loss_and_gradients(tiny_dir):
    """CompletionLoss on a batch whose prompts share their first tokens: the shared part run once
    and its keys and values repeated per row gives the loss and LoRA gradients of the whole batch
    run as it is, on every family (widths inside each one's windows, so the shared path runs); and
    the loss is the cross-entropy of the model's own logits (Gemma's final soft-cap included)."""
    from trainer.config import Hyperparameters
    from trainer.training.batching import collate
    from trainer.training.data import TokenizedExample
    from trainer.training.loop import CompletionLoss, build_lora_model
    from trainer.training.shared_prefix import may_share

    base = load_tiny(tiny_dir)  # its own copy: PEFT wraps the model it is given
    model = build_lora_model(base, Hyperparameters(rank=4, alpha=8, dropout=0.0, target_modules=["all-linear"]))
    with torch.no_grad():  # B is zero at first, which would leave A without gradients
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    instruction = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    examples = [
        TokenizedExample(1, instruction + [30, 31, 32], [40, 41]),
        TokenizedExample(2, instruction + [33], [42, 43, 44]),
        TokenizedExample(3, instruction + [34, 35], [45]),
    ]
    batch = collate(examples, pad_id=0)
    loss_module = CompletionLoss(model)
    assert batch.shared == 10 and may_share(model.get_base_model().config, batch.shared, batch.input_ids.shape[1]), "the shared path runs"
    trainable = [p for p in model.parameters() if p.requires_grad]

    def loss_and_gradients(shared: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        loss = loss_module(batch.input_ids, batch.attention_mask, batch.labels, shared)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in trainable]

    once, once_gradients = loss_and_gradients(batch.shared)
    whole, whole_gradients = loss_and_gradients(0)
    assert torch.allclose(once, whole, rtol=1e-5), (once, whole)
    with torch.no_grad():  # and both are the summed cross-entropy of the model's own logits (soft-capped where configured)
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
        own = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch.labels[:, 1:], reduction="sum")
    assert torch.allclose(whole, own, rtol=1e-5), (whole, own)
    assert all(g.abs().sum() > 0 for g in whole_gradients), "every LoRA weight takes part"
    worst = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(once_gradients, whole_gradients, strict=True))
    assert worst < 1e-4, f"gradients apart by {worst:.1e} of their largest entry"


def test_the_holdouts_label_scores_equal_scoring_each_pair_alone(tiny):
    """The trainer's label scoring on every family: prompts that share their start (run once for the
    batch), labels of one and three tokens, against one plain forward of each prompt and label."""
    from tests.scoring import direct_logprob
    from trainer.evaluation.holdout import label_logprobs

    instruction = [11, 12, 13, 14, 15, 16, 17, 18]
    prompts = [instruction + [30, 31], instruction + [32], instruction + [33, 34, 35]]
    labels = [[40], [41, 42, 43]]
    got = torch.tensor(label_logprobs(tiny.model, prompts, labels, pad_id=0))
    want = torch.tensor([[direct_logprob(tiny.model, p, label) for label in labels] for p in prompts])
    assert torch.allclose(got, want, atol=1e-4), (got, want)


def test_the_trainer_trains_an_adapter_the_engine_serves_as_peft_does(tiny, tiny_dir, tmp_path):
    """The trainer's own loop on each family (a few steps on every projection), published with the
    family's fingerprint, then served in a mixed batch: adapter rows equal PEFT on the trained adapter."""
    from tests.adapter_training import train_word_adapter

    trained = train_word_adapter(tiny_dir.parent / "cache", tmp_path / "trained", "Paris", rank=4, steps=4, lr=2e-2, model=str(tiny_dir))
    served_as_peft(tiny, tiny_dir, trained, tmp_path, PROMPTS[:2])
