"""Training data: formats, every kind of bad line reported by number, over-long policies, splits."""

from __future__ import annotations

import json

import pytest

from common.errors import InvalidRequest
from common.task_spec import TaskSpec
from trainer.training.data import DataRejected, Example, check_labels, parse_jsonl, read_jsonl, split, tokenize


def jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


def test_the_three_formats_are_recognised():
    assert read_jsonl(jsonl({"prompt": "2+2?", "completion": "4"})).format == "prompt_completion"
    chat = read_jsonl(
        jsonl(
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                ]
            }
        )
    )
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
    assert reasons[6] == "not a JSON object" and reasons[7].startswith("duplicate of line 1 (duplicates=refuse")
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
    assert cut[1].completion == tok(" neg" if spec.template == "plain" else "neg", add_special_tokens=False)["input_ids"] + [
        tok.eos_token_id
    ]


def test_split_is_seeded_and_holds_something_out():
    items = list(range(100))
    train, holdout = split(items, 0.1, seed=7)
    assert len(holdout) == 10 and sorted(train + holdout) == items
    assert split(items, 0.1, seed=7) == (train, holdout)
    assert split(items, 0.1, seed=8) != (train, holdout)
    with pytest.raises(InvalidRequest, match="too few"):
        split([1], 0.5, 0)


def test_fields_of_the_wrong_type_say_so():
    dataset = parse_jsonl(
        jsonl(
            {"text": 5, "label": "pos"}, {"text": "ok", "label": ["pos"]}, {"text": "fine", "label": "neg"}, {"text": "  ", "label": "neg"}
        )
    )
    reasons = {e.line: e.reason for e in dataset.errors}
    assert reasons == {1: "text must be a string, got a number", 2: "label must be a string or an integer, got a list", 4: "empty text"}


def test_every_bad_line_of_a_large_garbage_file_is_numbered():
    lines = [json.dumps({"text": f"good {i}", "label": "pos" if i % 2 else "neg"}) for i in range(3)]
    lines += [f"garbage {i} {{" for i in range(18_901)]
    rejected = DataRejected(parse_jsonl("\n".join(lines).encode()).errors)
    assert len(rejected.errors) == 18_901 and [e.line for e in rejected.errors] == list(range(4, 18_905))
    assert "18901 invalid line(s)" in rejected.message and "every one listed with the job" in rejected.message


def prepared(tmp_path, base_model, data: bytes, **config):
    from trainer.config import JobConfig
    from trainer.jobs.job import JobFiles, prepare

    files = JobFiles(tmp_path / "job")
    files.create(data, None)
    return prepare(JobConfig(adapter_name="t", **config), base_model.tokenizer, files)


def test_an_over_long_line_is_reported_together_with_the_other_bad_lines(tmp_path, base_model):
    rows = [{"text": f"review number {i}", "label": "pos" if i % 2 else "neg"} for i in range(10)]
    rows[4] = {"text": "This film goes on and on. " * 200, "label": "neg"}
    data = jsonl(*rows, "not json", {"text": 5, "label": "pos"})
    with pytest.raises(DataRejected) as info:
        prepared(tmp_path, base_model, data, hyperparameters={"max_seq_len": 256})
    assert [e.line for e in info.value.errors] == [5, 11, 12]
    assert "over the token limit" in info.value.errors[0].reason


def test_job_files_are_private(tmp_path, base_model):
    from trainer.jobs.job import JobFiles

    files = JobFiles(tmp_path / "jobs" / "job-1")
    files.create(b'{"text": "a", "label": "b"}\n', b'{"text": "c", "label": "b"}\n')
    assert files.root.stat().st_mode & 0o777 == 0o700
    assert files.train.stat().st_mode & 0o777 == 0o600 and files.validation.stat().st_mode & 0o777 == 0o600


def test_duplicates_are_dropped_refused_or_kept():
    data = jsonl(*[{"prompt": p, "completion": "x"} for p in ("a", "b", "a", "c", "a", "b")])
    dropped = parse_jsonl(data, duplicates="drop")
    assert [e.input for e in dropped.examples] == ["a", "b", "c"] and not dropped.errors
    assert dropped.duplicates == [(3, 1), (5, 1), (6, 2)]
    refused = parse_jsonl(data, duplicates="refuse")
    assert [e.line for e in refused.errors] == [3, 5, 6] and not refused.duplicates
    kept = parse_jsonl(data, duplicates="keep")
    assert len(kept.examples) == 6 and not kept.errors and not kept.duplicates


def test_invalid_utf8_is_reported_under_the_file_it_is_in_with_its_line():
    from common.errors import InvalidRequest
    from trainer.training.data import parse_jsonl

    with pytest.raises(InvalidRequest) as training:
        parse_jsonl(b'{"text": "a", "label": "x"}\n{"text": "\xff"}\n')
    assert training.value.field == "training_data" and "line 2" in str(training.value)
    with pytest.raises(InvalidRequest) as validation:
        parse_jsonl(b'{"text": "\xfe"}\n', "validation data", "validation data", field="validation_data")
    assert validation.value.field == "validation_data" and "validation data is not UTF-8 text" in str(validation.value)


def test_openai_chat_lines_train_on_their_last_answer_and_weights_must_say_so():
    def line(*messages, **extra) -> bytes:
        return json.dumps({"messages": list(messages), **extra}).encode()

    user, answer = {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": 1}
    developer = {"role": "developer", "content": "Be kind."}
    earlier = {"role": "assistant", "content": "Yes?", "weight": 0}
    good = parse_jsonl(b"\n".join([line(developer, user, answer), line(user, earlier, user, answer)]))
    assert not good.errors and good.examples[0].conversation[0] == ("system", "Be kind.")  # rendered as the system turn
    reasons = {
        line(user, {**answer, "weight": 0}): "weight is 0 on the last answer",
        line(user, {**earlier, "weight": 1}, user, answer): "weight is 1 on an earlier answer",
        line(user, {**answer, "weight": 0.5}): "weight must be 0 or 1",
        line({**user, "weight": 1}, answer): "weight must be 0 or 1",
        line({**user, "name": "ann"}, answer): "'name', which is not used in training",
        line(user, answer, tools=[{"type": "function"}]): "training on tool calls is not supported",
    }
    for data, reason in reasons.items():
        errors = parse_jsonl(data).errors
        assert len(errors) == 1 and reason in errors[0].reason, (data, errors)


def test_kept_files_are_checked_listed_newest_first_and_forgotten(tmp_path):
    from common.database.connect import open_database
    from common.errors import InvalidRequest, NotFound
    from trainer.api.files_db import FileStore

    files = FileStore(open_database(f"sqlite:///{tmp_path / 'jobs.db'}"), max_bytes=4096)
    first = files.add("a.jsonl", "fine-tune", b'{"text": "x", "label": "y"}\n\n{"text": "z", "label": "y"}\n')
    second = files.add("b.jsonl", "fine-tune", b'{"prompt": "p", "completion": "c"}\n')
    assert first.lines == 2 and first.id.startswith("file-") and files.content(first.id).startswith(b'{"text"')
    listed, more = files.list(limit=1)
    assert [f.id for f in listed] == [second.id] and more
    assert [f.id for f in files.list(after=second.id)[0]] == [first.id]
    with pytest.raises(InvalidRequest, match="names no file") as refused:
        files.list(after="file-nope")
    assert refused.value.field == "after"
    for content, purpose, words in [
        (b'{"a": 1}\n[1]\n', "fine-tune", "line 2 is not a JSON object"),
        (b'{"a": 1}\n{"b": \n', "fine-tune", "line 2 is not JSON"),
        (b'{"a": "\xff"}\n', "fine-tune", "line 1 is not UTF-8"),
        (b"\n\n", "fine-tune", "has no examples"),
        (b"x" * 5000, "fine-tune", "max_data_bytes"),
        (b'{"a": 1}\n', "batch", "must be 'fine-tune'"),
    ]:
        with pytest.raises(InvalidRequest, match=words):
            files.add("c.jsonl", purpose, content)
    files.delete(first.id)
    with pytest.raises(NotFound):
        files.content(first.id)
