import pytest
import torch

from server.engine.kv_cache import BlockAllocator, PagedKVCache, block_slots, blocks_for, gather_kv


def test_allocator_hands_out_distinct_blocks_and_takes_them_back():
    allocator = BlockAllocator(4)
    first = allocator.allocate(3)
    assert sorted(first) == [0, 1, 2] and allocator.num_free == 1
    with pytest.raises(RuntimeError, match="asked for 2 KV blocks with 1 free"):
        allocator.allocate(2)
    allocator.free(first)
    assert allocator.num_free == 4
    assert len(set(allocator.allocate(4))) == 4


def test_blocks_for_rounds_up():
    assert [blocks_for(n, 16) for n in (0, 1, 16, 17, 32)] == [0, 1, 1, 2, 2]


def test_block_slots_are_contiguous_within_each_block():
    slots = block_slots([3, 0], 4, torch.device("cpu"))
    assert slots.tolist() == [12, 13, 14, 15, 0, 1, 2, 3]


def test_cache_writes_and_gathers_by_slot():
    cache = PagedKVCache(num_layers=2, num_blocks=2, block_size=4, kv_heads=1, head_dim=2, dtype=torch.float32, device=torch.device("cpu"))
    k = torch.arange(6, dtype=torch.float32).view(3, 1, 2)
    cache.write(1, torch.tensor([5, 1, 7]), torch.cat([k, -k], dim=1))  # keys then values
    gk, gv = cache.gather(1, torch.tensor([[1, 5], [7, 0]]))
    assert gk[0, 0].tolist() == [[2.0, 3.0]] and gk[0, 1].tolist() == [[0.0, 1.0]]
    assert gv[1, 0].tolist() == [[-4.0, -5.0]]
    assert gk[1, 1].tolist() == [[0.0, 0.0]], "slot 0 pads ragged batches and starts zeroed"
    cache.kv[1, 6] = float("nan")
    gk, gv = cache.gather(1, torch.tensor([[1, 6]]))
    assert gk[0, 1].isnan().all()
    gk, gv = gather_kv(cache.kv[1], torch.tensor([[1, 6]]), valid=torch.tensor([[True, False]]))
    assert gk[0, 1].tolist() == [[0.0, 0.0]] and gv[0, 1].tolist() == [[0.0, 0.0]], "slots not attended to come back as zeros"
    assert gk[0, 0].tolist() == [[2.0, 3.0]]
