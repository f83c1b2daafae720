"""Every bad input gets its precise status, the field at fault, and a message saying what to change."""

from __future__ import annotations

import grpc
import pytest
from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc
from tuneserve_client import errors

P = common_pb2.GenerationParameters
USER = [common_pb2.ChatMessage(role="user", content="hi")]

CASES = [
    # (name, request, error class, field, words in the message)
    ("empty prompt", dict(), errors.InvalidArgumentError, "prompt", "is empty"),
    ("prompt and messages", dict(prompt="hi", messages=USER), errors.InvalidArgumentError, "prompt", "not both"),
    ("bad role", dict(messages=[common_pb2.ChatMessage(role="robot", content="x")]), errors.InvalidArgumentError, "messages[0].role", "must be one of"),
    ("empty message", dict(messages=[common_pb2.ChatMessage(role="user", content="")]), errors.InvalidArgumentError, "messages[0].content", "is empty"),
    ("prompt too long", dict(prompt="word " * 3000), errors.InvalidArgumentError, "prompt", "at most 2047 are accepted"),
    ("max_new_tokens zero", dict(prompt="hi", parameters=P(max_new_tokens=0)), errors.InvalidArgumentError, "parameters.max_new_tokens", "between 1 and 4096"),
    ("max_new_tokens negative", dict(prompt="hi", parameters=P(max_new_tokens=-5)), errors.InvalidArgumentError, "parameters.max_new_tokens", "between 1 and 4096"),
    ("max_new_tokens over limit", dict(prompt="hi", parameters=P(max_new_tokens=100000)), errors.InvalidArgumentError, "parameters.max_new_tokens", "between 1 and 4096"),
    ("prompt plus output over context", dict(prompt="word " * 1000, parameters=P(max_new_tokens=2000)), errors.InvalidArgumentError, "parameters.max_new_tokens", "context window"),
    ("min over max", dict(prompt="hi", parameters=P(max_new_tokens=5, min_new_tokens=6)), errors.InvalidArgumentError, "parameters.min_new_tokens", "between 0 and max_new_tokens (5)"),
    ("negative temperature", dict(prompt="hi", parameters=P(temperature=-0.5)), errors.InvalidArgumentError, "parameters.temperature", "must be in [0, 100]"),
    ("nan temperature", dict(prompt="hi", parameters=P(temperature=float("nan"))), errors.InvalidArgumentError, "parameters.temperature", "must be in"),
    ("top_p zero", dict(prompt="hi", parameters=P(top_p=0.0)), errors.InvalidArgumentError, "parameters.top_p", "must be in (0, 1]"),
    ("top_p above one", dict(prompt="hi", parameters=P(top_p=1.5)), errors.InvalidArgumentError, "parameters.top_p", "must be in (0, 1]"),
    ("negative top_k", dict(prompt="hi", parameters=P(top_k=-1)), errors.InvalidArgumentError, "parameters.top_k", "between 0 (off)"),
    ("zero repetition penalty", dict(prompt="hi", parameters=P(repetition_penalty=0.0)), errors.InvalidArgumentError, "parameters.repetition_penalty", "(0, 10]"),
    ("too many stops", dict(prompt="hi", parameters=P(stop=[str(i) for i in range(20)])), errors.InvalidArgumentError, "parameters.stop", "at most 16"),
    ("empty stop", dict(prompt="hi", parameters=P(stop=[""])), errors.InvalidArgumentError, "parameters.stop[0]", "1 to 256 characters"),
    ("long request id", dict(prompt="hi", request_id="x" * 200), errors.InvalidArgumentError, "request_id", "at most 128"),
    ("unknown adapter", dict(prompt="hi", adapter="sentiment"), errors.NotFoundError, "", "adapter 'sentiment'"),
]


@pytest.mark.parametrize("name,fields,error,field,words", CASES, ids=[c[0] for c in CASES])
def test_bad_generate_requests(client, name, fields, error, field, words):
    for call in (client.inference.Generate, lambda r, **kw: list(client.inference.GenerateStream(r, **kw))):
        with pytest.raises(error) as info:
            client._call(call, inference_pb2.GenerateRequest(**fields), 30)
        assert info.value.field == field
        assert words in info.value.message


def test_oversize_message_is_resource_exhausted(server):
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
    stub = inference_pb2_grpc.InferenceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Generate(inference_pb2.GenerateRequest(prompt="x" * (5 * 1024 * 1024)), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()


def test_tokenize_validates_its_input(client):
    with pytest.raises(errors.InvalidArgumentError, match="text: is empty"):
        client.tokenize("")
    with pytest.raises(errors.InvalidArgumentError, match="not both"):
        client.tokenize("a", messages=[{"role": "user", "content": "b"}])
