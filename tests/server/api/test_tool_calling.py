"""Tool calling's pure parts: checking tools, the schemas calls are generated under, rendering a
history with calls and results, reading calls back (no model)."""

from __future__ import annotations

import json

import pytest
from tuneserve.v1 import common_pb2, inference_pb2

from common.errors import InvalidRequest
from server.api.tool_calling import ToolPlan, describe_tools, rendered_turns, tool_plan

WEATHER = common_pb2.Tool(
    name="get_weather",
    description="The weather in a city",
    parameters=json.dumps({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
)
TIME = common_pb2.Tool(name="get_time", description="The time in a timezone")
ASK = [common_pb2.ChatMessage(role="user", content="Weather in Paris?")]


def request(**fields) -> inference_pb2.GenerateRequest:
    fields.setdefault("messages", ASK)
    return inference_pb2.GenerateRequest(**fields)


def test_a_plan_from_a_request_and_its_refusals():
    assert tool_plan(request()) is None
    plan = tool_plan(request(tools=[WEATHER, TIME]))
    assert plan is not None and plan.mode == "auto" and plan.parallel and [t.name for t in plan.callable] == ["get_weather", "get_time"]
    named = tool_plan(
        request(tools=[WEATHER, TIME], tool_choice=common_pb2.ToolChoice(mode=common_pb2.TOOL_CHOICE_MODE_FUNCTION, function="get_time"))
    )
    assert named is not None and [t.name for t in named.callable] == ["get_time"] and named.always_calls
    refusals = [
        (request(tool_choice=common_pb2.ToolChoice(mode=common_pb2.TOOL_CHOICE_MODE_REQUIRED)), "tool_choice"),
        (request(messages=[], prompt="hi", tools=[WEATHER]), "tools"),
        (request(tools=[WEATHER, WEATHER]), "tools"),
        (request(tools=[common_pb2.Tool(name="has space")]), "tools[0].name"),
        (request(tools=[common_pb2.Tool(name="f", parameters="[1]")]), "tools[0].parameters"),
        (request(tools=[common_pb2.Tool(name="f", parameters='{"type": "string"}')]), "tools[0].parameters"),
        (request(tools=[common_pb2.Tool(name="f", parameters="{")]), "tools[0].parameters"),
        (
            request(tools=[WEATHER], tool_choice=common_pb2.ToolChoice(mode=common_pb2.TOOL_CHOICE_MODE_FUNCTION, function="nope")),
            "tool_choice.function",
        ),
        (
            request(tools=[WEATHER], parameters=common_pb2.GenerationParameters(structured_output=common_pb2.StructuredOutput(regex="a"))),
            "tools",
        ),
    ]
    for bad, field in refusals:
        with pytest.raises(InvalidRequest) as caught:
            tool_plan(bad)
        assert caught.value.field == field, bad


def accepts(compiler, grammar: str, text: str) -> bool:
    """Whether `text` is a whole answer under `grammar` (the real tokenizer and grammar engine)."""
    from server.engine.structured_output import ConstraintSpec

    matcher = compiler.compile(ConstraintSpec("lark_grammar", grammar), "tools").matcher()
    for token in compiler._hf_tokenizer.encode(text, add_special_tokens=False):
        matcher.accept(token)
        if matcher.error:
            return False
    return matcher.complete


def test_calls_are_generated_under_a_grammar_that_accepts_exactly_calls():
    from common.base_model import load_tokenizer
    from common.settings import ModelSettings
    from server.engine.structured_output import GrammarCompiler

    tokenizer = load_tokenizer(ModelSettings())
    compiler = GrammarCompiler(tokenizer, len(tokenizer), frozenset([tokenizer.eos_token_id]))
    plan = tool_plan(request(tools=[WEATHER, TIME]))
    assert plan is not None and ToolPlan(plan.tools, "none").structured_output() is None
    auto = plan.structured_output().lark_grammar
    required = ToolPlan(plan.tools, "required").structured_output().lark_grammar
    single = ToolPlan(plan.tools, "required", parallel=False).structured_output().lark_grammar
    named = ToolPlan(plan.tools, "function", "get_time").structured_output().lark_grammar
    weather = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    both = f'[{weather}, {{"name": "get_time", "arguments": {{}}}}]'
    assert accepts(compiler, required, weather) and accepts(compiler, required, both) and accepts(compiler, auto, both)
    assert not accepts(compiler, single, both) and accepts(compiler, single, weather)
    assert accepts(compiler, named, '{"name": "get_time", "arguments": {}}') and not accepts(compiler, named, weather)
    for wrong in ('{"name": "get_weather", "arguments": {}}', '{"name": "other", "arguments": {}}', '{"arguments": {"city": "Paris"}}'):
        assert not accepts(compiler, required, wrong) and not accepts(compiler, auto, wrong), wrong
    assert accepts(compiler, auto, "It is sunny.") and not accepts(compiler, required, "It is sunny.")
    assert not accepts(compiler, auto, " {") and not accepts(compiler, auto, "[1]")


def test_answers_are_read_back_as_calls_or_text():
    plan = tool_plan(request(tools=[WEATHER, TIME]))
    assert plan is not None
    calls = plan.calls_in('[{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"city": "Oslo"}}]')
    assert calls is not None and [c.name for c in calls] == ["get_time", "get_weather"]
    assert json.loads(calls[1].arguments) == {"city": "Oslo"} and calls[0].id.startswith("call_") and calls[0].id != calls[1].id
    assert plan.calls_in("It is sunny.") is None
    assert plan.calls_in('{"name": "get_weather", "argu') is None  # cut short: the caller gets the text
    assert plan.calls_in('{"name": "unknown", "arguments": {}}') is None


def test_a_history_with_calls_and_results_renders_as_turns_any_template_takes():
    call = common_pb2.ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    messages = [
        common_pb2.ChatMessage(role="developer", content="Be brief."),
        *ASK,
        common_pb2.ChatMessage(role="assistant", tool_calls=[call]),
        common_pb2.ChatMessage(role="tool", tool_call_id="call_1", content="18 C, sunny"),
    ]
    turns = rendered_turns(messages)
    assert [t.role for t in turns] == ["developer", "user", "assistant", "user"]
    assert json.loads(turns[2].content) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert turns[3].content == "Result of get_weather (call_1):\n18 C, sunny"
    plan = tool_plan(request(tools=[WEATHER]))
    assert plan is not None
    described = describe_tools([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], plan)
    assert len(described) == 2 and described[0]["content"].startswith("Be brief.\n\nYou can call these functions.")
    assert '"name": "get_weather"' in described[0]["content"]
    for bad, field in [
        ([common_pb2.ChatMessage(role="tool", content="x")], "messages[0].tool_call_id"),
        ([common_pb2.ChatMessage(role="tool", content="x", tool_call_id="call_9")], "messages[0].tool_call_id"),
        ([common_pb2.ChatMessage(role="user", content="x", tool_calls=[call])], "messages[0].tool_calls"),
        (
            [common_pb2.ChatMessage(role="assistant", tool_calls=[common_pb2.ToolCall(id="c", name="f", arguments="{")])],
            "messages[0].tool_calls[0].function.arguments",
        ),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            rendered_turns(bad)
        assert caught.value.field == field
