"""Next-token logits at the chosen positions only, as the model's own forward makes them.

The loss and the holdout's label scores apply the language-model head to a few hidden states
rather than to every position, so they apply what follows the head here too: the final soft-cap
where the config sets one (Gemma's `final_logit_softcapping`, `ModelShape.final_softcap`).
"""

from __future__ import annotations

from typing import Any

import torch

from common.model_families import shape_of, soft_capped


def head_logits(causal_lm: Any, hidden: torch.Tensor) -> torch.Tensor:
    """The float32 logits of `hidden` [..., D] through `causal_lm`'s head: [..., V]."""
    return soft_capped(causal_lm.lm_head(hidden).float(), shape_of(causal_lm.config).final_softcap)
