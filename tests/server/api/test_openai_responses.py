"""OpenAI's Responses API on a real server, driven by the official `openai` client: the same
answers as chat completions, worded as responses and their typed stream events."""

from __future__ import annotations

import json

import jsonschema
import openai
import pydantic
import pytest

from common.security.auth import digest
from tests.conftest import running_server
from tests.server.api.test_openai_api import WEATHER_TOOL
from tests.tools import free_port

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
        ({"input": QUESTION, "store": True}, "store", "keeps no responses"),
        ({"input": QUESTION, "previous_response_id": "resp_1"}, "previous_response_id", "send the whole conversation"),
        ({"input": QUESTION, "conversation": "conv_1"}, "conversation", "previous_response_id"),
        ({"input": QUESTION, "background": True}, "background", "not supported"),
        ({"input": QUESTION, "reasoning": {"effort": "high"}}, "reasoning", "not supported"),
        ({"input": QUESTION, "include": ["file_search_call.results"]}, "include[0]", "is not served"),
        ({"input": QUESTION, "tools": [{"type": "web_search"}]}, "tools[0].type", "only function tools"),
        ({"input": QUESTION, "max_output_tokens": 0}, "max_output_tokens", "at least 1"),
        ({"input": QUESTION, "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "is required"),
        ({"input": QUESTION, "truncation": "middle"}, "truncation", ""),
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


def test_without_the_store_stored_responses_are_refused_as_not_stored(oai):
    for call in (lambda: oai.responses.retrieve("resp_1"), lambda: oai.responses.delete("resp_1"), lambda: oai.responses.cancel("resp_1")):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert "responses are not stored here" in caught.value.body["message"], caught.value.body


# -- stored responses (responses_store) ------------------------------------------------------------

TOKENS = {"alice": "tok-alice-secret", "bob": "tok-bob-secret"}


@pytest.fixture(scope="module")
def store_server(base_model, cache_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("responses")
    tokens = root / "tokens.yaml"
    lines = [f"  - {{name: {name}, sha256: '{digest(token)}', scopes: [inference]}}" for name, token in TOKENS.items()]
    tokens.write_text("tokens:\n" + "\n".join(lines) + "\n")
    settings = dict(http_port=free_port(), responses_store=True, experiment_db=root / "record.sqlite", auth_tokens_file=tokens)
    with running_server(base_model, cache_dir, **settings) as running:
        yield running


def client_for(server, name: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.http_url, api_key=TOKENS[name], max_retries=0, timeout=120)


def test_a_stored_response_is_retrieved_continued_listed_and_deleted(store_server):
    with client_for(store_server, "alice") as oai:
        first = oai.responses.create(model="", instructions="Be brief.", input=QUESTION, temperature=0, max_output_tokens=24)
        assert first.store is True
        assert oai.responses.retrieve(first.id).model_dump() == first.model_dump()

        follow = "And of Italy?"
        second = oai.responses.create(model="", previous_response_id=first.id, input=follow, temperature=0, max_output_tokens=24)
        # the conversation before it, without the earlier instructions (as OpenAI continues one)
        whole = [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.output_text},
            {"role": "user", "content": follow},
        ]
        alone = oai.responses.create(model="", input=whole, temperature=0, max_output_tokens=24, store=False)
        assert second.output_text == alone.output_text and second.previous_response_id == first.id
        assert second.usage.input_tokens == alone.usage.input_tokens

        items = oai.responses.input_items.list(second.id)
        assert [(item.type, item.role, item.content[0].text) for item in items.data] == [("message", "user", follow)]
        assert not items.has_more

        assert oai.responses.delete(second.id) is None
        with pytest.raises(openai.NotFoundError):
            oai.responses.retrieve(second.id)
        with pytest.raises(openai.BadRequestError) as caught:
            oai.responses.create(model="", previous_response_id=second.id, input=follow, max_output_tokens=4)
        assert caught.value.body["param"] == "previous_response_id"

        unkept = oai.responses.create(model="", input=QUESTION, max_output_tokens=2, store=False)
        assert unkept.store is False
        with pytest.raises(openai.NotFoundError):
            oai.responses.retrieve(unkept.id)
        with pytest.raises(openai.BadRequestError, match="background"):
            oai.responses.cancel(first.id)


def test_a_response_is_seen_only_by_the_token_that_made_it(store_server):
    with client_for(store_server, "alice") as alice, client_for(store_server, "bob") as bob:
        kept = alice.responses.create(model="", input=QUESTION, max_output_tokens=4)
        for call in (
            lambda: bob.responses.retrieve(kept.id),
            lambda: bob.responses.delete(kept.id),
            lambda: bob.responses.input_items.list(kept.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        with pytest.raises(openai.BadRequestError):
            bob.responses.create(model="", previous_response_id=kept.id, input="Go on.", max_output_tokens=4)
        assert alice.responses.retrieve(kept.id).id == kept.id


def test_a_streamed_response_is_stored_before_its_last_events(store_server):
    with client_for(store_server, "alice") as oai:
        with oai.responses.create(model="", input=QUESTION, temperature=0, max_output_tokens=20, stream=True) as events:
            for event in events:
                if event.type == "response.created":
                    response_id = event.response.id
                elif event.type == "response.output_text.done":  # the first of the last events
                    stored = oai.responses.retrieve(response_id)
                    break
        assert stored.output_text == event.text and stored.status in ("completed", "incomplete")


def test_function_calls_and_their_outputs_continue_through_previous_response_id(store_server):
    with client_for(store_server, "alice") as oai:
        ask = "What is the weather in Paris?"
        asked = oai.responses.create(model="", input=ask, tools=[WEATHER], tool_choice="required", temperature=0, max_output_tokens=80)
        call = next(item for item in asked.output if item.type == "function_call")
        result = {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temperature_c": 18})}
        went_on = oai.responses.create(
            model="", previous_response_id=asked.id, input=[result], tools=[WEATHER], temperature=0, max_output_tokens=40
        )
        whole = [{"role": "user", "content": ask}, *[item.model_dump(exclude_none=True) for item in asked.output], result]
        alone = oai.responses.create(model="", input=whole, tools=[WEATHER], temperature=0, max_output_tokens=40, store=False)
        assert went_on.output_text == alone.output_text


@pytest.mark.parametrize(
    ("query", "param"),
    [({"order": "sideways"}, "order"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"after": "nope"}, "after")],
)
def test_input_items_pages_are_checked(store_server, query, param):
    with client_for(store_server, "alice") as oai:
        kept = oai.responses.create(
            model="", input=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], max_output_tokens=1
        )
        pages = [oai.responses.input_items.list(kept.id, order="asc", limit=1)]
        pages.append(oai.responses.input_items.list(kept.id, order="asc", limit=1, after=pages[0].last_id))
        assert [page.data[0].content[0].text for page in pages] == ["a", "b"] and pages[0].has_more and not pages[1].has_more
        with pytest.raises(openai.BadRequestError) as caught:
            oai.get(f"/responses/{kept.id}/input_items", cast_to=object, options={"params": query})
        assert caught.value.body["param"] == param


def test_replicas_sharing_postgresql_continue_each_others_responses(base_model, cache_dir, postgres):
    url = postgres.create_database()
    common = dict(responses_store=True, database_url=url)
    with (
        running_server(base_model, cache_dir, http_port=free_port(), **common) as first,
        running_server(base_model, cache_dir, http_port=free_port(), host="127.0.0.2", **common) as second,
    ):
        one = openai.OpenAI(base_url=first.http_url, api_key="unused", max_retries=0, timeout=120)
        two = openai.OpenAI(base_url=second.http_url, api_key="unused", max_retries=0, timeout=120)
        kept = one.responses.create(model="", input=QUESTION, temperature=0, max_output_tokens=16)
        assert two.responses.retrieve(kept.id).output_text == kept.output_text
        went_on = two.responses.create(model="", previous_response_id=kept.id, input="Why?", temperature=0, max_output_tokens=8)
        assert one.responses.input_items.list(went_on.id).data[0].content[0].text == "Why?"
        two.responses.delete(kept.id)
        with pytest.raises(openai.NotFoundError):
            one.responses.retrieve(kept.id)


def test_truncation_drops_the_oldest_turns_and_the_tool_outputs_left_without_their_call():
    from server.api.openai.responses import oldest_turn_dropped
    from server.api.openai.schemas import ChatMessage

    def conversation(*roles: str) -> list[ChatMessage]:
        return [ChatMessage(role=role, content=f"{role} {i}") for i, role in enumerate(roles)]

    messages = conversation("system", "user", "assistant", "tool", "tool", "user")
    places = ["instructions", "previous_response_id", "previous_response_id", "input[0]", "input[1]", "input[2]"]
    kept, where = oldest_turn_dropped(messages, places)
    assert [m.content for m in kept] == ["system 0", "assistant 2", "tool 3", "tool 4", "user 5"] and where[0] == "instructions"
    kept, where = oldest_turn_dropped(kept, where)  # the call goes with the outputs it left
    assert [m.content for m in kept] == ["system 0", "user 5"] and where == ["instructions", "input[2]"]
    assert oldest_turn_dropped(kept, where) is None, "the newest turn is never dropped"
    assert [m.content for m in oldest_turn_dropped(conversation("user", "user"), ["input[0]", "input[1]"])[0]] == ["user 1"]


@pytest.fixture(scope="module")
def small_context_server(base_model, cache_dir, tmp_path_factory):
    settings = dict(
        http_port=free_port(), max_prompt_tokens=96, responses_store=True, experiment_db=tmp_path_factory.mktemp("small") / "r.sqlite"
    )
    with running_server(base_model, cache_dir, **settings) as running:
        yield running


def test_truncation_auto_drops_the_oldest_turns_until_the_conversation_fits(small_context_server):
    said = [
        {"role": role, "content": f"Turn {i}: " + "the quick brown fox jumps over the lazy dog " * 2}
        for i, role in enumerate(["user", "assistant"] * 3)
    ]
    question = {"role": "user", "content": "What is the capital of France?"}
    with openai.OpenAI(base_url=small_context_server.http_url, api_key="unused", max_retries=0, timeout=120) as oai:
        with pytest.raises(openai.BadRequestError) as caught:
            oai.responses.create(model="", instructions="Be brief.", input=[*said, question], max_output_tokens=8, store=False)
        assert caught.value.body["code"] == "context_length_exceeded"
        fitted = oai.responses.create(
            model="", instructions="Be brief.", input=[*said, question], max_output_tokens=8, temperature=0, truncation="auto"
        )
        assert fitted.truncation == "auto" and fitted.usage.input_tokens <= 96
        # the same as the longest tail of the conversation that fits, sent as it is
        for start in range(1, len(said) + 1):
            try:
                tail = oai.responses.create(
                    model="", instructions="Be brief.", input=[*said[start:], question], max_output_tokens=8, temperature=0, store=False
                )
                break
            except openai.BadRequestError:
                continue
        assert tail.output_text == fitted.output_text and tail.usage.input_tokens == fitted.usage.input_tokens
        # a stored long conversation goes on with it; without it the continuation is refused
        went_on = oai.responses.create(
            model="", previous_response_id=fitted.id, input="And of Spain?", max_output_tokens=8, truncation="auto"
        )
        assert went_on.status in ("completed", "incomplete")
        too_long = {"role": "user", "content": "word " * 400}
        with pytest.raises(openai.BadRequestError) as caught:  # the newest turn alone does not fit
            oai.responses.create(model="", input=[*said, too_long], max_output_tokens=8, truncation="auto", store=False)
        assert caught.value.body["param"] == "input" and caught.value.body["code"] == "context_length_exceeded"
