"""Structured-output mechanics: bitmask unpacking, choice quoting, and what a grammar that fails
mid-answer does (the real tokenizer and llguidance, no model)."""

from __future__ import annotations

import torch

from server.engine.structured_output import allowed_tokens, first_line, lark_for_choices


def test_bitmask_unpacking_and_choice_quoting():
    # mechanics only: bit j of word w allows token 32*w + j
    bitmask = torch.zeros((2, 2), dtype=torch.int32)
    bitmask[0, 0] = 1 | -(2**31)  # bit 31 is the sign bit of an int32
    bitmask[1, 1] = 1 << 3
    allowed = allowed_tokens(bitmask, 40)
    assert allowed.shape == (2, 40)
    assert allowed[0].nonzero().flatten().tolist() == [0, 31]
    assert allowed[1].nonzero().flatten().tolist() == [35]
    assert lark_for_choices(['a "b"', "c\\d"]) == 'start: "a \\"b\\"" | "c\\\\d"'


def test_llguidance_errors_keep_the_readable_lines():
    message = "regex parse error:\n    (a|\n    ^\nerror: unclosed group"
    assert first_line(message) == "regex parse error:; error: unclosed group"


def test_a_grammar_that_fails_mid_answer_ends_it_unfinished_and_leaves_the_cache(base_model):
    from server.engine.structured_output import ConstraintSpec, GrammarCompiler

    tokenizer = base_model.tokenizer
    compiler = GrammarCompiler(tokenizer, len(tokenizer), frozenset([tokenizer.eos_token_id]))
    spec = ConstraintSpec("regex", "[0-9]{3}")
    constraint = compiler.compile(spec, "regex")
    assert compiler.compile(spec, "regex") is constraint, "cached"
    matcher = constraint.matcher()
    matcher.accept(tokenizer.encode("x", add_special_tokens=False)[0])  # a token its grammar forbids
    assert matcher.error and not matcher.complete
    assert compiler.compile(spec, "regex") is not constraint, "a failed grammar is compiled afresh for the next request"
    assert not compiler.compile(spec, "regex").matcher().error, "and the next request's matcher starts clean"


def test_the_sequence_reports_an_unfinished_structure_not_an_end(base_model):
    import time

    from server.engine.request import GenerationRequest, StopReason
    from server.engine.sampling import SamplingParams
    from server.engine.sequence import Sequence
    from server.engine.structured_output import ConstraintSpec, GrammarCompiler

    tokenizer = base_model.tokenizer
    compiler = GrammarCompiler(tokenizer, len(tokenizer), frozenset([tokenizer.eos_token_id]))
    constraint = compiler.compile(ConstraintSpec("regex", "[0-9]{3}"), "regex")
    prompt = tuple(tokenizer.encode("Digits:", add_special_tokens=False))
    request = GenerationRequest("r1", prompt, SamplingParams(max_new_tokens=8), time.monotonic(), constraint=constraint)
    seq = Sequence(1, request, lambda event: None, tokenizer, torch.device("cpu"), 16)
    good, bad = (tokenizer.encode(text, add_special_tokens=False)[0] for text in ("1", "x"))
    ends = frozenset([tokenizer.eos_token_id])
    assert seq.accept_token(good, ends, 4096) is None
    assert seq.accept_token(bad, ends, 4096) is StopReason.UNFINISHED_STRUCTURE, "not END_OF_SEQUENCE: the answer is not whole"


def test_grammars_compile_on_a_lowest_priority_thread_and_refusals_still_reach_the_caller(base_model):
    # a client sending a new large grammar with every request must take only idle cores (bench/grammar_limits.py)
    import os
    import sys
    import threading

    import pytest

    from common.errors import InvalidRequest
    from server.engine.background_work import COMPILE_NICENESS
    from server.engine.structured_output import ConstraintSpec, GrammarCompiler

    tokenizer = base_model.tokenizer
    compiler = GrammarCompiler(tokenizer, len(tokenizer), frozenset([tokenizer.eos_token_id]))
    assert not compiler.compile(ConstraintSpec("regex", "[a-z]+"), "regex").matcher().error
    caller = threading.get_native_id()
    where = compiler._pool.submit(lambda: (threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))).result()
    assert where[0] != caller
    if sys.platform == "linux":
        assert where[1] == COMPILE_NICENESS and os.getpriority(os.PRIO_PROCESS, caller) != COMPILE_NICENESS
    with pytest.raises(InvalidRequest, match="regex: cannot be matched|regex: is not valid"):
        compiler.compile(ConstraintSpec("regex", "(a"), "regex")
