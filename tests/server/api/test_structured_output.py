"""Structured output end to end: the real server and model, answers that must parse."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import grpc
import jsonschema
import pytest
from tuneserve.v1 import common_pb2
from tuneserve_client import errors

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "height_m": {"type": "number"},
        "mood": {"enum": ["happy", "sad", "neutral"]},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "mood", "hobbies", "address"],
    "additionalProperties": False,
}

SUBJECTS = [
    "a retired sailor",
    "a young violinist",
    "a farmer from Iowa",
    "a chess champion",
    "a grumpy baker",
    "a marathon runner",
    "a nurse on night shifts",
    "a kid who loves dinosaurs",
    "a librarian in Paris",
    "a beekeeper",
]
STYLES = ["Describe {} as JSON.", "Invent a profile for {}.", "Give me data about {}.", "Who is {}? Answer in JSON.", "Make up {}."]
PROMPTS = [style.format(subject) for style in STYLES for subject in SUBJECTS]


def ask(client, content, **params):
    return client.generate(messages=[{"role": "user", "content": content}], **params)


def test_fifty_prompts_under_a_nested_schema_all_validate(auto_client):
    # they compare no tokens, so they run at the automatic precision, as users do and several
    # times faster than on the float32 server that the tests comparing batched with alone need
    client = auto_client
    assert len(PROMPTS) == 50
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda p: ask(client, p, max_new_tokens=160, structured_output={"json_schema": PERSON}), PROMPTS))
    for prompt, reply in zip(PROMPTS, replies, strict=True):
        assert reply.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE, (prompt, reply.text)
        jsonschema.validate(json.loads(reply.text), PERSON)


def test_a_regex_and_a_choice_list(client):
    phone = ask(client, "What is the phone number of the pizza place?", structured_output={"regex": r"\(\d{3}\) \d{3}-\d{4}"})
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", phone.text), phone.text
    choices = ["positive", "negative", 'neutral "meh"']
    for review in ("I loved every minute of it!", "Terrible, a waste of money.", "It was fine."):
        reply = ask(client, f"Sentiment of this review: {review}", structured_output={"choice": choices})
        assert reply.text in choices
        assert reply.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE


def test_any_json_object(client):
    reply = ask(client, "List three colours.", max_new_tokens=200, structured_output={"json_object": True})
    assert isinstance(json.loads(reply.text), dict)


def test_constrained_and_free_rows_in_one_batch_answer_as_alone(client):
    requests = [
        ("Describe a cat.", {"max_new_tokens": 24}),
        ("Describe a dog as JSON.", {"max_new_tokens": 80, "structured_output": {"json_schema": PERSON}}),
        ("Is the sky blue?", {"structured_output": {"choice": ["yes", "no"]}}),
        ("Write a haiku about rain.", {"max_new_tokens": 24}),
        ("A year between 1900 and 1999:", {"structured_output": {"regex": "19[0-9]{2}"}}),
    ]
    alone = [ask(client, prompt, **params).text for prompt, params in requests]
    with ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(lambda r: ask(client, r[0], **r[1]).text, requests))
    assert together == alone


def test_stream_of_a_constrained_answer(client):
    chunks = list(
        client.generate_stream(messages=[{"role": "user", "content": "A person, as JSON."}], structured_output={"json_schema": PERSON})
    )
    jsonschema.validate(json.loads("".join(c.text for c in chunks)), PERSON)
    assert chunks[-1].stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE


def test_running_out_of_tokens_inside_the_structure_says_so(client):
    reply = ask(client, "Describe a dog as JSON.", max_new_tokens=5, structured_output={"json_schema": PERSON})
    assert reply.stop_reason == common_pb2.STOP_REASON_UNFINISHED_STRUCTURE
    assert reply.usage.generated_tokens == 5
    whole = ask(client, "Pick one.", max_new_tokens=5, structured_output={"choice": ["a", "b"]})
    assert whole.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE


@pytest.mark.parametrize(
    ("structured", "field", "reason"),
    [
        ({"json_schema": "{not json"}, "structured_output.json_schema", "is not JSON"),
        ({"json_schema": "[1, 2]"}, "structured_output.json_schema", "must be a JSON object"),
        ({"json_schema": {"type": "wat"}}, "structured_output.json_schema", "wat"),
        ({"json_schema": {"type": "string", "pattern": "(a|"}}, "structured_output.json_schema", "unclosed group"),
        ({"regex": "[a-"}, "structured_output.regex", "unclosed character class"),
        ({"regex": "  "}, "structured_output.regex", "is empty"),
        ({"choice": []}, "structured_output.choice", "at least one choice"),
        ({"choice": ["a", ""]}, "structured_output.choice", "none of them empty"),
        ({"lark_grammar": "start: foo"}, "structured_output.lark_grammar", "unknown name"),
        ({"json_schema": {"enum": ["x" * 70000]}}, "structured_output.json_schema", "at most 65536"),
        # probed by a hostile caller: each used to pass, or fail later with the engine's state dump
        ({"json_schema": {"$ref": "#"}}, "structured_output.json_schema", "never finishes"),
        (
            {"json_schema": {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}},
            "structured_output.json_schema",
            "never finishes",
        ),  # fmt: skip
        ({"lark_grammar": "start: start"}, "structured_output.lark_grammar", "never finishes"),
        ({"regex": "(a{1000}){999}"}, "structured_output.regex", "too large or complex for this server's grammar limits"),
        ({"regex": "[]"}, "structured_output.regex", "unclosed character class"),
    ],
)
def test_bad_structures_are_refused_with_the_reason(client, structured, field, reason):
    with pytest.raises(errors.TuneserveError) as caught:
        ask(client, "Hello", structured_output=structured)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.message and reason in caught.value.message


def test_a_refused_grammar_is_refused_the_same_way_every_time_and_the_reason_is_short(client):
    for _ in range(2):  # the first refusal leaves nothing behind that changes the second
        with pytest.raises(errors.TuneserveError) as caught:
            ask(client, "Hello", structured_output={"regex": "(a{1000}){999}"})
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and len(caught.value.message) < 400
    with pytest.raises(errors.TuneserveError) as caught:
        ask(client, "Hello", structured_output={"json_schema": {"$ref": "#"}})
    assert "Parser" not in caught.value.message and "{" not in caught.value.message, "no engine state dump"
    assert ask(client, "Say a", max_new_tokens=4, structured_output={"regex": "a+"}).text.startswith("a"), "others go on"


def test_structure_with_min_new_tokens_is_refused(client):
    with pytest.raises(errors.TuneserveError) as caught:
        ask(client, "Hello", min_new_tokens=3, structured_output={"choice": ["a"]})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "structured_output" in caught.value.message
    with pytest.raises(errors.TuneserveError) as caught:
        ask(client, "Hello", ignore_eos=True, structured_output={"choice": ["a"]})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.field == "parameters.ignore_eos"


def test_few_shot_prompt_with_a_choice_list(client):
    few_shot = {
        "query": "The soup was cold and bland.",
        "demos": [("Great service!", "positive"), ("Never again.", "negative")],
        "instruction": "Classify the sentiment.",
    }
    reply = client.generate(few_shot=few_shot, structured_output={"choice": ["positive", "negative"]})
    assert reply.text in ("positive", "negative")
