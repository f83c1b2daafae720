"""Scoring: the log-probability of given continuations after a prompt (what Classify asks for).

A scoring request reads its prompt like any other, in chunks. Its final chunk is the prompt's tail
plus one piece per continuation (a label and its end of turn), each continuation seeing the
prompt and its own earlier tokens: every label is scored in the same forward pass, sharing the
prompt's KV. The continuations get KV blocks of their own after the prompt's and cannot be split
across steps. Everything a sequence does differently when it scores lives in `Scoring`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from server.engine.kv_cache import blocks_for
from server.engine.pieces import Piece, Purpose

if TYPE_CHECKING:
    from server.engine.sequence import Sequence


class Scoring:
    """The continuations one request wants scored, where their K/V go, and their log-probabilities."""

    def __init__(self, branches: tuple[tuple[int, ...], ...]) -> None:
        self.branches = [list(b) for b in branches]
        self.kv_slots: list[torch.Tensor] = []  # per continuation: the cache slots of its tokens
        self.done = False
        self.logprobs = [0.0] * len(branches)

    @property
    def tokens(self) -> int:
        return sum(len(b) for b in self.branches)

    def pending(self, prompt_left: int) -> int:
        """Tokens still to compute: the rest of the prompt, then every continuation at once."""
        return prompt_left + (0 if self.done else self.tokens)

    def reserved_blocks(self, num_prompt: int, block_size: int) -> int:
        """KV blocks for the prompt and, separately, for all continuations."""
        return blocks_for(num_prompt, block_size) + blocks_for(self.tokens, block_size)

    def take(self, prompt_left: int, granted: int) -> int:
        """Tokens really taken when granted `granted`: the continuations go all at once.

        They cannot be split: the step finishes the prompt, or (prompt done) takes them all, a
        little over the step's token budget (labels are short and bounded)."""
        if granted >= prompt_left + self.tokens or granted <= prompt_left:
            return granted
        return prompt_left if prompt_left else self.tokens

    def wants_kv(self, reaches_continuations: bool) -> bool:
        return reaches_continuations and not self.kv_slots

    def place(self, slots: torch.Tensor) -> None:
        """The continuations' cache slots, from the blocks allocated for them (in order)."""
        lengths = [len(b) for b in self.branches]
        self.kv_slots = list(slots[: sum(lengths)].split(lengths))

    def pieces(self, seq: Sequence) -> list[Piece]:
        """One piece per continuation, after the whole prompt; each row scores the next token."""
        context = seq.kv_slots[: seq.num_prompt]
        pieces = []
        for b, (tokens, slots) in enumerate(zip(self.branches, self.kv_slots, strict=True)):
            wants: list[tuple[int, Purpose]] = [(j, ("branch", b, j)) for j in range(len(tokens) - 1)]
            pieces.append(Piece(seq, tokens, seq.num_prompt, slots, torch.cat([context, slots]), wants))
        return pieces

    def add(self, purpose: Purpose, logprobs: torch.Tensor) -> None:
        """Adds one logits row's contribution: `logprobs` [V] after the prompt or inside a continuation."""
        if purpose[0] == "first":
            for b, branch in enumerate(self.branches):
                self.logprobs[b] += float(logprobs[branch[0]])
        elif purpose[0] == "branch":
            _, b, j = purpose
            self.logprobs[b] += float(logprobs[self.branches[b][j + 1]])

    @property
    def finite(self) -> bool:
        return all(math.isfinite(score) for score in self.logprobs)

    def scores(self) -> tuple[float, ...]:
        """log P(continuation | prompt) of each, once all were scored; () before."""
        return tuple(self.logprobs) if self.done else ()


def add_scores(logits: torch.Tensor, rows: list[tuple[Scoring, Purpose]]) -> None:
    """Adds every scoring row of a step (logits [N, V], one per entry of `rows`) to its request."""
    if not rows:
        return
    logprobs = logits.log_softmax(-1)
    for k, (scoring, purpose) in enumerate(rows):
        scoring.add(purpose, logprobs[k])
