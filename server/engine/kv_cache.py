"""Paged KV cache: fixed-size blocks of token slots, handed out to sequences by a block table.

`BlockAllocator` is bookkeeping only (which blocks are free, who holds them, which hold a cached
prompt prefix) and is tested without a model. `PagedKVCache` owns the tensor: per layer, the keys
and then the values of every slot, `[num_slots, 2 * kv_heads, head_dim]`, where
slot = block * block_size + offset. Keys and values side by side are what the fused q/k/v
projection produces, so a layer writes them with one copy and reads them with one gather.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict, deque
from collections.abc import Sequence

import torch


def blocks_for(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


def prefix_block_hashes(tokens: Sequence[int], block_size: int, namespace: bytes) -> list[bytes]:
    """Identity of each full block of `tokens`: a hash of everything up to and including it.

    Chained, so a block matches only if all of its prefix matches; `namespace` (the adapter's
    content hash, or the base fingerprint) keeps the KV of different weights apart. A
    cryptographic hash, because a collision would hand one request another request's KV.
    """
    hashes: list[bytes] = []
    parent = hashlib.blake2b(namespace, digest_size=16).digest()
    for start in range(0, len(tokens) - block_size + 1, block_size):
        block = array("l", tokens[start : start + block_size]).tobytes()
        parent = hashlib.blake2b(parent + block, digest_size=16).digest()
        hashes.append(parent)
    return hashes


class BlockAllocator:
    """Hands out KV blocks and takes them back, keeping full prompt blocks for reuse.

    A block holds one sequence's tokens, or, once registered under its prefix hash, the same
    prompt prefix for any number of sequences at once (read-only from then on). A registered
    block nobody holds stays cached, least recently used first out when blocks run short, and at
    most `cache_limit` such idle blocks are kept.
    """

    def __init__(self, num_blocks: int, cache_limit: int = 0) -> None:
        if num_blocks < 1:
            raise ValueError("the KV cache needs at least one block")
        self.num_blocks = num_blocks
        self.cache_limit = cache_limit
        self._free: deque[int] = deque(range(num_blocks))
        self._refs = [0] * num_blocks
        self._hash_of: dict[int, bytes] = {}
        self._block_of: dict[bytes, int] = {}
        self._idle: OrderedDict[int, None] = OrderedDict()  # cached blocks nobody holds, oldest first

    @property
    def num_free(self) -> int:
        """Blocks an allocation can take: free ones and idle cached ones."""
        return len(self._free) + len(self._idle)

    @property
    def num_cached(self) -> int:
        return len(self._block_of)

    def refs(self, block: int) -> int:
        return self._refs[block]

    def allocate(self, count: int) -> list[int]:
        if count > self.num_free:
            raise RuntimeError(f"asked for {count} KV blocks with {self.num_free} free")
        blocks = []
        for _ in range(count):
            block = self._free.popleft() if self._free else self._evict_oldest()
            self._refs[block] = 1
            blocks.append(block)
        return blocks

    def _evict_oldest(self) -> int:
        block, _ = self._idle.popitem(last=False)
        del self._block_of[self._hash_of.pop(block)]
        return block

    def free(self, blocks: Sequence[int]) -> None:
        for block in blocks:
            self._refs[block] -= 1
            if self._refs[block]:
                continue
            if block in self._hash_of:
                self._idle[block] = None
            else:
                self._free.append(block)
        while len(self._idle) > self.cache_limit:
            self._free.append(self._evict_oldest())

    def register(self, block: int, key: bytes) -> None:
        """Makes a full, computed block findable by its prefix hash (first registration wins)."""
        if key not in self._block_of and block not in self._hash_of:
            self._block_of[key] = block
            self._hash_of[block] = key

    def lookup(self, keys: Sequence[bytes]) -> list[int]:
        """Cached blocks of the longest prefix of `keys`, without taking them."""
        blocks = []
        for key in keys:
            block = self._block_of.get(key)
            if block is None:
                break
            blocks.append(block)
        return blocks

    def acquire(self, blocks: Sequence[int]) -> None:
        """Takes a reference to cached blocks found by `lookup`."""
        for block in blocks:
            self._refs[block] += 1
            self._idle.pop(block, None)


class PagedKVCache:
    """Key and value tensors of every layer, addressed by flat slot index."""

    def __init__(
        self,
        *,
        num_layers: int,
        num_blocks: int,
        block_size: int,
        kv_heads: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.dtype = dtype
        self.kv_heads = kv_heads
        # One block more than the allocator hands out: the CUDA decode graph's padding rows write
        # there and its padded block tables point there (server.engine.cuda_graph), and the CPU
        # graph's warm-up runs there while the eager step serves, never in a block a sequence holds.
        self.pad_block = num_blocks
        # Uninitialised, so start-up does not touch every page. Attention reads only written
        # slots, except slot 0, which pads ragged eager decode batches, and the padding block,
        # which pads the graph's tables (both masked out): they must hold finite numbers, since
        # 0 * NaN would poison the masked sum.
        self.kv = torch.empty((num_layers, (num_blocks + 1) * block_size, 2 * kv_heads, head_dim), dtype=dtype, device=device)
        self.kv[:, 0].zero_()
        self.kv[:, num_blocks * block_size :].zero_()

    @staticmethod
    def bytes_per_token(num_layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype) -> int:
        return 2 * num_layers * kv_heads * head_dim * torch.finfo(dtype).bits // 8

    def write(self, layer: int, slots: torch.Tensor, kv: torch.Tensor) -> None:
        # slots: [T], kv: [T, 2 * kv_heads, head_dim], keys first
        self.kv[layer].index_copy_(0, slots, kv)

    def gather(self, layer: int, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # slots: [..., L] -> k, v: [..., L, kv_heads, head_dim]
        return gather_kv(self.kv[layer], slots)


def gather_kv(kv: torch.Tensor, slots: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    # kv: [S, 2 * kv_heads, head_dim] (one layer's cache, or all layers' with offset slots), slots: [..., L]
    # -> k, v: [..., L, kv_heads, head_dim] (views of one gather; index_select is the fast one).
    # valid: [..., L], False where a slot is read but not attended to; those come back as zeros,
    # since a slot no sequence wrote, or that an earlier owner of its block left NaN in, would
    # poison the masked attention (0 * NaN, NaN - inf)
    kv_heads = kv.shape[1] // 2
    past = kv.index_select(0, slots.reshape(-1)).view(*slots.shape, *kv.shape[1:])
    if valid is not None:
        past = past.masked_fill(~valid[..., None, None], 0)
    return past[..., :kv_heads, :], past[..., kv_heads:, :]


def block_slots(blocks: list[int], block_size: int, device: torch.device) -> torch.Tensor:
    """Flat cache slots of the given blocks, in order: [len(blocks) * block_size]."""
    base = torch.tensor(blocks, dtype=torch.long, device=device) * block_size
    return (base[:, None] + torch.arange(block_size, device=device)).reshape(-1)
