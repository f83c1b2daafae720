"""Prompt tokens that every row of a batch begins with, run once for the batch.

The rows of a training or holdout batch begin alike: the chat template's system turn, the task's
instruction, in-context demonstrations. Under causal attention at the same positions, those
tokens' hidden states, keys and values are the same in every row, so they run for one row and
their keys and values are repeated for the others; autograd sums each row's share back through
the copies, so losses and gradients are those of the whole batch. With LoRA dropout (training),
the shared tokens take one dropout mask for the batch where a whole pass draws one per row: the
same in expectation, with less independent noise on those positions. Not where a sequence is longer
than a sliding window or LongRoPE's original window: there transformers' cache drops keys, or the
rotation depends on the whole pass, so such a batch runs whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from common.model_families import shape_of


def shared_length(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all `prompts` have in common, short of the shortest one's last
    token: that one stays with its row, whose hidden state there predicts what follows the prompt.
    0 for a single prompt, which has nothing to share."""
    if len(prompts) < 2:
        return 0
    first = prompts[0]
    limit = min(len(p) for p in prompts) - 1
    shared = 0
    while shared < limit and all(p[shared] == first[shared] for p in prompts):
        shared += 1
    return shared


def one_pass_limit(config: Any) -> int | None:
    """The longest sequence whose shared tokens may run apart from the rest: the shortest sliding
    window or LongRoPE's original window (None: any length)."""
    shape = shape_of(config)
    limits = [w for w in shape.windows if w is not None] + ([shape.long_rope_from] if shape.long_rope_from else [])
    return min(limits, default=None)


def may_share(config: Any, shared: int, width: int) -> bool:
    """Whether a batch `width` tokens wide whose rows share `shared` runs them once."""
    limit = one_pass_limit(config)
    return shared > 0 and (limit is None or width <= limit)


def forward_after_shared(decoder: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, shared: int) -> tuple[torch.Tensor, Any]:
    """The decoder (a transformers base model) over right-padded rows whose first `shared` tokens
    are the same: hidden states of positions `shared`.. [rows, width - shared, hidden], and the
    cache of every position, for continuations."""
    from transformers import DynamicCache

    rows, width = input_ids.shape
    cache = DynamicCache(config=decoder.config)
    decoder(input_ids=input_ids[:1, :shared], cache=cache, use_cache=True)
    cache.batch_repeat_interleave(rows)
    positions = torch.arange(shared, width, device=input_ids.device).expand(rows, -1)
    out = decoder(input_ids=input_ids[:, shared:], attention_mask=attention_mask, position_ids=positions, cache=cache, use_cache=True)
    return out.last_hidden_state, cache
