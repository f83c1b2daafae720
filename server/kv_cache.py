"""Paged KV cache: fixed-size blocks of token slots, handed out to sequences by a block table.

`BlockAllocator` is bookkeeping only (which blocks are free, who holds them) and is tested without
a model. `PagedKVCache` owns the tensors: per layer, keys and values for every slot,
`[num_slots, kv_heads, head_dim]`, where slot = block * block_size + offset.
"""

from __future__ import annotations

from collections import deque

import torch


def blocks_for(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


class BlockAllocator:
    """Hands out KV blocks and takes them back; a block is owned by exactly one sequence."""

    def __init__(self, num_blocks: int) -> None:
        if num_blocks < 1:
            raise ValueError("the KV cache needs at least one block")
        self.num_blocks = num_blocks
        self._free: deque[int] = deque(range(num_blocks))

    @property
    def num_free(self) -> int:
        return len(self._free)

    def allocate(self, count: int) -> list[int]:
        if count > len(self._free):
            raise RuntimeError(f"asked for {count} KV blocks with {len(self._free)} free")
        return [self._free.popleft() for _ in range(count)]

    def free(self, blocks: list[int]) -> None:
        self._free.extend(blocks)


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
        shape = (num_layers, num_blocks * block_size, kv_heads, head_dim)
        # Uninitialised, so start-up does not touch every page. Attention reads only written
        # slots, except slot 0, which pads ragged decode batches (masked out) and must therefore
        # hold finite numbers: 0 * NaN would poison the masked sum.
        self.keys = torch.empty(shape, dtype=dtype, device=device)
        self.values = torch.empty(shape, dtype=dtype, device=device)
        self.keys[:, 0].zero_()
        self.values[:, 0].zero_()

    @staticmethod
    def bytes_per_token(num_layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype) -> int:
        return 2 * num_layers * kv_heads * head_dim * torch.finfo(dtype).bits // 8

    def write(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        # slots: [T], k/v: [T, kv_heads, head_dim]
        self.keys[layer].index_copy_(0, slots, k)
        self.values[layer].index_copy_(0, slots, v)

    def gather(self, layer: int, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # slots: [..., L] -> k, v: [..., L, kv_heads, head_dim]; index_select is the fast gather
        shape = (*slots.shape, *self.keys.shape[2:])
        flat = slots.reshape(-1)
        return self.keys[layer].index_select(0, flat).view(shape), self.values[layer].index_select(0, flat).view(shape)


def block_slots(blocks: list[int], block_size: int, device: torch.device) -> torch.Tensor:
    """Flat cache slots of the given blocks, in order: [len(blocks) * block_size]."""
    base = torch.tensor(blocks, dtype=torch.long, device=device) * block_size
    return (base[:, None] + torch.arange(block_size, device=device)).reshape(-1)
