"""OpenAI request bodies and structured output, fuzzed against the real server over HTTP.

Bodies are JSON objects built from OpenAI's own fields (and some nobody defines) with valid,
borderline and hostile values; the structured output is a random small JSON schema, regex or
choice list, or a hostile one. Whatever is sent: no 5xx; every 400 names the `param` it is about;
and an answer that says it ended normally under a constraint matches that constraint.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import running_server
from tests.server.api.test_openai_api import free_port

STORED_ID = "resp_fuzz-kept"  # a response the fuzz server keeps from the start
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_server(base_model, cache_dir, tmp_path_factory):
    # responses are kept, so that previous_response_id is looked up (one id of the strategy is real)
    kept = dict(responses_store=True, experiment_db=tmp_path_factory.mktemp("fuzz") / "record.sqlite")
    with running_server(base_model, cache_dir, http_port=free_port(), max_new_tokens_limit=16, default_max_new_tokens=8, **kept) as running:
        request = urllib.request.Request(
            running.http_url + "/responses",
            data=json.dumps({"model": "", "input": "Hi", "max_output_tokens": 2}).encode(),
            headers={"content-type": "application/json", "x-request-id": STORED_ID.removeprefix("resp_")},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert json.loads(response.read())["id"] == STORED_ID
        yield running


def odd_values() -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),  # JSON has no NaN: json.dumps would write a non-JSON token
        st.text(max_size=12),
        st.lists(st.integers(-3, 3), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )


NUMBERS = {
    "max_tokens": st.one_of(st.integers(-2, 40), odd_values()),
    "max_completion_tokens": st.one_of(st.integers(-1, 20), odd_values()),
    "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), odd_values()),
    "top_p": st.one_of(st.floats(-0.5, 1.5, allow_nan=False), odd_values()),
    "top_k": st.one_of(st.integers(-1, 60000), odd_values()),
    "seed": st.one_of(st.integers(-1, 2**65), odd_values()),
    "n": st.one_of(st.integers(-1, 3), odd_values()),
    "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=20), odd_values()),
    "min_tokens": st.one_of(st.integers(-1, 20), odd_values()),
    "repetition_penalty": st.one_of(st.floats(-1, 3, allow_nan=False), odd_values()),
    "user": st.one_of(st.text(max_size=10), odd_values()),
    "stream": st.one_of(st.just(False), odd_values()),
    "logprobs": odd_values(),
    "frequency_penalty": odd_values(),
    "not_a_field": odd_values(),
}

ATOMS = ["a", "b", "[0-9]", "x+", "(ab|cd)", "\\d{2}", "[a-z]{1,3}", " ", "yes|no"]
HOSTILE_REGEX = ["[]", "(a{1000}){999}", "(", "a**", "[z-a]", ""]
TYPES = [{"type": "string", "maxLength": 8}, {"type": "integer"}, {"type": "boolean"}, {"enum": ["red", "blue"]}, {"type": "number"}]
HOSTILE_SCHEMA = [{"$ref": "#"}, {"type": "wat"}, {"type": "string", "pattern": "[]"}, {"allOf": [{"type": "string"}, {"type": "integer"}]}]


@st.composite
def constraints(draw) -> tuple[str, object] | None:
    kind = draw(st.sampled_from(["none", "regex", "schema", "choice", "hostile_regex", "hostile_schema"]))
    if kind == "regex":
        return "regex", "".join(draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4)))
    if kind == "hostile_regex":
        return "regex", draw(st.sampled_from(HOSTILE_REGEX))
    if kind == "schema":
        props = draw(st.dictionaries(st.sampled_from(["a", "b", "name", "n"]), st.sampled_from(TYPES), min_size=1, max_size=3))
        return "json_schema", {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}
    if kind == "hostile_schema":
        return "json_schema", draw(st.sampled_from(HOSTILE_SCHEMA))
    if kind == "choice":
        return "choice", draw(st.lists(st.text(min_size=0, max_size=6), min_size=0, max_size=4))
    return None


@st.composite
def bodies(draw) -> tuple[dict, tuple[str, object] | None]:
    body: dict = {"model": draw(st.sampled_from(["", "", "SmolLM2-135M-Instruct", "no-such-model", 7]))}
    message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "wizard"]), "content": st.text(max_size=20)})
    body["messages"] = draw(
        st.one_of(st.just([{"role": "user", "content": "Say something short."}]), st.lists(message, max_size=3), odd_values())
    )
    for name in draw(st.lists(st.sampled_from(sorted(NUMBERS)), max_size=4, unique=True)):
        body[name] = draw(NUMBERS[name])
    body.setdefault("max_tokens", 8)
    constraint = draw(constraints())
    if constraint is not None:
        kind, source = constraint
        if kind == "regex":
            body["guided_regex"] = source
        elif kind == "choice":
            body["guided_choice"] = source
        else:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "x", "schema": source}}
    return body, constraint


def send(server, body: dict, path: str = "/chat/completions") -> tuple[int, dict]:
    return send_to(server.http_url + path, body)


def send_to(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


RESPONSE_FIELDS = {
    "max_output_tokens": st.one_of(st.integers(-1, 20), odd_values()),
    "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), odd_values()),
    "top_p": st.one_of(st.floats(-0.5, 1.5, allow_nan=False), odd_values()),
    "top_logprobs": st.one_of(st.integers(-1, 30), odd_values()),
    "include": st.one_of(st.just(["message.output_text.logprobs"]), st.lists(st.text(max_size=8), max_size=2), odd_values()),
    "instructions": st.one_of(st.text(max_size=20), odd_values()),
    "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required"]), st.just({"type": "function", "name": "f"}), odd_values()),
    "tools": st.one_of(st.just([{"type": "function", "name": "f", "parameters": {"type": "object"}}]), odd_values()),
    "metadata": st.one_of(st.dictionaries(st.text(max_size=70), st.text(max_size=4), max_size=3), odd_values()),
    "truncation": st.one_of(st.sampled_from(["disabled", "auto"]), odd_values()),
    "store": odd_values(),
    "previous_response_id": st.one_of(st.just(STORED_ID), st.text(max_size=12), odd_values()),
    "stream": st.one_of(st.just(False), odd_values()),
    "not_a_field": odd_values(),
}


@st.composite
def response_bodies(draw) -> tuple[dict, tuple[str, object] | None]:
    """Responses API bodies: input as a text or as items of every kind, some malformed."""
    part = st.fixed_dictionaries({"type": st.sampled_from(["input_text", "output_text", "input_image", "x"]), "text": st.text(max_size=10)})
    item = st.one_of(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["user", "developer", "assistant", "wizard"]),
                "content": st.one_of(st.text(max_size=20), st.lists(part, max_size=2)),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("function_call"),
                "call_id": st.text(max_size=6),
                "name": st.text(max_size=6),
                "arguments": st.text(max_size=8),
            }
        ),
        st.fixed_dictionaries({"type": st.just("function_call_output"), "call_id": st.text(max_size=6), "output": st.text(max_size=10)}),
        st.fixed_dictionaries({"type": st.sampled_from(["reasoning", "item_reference", "message"])}),
        odd_values(),
    )
    body: dict = {"model": draw(st.sampled_from(["", "SmolLM2-135M-Instruct", "no-such-model"]))}
    body["input"] = draw(st.one_of(st.just("Say something short."), st.lists(item, max_size=3), odd_values()))
    for name in draw(st.lists(st.sampled_from(sorted(RESPONSE_FIELDS)), max_size=4, unique=True)):
        body[name] = draw(RESPONSE_FIELDS[name])
    body.setdefault("max_output_tokens", 8)
    constraint = draw(constraints())
    if constraint is not None and constraint[0] == "json_schema":
        body["text"] = {"format": {"type": "json_schema", "name": "x", "schema": constraint[1]}}
        return body, constraint
    return body, None


def refused_as_openai_refuses(status: int, answer: dict) -> bool:
    """Whether the request was refused, checking that it was refused well: never a 5xx, always an
    OpenAI error, a 400 naming its param."""
    assert status < 500, answer
    if status == 200:
        return False
    error = answer["error"]
    assert error["message"] and error["type"], answer
    if status == 400:
        assert error["param"], f"a 400 without param: {error['message']}"
    return True


def holds(kind: str, source: object, text: str) -> bool:
    if kind == "regex":
        return re.fullmatch(str(source), text) is not None
    if kind == "choice":
        return text in source  # type: ignore[operator]
    try:
        jsonschema.validate(json.loads(text), source)  # type: ignore[arg-type]
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


@pytest.mark.slow
@FUZZ
@given(case=bodies())
def test_no_5xx_every_400_names_its_param_and_an_ok_answer_meets_its_constraint(fuzz_server, case):
    body, constraint = case
    status, answer = send(fuzz_server, body)
    if refused_as_openai_refuses(status, answer):
        return
    choice = answer["choices"][0]
    if constraint is not None and choice["stop_reason"] == "end_of_sequence":
        kind, source = constraint
        assert holds(kind, source, choice["message"]["content"]), (constraint, choice)


@pytest.mark.slow
@FUZZ
@given(case=response_bodies())
def test_responses_bodies_get_no_5xx_and_named_400s_and_a_completed_answer_meets_its_format(fuzz_server, case):
    body, constraint = case
    status, answer = send(fuzz_server, body, "/responses")
    event(f"{status}, continuing the kept response: {body.get('previous_response_id') == STORED_ID}")
    if refused_as_openai_refuses(status, answer):
        return
    assert answer["object"] == "response" and answer["status"] in ("completed", "incomplete")
    if constraint is not None and answer["status"] == "completed":
        kind, source = constraint
        assert holds(kind, source, answer["output"][0]["content"][0]["text"]), (constraint, answer)


@st.composite
def tokenize_bodies(draw) -> tuple[str, dict]:
    """vLLM's /tokenize and /detokenize bodies, some malformed."""
    if draw(st.booleans()):
        tokens = st.one_of(st.lists(st.one_of(st.integers(-2, 50000), st.integers(0, 2**40)), max_size=20), odd_values())
        return "/detokenize", {"model": draw(st.sampled_from(["", "no-such-model"])), "tokens": draw(tokens)}
    message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "wizard"]), "content": st.text(max_size=20)})
    body: dict = {}
    for name, values in {
        "prompt": st.one_of(st.text(max_size=30), odd_values()),
        "messages": st.one_of(st.lists(message, max_size=3), odd_values()),
        "add_special_tokens": odd_values(),
        "add_generation_prompt": odd_values(),
        "return_token_strs": odd_values(),
        "chat_template_kwargs": st.one_of(st.dictionaries(st.text(max_size=6), odd_values(), max_size=3), odd_values()),
        "continue_final_message": odd_values(),
        "not_a_field": odd_values(),
    }.items():
        if draw(st.booleans()):
            body[name] = draw(values)
    return "/tokenize", body


@pytest.mark.slow
@FUZZ
@given(case=tokenize_bodies())
def test_tokenize_bodies_get_no_5xx_and_named_400s(fuzz_server, case):
    path, body = case
    status, answer = send_to(fuzz_server.http_url.removesuffix("/v1") + path, body)  # vLLM's routes are beside /v1
    if refused_as_openai_refuses(status, answer):
        return
    assert ("prompt" in answer) if path == "/detokenize" else answer["count"] == len(answer["tokens"])


TGI_PARAMETERS = {
    "max_new_tokens": st.one_of(st.integers(-2, 40), odd_values()),
    "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), odd_values()),
    "top_p": st.one_of(st.floats(-0.5, 1.5, allow_nan=False), odd_values()),
    "top_k": st.one_of(st.integers(-1, 60000), odd_values()),
    "seed": st.one_of(st.integers(-1, 2**65), odd_values()),
    "do_sample": odd_values(),
    "best_of": st.one_of(st.integers(-1, 6), odd_values()),
    "details": odd_values(),
    "decoder_input_details": odd_values(),
    "return_full_text": odd_values(),
    "stop": st.one_of(st.lists(st.text(max_size=5), max_size=20), odd_values()),
    "top_n_tokens": st.one_of(st.integers(-1, 8), odd_values()),
    "return_k_alternatives": st.one_of(st.integers(-1, 8), odd_values()),
    "truncate": st.one_of(st.integers(-1, 40), odd_values()),
    "typical_p": odd_values(),
    "watermark": odd_values(),
    "adapter_id": st.one_of(st.sampled_from(["", "no-such-adapter", "a@2"]), odd_values()),
    "adapter_source": odd_values(),
    "ignore_eos_token": odd_values(),
    "repetition_penalty": st.one_of(st.floats(-1, 3, allow_nan=False), odd_values()),
    "not_a_field": odd_values(),
}


@st.composite
def tgi_bodies(draw) -> tuple[str, dict, tuple[str, object] | None]:
    """TGI's and LoRAX's generate bodies, to /, /generate or /generate_stream, some malformed."""
    parameters: dict = {}
    for name in draw(st.lists(st.sampled_from(sorted(TGI_PARAMETERS)), max_size=3, unique=True)):
        parameters[name] = draw(TGI_PARAMETERS[name])
    parameters.setdefault("max_new_tokens", 8)
    constraint = draw(constraints())
    if constraint is not None and constraint[0] != "choice":
        kind, source = constraint
        parameters["grammar"] = {"type": "regex" if kind == "regex" else "json", "value": source}
    else:
        constraint = None
    # mostly well-formed around the fields drawn, so that answers (streams too) come back often
    inputs = st.just("Say something short.") if draw(st.integers(0, 3)) else st.one_of(st.text(max_size=20), odd_values())
    body = {"inputs": draw(inputs), "parameters": parameters if draw(st.integers(0, 7)) else draw(odd_values())}
    path = draw(st.sampled_from(["/generate", "/", "/generate_stream"]))
    if path == "/" or not draw(st.integers(0, 7)):
        body["stream"] = draw(st.one_of(st.booleans(), odd_values()))
    return path, body, constraint


def send_tgi(url: str, body: dict) -> tuple[int, Any]:
    """The answer: JSON, or a stream's events as a list of JSON objects."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            if response.headers.get_content_type() != "text/event-stream":
                return response.status, json.loads(response.read())
            return response.status, [json.loads(line[5:]) for line in response if line.startswith(b"data:")]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
@FUZZ
@given(case=tgi_bodies())
def test_tgi_bodies_get_no_5xx_and_named_refusals_and_a_finished_answer_meets_its_grammar(fuzz_server, case):
    path, body, constraint = case
    status, answer = send_tgi(fuzz_server.http_url.removesuffix("/v1") + path, body)
    event(f"{path} {status}")  # --hypothesis-show-statistics: how often each route answered
    assert status < 500, answer
    if status != 200:
        assert isinstance(answer, dict) and answer["error_type"] in ("validation", "overloaded"), answer
        if status == 400:  # it names what it refuses as the body named it
            assert re.match(r"(inputs|parameters|stream)\b", answer["error"]), answer["error"]
        return
    if path == "/generate_stream" or (path == "/" and body.get("stream") is True):
        assert isinstance(answer, list) and answer, answer
        *tokens, last = answer
        assert "error" not in last, last  # a stream that began was admitted: nothing fails after
        assert all(event["generated_text"] is None for event in tokens) and isinstance(last["generated_text"], str)
        return
    whole = answer[0] if path == "/" else answer
    details = whole.get("details")
    if constraint is not None and details is not None and details["finish_reason"] == "eos_token":
        kind, source = constraint
        generated = (
            whole["generated_text"].removeprefix(body["inputs"]) if body["parameters"].get("return_full_text") else whole["generated_text"]
        )
        assert holds(kind, source, generated), (constraint, whole)
