"""The serving engine: one thread that runs the continuous-batching loop.

Callers on any thread `submit` validated requests with a sink for their events; the loop admits
them at the next step (policy in server.scheduler), runs the model over every scheduled token
(server.model_runner), samples (server.sampling), and streams each request's new text to its
sink. Finished and cancelled requests leave the batch at once and give back their KV blocks.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from server.adapter_cache_policy import SlotPlanner, SlotView
from server.adapter_loader import BaseSpec
from server.base_model import BaseModel
from server.batch_builder import Piece, RowUse, build_step_batch, scoring_take
from server.errors import FailedPrecondition, InvalidRequest, NonFiniteOutput, ResourceExhausted, Unavailable
from server.kv_cache import BlockAllocator, PagedKVCache, block_slots, blocks_for, prefix_block_hashes
from server.lora import LoraTables
from server.model_runner import ModelRunner, StepBatch
from server.request import EventSink, Finished, GenerationEvent, GenerationRequest, StopReason
from server.sampling import sample_next_tokens
from server.scheduler import Budget, RunningView, StepPlan, WaitingView, plan_step
from server.sequence import Sequence, SequenceStatus

log = logging.getLogger(__name__)


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

    @classmethod
    def from_settings(cls, settings: Any, base: BaseModel) -> EngineConfig:
        config = base.config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        per_token = PagedKVCache.bytes_per_token(config.num_hidden_layers, config.num_key_value_heads, head_dim, base.dtype)
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
        )


class EngineMetrics(Protocol):
    def admitted(self, queue_s: float) -> None: ...
    def token_latency(self, first: bool, seconds: float) -> None: ...
    def finished(self, finished: Finished) -> None: ...
    def step(self, sequences: int, tokens: int, running: int, waiting: int, kv_blocks_used: int) -> None: ...
    def slots_filled(self, loads: int, evictions: int) -> None: ...
    def prefix_cache(self, hit_tokens: int, miss_tokens: int, cached_blocks: int) -> None: ...


class NullMetrics:
    def admitted(self, queue_s: float) -> None: ...
    def token_latency(self, first: bool, seconds: float) -> None: ...
    def finished(self, finished: Finished) -> None: ...
    def step(self, sequences: int, tokens: int, running: int, waiting: int, kv_blocks_used: int) -> None: ...
    def slots_filled(self, loads: int, evictions: int) -> None: ...
    def prefix_cache(self, hit_tokens: int, miss_tokens: int, cached_blocks: int) -> None: ...


class Engine:
    """Continuous batching over one base model; thread-safe `submit` and `cancel`."""

    def __init__(self, base: BaseModel, config: EngineConfig, metrics: EngineMetrics | None = None) -> None:
        self.base = base
        self.config = config
        self.metrics: EngineMetrics = metrics or NullMetrics()
        self.end_token_ids = base.eos_token_ids
        self.allocator = BlockAllocator(config.num_blocks, config.prefix_cache_blocks)
        self.base_namespace = base.fingerprint.encode()
        self._cv = threading.Condition()
        self._inbox: list[Sequence] = []
        self._cancelled: set[int] = set()
        self._queued = 0  # requests submitted and not yet admitted (guarded by _cv)
        self._accepting = True
        self._stopping = False
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.cache: PagedKVCache
        self.runner: ModelRunner
        self.lora: LoraTables | None = None
        slots = config.max_loras + 1
        self._slot_adapter: list[str | None] = [None] * slots  # content hash held by each slot
        self._slot_busy = [0] * slots  # running sequences using each slot
        self._slot_last_used = [0] * slots
        self._forget: set[str] = set()  # adapters to drop from their slots when idle

    # -- callers' side -----------------------------------------------------------------------

    @property
    def kv_capacity_tokens(self) -> int:
        return self.config.num_blocks * self.config.block_size

    @property
    def num_waiting(self) -> int:
        return self._queued

    @property
    def num_running(self) -> int:
        return len(self._running)

    def start(self) -> None:
        """Starts the engine thread and returns once its KV cache and model step are built."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="tuneserve-engine", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def submit(self, request: GenerationRequest, sink: EventSink) -> int:
        """Queues a request; its events go to `sink` on the engine thread. Returns its id."""
        return self.submit_group([(request, sink)])[0]

    def submit_group(self, items: list[tuple[GenerationRequest, EventSink]]) -> list[int]:
        """Queues requests as one unit, all or none (ClassifyBatch's inputs); returns their ids.

        The queue takes new work while it holds fewer than `max_waiting` requests beyond what the
        running batch can still take in at its next step. A group needs one place and comes in
        whole, so it may pass the bound by its own size; callers bound the size of groups.
        """
        sequences = [self._sequence(request, sink) for request, sink in items]
        with self._cv:
            if not self._accepting:
                raise Unavailable("the server is shutting down; retry on another replica")
            batch_room = max(0, self.config.max_batch_size - len(self._running))
            if self._queued >= self.config.max_waiting + batch_room:
                raise ResourceExhausted(
                    f"{self._queued - batch_room} requests are already waiting beyond the running batch "
                    f"(max_waiting={self.config.max_waiting}); retry later"
                )
            self._inbox.extend(sequences)
            self._queued += len(sequences)
            self._cv.notify()
        return [seq.seq_id for seq in sequences]

    def _sequence(self, request: GenerationRequest, sink: EventSink) -> Sequence:
        if len(request.prompt_ids) + request.params.max_new_tokens > self.config.max_model_len:
            raise InvalidRequest(
                "parameters.max_new_tokens",
                f"prompt ({len(request.prompt_ids)} tokens) plus max_new_tokens "
                f"({request.params.max_new_tokens}) exceed the context window of {self.config.max_model_len} tokens",
            )
        if request.adapter is not None and not self.config.max_loras:
            raise FailedPrecondition("this server has no LoRA slots (max_loras=0 or no adapter store)")
        seq = Sequence(next(self._ids), request, sink, self.base.tokenizer, self.base.device)
        if self.config.prefix_cache_blocks:
            namespace = self.base_namespace if seq.adapter_hash is None else seq.adapter_hash.encode()
            seq.block_hashes = prefix_block_hashes(request.prompt_ids, self.config.block_size, namespace)
        return seq

    def cancel(self, seq_id: int) -> None:
        """Stops a request wherever it is; its blocks are freed at the next step."""
        with self._cv:
            self._cancelled.add(seq_id)
            self._cv.notify()

    def forget_adapter(self, content_hash: str) -> None:
        """Frees the LoRA slot holding this adapter once no running request uses it."""
        with self._cv:
            self._forget.add(content_hash)
            self._cv.notify()

    def resident_adapters(self) -> set[str]:
        """Content hashes of the adapters now in LoRA slots."""
        return {a for a in list(self._slot_adapter) if a is not None}

    def stop_accepting(self) -> None:
        with self._cv:
            self._accepting = False

    def stop(self) -> None:
        """Cancels everything still queued or running and stops the loop thread."""
        with self._cv:
            self._accepting = False
            self._stopping = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join()
        for seq in [*self._inbox, *self._waiting, *self._running]:
            if seq.status is not SequenceStatus.FINISHED:
                self._finish(seq, StopReason.CANCELLED)

    def generate(self, request: GenerationRequest, timeout: float | None = None) -> tuple[str, list[int], Finished]:
        """Blocking convenience for warm-up, tests and benchmarks: the whole text and its end."""
        done = threading.Event()
        parts: list[str] = []
        tokens: list[int] = []
        result: list[Finished] = []

        def sink(event: GenerationEvent) -> None:
            parts.append(event.text)
            tokens.extend(event.token_ids)
            if event.finished is not None:
                result.append(event.finished)
                done.set()

        seq_id = self.submit(request, sink)
        if not done.wait(timeout):
            self.cancel(seq_id)
            done.wait()
        return "".join(parts), tokens, result[0]

    # -- engine thread ----------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            self._setup()
        except BaseException as exc:
            failure.append(exc)
            return
        finally:
            ready.set()
        self._loop()

    def _setup(self) -> None:
        # Built here, not in __init__: every torch op runs on this one thread. A second thread
        # with its own OpenMP team makes libgomp throttle spin-waiting on small machines, and
        # each parallel op then pays a wake-up (decode twice as slow on 2 cores).
        model_config = self.base.config
        head_dim = getattr(model_config, "head_dim", None) or model_config.hidden_size // model_config.num_attention_heads
        self.cache = PagedKVCache(
            num_layers=model_config.num_hidden_layers,
            num_blocks=self.config.num_blocks,
            block_size=self.config.block_size,
            kv_heads=model_config.num_key_value_heads,
            head_dim=head_dim,
            dtype=self.base.dtype,
            device=self.base.device,
        )
        self.runner = ModelRunner(self.base, self.cache, self.config.max_model_len)
        if self.config.max_loras:
            self.lora = LoraTables(BaseSpec.from_base(self.base), self.config.max_loras, self.config.max_lora_rank, self.base.device)
            self.runner.lora = self.lora

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not (self._inbox or self._cancelled or self._forget or self._waiting or self._running or self._stopping):
                    self._cv.wait()
                if self._stopping:
                    return
                inbox, self._inbox = self._inbox, []
                cancelled, self._cancelled = self._cancelled, set()
                forget, self._forget = self._forget, set()
            self._waiting.extend(inbox)
            self._free_slots(forget)
            try:
                self._iterate(cancelled)
            except Exception as exc:  # the loop must outlive any one step
                log.exception("engine iteration failed; failing the running requests")
                for seq in [*self._running]:
                    self._finish(seq, StopReason.CANCELLED, error=exc)

    def _iterate(self, cancelled: set[int]) -> None:
        self._drop_ended(cancelled, time.monotonic())
        waiting = []
        for s in self._waiting:
            # the cached prefix it would reuse; at least one prompt token is always computed
            cap = (s.num_prompt - 1) // self.config.block_size
            s.cache_match = self.allocator.lookup(s.block_hashes[:cap]) if s.block_hashes else []
            held = sum(1 for block in s.cache_match if self.allocator.refs(block))  # not taken from the free pool
            cached = len(s.cache_match) * self.config.block_size
            waiting.append(WaitingView(s.seq_id, s.pending_tokens - cached, s.reserved_blocks(self.config.block_size) - held, s.adapter_hash))
        plan = plan_step(
            [RunningView(s.seq_id, s.pending_tokens) for s in self._running],
            waiting,
            Budget(self.config.max_batch_size, self.config.max_batch_tokens, self._unreserved_blocks()),
            self._slot_planner(),
        )
        if plan.empty:
            with self._cv:  # nothing fits yet; look again soon for deadlines and frees
                self._cv.wait(timeout=0.05)
            return
        self._step(plan)

    def _slot_planner(self) -> SlotPlanner | None:
        if self.lora is None:
            return None
        return SlotPlanner(
            [
                SlotView(slot, self._slot_adapter[slot], self._slot_busy[slot] > 0, self._slot_last_used[slot])
                for slot in range(1, self.config.max_loras + 1)
            ]
        )

    def _free_slots(self, adapters: set[str]) -> None:
        for slot, held in enumerate(self._slot_adapter):
            if held in adapters and not self._slot_busy[slot]:
                self._slot_adapter[slot] = None

    def _unreserved_blocks(self) -> int:
        outstanding = sum(s.reserved_blocks(self.config.block_size) - len(s.blocks) for s in self._running)
        return self.allocator.num_free - outstanding

    def _drop_ended(self, cancelled: set[int], now: float) -> None:
        for seq in [*self._waiting, *self._running]:
            request = seq.request
            if seq.seq_id in cancelled:
                self._finish(seq, StopReason.CANCELLED)
            elif request.time_limit_at is not None and now >= request.time_limit_at:
                self._finish(seq, StopReason.TIME_LIMIT)
            elif request.deadline_at is not None and now >= request.deadline_at:
                self._finish(seq, StopReason.CANCELLED)

    def _finish(self, seq: Sequence, reason: StopReason, error: BaseException | None = None) -> None:
        if seq.status is SequenceStatus.WAITING:
            if seq in self._waiting:
                self._waiting.remove(seq)
            with self._cv:
                self._queued -= 1
        elif seq.status is SequenceStatus.RUNNING:
            self._running.remove(seq)
            self.allocator.free(seq.blocks)
            seq.blocks = []
            self._slot_busy[seq.slot] -= 1
        try:
            seq.finish(reason, error, record=self.metrics.finished)
        except Exception:  # a broken sink must not take the engine down
            log.exception("delivering the end of a request failed", extra={"request_id": seq.request.request_id})

    def _admit(self, plan: StepPlan) -> None:
        now = time.monotonic()
        admitted = [self._waiting.popleft() for _ in plan.admitted]
        assert [s.seq_id for s in admitted] == list(plan.admitted), "the scheduler admits in queue order"
        self._fill_slots(plan, admitted)
        for seq in admitted:
            self._take_cached_prefix(seq)
            seq.status = SequenceStatus.RUNNING
            seq.admitted_at = now
            if seq.adapter_hash is not None:
                seq.slot = self._slot_adapter.index(seq.adapter_hash)
            self._slot_busy[seq.slot] += 1
            self._running.append(seq)
            self.metrics.admitted(now - seq.request.arrival)
        with self._cv:
            self._queued -= len(plan.admitted)

    def _take_cached_prefix(self, seq: Sequence) -> None:
        """Starts a sequence on the KV of its cached prompt prefix instead of recomputing it."""
        match = seq.cache_match
        if match:
            self.allocator.acquire(match)
            seq.blocks = list(match)
            seq.slots = block_slots(match, self.config.block_size, self.base.device)
            seq.num_computed = seq.cached_prompt_tokens = len(match) * self.config.block_size
            seq.registered_blocks = len(match)
        if seq.block_hashes:
            self.metrics.prefix_cache(seq.cached_prompt_tokens, seq.num_prompt - seq.cached_prompt_tokens, self.allocator.num_cached)

    def _register_prefix(self, seq: Sequence) -> None:
        """Makes the sequence's computed full prompt blocks available to later requests."""
        done = min(seq.num_computed, seq.num_prompt) // self.config.block_size
        for i in range(seq.registered_blocks, min(done, len(seq.block_hashes))):
            self.allocator.register(seq.blocks[i], seq.block_hashes[i])
        seq.registered_blocks = max(seq.registered_blocks, done)

    def _fill_slots(self, plan: StepPlan, admitted: list[Sequence]) -> None:
        """Copies the adapters the plan brings in into their LoRA slots (engine thread only)."""
        if not plan.slot_claims:
            return
        assert self.lora is not None
        adapters = {s.adapter_hash: s.request.adapter for s in admitted if s.adapter_hash is not None}
        for claim in plan.slot_claims:
            self.lora.write(claim.slot, adapters[claim.adapter])
            self._slot_adapter[claim.slot] = claim.adapter
        self.metrics.slots_filled(len(plan.slot_claims), sum(1 for c in plan.slot_claims if c.evicted))

    def _ensure_blocks(self, seq: Sequence, n: int) -> None:
        """KV slots for the `n` tokens a step computes for `seq` (continuations included)."""
        tokens = min(seq.num_computed + n, seq.num_prompt) if seq.scoring else seq.num_computed + n
        missing = blocks_for(tokens, self.config.block_size) - len(seq.blocks)
        if missing > 0:
            new = self.allocator.allocate(missing)
            seq.blocks.extend(new)
            seq.slots = torch.cat([seq.slots, block_slots(new, self.config.block_size, self.base.device)])
        if seq.scoring and not seq.branch_slots and seq.num_computed + n > seq.num_prompt:
            lengths = [len(b) for b in seq.branches]
            new = self.allocator.allocate(blocks_for(sum(lengths), self.config.block_size))
            seq.blocks.extend(new)
            seq.branch_slots = list(block_slots(new, self.config.block_size, self.base.device)[: sum(lengths)].split(lengths))

    def _step(self, plan: StepPlan) -> None:
        self._admit(plan)
        by_id = {s.seq_id: s for s in self._running}
        chunks = [(by_id[seq_id], n) for seq_id, n in plan.chunks]
        chunks = [(seq, scoring_take(seq, n) if seq.scoring else n) for seq, n in chunks]
        try:
            for seq, n in chunks:
                self._ensure_blocks(seq, n)
            batch, pieces, uses = build_step_batch(chunks, self.base.device)
            batch.lora = self._routing(batch, pieces)
            with torch.inference_mode():
                logits = self.runner.forward(batch)
                sampled = [i for i, use in enumerate(uses) if use.purpose[0] == "sample"]
                to_sample = [uses[i].seq for i in sampled]
                tokens = sample_next_tokens(logits[sampled], [s.sampling for s in to_sample], self.end_token_ids) if sampled else []
                self._score(logits, uses)
        except Exception as exc:
            log.exception("engine step failed; failing its requests", extra={"requests": [s.request.request_id for s, _ in chunks]})
            for seq, _ in chunks:
                self._finish(seq, StopReason.CANCELLED, error=exc)
            return
        self.steps += 1
        for seq, n in chunks:
            branches = seq.scoring and seq.num_computed + n > seq.num_prompt
            seq.num_computed = min(seq.num_computed + n, seq.num_prompt) if seq.scoring else seq.num_computed + n
            self._slot_last_used[seq.slot] = self.steps
            if seq.block_hashes:
                self._register_prefix(seq)
            if branches:
                seq.branches_done = True
                finite = all(math.isfinite(score) for score in seq.branch_logprobs)
                self._finish(seq, StopReason.END_OF_SEQUENCE, error=None if finite else self._non_finite(seq))
        for seq, token in zip(to_sample, tokens, strict=True):
            if token is None:
                self._finish(seq, StopReason.CANCELLED, error=self._non_finite(seq))
                continue
            previous = seq.last_token_at
            reason = seq.add_token(token, self.end_token_ids, self.config.max_model_len)
            assert seq.last_token_at is not None
            if previous is None:
                self.metrics.token_latency(True, seq.last_token_at - seq.request.arrival)
            else:
                self.metrics.token_latency(False, seq.last_token_at - previous)
            if reason is not None:
                self._finish(seq, reason)
        self.metrics.step(
            sequences=len(chunks),
            tokens=int(batch.input_ids.shape[0]),
            running=len(self._running),
            waiting=self._queued,
            kv_blocks_used=self.config.num_blocks - self.allocator.num_free,
        )

    @staticmethod
    def _non_finite(seq: Sequence) -> NonFiniteOutput:
        adapter = seq.request.adapter
        what = f"adapter {adapter.label}" if adapter is not None else "the base model"
        hint = "; the adapter's weights are likely broken, try another version" if adapter is not None else ""
        log.error("non-finite model output", extra={"request_id": seq.request.request_id, "adapter": what})
        return NonFiniteOutput(f"the output of {what} for this request became NaN or infinite after {seq.generated} tokens{hint}")

    @staticmethod
    def _score(logits: torch.Tensor, uses: list[RowUse]) -> None:
        """Adds each scoring row's log-probability of the continuation token that follows it."""
        rows = [i for i, use in enumerate(uses) if use.purpose[0] != "sample"]
        if not rows:
            return
        logprobs = logits[rows].log_softmax(-1)
        for k, i in enumerate(rows):
            seq, purpose = uses[i].seq, uses[i].purpose
            if purpose[0] == "first":
                for b, branch in enumerate(seq.branches):
                    seq.branch_logprobs[b] += float(logprobs[k, branch[0]])
            else:
                _, b, j = purpose
                seq.branch_logprobs[b] += float(logprobs[k, seq.branches[b][j + 1]])

    def _routing(self, batch: StepBatch, pieces: list[Piece]) -> Any:
        if self.lora is None:
            return None
        decode = [piece.seq.slot for piece in pieces[: batch.num_decode]]
        prefill = [(span.start, span.length, piece.seq.slot) for piece, span in zip(pieces[batch.num_decode :], batch.prefills, strict=True)]
        return self.lora.route(decode, prefill)
