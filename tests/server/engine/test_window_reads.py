"""Sliding layers read their window only: the keys a row attends to within its window, gathered
alone, attend as the whole context does under the window's mask. Mechanics only: random queries
and cache, no model (the families' tiny models check tokens against transformers end to end)."""

import pytest
import torch

from server.engine.decoder_layer import window_context, window_contexts
from server.engine.kv_cache import gather_kv
from server.engine.model_runner import attend_decode, attend_prefill, within

HEADS, KV_HEADS, HEAD_DIM = 4, 2, 16


def cache(slots: int) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(slots, 2 * KV_HEADS, HEAD_DIM)


def ragged(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows whose contexts are `lengths` long, each in its own run of slots, padded with slot 0:
    their slots [rows, columns], positions [rows] and which columns are real [rows, columns]."""
    columns = max(lengths)
    slots = torch.zeros(len(lengths), columns, dtype=torch.long)
    for row, length in enumerate(lengths):
        slots[row, :length] = torch.arange(length) + 1 + row * 100
    positions = torch.tensor(lengths) - 1
    return slots, positions, torch.arange(columns)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("window", [4, 7, 40])
def test_a_row_reads_the_slots_of_its_window_and_attends_as_the_masked_whole(window):
    lengths = [3, 9, 20, 7, 1]  # shorter than the window, longer, and one token
    kv, (slots, positions, real) = cache(600), ragged(lengths)
    near, near_mask = window_context(window, slots, positions, real)
    assert near.shape == (len(lengths), min(window, max(lengths)))
    for row, length in enumerate(lengths):
        wanted = slots[row, max(0, length - window) : length]
        assert near[row][near_mask[row]].tolist() == wanted.tolist()

    q = torch.randn(len(lengths), HEADS, HEAD_DIM)
    masked = real & (torch.arange(slots.shape[1])[None, :] > positions[:, None] - window)  # the whole context, masked
    whole = attend_decode(q, *gather_kv(kv, slots), masked[:, None, None, :], 0.25)
    read = attend_decode(q, *gather_kv(kv, near), near_mask[:, None, None, :], 0.25)
    torch.testing.assert_close(read, whole, rtol=1e-5, atol=1e-5)


def test_contexts_that_fit_the_window_are_read_whole():
    slots, positions, real = ragged([3, 5])
    contexts = window_contexts([None, 8, 2, 8], slots, positions, None)
    assert set(contexts) == {2, 8}, "one entry per window, none for the global layers"
    assert contexts[8][0] is slots and contexts[8][1] is None
    assert contexts[2][0].shape == (2, 2)


@pytest.mark.parametrize(("queries", "context", "window"), [(5, 5, 3), (4, 30, 6), (12, 30, 6), (3, 10, 20)])
def test_a_prompt_chunk_reads_the_part_of_its_context_its_window_reaches(queries, context, window):
    kv = cache(40)
    slots = torch.arange(context) + 2
    q = torch.randn(queries, HEADS, HEAD_DIM)
    part = within(slots, queries, window)
    assert part.shape[0] == min(context, queries + window - 1)
    whole = attend_prefill(q, *gather_kv(kv, slots), 0.25, window)
    read = attend_prefill(q, *gather_kv(kv, part), 0.25, window)
    torch.testing.assert_close(read, whole, rtol=1e-5, atol=1e-5)
    assert within(slots, queries, None) is slots
