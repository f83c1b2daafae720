"""Training data: formats, every kind of bad line reported by number, over-long policies, splits."""

from __future__ import annotations

import json

import pytest

from server.errors import InvalidRequest
from server.task_spec import TaskSpec
from trainer.data import DataRejected, Example, check_labels, read_jsonl, split, tokenize


def jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


def test_the_three_formats_are_recognised():
    assert read_jsonl(jsonl({"prompt": "2+2?", "completion": "4"})).format == "prompt_completion"
    chat = read_jsonl(jsonl({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}))
    assert chat.format == "messages"
    assert chat.examples[0] == Example(1, "Hi", "Hello", (("system", "Be brief."), ("user", "Hi")))
    assert read_jsonl(jsonl({"text": "Great film", "label": "positive"})).format == "classification"


def test_every_bad_line_is_reported_with_its_number_and_reason():
    data = jsonl(
        {"prompt": "a", "completion": "b"},
        "{not json",
        {"prompt": "c"},
        {"prompt": "d", "completion": "   "},
        {"prompt": "", "completion": "e"},
        ["not", "an", "object"],
        {"prompt": "a", "completion": "b"},
        {"prompt": "f", "completion": "g"},
    )
    with pytest.raises(DataRejected) as info:
        read_jsonl(data)
    reasons = {e.line: e.reason for e in info.value.errors}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert reasons[2].startswith("not JSON")
    assert reasons[3].startswith("missing field 'completion'")
    assert reasons[4] == "empty completion" and reasons[5] == "empty prompt"
    assert reasons[6] == "not a JSON object" and reasons[7] == "duplicate of line 1"
    assert "6 invalid line(s)" in info.value.message and "line 3: missing field" in info.value.message


def test_chat_lines_are_checked_turn_by_turn():
    def messages(*turns):
        return {"messages": [{"role": r, "content": c} for r, c in turns]}

    data = jsonl(
        messages(("user", "hi"), ("assistant", "hello")),
        messages(("user", "hi"), ("robot", "beep")),
        messages(("user", "only a question")),
        messages(("user", "hi"), ("assistant", "hello"), ("user", "and?")),
        messages(("user", "hi"), ("assistant", "")),
        {"messages": "nope"},
    )
    with pytest.raises(DataRejected) as info:
        read_jsonl(data)
    reasons = {e.line: e.reason for e in info.value.errors}
    assert "unknown role 'robot'" in reasons[2]
    assert reasons[3] == "no assistant turn to learn from"
    assert reasons[4] == "the last message must be the assistant's answer"
    assert "empty content" in reasons[5] and "non-empty list" in reasons[6]


def test_unknown_format_and_other_files():
    with pytest.raises(DataRejected, match="unknown format"):
        read_jsonl(jsonl({"question": "x", "answer": "y"}))
    with pytest.raises(InvalidRequest, match="no examples"):
        read_jsonl(b"\n\n")
    with pytest.raises(InvalidRequest, match="not UTF-8"):
        read_jsonl(b"\xff\xfe{}")


def test_labels_are_inferred_or_enforced():
    data = read_jsonl(jsonl({"text": "a", "label": "pos"}, {"text": "b", "label": "neg"}, {"text": "c", "label": "meh"}))
    assert check_labels(data, []) == ["meh", "neg", "pos"]
    with pytest.raises(DataRejected) as info:
        check_labels(data, ["pos", "neg"])
    assert [str(e) for e in info.value.errors] == ["line 3: label 'meh' is not one of ['pos', 'neg']"]
    with pytest.raises(InvalidRequest, match="at least two labels"):
        check_labels(read_jsonl(jsonl({"text": "a", "label": "pos"})), [])


def test_over_long_examples_are_refused_truncated_or_dropped(base_model):
    tok = base_model.tokenizer
    spec = TaskSpec(name="t", kind="classification", labels=["pos", "neg"])
    long_text = "This film goes on and on. " * 60
    examples = [Example(1, "Short and sweet.", "pos"), Example(2, long_text, "neg")]
    with pytest.raises(DataRejected) as info:
        tokenize(tok, spec, examples, 128, tok.eos_token_id)
    assert info.value.errors[0].line == 2 and "over the token limit" in info.value.errors[0].reason
    kept, dropped = tokenize(tok, spec, examples, 128, tok.eos_token_id, "drop")
    assert [e.line for e in kept] == [1] and dropped == [2]
    cut, dropped = tokenize(tok, spec, examples, 128, tok.eos_token_id, "truncate")
    assert [e.line for e in cut] == [1, 2] and dropped == [] and len(cut[1]) <= 128
    assert cut[1].completion == tok(" neg" if spec.template == "plain" else "neg", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def test_split_is_seeded_and_holds_something_out():
    items = list(range(100))
    train, holdout = split(items, 0.1, seed=7)
    assert len(holdout) == 10 and sorted(train + holdout) == items
    assert split(items, 0.1, seed=7) == (train, holdout)
    assert split(items, 0.1, seed=8) != (train, holdout)
    with pytest.raises(InvalidRequest, match="too few"):
        split([1], 0.5, 0)
