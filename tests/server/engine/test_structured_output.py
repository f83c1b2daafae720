"""Structured-output mechanics that need no model: bitmask unpacking and choice quoting."""

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
