"""Log-probabilities in OpenAI's two shapes: chat's `content` list and text completions' columns."""

from __future__ import annotations

from typing import Any

from server.api.token_spelling import TokenSpeller
from server.engine.logprobs import TokenLogprob


def chat_logprobs(speller: TokenSpeller, logprobs: list[TokenLogprob]) -> dict[str, Any]:
    """Chat's `logprobs`: one entry per token with its bytes and its top alternatives."""

    def entry(token_id: int, value: float) -> dict[str, Any]:
        text, raw = speller.spell(token_id)
        return {"token": text, "logprob": value, "bytes": list(raw)}

    content = [
        {**entry(lp.token_id, lp.logprob), "top_logprobs": [entry(token_id, value) for token_id, value in lp.top]} for lp in logprobs
    ]
    return {"content": content, "refusal": None}


def completion_logprobs(speller: TokenSpeller, entries: list[tuple[int, TokenLogprob | None]], text_offset: int = 0) -> dict[str, Any]:
    """Text completions' `logprobs`: parallel lists, one place per (token id, its log-probability);
    the echoed prompt's first token has none (None) and no alternatives. `text_offset` is where the
    first token's text starts."""
    tokens, values, tops, offsets = [], [], [], []
    for token_id, lp in entries:
        text = speller.spell(token_id)[0]
        tokens.append(text)
        values.append(lp.logprob if lp is not None else None)
        tops.append({speller.spell(t)[0]: v for t, v in lp.top} if lp is not None else None)
        offsets.append(text_offset)
        text_offset += len(text)
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}
