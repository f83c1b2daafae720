"""The plainest way to score a continuation: one unpadded forward of prompt + continuation.

Tests compare the server's and the trainer's batched, KV-sharing scorers against this.
"""

from __future__ import annotations

from typing import Any

import torch


@torch.no_grad()
def direct_logprob(model: Any, prompt: list[int], continuation: list[int]) -> float:
    ids = torch.tensor([prompt + continuation])
    logprobs = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float().log_softmax(-1)
    return float(logprobs.gather(-1, torch.tensor(continuation)[:, None]).sum())
