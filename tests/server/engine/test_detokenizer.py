"""Incremental detokenization with the embedded model's real tokenizer."""

import pytest

from server.engine.detokenizer import IncrementalDetokenizer

TEXTS = [
    "The capital of France is Paris.",
    "naïve café, déjà vu — 日本語のテキスト 🙂👍🏽 done",
    "  leading spaces\n\ttabs and\nnew lines  ",
    "def f(x):\n    return x ** 2  # code",
]


@pytest.mark.parametrize("text", TEXTS)
def test_streamed_deltas_add_up_to_the_full_decode(base_model, text):
    tokenizer = base_model.tokenizer
    prompt = tokenizer("Answer:", add_special_tokens=False)["input_ids"]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = IncrementalDetokenizer(tokenizer, prompt)
    deltas = [detok.push(i) for i in ids]
    deltas.append(detok.flush())
    assert "".join(deltas) == tokenizer.decode(ids) == detok.text
    assert all("\ufffd" not in d for d in deltas), "no delta may end inside a multi-byte character"


def test_special_tokens_are_not_rendered(base_model):
    tokenizer = base_model.tokenizer
    detok = IncrementalDetokenizer(tokenizer, [])
    ids = tokenizer("Hi", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert "".join(detok.push(i) for i in ids) + detok.flush() == "Hi"
