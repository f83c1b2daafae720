"""How the engine is sized (`EngineConfig`, from the server's settings and the model), and what it
reports to metrics (`EngineMetrics`; server.metrics.ServerMetrics is the real one)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from common.base_model import BaseModel
from server.engine.kv_cache import PagedKVCache
from server.engine.request import Finished

log = logging.getLogger(__name__)


class EngineSettings(Protocol):
    """The settings the engine is sized from (server.config.ServerSettings has them; the engine
    does not import the server's config)."""

    @property
    def kv_cache_memory_mb(self) -> int: ...
    @property
    def kv_block_size(self) -> int: ...
    @property
    def max_model_len(self) -> int | None: ...
    @property
    def max_batch_size(self) -> int: ...
    @property
    def max_batch_tokens(self) -> int: ...
    @property
    def max_waiting(self) -> int: ...
    @property
    def max_loras(self) -> int: ...
    @property
    def max_lora_rank(self) -> int: ...
    @property
    def adapter_store(self) -> object: ...
    @property
    def prefix_caching(self) -> bool: ...
    @property
    def prefix_cache_mb(self) -> int: ...
    @property
    def compile_decode(self) -> str: ...
    @property
    def cpu_kernels(self) -> str: ...
    @property
    def cuda_graph_pieces(self) -> str: ...


@dataclass(frozen=True)
class EngineConfig:
    max_batch_size: int
    max_batch_tokens: int
    max_waiting: int
    num_blocks: int
    block_size: int
    max_model_len: int
    max_loras: int = 0  # LoRA slots; 0 serves the base model only
    max_lora_rank: int = 16
    prefix_cache_blocks: int = 0  # idle blocks kept for prompt prefixes; 0 turns prefix caching off
    compile_decode: str = "off"  # "auto", "on" or "off": server.engine.decode_graph
    cpu_kernels: str = "auto"  # "auto", "on" or "off": server.engine.kernels.build.choose
    cuda_graph_pieces: str = "eager"  # "eager" or "compiled": server.engine.cuda_graph

    @classmethod
    def from_settings(cls, settings: EngineSettings, base: BaseModel) -> EngineConfig:
        shape = base.shape
        per_token = PagedKVCache.bytes_per_token(shape.layers, shape.kv_heads, shape.head_dim, base.precision.kv_cache_dtype)
        num_blocks = max(1, settings.kv_cache_memory_mb * 2**20 // (per_token * settings.kv_block_size))
        capacity = num_blocks * settings.kv_block_size
        max_model_len = min(settings.max_model_len or base.context_window, base.context_window)
        if capacity < max_model_len:
            log.warning(
                "KV cache holds fewer tokens than the context window; capping the context",
                extra={"kv_cache_tokens": capacity, "context_window": max_model_len},
            )
            max_model_len = capacity
        return cls(
            max_batch_size=settings.max_batch_size,
            max_batch_tokens=max(settings.max_batch_tokens, settings.max_batch_size),
            max_waiting=settings.max_waiting,
            num_blocks=num_blocks,
            block_size=settings.kv_block_size,
            max_model_len=max_model_len,
            max_loras=settings.max_loras if settings.adapter_store else 0,
            max_lora_rank=settings.max_lora_rank,
            prefix_cache_blocks=settings.prefix_cache_mb * 2**20 // (per_token * settings.kv_block_size) if settings.prefix_caching else 0,
            compile_decode=settings.compile_decode,
            cpu_kernels=settings.cpu_kernels,
            cuda_graph_pieces=settings.cuda_graph_pieces,
        )


class EngineMetrics(Protocol):
    def admitted(self, queue_s: float) -> None: ...
    def token_latency(self, first: bool, seconds: float) -> None: ...
    def finished(self, finished: Finished) -> None: ...
    def step(self, sequences: int, tokens: int) -> None: ...
    def slots_filled(self, loads: int, evictions: int) -> None: ...
    def prefix_cache(self, hit_tokens: int, miss_tokens: int, cached_blocks: int) -> None: ...


class NullMetrics:
    def admitted(self, queue_s: float) -> None: ...
    def token_latency(self, first: bool, seconds: float) -> None: ...
    def finished(self, finished: Finished) -> None: ...
    def step(self, sequences: int, tokens: int) -> None: ...
    def slots_filled(self, loads: int, evictions: int) -> None: ...
    def prefix_cache(self, hit_tokens: int, miss_tokens: int, cached_blocks: int) -> None: ...
