"""Engine-side state of one request: its tokens, its KV blocks and what it has streamed so far.

The engine changes a sequence only through its methods: admitted, given KV blocks, advanced by
the tokens a step computed, given a sampled token, finished. A sequence that scores continuations
instead of generating (Classify) carries a `Scoring` that answers for it where the two differ.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any

import torch

from server.engine.detokenizer import IncrementalDetokenizer
from server.engine.kv_cache import block_slots, blocks_for
from server.engine.logprobs import TokenLogprob
from server.engine.pieces import Piece, Purpose
from server.engine.request import EventSink, Finished, GenerationEvent, GenerationRequest, StopReason
from server.engine.sampling import RowState, make_generator
from server.engine.scoring import Scoring
from server.engine.stop_strings import StopStrings


class SequenceStatus(enum.Enum):
    WAITING = enum.auto()
    RUNNING = enum.auto()
    FINISHED = enum.auto()


class Sequence:
    def __init__(
        self, seq_id: int, request: GenerationRequest, sink: EventSink, tokenizer: Any, device: torch.device, block_size: int
    ) -> None:
        self.seq_id = seq_id
        self.request = request
        self.sink = sink
        self.device = device
        self.status = SequenceStatus.WAITING
        self.token_ids: list[int] = list(request.prompt_ids)
        self.num_prompt = len(request.prompt_ids)
        self.num_computed = 0  # tokens whose K/V are in the cache
        self.blocks: list[int] = []  # every block it holds: its context's, then any of its continuations
        self.context_blocks: list[int] = []  # the blocks of its own positions, in order
        self.block_size = block_size
        self._kv_slots = torch.empty(0, dtype=torch.long, device=device)
        self.lora_slot = 0  # LoRA slot while running; 0 is the base model
        self.adapter_hash: str | None = None if request.adapter is None else request.adapter.content_hash
        # rows of the rope tables past its positions (ModelRunner.long_rope_rows): a LongRoPE prompt
        # longer than the original window rotates by the long factors throughout
        self.rope_offset = 0
        # where a prompt that fits that window switches to the long factors: it is computed again
        # from position 0 once its next token lies there (Engine._switch_long_rope)
        self.rope_switch_at: int | None = None
        self.scoring = Scoring(request.branches) if request.branches else None
        self.sampling = RowState(
            params=request.params,
            generator=None if request.params.greedy else make_generator(request.params.seed, device),
            token_ids=self.token_ids,
            generated=0,
            matcher=request.constraint.matcher() if request.constraint is not None else None,
        )
        self._detokenizer = IncrementalDetokenizer(tokenizer, request.prompt_ids)
        self._stops = StopStrings(request.params.stop)
        self._emitted_chars = 0
        self._unsent_tokens: list[int] = []
        self._unsent_logprobs: list[TokenLogprob] = []
        # echo: the prompt tokens' log-probabilities, filled as its prefill computes them, sent once
        self.prompt_logprobs: list[TokenLogprob | None] | None = [None] if request.params.prompt_logprobs else None
        self._pending_text: list[int] = []  # accepted tokens whose text is not made yet (`stream_pending`)
        self._cut: int | None = None  # where the text ends when a stop string ended it
        self._stop_text = ""
        self.admitted_at: float | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.cached_prompt_tokens = 0
        # prefix caching: hashes of the prompt's full blocks, how many are registered, and the
        # cached blocks found for it while it waits
        self.block_hashes: list[bytes] = []
        self.registered_blocks = 0
        self.cache_match: list[int] = []

    @property
    def kv_slots(self) -> torch.Tensor:
        """The cache slot of each position of its context: made when a step that needs it asks, as the
        CUDA decode graph reads `context_blocks` from the host and never does."""
        if self._kv_slots.shape[0] != len(self.context_blocks) * self.block_size:
            self._kv_slots = block_slots(self.context_blocks, self.block_size, self.device)
        return self._kv_slots

    @property
    def generated(self) -> int:
        return len(self.token_ids) - self.num_prompt

    @property
    def pending_tokens(self) -> int:
        if self.scoring is not None:
            return self.scoring.pending(self.num_prompt - self.num_computed)
        return len(self.token_ids) - self.num_computed

    def reserved_blocks(self, block_size: int) -> int:
        """KV blocks this sequence may need: its prompt and all of its output (or continuations)."""
        if self.scoring is not None:
            return self.scoring.reserved_blocks(self.num_prompt, block_size)
        return blocks_for(self.num_prompt + self.request.params.max_new_tokens, block_size)

    # -- a step's work ------------------------------------------------------------------------

    def take(self, granted: int) -> int:
        """Tokens this step really computes when the scheduler grants `granted`."""
        if self.scoring is not None:
            return self.scoring.take(self.num_prompt - self.num_computed, granted)
        return granted

    def kv_positions_after(self, n: int) -> int:
        """Positions of the sequence's own context whose K/V exist once `n` more tokens are computed."""
        after = self.num_computed + n
        return min(after, self.num_prompt) if self.scoring is not None else after

    def reaches_continuations(self, n: int) -> bool:
        return self.scoring is not None and self.num_computed + n > self.num_prompt

    def pieces(self, n: int) -> list[Piece]:
        """The pieces for `n` tokens of this step (KV slots already allocated)."""
        start = self.num_computed
        stop = start + min(n, self.num_prompt - start) if self.scoring is not None else start + n
        pieces = []
        if stop > start:
            wants: list[tuple[int, Purpose]] = []
            if self.prompt_logprobs is not None:  # every prompt token's row but the last, which samples
                wants = [(p - start, ("prompt", p)) for p in range(start, min(stop, self.num_prompt - 1))]
            if stop == len(self.token_ids) and self.scoring is None:
                wants.append((stop - start - 1, ("sample",)))
            elif stop == self.num_prompt and self.scoring is not None:
                wants = [(stop - start - 1, ("first",))]
            pieces.append(Piece(self, self.token_ids[start:stop], start, self.kv_slots[start:stop], self.kv_slots[:stop], wants))
        if self.reaches_continuations(n):
            assert self.scoring is not None
            pieces += self.scoring.pieces(self)
        return pieces

    # -- what the engine changes ------------------------------------------------------------

    def admit(self, now: float, lora_slot: int) -> None:
        self.status = SequenceStatus.RUNNING
        self.admitted_at = now
        self.lora_slot = lora_slot

    def adopt_cached_prefix(self, blocks: list[int], tokens: int) -> None:
        """Starts on the KV of a cached prompt prefix instead of computing it."""
        self.blocks = list(blocks)
        self.context_blocks = list(blocks)
        self.num_computed = self.cached_prompt_tokens = tokens
        self.registered_blocks = len(blocks)

    def add_blocks(self, blocks: list[int]) -> None:
        """Blocks for more of its own positions."""
        self.blocks.extend(blocks)
        self.context_blocks.extend(blocks)

    def release_blocks(self) -> list[int]:
        blocks, self.blocks, self.context_blocks = self.blocks, [], []
        return blocks

    def advance(self, n: int) -> None:
        """Records that a step computed `n` tokens; a scoring sequence is done once its continuations were."""
        if self.scoring is not None and self.reaches_continuations(n):
            self.scoring.done = True
        self.num_computed = self.kv_positions_after(n)

    def add_token(self, token_id: int, end_token_ids: frozenset[int], max_len: int) -> StopReason | None:
        """Appends a sampled token, streams what it adds, and says whether generation ends."""
        return self.stream_pending(self.accept_token(token_id, end_token_ids, max_len))

    def add_prompt_logprob(self, position: int, logprob: TokenLogprob) -> None:
        """The log-probability of prompt token `position` (echo), computed by the row before it."""
        assert self.prompt_logprobs is not None
        if position == len(self.prompt_logprobs):  # a prompt computed again (after preemption) is not counted twice
            self.prompt_logprobs.append(logprob)

    def accept_token(
        self, token_id: int, end_token_ids: frozenset[int], max_len: int, logprob: TokenLogprob | None = None
    ) -> StopReason | None:
        """Appends a sampled token and says whether it ends generation by what is known without its
        text: an end token, a finished structure, or the token limits. Its text is made and streamed
        by `stream_pending`, which the engine may run while the GPU computes the next step."""
        now = time.monotonic()
        self.first_token_at = self.first_token_at or now
        self.last_token_at = now
        self.token_ids.append(token_id)
        self.sampling.generated += 1
        self._unsent_tokens.append(token_id)
        if logprob is not None:
            self._unsent_logprobs.append(logprob)
        if token_id in end_token_ids or token_id in self.request.params.stop_token_ids:
            return StopReason.END_OF_SEQUENCE
        self._pending_text.append(token_id)
        matcher = self.sampling.matcher
        if matcher is not None:
            matcher.accept(token_id)  # before the next step samples under its mask
            if matcher.error:  # the grammar cannot go on: the answer is not whole, whatever it says
                return StopReason.UNFINISHED_STRUCTURE
            if matcher.stopped:  # the structure is whole and nothing may follow
                return StopReason.END_OF_SEQUENCE
        if self.generated >= self.request.params.max_new_tokens or len(self.token_ids) >= max_len:
            return StopReason.UNFINISHED_STRUCTURE if matcher is not None and not matcher.complete else StopReason.MAX_TOKENS
        return None

    def stream_pending(self, ending: StopReason | None) -> StopReason | None:
        """Makes the text of the accepted tokens, ends at a stop string if one appears (it outranks
        `ending`, what `accept_token` said), and streams the text that cannot be part of one."""
        if self._push_pending():
            return StopReason.STOP_SEQUENCE
        if ending is None:
            self._emit(self._stops.safe_length(self._detokenizer.text))
        return ending

    def _push_pending(self) -> bool:
        """Detokenizes the accepted tokens; True where a stop string ended the text (cut there)."""
        pending, self._pending_text = self._pending_text, []
        for token_id in pending:
            new_from = len(self._detokenizer.text)
            self._detokenizer.push(token_id)
            match = self._stops.find(self._detokenizer.text, new_from)
            if match is not None:
                self._cut = match.index + len(match.stop) if self.request.params.include_stop else match.index
                self._stop_text = match.stop
                return True
        return False

    def _emit(self, upto: int, finished: Finished | None = None) -> None:
        text = self._detokenizer.text[self._emitted_chars : upto] if upto > self._emitted_chars else ""
        if not text and finished is None:
            return
        self._emitted_chars = max(self._emitted_chars, upto)
        event = GenerationEvent(text=text, token_ids=self._unsent_tokens, finished=finished, logprobs=self._unsent_logprobs)
        self._unsent_tokens, self._unsent_logprobs = [], []
        if self.prompt_logprobs is not None:
            event.prompt_logprobs, self.prompt_logprobs = self.prompt_logprobs, None
        self.sink(event)

    def finish(self, reason: StopReason, error: BaseException | None = None, record: Callable[[Finished], None] | None = None) -> Finished:
        """Streams the rest of the text (up to a stop string) and the final accounting.

        `record` sees the accounting before the caller does, so metrics already count a request
        when its response arrives."""
        self.status = SequenceStatus.FINISHED
        if self._cut is None:
            self._push_pending()
        cut = self._cut
        if cut is None:
            self._detokenizer.flush()
            cut = len(self._detokenizer.text)
        now = time.monotonic()
        arrival = self.request.arrival
        finished = Finished(
            reason=reason,
            prompt_tokens=self.num_prompt,
            generated_tokens=self.generated,
            queue_s=(self.admitted_at or now) - arrival,
            time_to_first_token_s=(self.first_token_at or now) - arrival,
            total_s=now - arrival,
            stop_sequence=self._stop_text,
            cached_prompt_tokens=self.cached_prompt_tokens,
            error=error,
            scores=self.scoring.scores() if self.scoring is not None else (),
        )
        if record is not None:
            record(finished)
        self._emit(cut, finished)
        return finished
