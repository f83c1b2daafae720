"""The serving engine: one thread that runs the continuous-batching loop.

Callers on any thread `submit` validated requests with a sink for their events; the loop admits
them at the next step (policy in server.engine.scheduler) and runs each step in four phases:
`_prepare` (allocate KV blocks, build the flattened batch, route LoRA rows), `_run` (the model
step, server.engine.model_runner), `_advance` (sample next tokens, score continuations, move every
sequence forward) and `_deliver` (stream new text, finish what ended, record metrics).
Finished and cancelled requests leave the batch at once and give back their KV blocks.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import torch

from common.base_model import BaseModel
from common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidRequest,
    NonFiniteOutput,
    ResourceExhausted,
    Unavailable,
)
from server.adapters.loader import BaseSpec, LoadedAdapter
from server.adapters.lora import LoraRouting, LoraTables
from server.adapters.slots import LoraSlots
from server.engine.background_work import lower_thread_priority, quick_gil_handoffs
from server.engine.batch_builder import build_step_batch
from server.engine.config import EngineConfig, EngineMetrics, NullMetrics
from server.engine.cuda_graph import CudaDecodeGraph, DecodeRow, compilable
from server.engine.decode_graph import DecodeGraph, decode_accepts, unavailable_reason
from server.engine.kernels.build import choose as choose_kernels
from server.engine.kernels.lora_add import LoraKernel
from server.engine.kv_cache import BlockAllocator, PagedKVCache, block_slots, blocks_for, prefix_block_hashes
from server.engine.logprobs import StepLogprobs, TokenLogprob
from server.engine.model_runner import ModelRunner, StepBatch, long_rope_rows
from server.engine.pieces import Piece, RowUse
from server.engine.request import EventSink, Finished, GenerationEvent, GenerationRequest, StopReason
from server.engine.sampling import sample_next_tokens
from server.engine.scheduler import Budget, RunningView, StepPlan, WaitingView, plan_step
from server.engine.scoring import Scoring, add_scores
from server.engine.sequence import Sequence, SequenceStatus

log = logging.getLogger(__name__)

__all__ = ["Engine", "EngineConfig"]


@dataclass
class Step:
    """One step's work: the chunks it computes and the batch built from them."""

    chunks: list[tuple[Sequence, int]]  # (sequence, tokens computed this step)
    batch: StepBatch | None  # None where the step runs on the CUDA decode graph (`graph_rows`)
    pieces: list[Piece]  # in batch row order
    uses: list[RowUse]  # who each logits row is for
    tokens: int  # tokens computed
    graph_rows: list[DecodeRow] | None = None


class CompilePrelude(Protocol):
    """Work done on the background compile thread before the decode step compiles."""

    def run(self) -> None:
        """Does the work; logs, never raises, where it fails."""

    def cancel(self) -> None:
        """Stops the work early (the engine is stopping); callable from any thread."""


class Engine:
    """Continuous batching over one base model; thread-safe `submit` and `cancel`."""

    def __init__(self, base: BaseModel, config: EngineConfig, metrics: EngineMetrics | None = None) -> None:
        self.base = base
        self.config = config
        self.metrics: EngineMetrics = metrics or NullMetrics()
        self.end_token_ids = base.eos_token_ids
        self.allocator = BlockAllocator(config.num_blocks, config.prefix_cache_blocks)
        self.base_namespace = base.fingerprint.encode()
        self.long_rope_rows = long_rope_rows(base.shape, config.max_model_len)
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
        self.decode_graph: DecodeGraph | None = None
        self.cuda_graph: CudaDecodeGraph | None = None
        # Stream a step's text while the GPU computes the next one (see `_iterate`); on where the
        # model step runs asynchronously to this thread (CUDA), where it would only add a step of
        # delay to stop strings elsewhere
        self.defer_streaming = False
        self._unstreamed: list[Sequence] = []  # sampled tokens whose text is not streamed yet
        self.decode_step = "eager (compile_decode is off)"  # how decode steps run, for ModelInfo and the log
        self.kernels = ""  # which kernels the model step runs, and why (server.engine.kernels)
        self._compiler: threading.Thread | None = None  # the background compile of the decode step
        self._described = threading.Lock()
        # told the new description when a background compile ends (the model-info metric)
        self.on_decode_step: Callable[[str], None] | None = None
        # run on the compile thread before a background compile (server.compile_cache_child fills the caches)
        self.compile_prelude: CompilePrelude | None = None
        # the adapter manager talks to the slots (server.adapters.slots.SlotHolder), never to the engine
        self.slots = LoraSlots(config.max_loras, wake=self._wake) if config.max_loras else None

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

    def adapters_in_use(self) -> tuple[set[str], set[str]]:
        """Adapters (name@version) of the running batch's requests, and of those waiting to join
        it. Read from any thread (a scrape) as a snapshot: the lists are copied before reading."""
        with self._cv:
            inbox = list(self._inbox)

        def labels(sequences: Iterable[Sequence]) -> set[str]:
            for _ in range(3):  # the engine thread may change the collection while it is copied
                try:
                    return {seq.request.adapter.label for seq in list(sequences) if seq.request.adapter is not None}
                except RuntimeError:
                    continue
            return set()

        return labels(self._running), labels(inbox) | labels(self._waiting)

    def start(self) -> None:
        """Starts the engine thread and returns once its KV cache and model step are built."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run_thread, args=(ready, failure), name="tuneserve-engine", daemon=True)
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
        if request.adapter is not None and self.slots is None:
            raise FailedPrecondition("this server has no LoRA slots (max_loras=0 or no adapter store)")
        seq = Sequence(next(self._ids), request, sink, self.base.tokenizer, self.base.device, self.config.block_size)
        long_from = self.base.shape.long_rope_from
        if self.long_rope_rows is not None and long_from is not None:
            if seq.num_prompt + max(map(len, request.branches), default=0) > long_from:
                # a scoring request is one forward pass over its prompt and continuations: when its
                # longest continuation passes the window, all of it is rotated by the long factors
                seq.rope_offset = self.long_rope_rows
            elif seq.scoring is None and seq.num_prompt + request.params.max_new_tokens > long_from:
                seq.rope_switch_at = long_from
        if self.config.prefix_cache_blocks and seq.rope_switch_at is None:  # a switch rewrites its blocks in place
            namespace = self.base_namespace if seq.adapter_hash is None else seq.adapter_hash.encode()
            if seq.rope_offset:  # its keys are rotated otherwise than the same prefix's in a shorter prompt
                namespace += b"/long-rope"
            seq.block_hashes = prefix_block_hashes(request.prompt_ids, self.config.block_size, namespace)
        return seq

    def cancel(self, seq_id: int) -> None:
        """Stops a request wherever it is; its blocks are freed at the next step."""
        with self._cv:
            self._cancelled.add(seq_id)
            self._cv.notify()

    def resident_adapters(self) -> set[str]:
        """Content hashes of the adapters now in LoRA slots."""
        return self.slots.resident_adapters() if self.slots is not None else set()

    def stop_accepting(self) -> None:
        with self._cv:
            self._accepting = False

    def stop(self) -> None:
        """Cancels everything still queued or running and stops the loop thread."""
        with self._cv:
            self._accepting = False
            self._stopping = True
            self._cv.notify()
        if self.compile_prelude is not None:
            self.compile_prelude.cancel()
        if self._thread is not None:
            self._thread.join()
        self._stream_behind()
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

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify()

    # -- engine thread: the loop ------------------------------------------------------------

    def _run_thread(self, ready: threading.Event, failure: list[BaseException]) -> None:
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
        shape = self.base.shape
        self.cache = PagedKVCache(
            num_layers=shape.layers,
            num_blocks=self.config.num_blocks,
            block_size=self.config.block_size,
            kv_heads=shape.kv_heads,
            head_dim=shape.head_dim,
            dtype=self.base.precision.kv_cache_dtype,
            device=self.base.device,
        )
        use_kernels, self.kernels = choose_kernels(self.config.cpu_kernels, self.base.device)
        log.info("model step kernels chosen", extra={"kernels": "tuneserve" if use_kernels else "aten", "reason": self.kernels})
        self.runner = ModelRunner(self.base, self.cache, self.config.max_model_len, use_kernels)
        if self.slots is not None:
            kernel = LoraKernel() if use_kernels else None
            self.slots.tables = LoraTables(
                BaseSpec.from_base(self.base),
                self.config.max_loras,
                self.config.max_lora_rank,
                self.base.device,
                kernel,
                dense=self.base.device.type == "cuda",
            )
            self.runner.lora = self.slots.tables
        if self.config.compile_decode != "off" and self.base.device.type == "cuda":
            self._capture_decode(self.config.compile_decode == "on")
        elif self.config.compile_decode != "off":
            self._compile_decode(self.config.compile_decode == "on")
        self.defer_streaming = self.base.device.type == "cuda"
        self._describe_decode_step(self.decode_step)
        if self._compiler is not None:  # after the description above, which its own must follow
            self._compiler.start()

    def _describe_decode_step(self, how: str) -> None:
        with self._described:  # the start and a background compile may both describe it
            self.decode_step = f"{how}; {self.kernels}"
            if self.on_decode_step is not None:
                self.on_decode_step(self.decode_step)

    def _compile_decode(self, required: bool) -> None:
        """Builds and warms up the decode graph; without it (where it cannot be built) steps run eagerly.

        'auto' compiles on a thread of its own while the eager path serves: on two cores the first
        compile takes minutes, and a replica the autoscaler adds is needed now, not once its graphs
        are built. The warm-up writes only to the cache's padding block, which no sequence holds, and
        the engine takes the graph for its next decode step once every bucket is compiled. 'on'
        compiles before the engine starts, so a failure stops the start as promised."""
        reason = unavailable_reason(self.runner)
        if reason is not None:
            if required:
                raise FailedPrecondition(f"compile_decode is 'on' but {reason}")
            self.decode_step = f"eager: {reason}"
            return
        graph = DecodeGraph(self.runner)
        if required:
            self.decode_step = self._warm_graph(graph)
            if self.decode_graph is None:
                raise FailedPrecondition(f"compile_decode is 'on' but {self.decode_step.removeprefix('eager: ')}")
            return
        self.decode_step = "eager while the decode step compiles in the background"  # described by start()
        self._compiler = threading.Thread(target=self._compile_in_background, args=(graph,), name="tuneserve-decode-compile", daemon=True)

    def _compile_in_background(self, graph: DecodeGraph) -> None:
        lower_thread_priority()
        if self.compile_prelude is not None:
            self.compile_prelude.run()  # its failure costs only its head start: the compile below does all
        if self._stopping:
            return
        with quick_gil_handoffs():  # tracing holds the GIL: the eager step must get it back quickly
            self._describe_decode_step(self._warm_graph(graph))

    def _warm_graph(self, graph: DecodeGraph) -> str:
        """Compiles every bucket of `graph` and hands it to the engine; how decode steps run now
        ("eager: <reason>" where compiling failed)."""
        try:
            compiled = graph.warm_up()
        except Exception as exc:  # a compiler failure costs speed, never the server
            reason = f"compiling the decode step failed: {type(exc).__name__}: {str(exc)[:300]}"
            log.warning("decoding eagerly", extra={"reason": reason})
            return f"eager: {reason}"
        self.decode_graph = graph  # one reference swap: the engine thread's next decode step takes it
        log.info("decode step compiled", extra={"seconds": round(compiled.seconds, 1), "row_buckets": compiled.buckets})
        return compiled.describe()

    def wait_compiled(self, timeout: float | None = None) -> None:
        """Blocks until a background compile of the decode step (if any) has finished or failed."""
        if self._compiler is not None:
            self._compiler.join(timeout)

    def _capture_decode(self, required: bool) -> None:
        """Builds the CUDA decode graphs; without them (where capturing fails) steps run eagerly."""
        pieces = self.config.cuda_graph_pieces if compilable(self.runner) else "eager"
        graph = CudaDecodeGraph(
            self.runner, self.config.max_batch_size, self.config.max_model_len, self.slots.tables if self.slots else None, pieces
        )
        try:
            captured = graph.warm_up()
        except Exception as exc:  # a failed capture costs speed, never the server
            reason = f"capturing the CUDA decode graphs failed: {type(exc).__name__}: {str(exc)[:300]}"
            log.warning("decoding eagerly", extra={"reason": reason})
            if required:
                raise FailedPrecondition(f"compile_decode is 'on' but {reason}") from exc
            self.decode_step = f"eager: {reason}"
            return
        self.cuda_graph = graph
        self.decode_step = captured.describe()
        log.info(
            "decode graphs captured", extra={"seconds": round(captured.seconds, 1), "graphs": captured.graphs, "pieces": captured.pieces}
        )

    def _loop(self) -> None:
        while True:
            with self._cv:
                forgotten = self.slots is not None and self.slots.has_forgotten
                while not (self._inbox or self._cancelled or forgotten or self._waiting or self._running or self._stopping):
                    self._cv.wait()
                    forgotten = self.slots is not None and self.slots.has_forgotten
                if self._stopping:
                    return
                inbox, self._inbox = self._inbox, []
                cancelled, self._cancelled = self._cancelled, set()
            self._waiting.extend(inbox)
            if self.slots is not None:
                self.slots.free_forgotten()
            try:
                self._iterate(cancelled)
            except Exception as exc:  # the loop must outlive any one step
                log.exception("engine iteration failed; failing the running requests")
                for seq in [*self._running]:
                    self._finish(seq, StopReason.CANCELLED, error=exc)

    def _iterate(self, cancelled: set[int]) -> None:
        self._drop_ended(cancelled, time.monotonic())
        self._switch_long_rope()
        plan = plan_step(
            [RunningView(s.seq_id, s.pending_tokens) for s in self._running],
            [self._waiting_view(s) for s in self._waiting],
            Budget(self.config.max_batch_size, self.config.max_batch_tokens, self._unreserved_blocks()),
            self.slots.planner() if self.slots is not None else None,
        )
        if plan.empty:
            self._stream_behind()
            with self._cv:  # nothing fits yet; look again soon for deadlines and frees
                self._cv.wait(timeout=0.05)
            return
        chunks = self._admit(plan)
        try:
            step = self._prepare(chunks)
            logits = self._run(step)
            # the GPU computes this step while the last one's text is made and streamed; a stop
            # string found there ends its request, and this step's token for it is dropped
            self._stream_behind()
            sampled = self._advance(step, logits)
        except Exception as exc:
            log.exception("engine step failed; failing its requests", extra={"requests": [s.request.request_id for s, _ in chunks]})
            self._stream_behind()
            for seq, _ in chunks:
                self._finish(seq, StopReason.CANCELLED, error=exc)
            return
        self._deliver(step, sampled)

    def _switch_long_rope(self) -> None:
        """A sequence whose prompt fit LongRoPE's original window and whose next token lies past it
        is computed again from its first position by the long factors, as transformers' Phi-3 does
        there (it drops its cache once). Its blocks are its own (it takes no part in the prefix
        cache), so the recomputation overwrites them in place."""
        if self.long_rope_rows is None:  # every step of every other model: nothing to look at
            return
        for seq in self._running:
            if seq.rope_switch_at is not None and seq.num_computed == seq.rope_switch_at and seq.pending_tokens == 1:
                seq.rope_switch_at, seq.rope_offset, seq.num_computed = None, self.long_rope_rows, 0

    def _waiting_view(self, seq: Sequence) -> WaitingView:
        # the cached prefix it would reuse; at least one prompt token is always computed
        cap = (seq.num_prompt - 1) // self.config.block_size
        # echo computes every prompt token's logits, so it reuses no cached prefix (it still leaves one)
        reuse = seq.block_hashes and seq.prompt_logprobs is None
        seq.cache_match = self.allocator.lookup(seq.block_hashes[:cap]) if reuse else []
        held = sum(1 for block in seq.cache_match if self.allocator.refs(block))  # not taken from the free pool
        cached = len(seq.cache_match) * self.config.block_size
        return WaitingView(seq.seq_id, seq.pending_tokens - cached, seq.reserved_blocks(self.config.block_size) - held, seq.adapter_hash)

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
                # an error, not an answer: the caller may still be listening for a moment, and a
                # partial text must not reach it as if the generation had ended
                late = DeadlineExceeded(f"the deadline passed after {seq.generated} generated tokens")
                self._finish(seq, StopReason.CANCELLED, error=late)

    def _finish(self, seq: Sequence, reason: StopReason, error: BaseException | None = None) -> None:
        if seq.status is SequenceStatus.WAITING:
            if seq in self._waiting:
                self._waiting.remove(seq)
            with self._cv:
                self._queued -= 1
        elif seq.status is SequenceStatus.RUNNING:
            self._running.remove(seq)
            self.allocator.free(seq.release_blocks())
            if self.slots is not None:
                self.slots.release(seq.lora_slot)
        try:
            seq.finish(reason, error, record=self.metrics.finished)
        except Exception:  # a broken sink must not take the engine down
            log.exception("delivering the end of a request failed", extra={"request_id": seq.request.request_id})

    # -- engine thread: the phases of a step ------------------------------------------------

    def _prepare(self, chunks: list[tuple[Sequence, int]]) -> Step:
        """Gives every chunk its KV blocks and builds the flattened batch with its LoRA routing
        (or, for the CUDA decode graph, just its rows)."""
        for seq, n in chunks:
            self._ensure_blocks(seq, n)
        rows = self._graph_rows(chunks)
        if rows is not None:
            return Step(chunks, None, [], [RowUse(seq, ("sample",)) for seq, _ in chunks], len(chunks), rows)
        batch, pieces, uses = build_step_batch(chunks, self.base.device)
        batch.lora = self._routing(batch, pieces)
        return Step(chunks, batch, pieces, uses, int(batch.input_ids.shape[0]))

    def _graph_rows(self, chunks: list[tuple[Sequence, int]]) -> list[DecodeRow] | None:
        """The step's rows for the CUDA decode graph, where it takes them: every chunk one token
        that samples the next (no prompt, no scoring)."""
        graph = self.cuda_graph
        if graph is None or len(chunks) > graph.max_rows:
            return None
        rows = []
        for seq, n in chunks:  # LongRoPE's long rows included, by their positions (decode_graph.decode_accepts)
            if n != 1 or seq.scoring is not None or seq.num_computed + 1 != len(seq.token_ids):
                return None
            rows.append(DecodeRow(seq.token_ids[-1], seq.num_computed, seq.lora_slot, seq.context_blocks))
        return rows if graph.accepts(rows) else None

    def _run(self, step: Step) -> torch.Tensor:
        """The model step: next-token logits of the rows that want them, [N, vocab]."""
        if step.graph_rows is not None:
            assert self.cuda_graph is not None
            return self.cuda_graph(step.graph_rows)
        assert step.batch is not None, "a step runs either on the graph or as a batch"
        with torch.inference_mode():
            batch = step.batch
            if self.decode_graph is not None and decode_accepts(batch, self.decode_graph.takes_lora):
                return self.decode_graph(batch)
            return self.runner.forward(batch)

    def _advance(self, step: Step, logits: torch.Tensor) -> list[tuple[Sequence, int | None, TokenLogprob | None]]:
        """Samples the rows that generate and scores the rows that score; moves every sequence forward.

        Returns each generating sequence with its next token (None: its logits were unusable) and,
        where it asked, the token's log-probability."""
        sample_rows = [i for i, use in enumerate(step.uses) if use.purpose[0] == "sample"]
        prompt_rows = [i for i, use in enumerate(step.uses) if use.purpose[0] == "prompt"]
        score_rows = [i for i, use in enumerate(step.uses) if use.purpose[0] in ("first", "branch")]
        generating = [step.uses[i].seq for i in sample_rows]
        with torch.inference_mode():
            tokens: list[int | None] = []
            logprobs: list[TokenLogprob | None] = [None] * len(generating)
            if prompt_rows:
                self._add_prompt_logprobs(logits, [step.uses[i] for i in prompt_rows], prompt_rows)
            if sample_rows:
                # every row samples in a plain decode step: its logits go as they are, not copied by an index
                sampling = logits if len(sample_rows) == len(step.uses) else logits[sample_rows]
                asking = [j for j, seq in enumerate(generating) if seq.request.params.logprobs]
                # read before sampling, which changes the logits in place
                before = StepLogprobs(sampling, asking, [generating[j].request.params.top_logprobs for j in asking]) if asking else None
                tokens = sample_next_tokens(sampling, [s.sampling for s in generating], self.end_token_ids)
                if before is not None:
                    for j, logprob in zip(asking, before.of([tokens[j] for j in asking]), strict=True):
                        logprobs[j] = logprob
            if score_rows:
                add_scores(logits[score_rows], [(self._scoring_of(step.uses[i]), step.uses[i].purpose) for i in score_rows])
        self.steps += 1
        for seq, n in step.chunks:
            if seq.status is not SequenceStatus.RUNNING:  # ended by a stop string streamed meanwhile
                continue
            seq.advance(n)
            if self.slots is not None:
                self.slots.touch(seq.lora_slot, self.steps)
            if seq.block_hashes:
                self._register_prefix(seq)
        return list(zip(generating, tokens, logprobs, strict=True))

    @staticmethod
    def _add_prompt_logprobs(logits: torch.Tensor, uses: list[RowUse], rows: list[int]) -> None:
        """Each prompt row's log-probability of the prompt token after it (echo)."""
        positions = [int(use.purpose[-1]) for use in uses]  # ("prompt", p)
        tokens: list[int | None] = [use.seq.token_ids[p + 1] for use, p in zip(uses, positions, strict=True)]
        computed = StepLogprobs(logits, rows, [use.seq.request.params.top_logprobs for use in uses]).of(tokens)
        for use, position, logprob in zip(uses, positions, computed, strict=True):
            assert logprob is not None
            use.seq.add_prompt_logprob(position + 1, logprob)

    def _deliver(self, step: Step, sampled: list[tuple[Sequence, int | None, TokenLogprob | None]]) -> None:
        """Ends scoring requests that are done, streams new tokens, finishes what ended, records the step."""
        for seq, _ in step.chunks:
            if seq.scoring is not None and seq.scoring.done:
                error = None if seq.scoring.finite else self._non_finite(seq)
                self._finish(seq, StopReason.END_OF_SEQUENCE, error=error)
        for seq, token, logprob in sampled:
            if seq.status is not SequenceStatus.RUNNING:  # ended by a stop string streamed meanwhile
                continue
            if token is None:
                if self._grammar_failed(seq):
                    self._finish(seq, StopReason.UNFINISHED_STRUCTURE)
                else:
                    self._finish(seq, StopReason.CANCELLED, error=self._non_finite(seq))
                continue
            previous = seq.last_token_at
            ending = seq.accept_token(token, self.end_token_ids, self.config.max_model_len, logprob)
            assert seq.last_token_at is not None
            if previous is None:
                self.metrics.token_latency(True, seq.last_token_at - seq.request.arrival)
            else:
                self.metrics.token_latency(False, seq.last_token_at - previous)
            if ending is None and self.defer_streaming:
                self._unstreamed.append(seq)
                continue
            reason = seq.stream_pending(ending)
            if reason is not None:
                self._finish(seq, reason)
        self.metrics.step(sequences=len(step.chunks), tokens=step.tokens)

    def _stream_behind(self) -> None:
        """Streams the text of tokens the last step sampled, ending requests at their stop strings."""
        unstreamed, self._unstreamed = self._unstreamed, []
        for seq in unstreamed:
            if seq.status is not SequenceStatus.RUNNING:
                continue
            reason = seq.stream_pending(None)
            if reason is not None:
                self._finish(seq, reason)

    # -- engine thread: helpers of the phases -----------------------------------------------

    def _admit(self, plan: StepPlan) -> list[tuple[Sequence, int]]:
        """Moves the plan's newcomers into the running batch; returns the step's chunks."""
        now = time.monotonic()
        admitted = [self._waiting.popleft() for _ in plan.admitted]
        assert [s.seq_id for s in admitted] == list(plan.admitted), "the scheduler admits in queue order"
        if plan.slot_claims:
            assert self.slots is not None
            adapters: dict[str, LoadedAdapter] = {
                s.adapter_hash: s.request.adapter for s in admitted if s.adapter_hash and s.request.adapter
            }
            self.slots.fill(plan.slot_claims, adapters)
            self.metrics.slots_filled(len(plan.slot_claims), sum(1 for c in plan.slot_claims if c.evicted))
        for seq in admitted:
            self._take_cached_prefix(seq)
            lora_slot = self.slots.slot_of(seq.adapter_hash) if self.slots is not None else 0
            seq.admit(now, lora_slot)
            if self.slots is not None:
                self.slots.hold(lora_slot)
            self._running.append(seq)
            self.metrics.admitted(now - seq.request.arrival)
        with self._cv:
            self._queued -= len(plan.admitted)
        by_id = {s.seq_id: s for s in self._running}
        return [(by_id[seq_id], by_id[seq_id].take(n)) for seq_id, n in plan.chunks]

    def _take_cached_prefix(self, seq: Sequence) -> None:
        """Starts a sequence on the KV of its cached prompt prefix instead of recomputing it."""
        match = seq.cache_match
        if match:
            self.allocator.acquire(match)
            seq.adopt_cached_prefix(match, len(match) * self.config.block_size)
        if seq.block_hashes:
            self.metrics.prefix_cache(seq.cached_prompt_tokens, seq.num_prompt - seq.cached_prompt_tokens, self.allocator.num_cached)

    def _register_prefix(self, seq: Sequence) -> None:
        """Makes the sequence's computed full prompt blocks available to later requests."""
        done = min(seq.num_computed, seq.num_prompt) // self.config.block_size
        for i in range(seq.registered_blocks, min(done, len(seq.block_hashes))):
            self.allocator.register(seq.blocks[i], seq.block_hashes[i])
        seq.registered_blocks = max(seq.registered_blocks, done)

    def _ensure_blocks(self, seq: Sequence, n: int) -> None:
        """KV slots for the `n` tokens a step computes for `seq` (continuations included)."""
        block_size, device = self.config.block_size, self.base.device
        missing = blocks_for(seq.kv_positions_after(n), block_size) - len(seq.blocks)
        if missing > 0:
            new = self.allocator.allocate(missing)
            seq.add_blocks(new)
        if seq.scoring is not None and seq.scoring.wants_kv(seq.reaches_continuations(n)):
            new = self.allocator.allocate(blocks_for(seq.scoring.tokens, block_size))
            seq.blocks.extend(new)  # freed with the sequence's own
            seq.scoring.place(block_slots(new, block_size, device))

    def _routing(self, batch: StepBatch, pieces: list[Piece]) -> LoraRouting | None:
        if self.slots is None or self.slots.tables is None:
            return None
        decode = [piece.seq.lora_slot for piece in pieces[: batch.num_decode]]
        prefill = [
            (span.start, span.length, piece.seq.lora_slot) for piece, span in zip(pieces[batch.num_decode :], batch.prefills, strict=True)
        ]
        return self.slots.tables.route(decode, prefill)

    @staticmethod
    def _scoring_of(use: RowUse) -> Scoring:
        assert use.seq.scoring is not None, "only scoring sequences have scoring rows"
        return use.seq.scoring

    @staticmethod
    def _grammar_failed(seq: Sequence) -> bool:
        """Whether a row got no token because its grammar cannot go on (it ends unfinished, not
        in error: the answer so far is real, only not whole); otherwise its logits were not finite."""
        matcher = seq.sampling.matcher
        if matcher is None or not matcher.error:
            return False
        log.warning(
            "structured output grammar failed mid-answer", extra={"request_id": seq.request.request_id, "error": matcher.error[:300]}
        )
        return True

    @staticmethod
    def _non_finite(seq: Sequence) -> NonFiniteOutput:
        adapter = seq.request.adapter
        what = f"adapter {adapter.label}" if adapter is not None else "the base model"
        hint = "; the adapter's weights are likely broken, try another version" if adapter is not None else ""
        log.error("non-finite model output", extra={"request_id": seq.request.request_id, "adapter": what})
        return NonFiniteOutput(f"the output of {what} for this request became NaN or infinite after {seq.generated} tokens{hint}")
