"""Choosing the next token of every row of a batch from its logits, each row with its own settings.

The order follows transformers' logits processors: suppression of end tokens until min_new_tokens,
repetition penalty, OpenAI's frequency and presence penalties and logit bias, the structured-output
mask of constrained rows, then temperature, top-k and top-p. Rows with temperature 0 take the argmax;
sampled rows draw from their own seeded generator, so a request's output does not depend on what
it was batched with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from server.engine.structured_output import GrammarMatcher, allowed_tokens, bitmask_words


@dataclass(frozen=True)
class SamplingParams:
    """Validated decoding settings of one request (see GenerationParameters in the proto)."""

    max_new_tokens: int
    min_new_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0  # OpenAI's: times each token was generated, subtracted from its logit
    presence_penalty: float = 0.0  # OpenAI's: subtracted once from the logit of every token generated
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, added to its logit), ids in order
    stop: tuple[str, ...] = ()
    include_stop: bool = False  # the stop string that ends the answer stays in its text
    stop_token_ids: frozenset[int] = frozenset()  # end the answer as the model's own end tokens do
    logprobs: bool = False  # report each generated token's log-probability (server.engine.logprobs)
    top_logprobs: int = 0  # and this many likeliest alternatives at each place
    prompt_logprobs: bool = False  # and the prompt tokens' (they are computed, never taken from the prefix cache)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def adjusts_logits(self) -> bool:
        """Whether a penalty or bias changes the model's logits before a token is chosen."""
        return self.repetition_penalty != 1.0 or bool(self.frequency_penalty or self.presence_penalty or self.logit_bias)


@dataclass
class RowState:
    """What sampling needs to know about one row besides its logits."""

    params: SamplingParams
    generator: torch.Generator | None
    token_ids: list[int]  # prompt and output so far, for the repetition penalty
    generated: int  # tokens generated so far, for min_new_tokens
    matcher: GrammarMatcher | None = None  # structured output: which tokens the grammar allows next


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def apply_repetition_penalty(logits: torch.Tensor, token_ids: list[int], penalty: float) -> None:
    # logits: [V], in place; CTRL rule: shrink positive logits, grow negative ones
    seen = torch.tensor(sorted(set(token_ids)), dtype=torch.long, device=logits.device)
    values = logits[seen]
    logits[seen] = torch.where(values > 0, values / penalty, values * penalty)


def apply_output_penalties(logits: torch.Tensor, output_ids: list[int], frequency: float, presence: float) -> None:
    # logits: [V], in place; OpenAI's rule, on the output alone: count * frequency + presence
    if not output_ids:
        return
    seen, counts = torch.tensor(output_ids, dtype=torch.long, device=logits.device).unique(return_counts=True)
    logits[seen] -= counts.to(logits.dtype) * frequency + presence


def apply_logit_bias(logits: torch.Tensor, bias: tuple[tuple[int, float], ...]) -> None:
    # logits: [V], in place
    ids, values = zip(*bias, strict=True)
    logits[torch.tensor(ids, device=logits.device)] += torch.tensor(values, dtype=logits.dtype, device=logits.device)


def adjust_logits(logits: torch.Tensor, row: RowState) -> None:
    """A row's penalties and bias, in place on its logits [V]."""
    params = row.params
    if params.repetition_penalty != 1.0:
        apply_repetition_penalty(logits, row.token_ids, params.repetition_penalty)
    if params.frequency_penalty or params.presence_penalty:
        output = row.token_ids[len(row.token_ids) - row.generated :] if row.generated else []
        apply_output_penalties(logits, output, params.frequency_penalty, params.presence_penalty)
    if params.logit_bias:
        apply_logit_bias(logits, params.logit_bias)


def top_k_top_p_filter(logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    # logits: [R, V], top_k: [R] (0 = off), top_p: [R] (1 = off) -> logits with cut tokens at -inf
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    vocab = logits.shape[-1]
    ranks = torch.arange(vocab, device=logits.device)[None, :]
    k = torch.where(top_k > 0, top_k, vocab)[:, None]
    cut = ranks >= k
    probs = sorted_logits.masked_fill(cut, float("-inf")).softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    cut |= mass_before >= top_p[:, None]
    cut[:, 0] = False  # always keep the most likely token
    return logits.scatter(-1, order, sorted_logits.masked_fill(cut, float("-inf")))


def unusable_rows(logits: torch.Tensor) -> torch.Tensor:
    # logits: [R, V] -> [R] True where the model's own output holds NaN or infinity: such a row
    # has no distribution to sample from (a broken adapter, an overflow in the model). The row's
    # extremes say it in one pass (NaN propagates into both): isfinite(...).all() takes five.
    low, high = torch.aminmax(logits, dim=-1)
    return ~(torch.isfinite(low) & torch.isfinite(high))


def apply_grammar_masks(logits: torch.Tensor, rows: list[RowState]) -> list[int]:
    """Sets the logits of tokens the rows' grammars forbid to -inf; returns rows whose matcher failed."""
    constrained = [i for i, row in enumerate(rows) if row.matcher is not None]
    if not constrained:
        return []
    bitmask = torch.zeros((len(constrained), bitmask_words(logits.shape[-1])), dtype=torch.int32)
    failed = []
    for j, i in enumerate(constrained):
        matcher = rows[i].matcher
        assert matcher is not None
        matcher.fill_bitmask(bitmask[j])
        if matcher.error:
            failed.append(i)
    index = torch.tensor(constrained, device=logits.device)
    allowed = allowed_tokens(bitmask, logits.shape[-1]).to(logits.device)
    logits[index] = logits[index].masked_fill(~allowed, float("-inf"))
    return failed


def _plain_greedy(row: RowState, end_token_ids: frozenset[int]) -> bool:
    """Whether a row's next token is its logits' argmax as they are."""
    params = row.params
    held = bool(end_token_ids or params.stop_token_ids) and row.generated < params.min_new_tokens
    return params.greedy and not params.adjusts_logits and row.matcher is None and not held


def hold_ends(logits: torch.Tensor, rows: list[RowState], end_token_ids: frozenset[int]) -> None:
    """Sets the end tokens' logits (the model's, and a row's own stop tokens) to -inf in rows that
    have not generated their min_new_tokens yet."""
    held = [i for i, row in enumerate(rows) if row.generated < row.params.min_new_tokens]
    if held and end_token_ids:
        held_rows, ends = (torch.tensor(values, device=logits.device) for values in (held, sorted(end_token_ids)))
        logits[held_rows[:, None], ends[None, :]] = float("-inf")
    for i in held:
        if rows[i].params.stop_token_ids:
            logits[i, torch.tensor(sorted(rows[i].params.stop_token_ids), device=logits.device)] = float("-inf")


def sample_next_tokens(logits: torch.Tensor, rows: list[RowState], end_token_ids: frozenset[int]) -> list[int | None]:
    """Next token of each row; None for a row whose logits are unusable (see `unusable_rows`) or
    whose grammar matcher failed.

    logits: [R, V] float32, modified in place. A bad row never affects the others: it is set
    aside before anything is computed across rows, and the caller ends its request alone.
    """
    if all(_plain_greedy(row, end_token_ids) for row in rows):
        # one read back from the device, where the general path below takes two
        best, unusable = torch.stack((logits.argmax(dim=-1), unusable_rows(logits).long())).tolist()
        return [None if bad else token for token, bad in zip(best, unusable, strict=True)]
    broken = unusable_rows(logits)
    if bool(broken.any()):
        logits[broken] = 0.0
    hold_ends(logits, rows, end_token_ids)
    for i, row in enumerate(rows):
        if row.params.adjusts_logits:
            adjust_logits(logits[i], row)
    failed = apply_grammar_masks(logits, rows)
    chosen: list[int | None] = logits.argmax(dim=-1).tolist()
    sampled = [i for i, row in enumerate(rows) if not row.params.greedy]
    if sampled:
        index = torch.tensor(sampled, device=logits.device)
        temperature = torch.tensor([rows[i].params.temperature for i in sampled], device=logits.device)
        top_k = torch.tensor([rows[i].params.top_k for i in sampled], device=logits.device)
        top_p = torch.tensor([rows[i].params.top_p for i in sampled], device=logits.device)
        # a tiny penalty can push a finite logit past the largest float; clamp instead of letting
        # the softmax below turn infinity into NaN
        picked = logits[index].clamp_(max=torch.finfo(logits.dtype).max)
        # shifting by the row maximum first keeps a tiny temperature from overflowing to inf and
        # the softmax from turning into NaN; the distribution is the same
        scaled = (picked - picked.amax(dim=-1, keepdim=True)) / temperature[:, None]
        filtered = top_k_top_p_filter(scaled, top_k, top_p)
        probs = filtered.softmax(dim=-1)
        for j, i in enumerate(sampled):
            chosen[i] = int(torch.multinomial(probs[j], 1, generator=rows[i].generator))
    for i in broken.nonzero().flatten().tolist() + failed:
        chosen[i] = None
    return chosen
