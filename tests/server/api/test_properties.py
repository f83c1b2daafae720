"""Random requests, valid and not: the server answers each with a documented status and stays up."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
messages = st.lists(
    st.builds(common_pb2.ChatMessage, role=st.sampled_from(["user", "system", "assistant", "", "tool", "USER"]), content=text),
    max_size=4,
)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.floats(-1, 3, width=32))
parameters = st.builds(
    common_pb2.GenerationParameters,
    max_new_tokens=st.one_of(st.integers(-3, 12), st.sampled_from([0, 5000, 2**31 - 1])),
    min_new_tokens=st.integers(-2, 15),
    temperature=floats,
    top_p=floats,
    top_k=st.integers(-5, 60000),
    seed=st.integers(0, 2**64 - 1),
    repetition_penalty=floats,
    frequency_penalty=floats,
    presence_penalty=floats,
    logit_bias=st.dictionaries(st.one_of(st.integers(0, 49151), st.integers(0, 2**32 - 1)), floats, max_size=4),
    ignore_eos=st.booleans(),
    stop_token_ids=st.lists(st.one_of(st.integers(0, 49151), st.integers(0, 2**32 - 1)), max_size=70),
    stop=st.lists(st.text(max_size=10), max_size=20),
    include_stop_str_in_output=st.booleans(),
    time_limit_ms=st.integers(0, 3000),
)
requests = st.builds(
    inference_pb2.GenerateRequest,
    prompt=text,
    messages=messages,
    adapter=st.sampled_from(["", "sentiment", "a@1", "../etc", "x" * 300, "name@", "@3"]),
    parameters=parameters,
    request_id=st.text(max_size=140),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests, stream=st.booleans())
def test_random_requests_get_documented_statuses(server, request, stream):
    with grpc.insecure_channel(server.address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        try:
            if stream:
                list(stub.GenerateStream(request, timeout=120))
            else:
                stub.Generate(request, timeout=120)
        except grpc.RpcError as exc:
            assert exc.code() in DOCUMENTED, (exc.code(), exc.details())
            assert exc.details(), "every refusal says why"


@pytest.mark.slow
def test_the_server_still_answers_after_the_random_requests(client):
    assert client.health() == "SERVING"
    assert "Paris" in client.generate(messages=[{"role": "user", "content": "What is the capital of France?"}]).text


valid_parameters = st.builds(
    common_pb2.GenerationParameters,
    max_new_tokens=st.integers(1, 8),
    min_new_tokens=st.integers(0, 1),
    temperature=st.floats(0, 2, width=32),
    top_p=st.floats(0, 1, width=32),
    top_k=st.integers(0, 100),
    seed=st.integers(0, 2**64 - 1),
    repetition_penalty=st.floats(0.5, 2, width=32),
    frequency_penalty=st.floats(-2, 2, width=32),
    presence_penalty=st.floats(-2, 2, width=32),
    logit_bias=st.dictionaries(st.integers(0, 49151), st.floats(-100, 100, width=32), max_size=8),
    ignore_eos=st.booleans(),
    stop_token_ids=st.lists(st.integers(0, 49151), max_size=4),
    stop=st.lists(st.text(min_size=1, max_size=5), max_size=3),
    include_stop_str_in_output=st.booleans(),
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# a prompt of control characters alone has no tokens and is refused as such (see test_validation)
@given(prompt=st.text(min_size=1, max_size=200).filter(lambda s: any(c.isalnum() for c in s)), params=valid_parameters)
def test_any_valid_sampling_settings_generate(auto_client, prompt, params):
    # no tokens compared: at the automatic precision, as users run it, and faster than in float32
    reply = auto_client.inference.Generate(inference_pb2.GenerateRequest(prompt=prompt, parameters=params), timeout=120)
    assert reply.stop_reason != common_pb2.STOP_REASON_UNSPECIFIED
    assert reply.usage.generated_tokens <= params.max_new_tokens
    if reply.stop_reason == common_pb2.STOP_REASON_STOP_SEQUENCE:  # the first stop string ends the text, kept or not
        kept = params.include_stop_str_in_output
        assert reply.text.endswith(reply.stop_sequence) if kept else not any(stop in reply.text for stop in params.stop)
