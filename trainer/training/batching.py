"""Batches for training: dynamic padding, similar lengths together, loss on completions only."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from trainer.training.data import TokenizedExample
from trainer.training.shared_prefix import shared_length

IGNORE = -100  # label of positions that carry no loss: the prompt and the padding
_MEGABATCH = 32  # batches whose examples are sorted by length together


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    labels: torch.Tensor  # [B, T], IGNORE except on completion tokens (end-of-turn included)
    tokens: int  # real (non-padding) tokens
    targets: int  # tokens that carry loss
    shared: int = 0  # leading tokens that every row has in common (`shared_prefix`)

    def to(self, device: torch.device) -> Batch:
        """The batch on the model's device (collate builds it on the CPU)."""
        ids, mask, labels = (t.to(device) for t in (self.input_ids, self.attention_mask, self.labels))
        return replace(self, input_ids=ids, attention_mask=mask, labels=labels)


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices of one epoch, in batches of similar length (a seeded, reproducible order).

    Shuffled, cut into megabatches, sorted by length inside each so padding stays small, and the
    batches shuffled again so that long ones do not all come first.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    step = batch_size * _MEGABATCH
    for start in range(0, len(order), step):
        chunk = sorted(order[start : start + step], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def shared_prefix(examples: Sequence[TokenizedExample]) -> int:
    """How many leading prompt tokens all `examples` have in common (trainer.training.shared_prefix)."""
    return shared_length([e.prompt for e in examples])


def collate(examples: Sequence[TokenizedExample], pad_id: int) -> Batch:
    """Pads to the longest example of the batch; labels only the completion, end token included.

    The end token is labelled even where the tokenizer pads with the same id: labels are built
    from positions, not by masking the padding id.
    """
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        sequence = example.prompt + example.completion
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
        labels[row, len(example.prompt) : len(sequence)] = torch.tensor(example.completion)
    targets = sum(len(e.completion) for e in examples)
    return Batch(ids, mask, labels, tokens=int(mask.sum()), targets=targets, shared=shared_prefix(examples))
