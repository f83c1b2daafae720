"""Turning the scheduled chunks of one step into the flattened batch the model step runs.

Each chunk becomes the pieces its sequence says (server.engine.pieces): one for a generation, the
prompt's tail plus one per continuation for a scoring request (server.engine.scoring). One-token
pieces become the batch's decode rows, longer ones its prefill spans.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

from server.engine.model_runner import PrefillSpan, StepBatch
from server.engine.pieces import Piece, RowUse
from server.engine.sequence import Sequence


def build_step_batch(chunks: list[tuple[Sequence, int]], device: torch.device) -> tuple[StepBatch, list[Piece], list[RowUse]]:
    """One flattened batch for the step: one-token pieces first (decode rows), then spans.

    Returns the batch, its pieces in row order, and who each logits row is for.
    """
    pieces = [piece for seq, n in chunks for piece in seq.pieces(n)]
    ordered = [p for p in pieces if len(p.tokens) == 1] + [p for p in pieces if len(p.tokens) > 1]
    num_decode = sum(1 for p in ordered if len(p.tokens) == 1)
    ids: list[int] = []
    positions: list[int] = []
    rope_offsets: list[int] = []
    logits_rows: list[int] = []
    uses: list[RowUse] = []
    prefills: list[PrefillSpan] = []
    row = 0
    for piece in ordered:
        n = len(piece.tokens)
        ids.extend(piece.tokens)
        positions.extend(range(piece.start, piece.start + n))
        rope_offsets.extend([piece.seq.rope_offset] * n)
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
        exact_logits=any(use.purpose[0] != "sample" for use in uses),
    )
    if any(rope_offsets):
        batch.rope_rows = batch.positions + torch.tensor(rope_offsets, dtype=torch.long, device=device)
    if num_decode:
        contexts = [p.kv_slots for p in ordered[:num_decode]]
        batch.decode_kv_slots = pad_sequence(contexts, batch_first=True)
        if len({len(c) for c in contexts}) > 1:  # ragged: mask the padding (a mask costs attention time)
            lengths = torch.tensor([len(c) for c in contexts], device=device)
            columns = torch.arange(batch.decode_kv_slots.shape[1], device=device)
            batch.decode_kv_mask = (columns[None, :] < lengths[:, None])[:, None, None, :]
    return batch, ordered, uses
