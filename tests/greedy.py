"""transformers' own greedy tokens: the reference the engine's tokens are compared with."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def greedy_tokens(model, ids: list[int], eos_token_ids: Iterable[int], new_tokens: int) -> list[int]:
    """`new_tokens` greedy tokens after `ids`, never stopping early: the engine's requests set
    min_new_tokens, which holds back every end token the engine knows, so the reference must too."""
    prompt = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=sorted(eos_token_ids),
        )
    return out[0, prompt.shape[1] :].tolist()
