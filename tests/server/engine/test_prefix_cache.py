"""Prefix caching: the allocator's bookkeeping, then identical output with and without it."""

from __future__ import annotations

import time

import pytest

from server.engine.engine import Engine, EngineConfig
from server.engine.kv_cache import BlockAllocator, prefix_block_hashes
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams


def test_block_hashes_chain_and_depend_on_the_namespace():
    a = prefix_block_hashes(list(range(40)), 16, b"base")
    assert len(a) == 2, "only full blocks"
    assert prefix_block_hashes(list(range(32)) + [99], 16, b"base") == a
    assert prefix_block_hashes(list(range(40)), 16, b"adapter-v2") != a
    changed = prefix_block_hashes([7] + list(range(1, 40)), 16, b"base")
    assert changed[0] != a[0] and changed[1] != a[1], "a change early changes every later block"


def test_registered_blocks_are_found_shared_and_kept_idle_until_evicted():
    allocator = BlockAllocator(4, cache_limit=2)
    blocks = allocator.allocate(2)
    allocator.register(blocks[0], b"h0")
    allocator.register(blocks[1], b"h1")
    assert allocator.lookup([b"h0", b"h1", b"h2"]) == blocks
    allocator.acquire(blocks[:1])  # a second sequence shares the first block
    assert allocator.refs(blocks[0]) == 2
    allocator.free(blocks)
    assert allocator.refs(blocks[0]) == 1 and allocator.num_free == 3, "h1 is idle but cached"
    assert allocator.lookup([b"h0", b"h1"]) == blocks
    allocator.free(blocks[:1])
    assert allocator.num_free == 4 and allocator.num_cached == 2
    taken = allocator.allocate(3)  # two free blocks first, then the least recently used idle one
    assert allocator.lookup([b"h0", b"h1"]) == [blocks[0]] and blocks[1] in taken


def test_idle_cached_blocks_are_bounded():
    allocator = BlockAllocator(8, cache_limit=1)
    blocks = allocator.allocate(3)
    for i, b in enumerate(blocks):
        allocator.register(b, bytes([i]))
    allocator.free(blocks)
    assert allocator.num_cached == 1 and allocator.lookup([bytes([2])]) == [blocks[2]]


@pytest.fixture(scope="module")
def engines(base_model):
    config = dict(max_batch_size=8, max_batch_tokens=512, max_waiting=16, num_blocks=256, block_size=16, max_model_len=2048)
    cached, plain = Engine(base_model, EngineConfig(**config, prefix_cache_blocks=128)), Engine(base_model, EngineConfig(**config))
    cached.start()
    plain.start()
    yield cached, plain
    cached.stop()
    plain.stop()


def request(base, suffix: str, adapter=None) -> GenerationRequest:
    shared = "Here are reviews and their labels.\n" + "".join(
        f"Review: film number {i} was {'great' if i % 2 else 'awful'}.\nLabel: {'positive' if i % 2 else 'negative'}\n" for i in range(12)
    )
    ids = tuple(base.tokenizer(shared + f"Review: {suffix}\nLabel:")["input_ids"])
    return GenerationRequest(suffix, ids, SamplingParams(max_new_tokens=12), arrival=time.monotonic(), adapter=adapter)


def test_output_is_identical_with_and_without_the_cache(engines, base_model):
    cached, plain = engines
    queries = ["a joyous masterpiece", "a boring mess", "fine, I guess", "the best film this year"]
    first = [cached.generate(request(base_model, q), timeout=60) for q in queries]
    again = [cached.generate(request(base_model, q), timeout=60) for q in queries]
    reference = [plain.generate(request(base_model, q), timeout=60) for q in queries]
    for (text, tokens, _), (_, tokens2, _), (ref_text, ref_tokens, ref) in zip(first, again, reference, strict=True):
        assert tokens == tokens2 == ref_tokens and text == ref_text
        assert ref.cached_prompt_tokens == 0
    assert first[0][2].cached_prompt_tokens == 0, "nothing cached before the first request"
    assert all(fin.cached_prompt_tokens >= 16 * 10 for _, _, fin in first[1:]), "later requests reuse the shared demonstrations"
    assert all(fin.cached_prompt_tokens > 0 for _, _, fin in again)
