"""The Inference service over real gRPC on loopback, through the client package."""

from __future__ import annotations

import threading

import grpc
import pytest
from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc
from tuneserve_client import errors

from server.engine.kernels import build
from tests.waiting import wait_for

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


def test_the_capital_of_france_is_paris(client):
    reply = client.generate(messages=FRANCE)
    assert "Paris" in reply.text
    assert reply.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE
    assert reply.usage.generated_tokens == len(reply.token_ids) > 0
    assert reply.usage.prompt_tokens == len(client.tokenize(messages=FRANCE).token_ids)
    t = reply.timings
    assert 0 <= t.queue_ms <= t.time_to_first_token_ms <= t.total_ms
    assert reply.request_id and reply.adapter == ""


def test_stream_deltas_add_up_to_the_unary_answer(client):
    question = [{"role": "user", "content": "Describe a forest in two sentences."}]
    unary = client.generate(messages=question, max_new_tokens=40)
    chunks = list(client.generate_stream(messages=question, max_new_tokens=40))
    assert len(chunks) > 3, "tokens arrive as they are generated"
    assert "".join(c.text for c in chunks) == unary.text
    assert [t for c in chunks for t in c.token_ids] == list(unary.token_ids)
    last = chunks[-1]
    assert last.stop_reason == unary.stop_reason != common_pb2.STOP_REASON_UNSPECIFIED
    assert last.usage.generated_tokens == unary.usage.generated_tokens
    assert all(c.stop_reason == common_pb2.STOP_REASON_UNSPECIFIED for c in chunks[:-1])


def test_plain_prompt_max_tokens_and_stop_sequences(client):
    reply = client.generate("The first five letters of the alphabet are", max_new_tokens=7, min_new_tokens=7)
    assert reply.stop_reason == common_pb2.STOP_REASON_MAX_TOKENS and reply.usage.generated_tokens == 7
    stopped = client.generate(messages=FRANCE, stop=["Paris", "London"])
    assert stopped.stop_reason == common_pb2.STOP_REASON_STOP_SEQUENCE and stopped.stop_sequence == "Paris"
    assert "Paris" not in stopped.text and stopped.text.endswith("is ")


def test_ignore_eos_generates_to_the_limit_and_stop_strings_still_end_it(client):
    plain = client.generate(messages=FRANCE, max_new_tokens=64)
    assert plain.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE and plain.usage.generated_tokens < 64
    ignoring = client.generate(messages=FRANCE, max_new_tokens=64, ignore_eos=True)
    assert ignoring.stop_reason == common_pb2.STOP_REASON_MAX_TOKENS and ignoring.usage.generated_tokens == 64
    assert ignoring.text.startswith(plain.text), "greedy: the same answer, then on past where it ended"
    unlimited = client.generate(messages=FRANCE, ignore_eos=True)  # to the server's default limit
    assert unlimited.stop_reason == common_pb2.STOP_REASON_MAX_TOKENS
    stopped = client.generate(messages=FRANCE, max_new_tokens=64, ignore_eos=True, stop=["Paris"])
    assert stopped.stop_reason == common_pb2.STOP_REASON_STOP_SEQUENCE


def test_stop_token_ids_end_the_answer_as_end_tokens_do(client):
    plain = list(client.generate(messages=FRANCE, max_new_tokens=12).token_ids)
    at = next(i for i in range(2, len(plain)) if plain[i] not in plain[:i])  # the first time that token comes
    stopped = client.generate(messages=FRANCE, max_new_tokens=12, stop_token_ids=[plain[at], 3])
    assert stopped.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE
    assert list(stopped.token_ids) == plain[: at + 1] and stopped.usage.generated_tokens == at + 1
    assert stopped.text == client.generate(messages=FRANCE, max_new_tokens=at).text, "the stop token is not in the text"
    held = client.generate(messages=FRANCE, max_new_tokens=12, min_new_tokens=at + 1, stop_token_ids=[plain[at]])
    assert plain[at] not in list(held.token_ids)[: at + 1]
    with pytest.raises(errors.InvalidArgumentError) as refused:
        client.generate(messages=FRANCE, stop_token_ids=[5, 49152])
    assert refused.value.field == "parameters.stop_token_ids[1]" and "not a token of the model's" in refused.value.message


def test_stream_holds_back_a_partial_stop_sequence(client):
    chunks = list(client.generate_stream(messages=FRANCE, stop=["Paris."]))
    assert "".join(c.text for c in chunks) == "The capital of France is "
    assert not any("Par" in c.text for c in chunks)


def test_seeded_sampling_is_reproducible(client):
    kwargs = dict(
        messages=[{"role": "user", "content": "Tell me a short story."}],
        temperature=1.0,
        top_p=0.95,
        top_k=50,
        seed=1234,
        max_new_tokens=24,
    )
    first, second = client.generate(**kwargs), client.generate(**kwargs)
    assert first.token_ids == second.token_ids
    other = client.generate(**{**kwargs, "seed": 4321})
    assert other.token_ids != first.token_ids


def test_time_limit_returns_partial_text(client):
    reply = client.generate(messages=FRANCE, max_new_tokens=400, min_new_tokens=400, time_limit_ms=300)
    assert reply.stop_reason == common_pb2.STOP_REASON_TIME_LIMIT
    assert 0 < reply.usage.generated_tokens < 400


def test_request_id_is_echoed(client):
    reply = client.generate(messages=FRANCE, request_id="order-42", max_new_tokens=2)
    assert reply.request_id == "order-42"


def test_a_unary_reply_carries_its_request_id_in_the_trailers_and_a_stream_in_its_headers(server):
    """A unary call sends nothing before its reply (headers apart from it would commit the call,
    and a replica killed between the two would leave a failure gRPC does not retry); a stream's
    id comes first, as its tokens follow."""
    request = inference_pb2.GenerateRequest(
        messages=[common_pb2.ChatMessage(**m) for m in FRANCE], parameters=common_pb2.GenerationParameters(max_new_tokens=2)
    )
    with grpc.insecure_channel(server.address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        reply, call = stub.Generate.with_call(request, timeout=60)
        assert "x-request-id" not in dict(call.initial_metadata())
        assert dict(call.trailing_metadata())["x-request-id"] == reply.request_id != ""
        stream = stub.GenerateStream(request, timeout=60)
        headers = dict(stream.initial_metadata())
        chunks = list(stream)
    assert headers["x-request-id"] == chunks[-1].request_id != ""


def test_tokenize_and_model_info(client, base_model):
    tokens = client.tokenize("Hello world")
    assert list(tokens.token_ids) == base_model.tokenizer("Hello world")["input_ids"]
    assert len(tokens.tokens) == len(tokens.token_ids)
    info = client.model_info()
    assert info.model == "SmolLM2-135M-Instruct" and info.architecture == "LlamaForCausalLM"
    assert info.fingerprint == base_model.fingerprint and info.quantization == "none" and info.device == "cpu"
    assert info.has_chat_template and info.context_window > 1000 and info.vocab_size == 49152
    # the tests' servers decode eagerly (tests/conftest.py), with the C++ kernels where they build here
    kernels = "tuneserve's C++ kernels" if build.unavailable_reason() is None else "aten's kernels: "
    assert info.decode_step.startswith(f"eager (compile_decode is off); {kernels}")


def test_concurrent_clients_get_the_same_greedy_answers_as_alone(client, server):
    questions = ["Name a planet.", "What is 2+2?", "Give a word that rhymes with cat.", "What colour is the sky?"]
    alone = [client.generate(messages=[{"role": "user", "content": q}], max_new_tokens=20).token_ids for q in questions]
    results: dict[int, list[int]] = {}

    def ask(i: int) -> None:
        results[i] = list(client.generate(messages=[{"role": "user", "content": questions[i % 4]}], max_new_tokens=20).token_ids)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == list(alone[i % 4]) for i in range(12))


def wait_for_idle(server, timeout: float = 10) -> None:
    engine = server.server.state.require().engine
    wait_for(
        lambda: not (engine.num_running or engine.num_waiting), timeout, interval=0.02, what="the engine to drop the abandoned request"
    )


def test_a_client_that_goes_away_frees_its_slot(server):
    channel = grpc.insecure_channel(server.address)
    stub = inference_pb2_grpc.InferenceStub(channel)
    request = inference_pb2.GenerateRequest(
        prompt="Count from one to one thousand:", parameters=common_pb2.GenerationParameters(max_new_tokens=2000, min_new_tokens=2000)
    )
    call = stub.GenerateStream(request)
    next(call)
    next(call)
    call.cancel()
    channel.close()
    wait_for_idle(server)


def test_a_passed_deadline_ends_the_call_and_frees_the_slot(client, server):
    with pytest.raises(errors.DeadlineExceededError):
        client.generate("Count from one to one thousand:", max_new_tokens=2000, min_new_tokens=2000, timeout=0.5)
    wait_for_idle(server)
