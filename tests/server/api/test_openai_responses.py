"""OpenAI's Responses API on a real server, driven by the official `openai` client: the same
answers as chat completions, worded as responses and their typed stream events."""

from __future__ import annotations

import json

import jsonschema
import openai
import pydantic
import pytest

from tests.server.api.test_openai_api import WEATHER_TOOL

QUESTION = "What is the capital of France?"
WEATHER = {"type": "function", **WEATHER_TOOL["function"]}  # Responses writes a function tool flat


def test_a_response_answers_as_the_chat_completion_of_the_same_conversation(oai):
    chat = oai.chat.completions.create(
        model="", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}], temperature=0, max_tokens=24
    )
    response = oai.responses.create(model="", instructions="Be brief.", input=QUESTION, temperature=0, max_output_tokens=24)
    assert response.object == "response" and response.id.startswith("resp_") and response.model == "SmolLM2-135M-Instruct"
    assert response.output_text == chat.choices[0].message.content and "Paris" in response.output_text
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.content[0].type == "output_text"
    assert response.usage.input_tokens == chat.usage.prompt_tokens and response.usage.output_tokens == chat.usage.completion_tokens
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.status == ("incomplete" if chat.choices[0].finish_reason == "length" else "completed")
    assert response.instructions == "Be brief." and response.max_output_tokens == 24 and response.temperature == 0

    # input as items, with a part list, is the same conversation
    items = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}]
    assert oai.responses.create(model="", input=items, temperature=0, max_output_tokens=24).output_text == response.output_text

    cut = oai.responses.create(model="", input=QUESTION, temperature=0, max_output_tokens=2, metadata={"case": "cut"})
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens" and cut.usage.output_tokens == 2
    assert cut.metadata == {"case": "cut"}, "metadata comes back as it was given"


def test_streamed_events_add_up_to_the_whole_response(oai):
    whole = oai.responses.create(model="", input=QUESTION, temperature=0, max_output_tokens=20)
    events = list(oai.responses.create(model="", input=QUESTION, temperature=0, max_output_tokens=20, stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        f"response.{whole.status}",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == whole.output_text == events[-4].text
    final = events[-1].response
    assert final.output_text == whole.output_text and final.usage.output_tokens == whole.usage.output_tokens

    # the SDK's own stream helper accumulates the same response
    with oai.responses.stream(model="", input=QUESTION, temperature=0, max_output_tokens=20) as stream:
        assert stream.get_final_response().output_text == whole.output_text


def test_function_calls_come_as_items_and_their_outputs_go_back_in_input(oai):
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    response = oai.responses.create(model="", input=ask, tools=[WEATHER], tool_choice="required", temperature=0, max_output_tokens=80)
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and not [item for item in response.output if item.type == "message"] and response.output_text == ""
    call = calls[0]
    assert call.name == "get_weather" and call.call_id.startswith("call_") and call.status == "completed"
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])

    streamed = list(
        oai.responses.create(model="", input=ask, tools=[WEATHER], tool_choice="required", temperature=0, max_output_tokens=80, stream=True)
    )
    assert not [event for event in streamed if event.type == "response.output_text.delta"], "calls are not streamed as text"
    arguments = "".join(event.delta for event in streamed if event.type == "response.function_call_arguments.delta")
    assert json.loads(arguments) == json.loads(call.arguments)
    streamed_call = streamed[-1].response.output[0]
    assert streamed_call.name == call.name and streamed_call.call_id.startswith("call_"), "each answer's calls get ids of their own"

    named = oai.responses.create(
        model="", input=ask, tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}, temperature=0, max_output_tokens=80
    )
    assert [item.name for item in named.output] == ["get_weather"]

    # the conversation goes on with the call and its output as items, as the Agents SDK sends them
    answered = [
        *ask,
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees and sunny"},
    ]
    follow = oai.responses.create(model="", input=answered, tools=[WEATHER], tool_choice="none", temperature=0, max_output_tokens=30)
    assert follow.output_text and follow.output[0].type == "message"
    chat = oai.chat.completions.create(
        model="",
        messages=[
            *ask,
            {
                "role": "assistant",
                "tool_calls": [{"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}],
            },
            {"role": "tool", "tool_call_id": call.call_id, "content": "18 degrees and sunny"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="none",
        temperature=0,
        max_tokens=30,
    )
    assert follow.output_text == chat.choices[0].message.content, "the items are the chat's turns"


class City(pydantic.BaseModel):
    city: str = pydantic.Field(max_length=30)
    country: str = pydantic.Field(max_length=30)


def test_text_format_constrains_the_answer_and_logprobs_are_included_on_request(oai, http_server):
    parsed = oai.responses.parse(model="", input="Name a city in Japan as JSON.", text_format=City, temperature=0, max_output_tokens=60)
    assert isinstance(parsed.output_parsed, City) and parsed.output_parsed.city

    with_logprobs = oai.responses.create(
        model="", input=QUESTION, temperature=0, max_output_tokens=8, include=["message.output_text.logprobs"], top_logprobs=2
    )
    entries = with_logprobs.output[0].content[0].logprobs
    assert len(entries) == with_logprobs.usage.output_tokens and all(len(e.top_logprobs) == 2 for e in entries)
    assert "".join(e.token for e in entries).startswith(with_logprobs.output_text), "every token, the end token too, as chat reports them"
    assert all(e.logprob <= 0 and e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob for e in entries)
    chat = oai.chat.completions.create(
        model="", messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=8, logprobs=True, top_logprobs=2
    )
    # the same tokens and log-probabilities as chat's, to float32 rounding (a prompt taken from the prefix cache adds some)
    assert [e.token for e in entries] == [e.token for e in chat.choices[0].logprobs.content]
    assert [e.logprob for e in entries] == pytest.approx([e.logprob for e in chat.choices[0].logprobs.content], abs=1e-3)
    assert not oai.responses.create(model="", input=QUESTION, temperature=0, max_output_tokens=4).output[0].content[0].logprobs


@pytest.mark.parametrize(
    "body,param,words",
    [
        ({"input": QUESTION, "store": True}, "store", "not stored"),
        ({"input": QUESTION, "previous_response_id": "resp_1"}, "previous_response_id", "send the whole conversation"),
        ({"input": QUESTION, "background": True}, "background", "not supported"),
        ({"input": QUESTION, "reasoning": {"effort": "high"}}, "reasoning", "not supported"),
        ({"input": QUESTION, "include": ["file_search_call.results"]}, "include[0]", "is not served"),
        ({"input": QUESTION, "tools": [{"type": "web_search"}]}, "tools[0].type", "only function tools"),
        ({"input": QUESTION, "max_output_tokens": 0}, "max_output_tokens", "at least 1"),
        ({"input": QUESTION, "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "is required"),
        ({"input": QUESTION, "truncation": "auto"}, "truncation", ""),
        ({"input": QUESTION, "temperatur": 0}, "temperatur", "not a field"),
        ({"input": []}, "input", "is empty"),
        ({"input": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}]}, "input[1].role", "must be one of"),
        ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type", "not served"),
        ({"input": [{"type": "function_call_output", "call_id": "c1"}]}, "input[0]", "needs call_id and output"),
        ({"input": [{"role": "user", "content": "hi", "call_id": "c1"}]}, "input[0].call_id", "not a field of a message item"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input[0].content[0].type",
            "only text parts",
        ),
        ({"input": [{"role": "user", "content": "hi"}], "instructions": "x" * 10_000_000}, None, ""),
        ({"input": QUESTION, "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "at most 16"),
        ({"input": QUESTION, "model": "no-such-adapter"}, "model", ""),
        ({"input": QUESTION, "tools": [{**WEATHER, "name": ""}]}, "tools[0].name", ""),
        ({"input": QUESTION, "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name", "nope"),
        ({"input": QUESTION, "top_logprobs": 50}, "top_logprobs", "between 0 and 20"),
        ({"input": QUESTION, "max_output_tokens": 10**6}, "max_output_tokens", "max_output_tokens: must be between 1"),
    ],
)
def test_refusals_name_the_field_as_a_responses_caller_wrote_it(oai, body, param, words):
    with pytest.raises(openai.APIStatusError) as caught:
        oai.post("/responses", body={"model": "", **body}, cast_to=object)
    assert 400 <= caught.value.status_code < 500
    error = caught.value.body
    if param is not None:
        assert error["param"] == param, error
    assert words in error["message"]


def test_a_response_id_names_its_answer_for_feedback_as_a_completion_id_does():
    from server.api.openai.schemas import FeedbackBody

    for given in ("resp_0a1b", "chatcmpl-0a1b", "0a1b"):
        assert FeedbackBody(request_id=given, thumb="up").feedback_request().request_id == "0a1b"


def test_stored_responses_are_refused_as_not_stored(oai):
    for call in (lambda: oai.responses.retrieve("resp_1"), lambda: oai.responses.delete("resp_1"), lambda: oai.responses.cancel("resp_1")):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert "responses are not stored here" in caught.value.body["message"], caught.value.body
