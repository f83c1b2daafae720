"""The fast tier: the engine's mechanics on a tiny random model of each family tuneserve serves
(Llama, Mistral with a sliding window, Qwen2 with biased q/k/v: tests/tiny_model.py), token for
token against transformers and PEFT on the same weights. Batching, chunked prefill, the paged and prefix
caches and LoRA routing in mixed batches do not depend on the model being any good, so these run
in seconds; the same properties on the real embedded model are checked by tests/server/engine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from common.threads import run_on_fresh_thread
from server.engine.engine import Engine, EngineConfig
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams
from tests import load
from tests.tiny_model import FAMILIES, build_tiny_model

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Summarise this: " + " ".join(f"the sky is blue {i}." for i in range(12)),
    "Name a colour of the rainbow.",
]
NEW_TOKENS = 16


@pytest.fixture(scope="module", params=FAMILIES)
def tiny_dir(request, tmp_path_factory) -> Path:
    """Each family tuneserve serves, as a tiny random model with its config's quirks."""
    return build_tiny_model(tmp_path_factory.mktemp(f"tiny-{request.param}") / "model", request.param)


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path):
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    settings = ModelSettings(model=str(tiny_dir), cache_dir=tiny_dir.parent / "cache", dtype="float32", quantization="none")
    return run_on_fresh_thread(lambda: load_base_model(settings))


@pytest.fixture(scope="module")
def peft_dir(tiny_dir: Path) -> Path:
    """A LoRA adapter made by PEFT on the tiny model, on every projection, with non-zero B."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    torch.manual_seed(1)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=modules, init_lora_weights=False))
    with torch.no_grad():  # B drawn as wide as A, so the adapter changes the greedy answer
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)
    out = tiny_dir.parent / "adapter"
    peft.save_pretrained(out)
    return out


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
    """transformers' greedy tokens, never stopping early (as min_new_tokens asks of the engine)."""
    ids = torch.tensor([prompt_ids(base, text)])
    with torch.no_grad():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0
        )
    return out[0, ids.shape[1] :].tolist()


def run_concurrently(engine: Engine, requests: list[GenerationRequest]) -> list[list[int]]:
    return [tokens for _, tokens in load.run_concurrently(engine, requests)]


@pytest.fixture(scope="module")
def engine(tiny):
    engine = make_engine(tiny)
    engine.start()
    yield engine
    engine.stop()


def test_greedy_tokens_equal_transformers_alone_and_batched(engine, tiny, tiny_dir):
    from transformers import AutoModelForCausalLM

    sliding = getattr(tiny.config, "sliding_window", None)
    if tiny.config.model_type == "mistral":
        assert sliding and tiny.context_window == sliding, "served within the window, where attention is full"
    assert max(len(prompt_ids(tiny, text)) for text in PROMPTS) + NEW_TOKENS <= tiny.context_window

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    expected = [reference(model, tiny, text) for text in PROMPTS]
    assert len({tuple(tokens) for tokens in expected}) > 1, "the prompts must lead to different answers"
    alone = [engine.generate(request(tiny, text, f"alone-{i}"), timeout=60)[1] for i, text in enumerate(PROMPTS)]
    assert alone == expected
    batched = run_concurrently(engine, [request(tiny, text, f"batch-{i}") for i, text in enumerate(PROMPTS * 3)])
    assert batched == expected * 3


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


def test_a_mixed_batch_routes_each_row_to_its_adapter(tiny, tiny_dir, peft_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from common.file_adapter_store import FileAdapterStore
    from server.adapters.loader import BaseSpec, load_stored
    from tests.adapter_training import publish

    spec = BaseSpec.from_base(tiny)
    store = FileAdapterStore(tmp_path / "store")
    version = publish(store, peft_dir, "mixed", spec)
    adapter = load_stored(store.root, "mixed", version, spec, 16)

    base_model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    plain = [reference(base_model, tiny, text) for text in PROMPTS[:3]]
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32), peft_dir)
    adapted = [reference(with_adapter, tiny, text) for text in PROMPTS[:3]]
    assert adapted != plain, "the adapter must change the answers for the test to mean anything"

    engine = make_engine(tiny, max_loras=2, max_lora_rank=16)
    engine.start()
    try:
        requests = [request(tiny, text, f"b-{i}") for i, text in enumerate(PROMPTS[:3])]
        requests += [request(tiny, text, f"a-{i}", adapter=adapter) for i, text in enumerate(PROMPTS[:3])]
        mixed = run_concurrently(engine, requests * 2)
    finally:
        engine.stop()
    assert mixed == (plain + adapted) * 2


def test_a_family_not_served_is_refused_with_the_ones_that_are(tmp_path):
    from common.base_model import load_base_model
    from common.errors import FailedPrecondition
    from common.settings import ModelSettings

    directory = build_tiny_model(tmp_path / "gemma", "gemma3_text")
    with pytest.raises(FailedPrecondition) as refused:
        load_base_model(ModelSettings(model=str(directory), cache_dir=tmp_path / "cache", dtype="float32", quantization="none"))
    assert "'gemma3_text' is not supported" in str(refused.value)
    assert all(family in str(refused.value) for family in FAMILIES), "the message names what is served"
