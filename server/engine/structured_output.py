"""Structured output: an answer constrained to a JSON schema, a regular expression, a list of
choices or a Lark grammar, decided token by token.

llguidance compiles what the caller gave against the tokenizer once (cached by content); every
constrained sequence then owns a matcher that says which tokens may come next. The sampler turns
the matchers' bitmasks into a per-row mask, so constrained and free rows share a batch.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import llguidance
import llguidance.hf
import torch

from common.errors import InvalidRequest

KINDS = ("json_schema", "json_object", "regex", "choice", "lark_grammar")
ANY_JSON_OBJECT = '{"type": "object"}'


@dataclass(frozen=True)
class ConstraintSpec:
    """What a request asked for, by kind, with the text that defines it."""

    kind: str  # one of KINDS
    source: str  # the schema, pattern or grammar; choices as a JSON list


class Constraint:
    """A compiled grammar; every request that uses it gets its own matcher."""

    def __init__(self, spec: ConstraintSpec, template: llguidance.LLMatcher) -> None:
        self.spec = spec
        self._template = template

    def matcher(self) -> GrammarMatcher:
        return GrammarMatcher(self._template.deep_copy())


class GrammarMatcher:
    """Where one generation stands in its grammar."""

    def __init__(self, matcher: llguidance.LLMatcher) -> None:
        self._matcher = matcher

    def fill_bitmask(self, row: torch.Tensor) -> None:
        """Writes the allowed next tokens into `row`, a contiguous int32 CPU tensor of ceil(V/32) words."""
        self._matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())

    def accept(self, token_id: int) -> None:
        self._matcher.consume_token(token_id)

    @property
    def error(self) -> str:
        return self._matcher.get_error() if self._matcher.is_error() else ""

    @property
    def stopped(self) -> bool:
        """Nothing may follow: the structure is complete and cannot be extended."""
        return bool(self._matcher.is_stopped())

    @property
    def complete(self) -> bool:
        """The output so far is a whole answer (it may still be extended)."""
        return bool(self._matcher.is_accepting())


def bitmask_words(vocab_size: int) -> int:
    return (vocab_size + 31) // 32


_BITS = torch.arange(32, dtype=torch.int32)


def allowed_tokens(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    # bitmask: [R, ceil(V/32)] int32, bit j of word w allows token 32*w + j -> [R, V] bool
    bits = (bitmask[:, :, None] >> _BITS) & 1
    return bits.reshape(bitmask.shape[0], -1)[:, :vocab_size].bool()


def lark_for_choices(choices: list[str]) -> str:
    # JSON string literals are Lark string literals, so any text is quoted safely
    return "start: " + " | ".join(json.dumps(c) for c in choices)


def _grammar(spec: ConstraintSpec) -> str:
    make = llguidance.LLMatcher
    if spec.kind in ("json_schema", "json_object"):
        return make.grammar_from_json_schema(spec.source)
    if spec.kind == "regex":
        return make.grammar_from_regex(spec.source)
    if spec.kind == "choice":
        return make.grammar_from_lark(lark_for_choices(json.loads(spec.source)))
    return make.grammar_from_lark(spec.source)


class GrammarCompiler:
    """Compiles constraint specs against the model's tokenizer, keeping the most recent `cache_size`."""

    def __init__(self, tokenizer: Any, vocab_size: int, end_token_ids: frozenset[int], cache_size: int = 128) -> None:
        self._hf_tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._end_token_ids = sorted(end_token_ids)
        self._cache_size = cache_size
        self._cache: OrderedDict[ConstraintSpec, Constraint] = OrderedDict()
        self._tokenizer: llguidance.LLTokenizer | None = None
        self._lock = threading.Lock()

    def _ll_tokenizer(self) -> llguidance.LLTokenizer:
        # built on first use (about half a second), not at start-up, by whichever thread needs it
        if self._tokenizer is None:
            self._tokenizer = llguidance.hf.from_tokenizer(self._hf_tokenizer, n_vocab=self.vocab_size, eos_token=self._end_token_ids)
        return self._tokenizer

    def compile(self, spec: ConstraintSpec, field: str) -> Constraint:
        """The compiled constraint; InvalidRequest naming `field` when the spec does not compile."""
        with self._lock:
            cached = self._cache.get(spec)
            if cached is not None:
                self._cache.move_to_end(spec)
                return cached
            tokenizer = self._ll_tokenizer()
        try:
            grammar = _grammar(spec)
        except ValueError as exc:
            raise InvalidRequest(field, f"is not valid: {exc}") from None
        template = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        if template.is_error():
            raise InvalidRequest(field, f"is not valid: {first_line(template.get_error())}")
        constraint = Constraint(spec, template)
        with self._lock:
            self._cache[spec] = constraint
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return constraint


def first_line(message: str) -> str:
    # llguidance's errors carry a caret diagram after the first line; keep what a caller can read
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return "; ".join(lines[:1] + [line for line in lines[1:] if line.startswith("error:")])
