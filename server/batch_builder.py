"""Turning the scheduled chunks of one step into the flattened batch the model step runs.

A chunk becomes one or more pieces: runs of new tokens of one sequence that see a given context.
A generation chunk is one piece. A scoring sequence's final chunk is its prompt's tail plus one
piece per continuation (label), each continuation seeing the prompt and its own earlier tokens:
every label is scored in the same forward pass, sharing the prompt's KV. One-token pieces become
the batch's decode rows, longer ones its prefill spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch.nn.utils.rnn import pad_sequence

from server.model_runner import PrefillSpan, StepBatch
from server.sequence import Sequence

Purpose = tuple[Literal["sample"]] | tuple[Literal["first"]] | tuple[Literal["branch"], int, int]


@dataclass
class Piece:
    seq: Sequence
    tokens: list[int]
    start: int  # position of tokens[0]
    write_slots: torch.Tensor  # [n] where the new tokens' K/V go
    kv_slots: torch.Tensor  # [context] every slot the last token attends to, these included
    wants: list[tuple[int, Purpose]] = field(default_factory=list)  # (index in piece, why its logits are needed)


@dataclass
class RowUse:
    seq: Sequence
    purpose: Purpose


def pieces_of(seq: Sequence, n: int) -> list[Piece]:
    """The pieces for `n` scheduled tokens of `seq` (KV slots must already be allocated)."""
    start = seq.num_computed
    if not seq.scoring:
        stop = start + n
        wants: list[tuple[int, Purpose]] = [(n - 1, ("sample",))] if stop == len(seq.token_ids) else []
        return [Piece(seq, seq.token_ids[start:stop], start, seq.slots[start:stop], seq.slots[:stop], wants)]
    pieces = []
    prompt_part = min(n, seq.num_prompt - start)
    if prompt_part > 0:
        stop = start + prompt_part
        wants = [(prompt_part - 1, ("first",))] if stop == seq.num_prompt else []
        pieces.append(Piece(seq, seq.token_ids[start:stop], start, seq.slots[start:stop], seq.slots[:stop], wants))
    if n > prompt_part:  # the continuations, all together after the whole prompt
        context = seq.slots[: seq.num_prompt]
        for b, (tokens, slots) in enumerate(zip(seq.branches, seq.branch_slots, strict=True)):
            wants = [(j, ("branch", b, j)) for j in range(len(tokens) - 1)]
            pieces.append(Piece(seq, tokens, seq.num_prompt, slots, torch.cat([context, slots]), wants))
    return pieces


def scoring_take(seq: Sequence, n: int) -> int:
    """Tokens a scoring sequence really takes when granted `n`: its continuations go all at once."""
    prompt_left = seq.num_prompt - seq.num_computed
    branch_tokens = 0 if seq.branches_done else sum(len(b) for b in seq.branches)
    if n >= prompt_left + branch_tokens or n <= prompt_left:
        return n
    # the continuations cannot be split: finish the prompt now, or (prompt done) take them all,
    # a little over the step's token budget (labels are short and bounded)
    return prompt_left if prompt_left else branch_tokens


def build_step_batch(chunks: list[tuple[Sequence, int]], device: torch.device) -> tuple[StepBatch, list[Piece], list[RowUse]]:
    """One flattened batch for the step: one-token pieces first (decode rows), then spans.

    Returns the batch, its pieces in row order, and who each logits row is for.
    """
    pieces = [piece for seq, n in chunks for piece in pieces_of(seq, n)]
    ordered = [p for p in pieces if len(p.tokens) == 1] + [p for p in pieces if len(p.tokens) > 1]
    num_decode = sum(1 for p in ordered if len(p.tokens) == 1)
    ids: list[int] = []
    positions: list[int] = []
    logits_rows: list[int] = []
    uses: list[RowUse] = []
    prefills: list[PrefillSpan] = []
    row = 0
    for piece in ordered:
        n = len(piece.tokens)
        ids.extend(piece.tokens)
        positions.extend(range(piece.start, piece.start + n))
        if n > 1:
            prefills.append(PrefillSpan(row, n, piece.kv_slots))
        for index, purpose in piece.wants:
            logits_rows.append(row + index)
            uses.append(RowUse(piece.seq, purpose))
        row += n
    batch = StepBatch(
        input_ids=torch.tensor(ids, dtype=torch.long, device=device),
        positions=torch.tensor(positions, dtype=torch.long, device=device),
        write_slots=torch.cat([p.write_slots for p in ordered]),
        logits_rows=torch.tensor(logits_rows, dtype=torch.long, device=device),
        num_decode=num_decode,
        prefills=prefills,
    )
    if num_decode:
        contexts = [p.kv_slots for p in ordered[:num_decode]]
        lengths = torch.tensor([len(c) for c in contexts], device=device)
        batch.decode_kv_slots = pad_sequence(contexts, batch_first=True)
        batch.decode_kv_mask = (torch.arange(batch.decode_kv_slots.shape[1], device=device)[None, :] < lengths[:, None])[:, None, None, :]
    return batch, ordered, uses
