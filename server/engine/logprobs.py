"""Log-probabilities of chosen tokens and their likeliest alternatives, for the rows that ask.

They are the model's own: log_softmax of the logits the step produced (after the adapter's
deltas), before repetition penalty, grammar masks, temperature and top-k/top-p, as OpenAI and vLLM
report them. A generated token's row is read before sampling changes the logits in place; a prompt
token's (echo) comes from the prefill row before it. One read back from the device per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_TOP_LOGPROBS = 20  # OpenAI's limit for chat; text completions allow 5


@dataclass(frozen=True)
class TokenLogprob:
    """One token and how likely the model found it, with the `top` likeliest tokens at its place."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()  # (token id, logprob), likeliest first


class StepLogprobs:
    """log_softmax of some logits rows, taken now; the chosen tokens' entries read later by `of`."""

    def __init__(self, logits: torch.Tensor, rows: list[int], tops: list[int]) -> None:
        # logits: [R, V]; rows: which of them; tops: how many alternatives each row wants
        index = torch.tensor(rows, dtype=torch.long, device=logits.device)
        self._logprobs = logits.index_select(0, index).float().log_softmax(dim=-1)
        self._tops = tops
        k = max(tops, default=0)
        self._top = self._logprobs.topk(k, dim=-1) if k else None

    def of(self, tokens: list[int | None]) -> list[TokenLogprob | None]:
        """Each row's entry for its token (None where the row got no token)."""
        ids = torch.tensor([t or 0 for t in tokens], dtype=torch.long, device=self._logprobs.device)
        chosen = self._logprobs.gather(1, ids[:, None])[:, 0]
        if self._top is None:
            values: list[float] = chosen.tolist()
            tops: list[list[float]] = [[] for _ in tokens]
            top_ids: list[list[int]] = [[] for _ in tokens]
        else:
            packed = torch.cat([chosen[:, None], self._top.values], dim=1).tolist()
            values, tops = [row[0] for row in packed], [row[1:] for row in packed]
            top_ids = self._top.indices.tolist()
        out: list[TokenLogprob | None] = []
        for token, value, top_values, ids_row, k in zip(tokens, values, tops, top_ids, self._tops, strict=True):
            top = tuple(zip(ids_row[:k], top_values[:k], strict=True))
            out.append(None if token is None else TokenLogprob(token, value, top))
        return out
