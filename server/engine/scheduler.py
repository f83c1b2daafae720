"""Scheduling policy: which tokens of which sequences the next engine step computes.

A pure function of what is running, what is waiting and the budgets, so it is tested without a
model. The policy is continuous batching with chunked prefill, first come first served:

1. every running sequence in its decode phase contributes its one token;
2. running sequences still reading their prompt get chunks, oldest first, from the tokens left;
3. waiting sequences join in arrival order while a batch slot, tokens, KV blocks and (for an
   adapter request) a LoRA slot remain. Admission reserves KV blocks for the prompt and
   max_new_tokens, so a running sequence never runs out of cache. The head of the queue is never
   overtaken, so no request starves.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.adapters.cache_policy import SlotClaim, SlotPlanner


@dataclass(frozen=True)
class RunningView:
    seq_id: int
    pending_tokens: int  # tokens known but not yet in the cache: 1 when decoding


@dataclass(frozen=True)
class WaitingView:
    seq_id: int
    pending_tokens: int  # prompt tokens to compute
    blocks_needed: int  # KV blocks to reserve for prompt and output
    adapter: str | None = None  # content hash of its adapter; None for the base model


@dataclass(frozen=True)
class Budget:
    max_batch_size: int  # sequences in the running batch
    max_batch_tokens: int  # tokens computed in one step
    free_blocks: int  # KV blocks neither allocated nor reserved by running sequences


@dataclass(frozen=True)
class StepPlan:
    chunks: tuple[tuple[int, int], ...]  # (seq_id, tokens to compute this step)
    admitted: tuple[int, ...]  # waiting sequences that join the batch
    slot_claims: tuple[SlotClaim, ...] = ()  # adapters to copy into LoRA slots first

    @property
    def empty(self) -> bool:
        return not self.chunks


def plan_step(running: list[RunningView], waiting: list[WaitingView], budget: Budget, slots: SlotPlanner | None = None) -> StepPlan:
    tokens_left = budget.max_batch_tokens
    chunks: list[tuple[int, int]] = []
    for seq in running:
        if seq.pending_tokens == 1:
            chunks.append((seq.seq_id, 1))
            tokens_left -= 1
    for seq in running:
        if seq.pending_tokens > 1 and tokens_left > 0:
            take = min(seq.pending_tokens, tokens_left)
            chunks.append((seq.seq_id, take))
            tokens_left -= take
    admitted: list[int] = []
    free_blocks = budget.free_blocks
    batch_room = budget.max_batch_size - len(running)
    for newcomer in waiting:
        if batch_room <= 0 or tokens_left <= 0 or newcomer.blocks_needed > free_blocks:
            break
        if newcomer.adapter is not None and (slots is None or not slots.claim(newcomer.adapter)):
            break
        take = min(newcomer.pending_tokens, tokens_left)
        chunks.append((newcomer.seq_id, take))
        admitted.append(newcomer.seq_id)
        tokens_left -= take
        free_blocks -= newcomer.blocks_needed
        batch_room -= 1
    return StepPlan(tuple(chunks), tuple(admitted), tuple(slots.claims) if slots else ())
