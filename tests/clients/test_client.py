"""The client package against a real server: typed errors, retries, asyncio, the CLI."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import grpc
import pytest
from tuneserve.v1 import common_pb2
from tuneserve_client import AsyncClient, Client, cli, errors


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailing=(), initial=()):
        self._code, self._details, self._trailing, self._initial = code, details, trailing, initial

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing

    def initial_metadata(self):
        return self._initial


@pytest.mark.parametrize("code,cls", sorted(errors.ERROR_BY_CODE.items(), key=lambda kv: kv[0].value[0]))
def test_each_status_code_has_its_own_error_class(code, cls):
    error = errors.from_rpc_error(FakeRpcError(code, "why", (("tuneserve-field", "parameters.top_p"),), (("x-request-id", "r1"),)))
    assert type(error) is cls and error.code == code and error.message == "why"
    assert error.field == "parameters.top_p" and error.request_id == "r1"
    assert error.retryable == (code == grpc.StatusCode.UNAVAILABLE)


def test_unknown_codes_fall_back_to_the_base_error():
    error = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.DATA_LOSS, "lost"))
    assert type(error) is errors.TuneserveError and "DATA_LOSS" in str(error)


def invalid_argument_count(server) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics") as response:
        lines = response.read().decode().splitlines()
    wanted = 'tuneserve_requests_total{api="grpc",code="INVALID_ARGUMENT",rpc="tuneserve.v1.Inference/Generate"}'
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(wanted))


def test_errors_other_than_unavailable_are_not_retried(client, server):
    before = invalid_argument_count(server)
    with pytest.raises(errors.InvalidArgumentError) as info:
        client.generate("hi", top_p=5.0)
    assert info.value.field == "parameters.top_p" and info.value.request_id
    assert invalid_argument_count(server) == before + 1


def test_unreachable_server_raises_unavailable_after_retries():

    with Client("127.0.0.1:1", retries=2, backoff=0.01, timeout=2) as client, pytest.raises(errors.UnavailableError):
        client.model_info()


def test_async_client_covers_the_inference_calls(server):
    async def run():
        async with AsyncClient(server.address) as client:
            assert await client.health() == "SERVING"
            reply = await client.generate(messages=[{"role": "user", "content": "What is the capital of France?"}])
            chunks = [c async for c in client.generate_stream(messages=[("user", "What is the capital of France?")])]
            tokens = await client.tokenize("Hello")
            info = await client.model_info()
            with pytest.raises(errors.InvalidArgumentError):
                await client.generate("")
            return reply, chunks, tokens, info

    reply, chunks, tokens, info = asyncio.run(run())
    assert "Paris" in reply.text
    assert "".join(c.text for c in chunks) == reply.text
    assert chunks[-1].stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE
    assert len(tokens.token_ids) >= 1 and info.model == "SmolLM2-135M-Instruct"


def test_unknown_generation_parameters_are_a_type_error(client):
    with pytest.raises(TypeError, match="unknown generation parameters: temprature"):
        client.generate("hi", temprature=0.5)


def test_cli_commands(server, capsys):
    target = ["--server", server.address]
    assert cli.main([*target, "generate", "What is the capital of France?", "--chat", "--no-stream"]) == 0
    assert "Paris" in capsys.readouterr().out
    assert cli.main([*target, "generate", "Say hello", "--chat", "--max-new-tokens", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["usage"]["generated_tokens"] == 3
    assert cli.main([*target, "tokenize", "Hello world"]) == 0
    assert capsys.readouterr().out.startswith("2 tokens")
    assert cli.main([*target, "model-info"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"] == "LlamaForCausalLM"
    assert cli.main([*target, "health"]) == 0 and capsys.readouterr().out.strip() == "SERVING"
    assert cli.main([*target, "generate", "hi", "--top-p", "3"]) == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
    # OpenAI's penalties and logit bias: a bias of 100 all but forces the token
    biased = ["--logit-bias", "28=100", "--presence-penalty", "0.5"]
    hello = cli.main([*target, "generate", "Say hi", "--max-new-tokens", "2", "--json", *biased])
    assert hello == 0 and json.loads(capsys.readouterr().out)["token_ids"] == [28, 28]
    with pytest.raises(SystemExit):
        cli.main([*target, "generate", "hi", "--logit-bias", "\u0662=1"])
    assert "takes TOKEN_ID=BIAS" in capsys.readouterr().err


def test_every_client_has_a_method_for_every_rpc():
    # the Python clients (sync and asyncio) and the Node client, against the services' descriptors
    import re
    from pathlib import Path

    from tuneserve.v1 import adapters_pb2, inference_pb2, tasks_pb2, trainer_pb2
    from tuneserve_client import AsyncClient, Client

    node_source = (Path(__file__).resolve().parents[2] / "clients" / "node" / "src" / "index.js").read_text()
    node_methods = set(re.findall(r"^  (?:async \*?|\*)?([a-z][A-Za-z]*)\(", node_source, re.MULTILINE))
    rpcs = [
        (s.name, m.name)
        for module in (adapters_pb2, inference_pb2, tasks_pb2, trainer_pb2)
        for s in module.DESCRIPTOR.services_by_name.values()
        for m in s.methods
    ]
    assert len(rpcs) >= 27
    for service, method in [*rpcs, ("Health", "Health")]:
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()
        assert callable(getattr(Client, name, None)), f"Client has no {name} for {service}/{method}"
        assert callable(getattr(AsyncClient, name, None)), f"AsyncClient has no {name} for {service}/{method}"
        camel = method[0].lower() + method[1:]
        assert camel in node_methods, f"the Node client has no {camel} for {service}/{method}"


def test_a_generation_names_its_adapter_in_a_header_for_routers_and_other_calls_do_not():
    # mechanics only: a bare gRPC server that records the metadata it receives
    from concurrent import futures

    import grpc
    from tuneserve.v1 import inference_pb2
    from tuneserve_client.routing import ADAPTER_HEADER

    seen: list[dict[str, str]] = []

    def record(request: bytes, context: grpc.ServicerContext) -> bytes:
        seen.append(dict(context.invocation_metadata()))
        return inference_pb2.GenerateResponse(text="ok").SerializeToString()

    handler = grpc.method_handlers_generic_handler(
        "tuneserve.v1.Inference", {name: grpc.unary_unary_rpc_method_handler(record) for name in ("Generate", "Tokenize")}
    )
    server = grpc.server(futures.ThreadPoolExecutor(2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Client(f"dns:///127.0.0.1:{port}", timeout=10) as client:
            client.generate("hi", adapter="sentiment@3")
            client.generate("hi")
            client.tokenize("hi")
    finally:
        server.stop(0)
    assert [m.get(ADAPTER_HEADER) for m in seen] == ["sentiment@3", None, None]


def test_retries_are_grpcs_own_only_where_safe_and_within_the_deadline():
    # mechanics only: a bare gRPC server that answers UNAVAILABLE a set number of times
    import time
    from concurrent import futures

    from tuneserve.v1 import inference_pb2, trainer_pb2

    calls: dict[str, int] = {"Generate": 0, "CreateJob": 0, "Tokenize": 0}
    refusals = {"Generate": 2, "CreateJob": 1, "Tokenize": 10**6}

    def answer(method: str, reply: bytes):
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            calls[method] += 1
            if calls[method] <= refusals[method]:
                context.abort(grpc.StatusCode.UNAVAILABLE, "still loading")
            return reply

        return grpc.unary_unary_rpc_method_handler(handle)

    handlers = [
        grpc.method_handlers_generic_handler(
            "tuneserve.v1.Inference",
            {
                "Generate": answer("Generate", inference_pb2.GenerateResponse(text="ok").SerializeToString()),
                "Tokenize": answer("Tokenize", inference_pb2.TokenizeResponse().SerializeToString()),
            },
        ),
        grpc.method_handlers_generic_handler(
            "tuneserve.v1.Trainer", {"CreateJob": answer("CreateJob", trainer_pb2.Job().SerializeToString())}
        ),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(2), handlers=handlers)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Client(f"127.0.0.1:{port}", timeout=10, retries=3, backoff=0.01) as client:
            assert client.generate("hi").text == "ok" and calls["Generate"] == 3  # two refusals, retried
            with pytest.raises(errors.UnavailableError):
                client.create_job(b'{"text": "a", "label": "b"}\n', "name")  # a second job: never retried
            assert calls["CreateJob"] == 1
        with Client(f"127.0.0.1:{port}", timeout=1.5, retries=4, backoff=5.0) as slow:
            started = time.monotonic()
            with pytest.raises((errors.UnavailableError, errors.DeadlineExceededError)):
                slow.tokenize("hi")
            assert time.monotonic() - started < 3, "retries wait within the call's deadline, not after it"
        with Client(f"127.0.0.1:{port}", timeout=10, retries=0) as once:
            before = calls["Tokenize"]
            with pytest.raises(errors.UnavailableError):
                once.tokenize("hi")
            assert calls["Tokenize"] == before + 1
    finally:
        server.stop(0)
