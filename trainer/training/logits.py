"""Next-token logits at the chosen positions only, as the model's own forward makes them.

The loss and the holdout's label scores apply the language-model head to a few hidden states
rather than to every position, so they apply what follows the head here too: Gemma's final
soft-cap where the config sets one (`final_logit_softcapping`: cap * tanh(logits / cap)).
"""

from __future__ import annotations

from typing import Any

import torch


def head_logits(causal_lm: Any, hidden: torch.Tensor) -> torch.Tensor:
    """The float32 logits of `hidden` [..., D] through `causal_lm`'s head: [..., V]."""
    logits = causal_lm.lm_head(hidden).float()
    cap = getattr(causal_lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits
