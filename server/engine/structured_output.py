"""Structured output: an answer constrained to a JSON schema, a regular expression, a list of
choices or a Lark grammar, decided token by token.

llguidance compiles what the caller gave against the tokenizer once (cached by content); every
constrained sequence then owns a matcher that says which tokens may come next. The sampler turns
the matchers' bitmasks into a per-row mask, so constrained and free rows share a batch.

A constraint either holds or the request says it did not: compiling runs under limits (grammar
size, lexer fuel, which bounds compile time) and computes the first mask, so a grammar that cannot
produce any text (`{"$ref": "#"}`, `start: start`) or exceeds a limit is refused before admission
with the compiler's short reason. A grammar that fails later, in the middle of an answer (a regex
whose lexer outgrows its limits on some input), ends that answer with UNFINISHED_STRUCTURE, never
a normal end, and is dropped from the cache: the copies of one compiled grammar share its lexer's
caches, so the next request gets a fresh compile rather than the exhausted one.

Compiling runs on threads of its own at the lowest CPU priority (Linux sets niceness per thread),
so a client that sends a new large grammar with every request takes only the cores the engine
leaves idle instead of slowing every other answer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import llguidance
import llguidance.hf
import torch

from common.errors import InvalidRequest
from server.engine.background_work import lower_thread_priority

KINDS = ("json_schema", "json_object", "regex", "choice", "lark_grammar")
ANY_JSON_OBJECT = '{"type": "object"}'


@dataclass(frozen=True)
class ConstraintSpec:
    """What a request asked for, by kind, with the text that defines it."""

    kind: str  # one of KINDS
    source: str  # the schema, pattern or grammar; choices as a JSON list


@dataclass(frozen=True)
class GrammarLimits:
    """What compiling and matching one grammar may cost (server settings `grammar_*`)."""

    max_grammar_size: int = 500_000  # symbols in the compiled grammar's productions
    lexer_fuel: int = 1_000_000  # regex work to build the lexer (~50k per ms): bounds compile time
    step_lexer_fuel: int = 200_000  # regex work per token's mask (~14k per ms)
    max_lexer_states: int = 250_000  # lexer states, shared by every request using one grammar

    def parser_limits(self) -> llguidance.LLParserLimits:
        return llguidance.LLParserLimits(
            max_grammar_size=self.max_grammar_size,
            initial_lexer_fuel=self.lexer_fuel,
            step_lexer_fuel=self.step_lexer_fuel,
            max_lexer_states=self.max_lexer_states,
            verbose_errors=False,  # a parser state dump is no message for a caller, nor for the log
        )


class Constraint:
    """A compiled grammar; every request that uses it gets its own matcher."""

    def __init__(self, spec: ConstraintSpec, template: llguidance.LLMatcher, on_failure: Callable[[ConstraintSpec], None]) -> None:
        self.spec = spec
        self._template = template
        self._on_failure = on_failure

    def matcher(self) -> GrammarMatcher:
        return GrammarMatcher(self._template.deep_copy(), lambda: self._on_failure(self.spec))


class GrammarMatcher:
    """Where one generation stands in its grammar."""

    def __init__(self, matcher: llguidance.LLMatcher, on_failure: Callable[[], None] = lambda: None) -> None:
        self._matcher = matcher
        self._on_failure = on_failure
        self._reported = False

    def fill_bitmask(self, row: torch.Tensor) -> None:
        """Writes the allowed next tokens into `row`, a contiguous int32 CPU tensor of ceil(V/32) words."""
        self._matcher.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())
        self._check()

    def accept(self, token_id: int) -> None:
        self._matcher.consume_token(token_id)
        self._check()

    def _check(self) -> None:
        if not self._reported and self._matcher.is_error():
            self._reported = True
            self._on_failure()

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

    def __init__(
        self,
        tokenizer: Any,
        vocab_size: int,
        end_token_ids: frozenset[int],
        cache_size: int = 128,
        limits: GrammarLimits | None = None,
        threads: int = 1,
    ) -> None:
        self.limits = limits or GrammarLimits()
        self._parser_limits = self.limits.parser_limits()
        self._hf_tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._end_token_ids = sorted(end_token_ids)
        self._cache_size = cache_size
        self._cache: OrderedDict[ConstraintSpec, Constraint] = OrderedDict()
        self._tokenizer: llguidance.LLTokenizer | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="tuneserve-grammar", initializer=lower_thread_priority)

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
        constraint = self._pool.submit(self._build, tokenizer, spec, field).result()
        with self._lock:
            self._cache[spec] = constraint
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return constraint

    def _build(self, tokenizer: llguidance.LLTokenizer, spec: ConstraintSpec, field: str) -> Constraint:
        try:
            grammar = _grammar(spec)
        except ValueError as exc:
            raise InvalidRequest(field, f"is not valid: {first_line(str(exc))}") from None
        template = llguidance.LLMatcher(tokenizer, grammar, log_level=0, limits=self._parser_limits)
        if template.is_error():
            raise InvalidRequest(field, f"is not valid: {first_line(template.get_error())}")
        self._check_first_mask(template, field)
        return Constraint(spec, template, self.evict)

    def _check_first_mask(self, template: llguidance.LLMatcher, field: str) -> None:
        """Refuses a grammar that cannot start an answer: one that never produces text, or whose
        first step already exceeds a limit."""
        row = torch.zeros(bitmask_words(self.vocab_size), dtype=torch.int32)
        # twice: the copies share the lexer, and a grammar whose first step exhausts the lexer's
        # limits passes once and then fails every request after it
        for _ in range(2):
            probe = template.deep_copy()
            probe.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())
            if probe.is_error():
                raise InvalidRequest(field, f"cannot be matched: {describe_failure(probe.get_error())}")
        if not bool(row.any()):
            raise InvalidRequest(field, "admits no text at all: nothing can be generated under it")

    def evict(self, spec: ConstraintSpec) -> None:
        """Forgets a grammar whose matcher failed mid-answer (its shared lexer may be exhausted)."""
        with self._lock:
            self._cache.pop(spec, None)


def describe_failure(error: str) -> str:
    """A grammar engine's failure in a caller's terms, with its own short reason."""
    reason = first_line(error)[:300]
    if "NoExtensionBias" in reason or "no extension" in reason.lower():
        return "it never finishes (a $ref or rule that only refers to itself, with nothing else to produce)"
    if "too many" in reason or "fuel" in reason or "limit" in reason.lower():
        return f"it is too large or complex for this server's grammar limits ({reason})"
    return reason


def first_line(message: str) -> str:
    # llguidance's errors carry a caret diagram after the first line; keep what a caller can read
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return "; ".join(lines[:1] + [line for line in lines[1:] if line.startswith("error:")])
