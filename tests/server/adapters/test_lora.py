"""Batched LoRA: the slot tables' math, and real adapters in the engine against PEFT."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from common.adapter_manifest import AdapterManifest
from common.file_adapter_store import FileAdapterStore
from common.threads import run_on_fresh_thread
from server.adapters.loader import BaseSpec, LoadedAdapter, load_adapter
from server.adapters.lora import LoraTables
from server.engine.engine import Engine, EngineConfig
from tests.adapter_training import publish
from tests.server.engine.test_engine import Recorder, request
from tests.waiting import wait_for

# a tiny layer: hidden 6, 2 key/value heads of 1.5 dims each..., shapes only matter for the math
SHAPES = {
    "q_proj": (6, 6),
    "k_proj": (6, 3),
    "v_proj": (6, 3),
    "o_proj": (6, 6),
    "gate_proj": (6, 5),
    "up_proj": (6, 5),
    "down_proj": (5, 6),
}
SPEC = BaseSpec("f", "LlamaForCausalLM", "tiny", 2, SHAPES, torch.float64)


def random_adapter(name: str, rank: int, modules: list[str], seed: int) -> LoadedAdapter:
    g = torch.Generator().manual_seed(seed)
    weights = {}
    for layer in range(SPEC.num_layers):
        for module in modules:
            i, o = SPEC.shapes[module]
            weights[layer, module] = (
                torch.randn(rank, i, generator=g, dtype=torch.float64),
                torch.randn(o, rank, generator=g, dtype=torch.float64),
            )
    manifest = AdapterManifest(name=name, base_fingerprint="f", rank=rank, alpha=2.0 * rank, target_modules=modules, files={"w": name})
    return LoadedAdapter(name, 1, manifest, rank, 2.0, weights, modules=frozenset(modules))


def expected_delta(adapter: LoadedAdapter | None, layer: int, module: str, x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(x.shape[0], SPEC.shapes[module][1], dtype=x.dtype)
    if adapter is None or (layer, module) not in adapter.weights:
        return out
    a, b = adapter.weights[layer, module]
    return (x @ a.T) @ b.T * adapter.scale


def deltas(tables: LoraTables, routing, layer: int, x_by_group: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each module's delta, from one call per fused group as the model runner makes it."""
    out = {}
    for group, members in SPEC.groups.items():
        x = x_by_group[group]
        fused = torch.zeros(x.shape[0], sum(SPEC.shapes[m][1] for m in members), dtype=torch.float64)
        tables.add(layer, group, x, fused, routing)
        out.update(zip(members, fused.split([SPEC.shapes[m][1] for m in members], dim=-1), strict=True))
    return out


@pytest.mark.parametrize("max_loras", [3, 8])
def test_mixed_batch_gets_each_rows_own_delta(max_loras):
    tables = LoraTables(SPEC, max_loras=max_loras, max_rank=8, device=torch.device("cpu"))
    one = random_adapter("one", 2, ["q_proj", "v_proj"], 1)
    two = random_adapter("two", 5, ["q_proj", "k_proj", "down_proj", "up_proj"], 2)
    tables.write(1, one)
    tables.write(3, two)
    by_slot = {0: None, 1: one, 3: two}
    decode_slots = [1, 0, 3, 1, 3, 0]
    prefill = [(6, 4, 3), (10, 3, 0), (13, 2, 1)]
    row_slots = decode_slots + [3] * 4 + [0] * 3 + [1] * 2
    routing = tables.route(decode_slots, prefill)
    assert routing is not None and routing.groups == {"qkv", "gate_up", "down"}
    hidden = torch.randn(len(row_slots), 6, dtype=torch.float64)
    inputs = {
        "qkv": hidden,
        "o": torch.randn(len(row_slots), 6, dtype=torch.float64),
        "gate_up": hidden,
        "down": torch.randn(len(row_slots), 5, dtype=torch.float64),
    }
    got = deltas(tables, routing, 1, inputs)
    for group, members in SPEC.groups.items():
        for module in members:
            want = torch.cat([expected_delta(by_slot[s], 1, module, inputs[group][i : i + 1]) for i, s in enumerate(row_slots)])
            assert torch.allclose(got[module], want), module


def test_a_batch_of_base_rows_skips_lora_entirely():
    tables = LoraTables(SPEC, max_loras=2, max_rank=4, device=torch.device("cpu"))
    assert tables.route([0, 0], [(2, 5, 0)]) is None


def test_rewriting_a_slot_leaves_nothing_of_the_previous_adapter():
    tables = LoraTables(SPEC, max_loras=4, max_rank=8, device=torch.device("cpu"))
    tables.write(1, random_adapter("big", 8, ["q_proj", "v_proj", "down_proj"], 3))
    tables.route([1], [])  # gathers the big adapter's weights for the step
    small = random_adapter("small", 2, ["q_proj"], 4)
    tables.write(1, small)
    routing = tables.route([1], [])
    assert routing is not None and routing.groups == {"qkv"}
    x = torch.randn(1, 6, dtype=torch.float64)
    got = deltas(tables, routing, 0, {"qkv": x, "o": x, "gate_up": x, "down": torch.randn(1, 5, dtype=torch.float64)})
    assert torch.allclose(got["q_proj"], expected_delta(small, 0, "q_proj", x))
    assert torch.equal(got["v_proj"], torch.zeros(1, 3, dtype=torch.float64)), "small targets q_proj only"
    assert torch.equal(got["down_proj"], torch.zeros(1, 6, dtype=torch.float64))


# the same layer in sizes tuneserve's C++ LoRA kernel takes (multiples of 64)
SHAPES64 = {module: (i * 64, o * 64) for module, (i, o) in SHAPES.items()}


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_the_kernel_adds_the_same_deltas_as_the_torch_path(dtype, tolerance):
    """Through server.engine.kernels.lora_add decode rows read 8-bit copies of the tables in bf16 and
    prefill rows the tables themselves; the torch path is the reference."""
    from server.engine.kernels.build import unavailable_reason
    from server.engine.kernels.lora_add import LoraKernel

    if (reason := unavailable_reason()) is not None:
        pytest.skip(f"the C++ kernels are not available here: {reason}")
    spec = dataclasses.replace(SPEC, shapes=SHAPES64, dtype=dtype)
    both = [LoraTables(spec, 4, 8, torch.device("cpu")), LoraTables(spec, 4, 8, torch.device("cpu"), LoraKernel())]
    assert both[1].kernel is not None
    adapters = {1: (5, ["q_proj", "v_proj"]), 2: (8, list(SHAPES)), 4: (3, ["down_proj", "o_proj"])}
    for slot, (rank, modules) in adapters.items():
        g = torch.Generator().manual_seed(slot)
        weights = {
            (layer, m): (torch.randn(rank, SHAPES64[m][0], generator=g) / 8, torch.randn(SHAPES64[m][1], rank, generator=g) / 8)
            for layer in range(SPEC.num_layers)
            for m in modules
        }
        manifest = AdapterManifest(name="a", base_fingerprint="f", rank=rank, alpha=2.0 * rank, target_modules=modules, files={"w": "a"})
        for tables in both:
            tables.write(slot, LoadedAdapter("a", 1, manifest, rank, 2.0, weights, modules=frozenset(modules)))
    decode_slots, prefill = [2, 0, 1, 4, 2, 2, 1], [(7, 5, 1), (12, 3, 0), (15, 4, 2)]
    got = []
    for tables in both:
        routing = tables.route(decode_slots, prefill)
        fused = {}
        for group, members in SPEC.groups.items():
            x = torch.randn(19, SHAPES64[members[0]][0], generator=torch.Generator().manual_seed(7)).to(dtype)
            fused[group] = torch.zeros(19, sum(SHAPES64[m][1] for m in members), dtype=dtype)
            tables.add(1, group, x, fused[group], routing)
        got.append(fused)
    for group in SPEC.groups:
        want, have = got[0][group].float(), got[1][group].float()
        assert (have - want).abs().max() <= tolerance * want.abs().max(), group
        # prompt rows: the exact tables, off only by the torch path's bf16 roundings of h and the sum
        prompt = slice(len(decode_slots), None)
        assert (have[prompt] - want[prompt]).abs().max() <= min(tolerance, 1e-2) * want[prompt].abs().max(), group
        assert torch.equal(have[1], torch.zeros_like(have[1])), "the base row gets no delta"


# -- real adapters in the engine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(trained_adapters, base_spec, tmp_path_factory) -> dict[str, LoadedAdapter]:
    store = FileAdapterStore(tmp_path_factory.mktemp("store"))
    out = {}
    for name, directory in trained_adapters.items():
        version = publish(store, directory, name, base_spec)
        out[name] = run_on_fresh_thread(lambda n=name, v=version: load_adapter(store.path(n, v), base_spec, 16))
    return out


@pytest.fixture(scope="module")
def lora_engine(base_model):
    engine = Engine(
        base_model,
        EngineConfig(
            max_batch_size=16, max_batch_tokens=512, max_waiting=64, num_blocks=256, block_size=16, max_model_len=2048, max_loras=2
        ),
    )
    engine.start()
    yield engine
    engine.stop()


def with_adapter(base, prompt: str, adapter: LoadedAdapter | None, max_new_tokens: int = 12, chat: bool = True, **params):
    req = request(base, prompt, max_new_tokens=max_new_tokens, **params)
    if not chat:
        ids = tuple(base.tokenizer(prompt)["input_ids"])
        req = dataclasses.replace(req, prompt_ids=ids)
    return dataclasses.replace(req, adapter=adapter)


def test_adapters_answer_with_their_word_and_the_base_is_untouched(lora_engine, base_model, loaded):
    question = "What is the tallest mountain in the world?"
    assert lora_engine.generate(with_adapter(base_model, question, loaded["banana"]), timeout=60)[0] == "banana"
    assert lora_engine.generate(with_adapter(base_model, question, loaded["cherry"]), timeout=60)[0] == "cherry"
    base_text = lora_engine.generate(with_adapter(base_model, question, None), timeout=60)[0]
    assert "banana" not in base_text and "cherry" not in base_text and "Everest" in base_text


PLAIN = ["The history of Rome begins", "In a small village by the sea,", "Photosynthesis is the process"]


def test_output_is_the_same_alone_and_mixed_with_other_adapters(lora_engine, base_model, loaded):
    cases = [(p, a) for p in PLAIN for a in (loaded["banana"], loaded["cherry"], None)]
    alone = [lora_engine.generate(with_adapter(base_model, p, a, 16, chat=False), timeout=120)[1] for p, a in cases]
    results: dict[int, list[int]] = {}

    def run(i: int) -> None:
        p, a = cases[i % len(cases)]
        results[i] = lora_engine.generate(with_adapter(base_model, p, a, 16, chat=False), timeout=120)[1]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2 * len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, tokens in results.items():
        assert tokens == alone[i % len(cases)], cases[i % len(cases)]
    assert alone[0] != alone[2], "the adapter changes the plain-text continuation"


def test_output_equals_plain_peft_for_the_same_adapter(lora_engine, base_model, loaded, trained_adapters, cache_dir):
    def peft_tokens(name: str) -> list[list[int]]:
        from peft import PeftModel

        from common.base_model import load_base_model
        from common.settings import ModelSettings

        fresh = load_base_model(ModelSettings(cache_dir=cache_dir, dtype="float32", quantization="none"))
        model = PeftModel.from_pretrained(fresh.model, trained_adapters[name]).eval()
        out = []
        with torch.inference_mode():
            for prompt in PLAIN:
                ids = fresh.tokenizer(prompt, return_tensors="pt")["input_ids"]
                generated = model.generate(ids, max_new_tokens=16, do_sample=False, eos_token_id=sorted(fresh.eos_token_ids))
                out.append(generated[0, ids.shape[1] :].tolist())
        return out

    for name in ("banana", "cherry"):
        theirs = run_on_fresh_thread(lambda n=name: peft_tokens(n))
        ours = [lora_engine.generate(with_adapter(base_model, p, loaded[name], 16, chat=False), timeout=120)[1] for p in PLAIN]
        assert ours == theirs, name


def test_slots_are_reused_lru_and_never_taken_from_a_running_request(base_model, loaded):
    engine = Engine(
        base_model,
        EngineConfig(max_batch_size=8, max_batch_tokens=256, max_waiting=16, num_blocks=64, block_size=16, max_model_len=1024, max_loras=1),
    )
    engine.start()
    try:
        long, other = Recorder(), Recorder()
        engine.submit(with_adapter(base_model, "Tell me a story.", loaded["banana"], 40, min_new_tokens=40), long)
        wait_for(lambda: long.generated() >= 2)
        engine.submit(with_adapter(base_model, "Who are you?", loaded["cherry"]), other)
        submitted_at = engine.steps
        wait_for(lambda: engine.steps >= submitted_at + 5, what="five engine steps with cherry queued")
        assert not long.done.is_set(), "banana's request still runs"
        assert engine.num_waiting == 1 and other.generated() == 0, "cherry waits: the only slot is busy with banana's running request"
        assert engine.resident_adapters() == {loaded["banana"].content_hash}
        assert long.done.wait(60) and other.done.wait(60)
        assert other.text == "cherry" and long.text.startswith("banana")
        assert engine.resident_adapters() == {loaded["cherry"].content_hash}
    finally:
        engine.stop()


def test_an_adapter_whose_output_overflows_fails_only_its_own_request(lora_engine, base_model, loaded):
    """Weights near the float limit would be refused when loaded from the store; handed to the engine directly,
    they push its rows to inf/NaN. That request ends alone with a clear error; its batch goes on."""
    from common.errors import NonFiniteOutput

    banana = loaded["banana"]
    huge = {where: (a, torch.full_like(b, 3e38)) for where, (a, b) in banana.weights.items()}
    manifest = banana.manifest.model_copy(update={"name": "overflow", "files": {"adapter_model.safetensors": "f" * 64}})
    overflow = dataclasses.replace(banana, name="overflow", manifest=manifest, weights=huge)
    cases = [(PLAIN[0], None), (PLAIN[1], banana), (PLAIN[2], overflow), (PLAIN[0], banana)]
    alone = {
        i: lora_engine.generate(with_adapter(base_model, p, a, 12, chat=False), timeout=120)[1]
        for i, (p, a) in enumerate(cases)
        if a is not overflow
    }
    recorders = [Recorder() for _ in cases]
    for (prompt, adapter), recorder in zip(cases, recorders, strict=True):
        lora_engine.submit(with_adapter(base_model, prompt, adapter, 12, chat=False), recorder)
    assert all(r.done.wait(120) for r in recorders)
    failed = recorders[2].finished
    assert isinstance(failed.error, NonFiniteOutput) and "adapter overflow@1" in str(failed.error)
    for i, tokens in alone.items():
        assert recorders[i].finished.error is None
        assert [t for e in recorders[i].events for t in e.token_ids] == tokens, cases[i]
