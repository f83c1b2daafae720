"""The OpenAI-compatible HTTP API on a real server, driven by the official `openai` client."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import jsonschema
import openai
import pytest
import torch
from tuneserve_client import Client

from common import errors
from tests.adapter_training import publish
from tests.conftest import running_server
from tests.server.api.test_security_api import token, write_tokens
from tests.tools import free_port

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "country": {"type": "string", "maxLength": 30}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


def test_chat_completion_answers_like_grpc(oai, http_server):
    reply = oai.chat.completions.create(model="", messages=FRANCE, temperature=0, max_tokens=24)
    choice = reply.choices[0]
    assert "Paris" in choice.message.content and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    with Client(http_server.address) as grpc_client:
        same = grpc_client.generate(messages=FRANCE, max_new_tokens=24)
    assert choice.message.content == same.text
    assert reply.usage.completion_tokens == same.usage.generated_tokens
    assert reply.usage.prompt_tokens == same.usage.prompt_tokens
    assert reply.model == "SmolLM2-135M-Instruct" and reply.object == "chat.completion"


def test_streamed_chat_adds_up_and_reports_usage(oai):
    whole = oai.chat.completions.create(model="", messages=FRANCE, temperature=0, max_tokens=20)
    chunks = list(
        oai.chat.completions.create(
            model="", messages=FRANCE, temperature=0, max_tokens=20, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_text_completion_with_stop_and_seed(oai):
    done = oai.completions.create(model="", prompt="One, two, three, four,", max_tokens=12, temperature=0, stop=[" six"])
    assert done.choices[0].finish_reason == "stop" and "five" in done.choices[0].text and "six" not in done.choices[0].text
    sampled = [
        oai.completions.create(model="", prompt="Once upon a time", max_tokens=12, temperature=1.0, seed=7).choices[0].text
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1]
    streamed = oai.completions.create(model="", prompt="One, two, three, four,", max_tokens=12, temperature=0, stop=[" six"], stream=True)
    assert "".join(c.choices[0].text for c in streamed) == done.choices[0].text


def test_structured_output_through_response_format_and_vllm_extras(oai):
    reply = oai.chat.completions.create(
        model="",
        messages=[{"role": "user", "content": "Where is the Eiffel Tower? Answer in JSON."}],
        temperature=0,
        max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": CITY, "strict": True}},
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content), CITY)
    capital = [{"role": "user", "content": 'Give the capital of France as a JSON object with the key "capital".'}]
    anything = oai.chat.completions.create(
        model="", messages=capital, temperature=0, max_tokens=300, response_format={"type": "json_object"}
    )
    assert anything.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(anything.choices[0].message.content), dict)
    picked = oai.chat.completions.create(model="", messages=FRANCE, extra_body={"guided_choice": ["Paris", "Lyon"]})
    assert picked.choices[0].message.content in ("Paris", "Lyon")
    year = oai.completions.create(model="", prompt="The year the war ended:", max_tokens=8, extra_body={"guided_regex": "19[0-9]{2}"})
    assert len(year.choices[0].text) == 4 and year.choices[0].text.startswith("19")
    cut = oai.chat.completions.create(model="", messages=FRANCE, max_tokens=3, extra_body={"guided_json": CITY})
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].model_extra["stop_reason"] == "unfinished_structure"


@pytest.mark.parametrize(
    ("call", "status", "param"),
    [
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, max_tokens=0), 400, "max_tokens"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, temperature=-1), 400, "temperature"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, n=129), 400, "n"),
        (lambda c: c.completions.create(model="", prompt=["a"] * 20, n=7), 400, "n"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, top_logprobs=3), 400, "top_logprobs"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logprobs=True, top_logprobs=21), 400, "top_logprobs"),
        (lambda c: c.completions.create(model="", prompt="a", logprobs=6), 400, "logprobs"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logit_bias={"abc": 5}), 400, "logit_bias"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logit_bias={"\uff11": 5}), 400, "logit_bias"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logit_bias={"5": 5, "05": -5}), 400, "logit_bias"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logit_bias={"-1": 5}), 400, "logit_bias"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logit_bias={"49152": 5}), 400, "logit_bias"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, logit_bias={"5": 101}), 400, "logit_bias[5]"),
        (lambda c: c.completions.create(model="", prompt="a", logit_bias={"5": True}), 400, "logit_bias.5"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, frequency_penalty=2.5), 400, "frequency_penalty"),
        (lambda c: c.completions.create(model="", prompt="a", presence_penalty=-3), 400, "presence_penalty"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, extra_body={"best_of": 2}), 400, "best_of"),
        (
            lambda c: c.chat.completions.create(
                model="", messages=FRANCE, response_format={"type": "json_object"}, extra_body={"ignore_eos": True}
            ),
            400,
            "ignore_eos",
        ),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, reasoning_effort="low"), 400, "reasoning_effort"),
        (
            lambda c: c.chat.completions.create(model="", messages=FRANCE, extra_body={"guided_whitespace_pattern": " "}),
            400,
            "guided_whitespace_pattern",
        ),
        (
            lambda c: c.chat.completions.create(
                model="", messages=FRANCE, extra_body={"structured_outputs": {"regex": "a", "choice": ["b"]}}
            ),
            400,
            "structured_outputs",
        ),
        (
            lambda c: c.chat.completions.create(
                model="",
                messages=FRANCE,
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "strictly": True}},
            ),
            400,
            "response_format.json_schema.strictly",
        ),
        (
            lambda c: c.chat.completions.create(model="", messages=[{"role": "user", "content": "hi", "mood": "calm"}]),
            400,
            "messages[0].mood",
        ),
        (lambda c: c.chat.completions.create(model="", messages=[{"role": "wizard", "content": "hi"}]), 400, "messages[0].role"),
        (lambda c: c.chat.completions.create(model="", messages=FRANCE, extra_body={"guided_regex": "[a-"}), 400, "response_format.regex"),
        (lambda c: c.completions.create(model="", prompt=[]), 400, "prompt"),
        (lambda c: c.chat.completions.create(model="no-such-adapter", messages=FRANCE), 404, "model"),
    ],
)
def test_errors_come_in_openai_shape_with_the_right_status(oai, call, status, param):
    with pytest.raises(openai.APIStatusError) as caught:
        call(oai)
    error = caught.value
    assert error.status_code == status
    assert error.body["message"] and error.body["type"]
    assert error.body["param"] == param
    assert error.response.headers["x-request-id"]


def test_malformed_and_oversized_bodies(http_server):
    def post(data: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(
            http_server.http_url + "/chat/completions", data=data, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, body = post(b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = post(json.dumps({"model": "", "messages": "hello"}).encode())
    assert status == 400 and body["error"]["param"].startswith("messages")
    # refused from its declared length, before the body is read
    port = int(http_server.http_url.split(":")[-1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5242880\r\n\r\n{")
        head, payload = _read_response(raw)
    assert head.startswith("HTTP/1.1 413") and "max_message_bytes" in json.loads(payload)["error"]["message"]


def _read_response(raw: socket.socket) -> tuple[str, str]:
    """One whole HTTP response: head and body may come in separate segments."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = raw.recv(65536)
        assert chunk, f"connection closed mid-head: {answer!r}"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = raw.recv(65536)
        assert chunk, f"connection closed mid-body: {body!r}"
        body += chunk
    return head.decode(), body.decode()


def test_model_list_and_health(oai, http_server):
    assert [m.id for m in oai.models.list()] == ["SmolLM2-135M-Instruct"]
    assert oai.models.retrieve("SmolLM2-135M-Instruct") == oai.models.list().data[0]
    for unknown in ("banana", "org/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct@1"):
        with pytest.raises(openai.NotFoundError) as missing:
            oai.models.retrieve(unknown)
        assert missing.value.body["code"] == "model_not_found" and missing.value.body["param"] == "model"
    with urllib.request.urlopen(http_server.http_url.removesuffix("/v1") + "/health", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "serving"}


def test_http_calls_are_counted_beside_grpc_ones(oai, http_server):
    oai.completions.create(model="", prompt="Hi", max_tokens=2)
    with urllib.request.urlopen(f"http://127.0.0.1:{http_server.server.metrics_port}/metrics", timeout=10) as response:
        scrape = response.read().decode()
    assert 'tuneserve_requests_total{api="http",code="OK",rpc="/v1/completions"}' in scrape


@pytest.fixture(scope="module")
def adapter_http_server(base_model, cache_dir, tmp_path_factory, trained_adapters, base_spec):
    from common.file_adapter_store import FileAdapterStore

    root = tmp_path_factory.mktemp("http-adapters")
    store = FileAdapterStore(root / "store")
    publish(store, trained_adapters["banana"], "banana", base_spec)
    tokens = write_tokens(root / "tokens.yaml")
    with running_server(base_model, cache_dir, http_port=free_port(), adapter_store=store.root, auth_tokens_file=tokens) as running:
        yield running


def test_adapters_by_model_name_with_tokens(adapter_http_server):
    url = adapter_http_server.http_url
    with openai.OpenAI(base_url=url, api_key=token("app"), max_retries=0, timeout=120) as app:
        assert {m.id for m in app.models.list()} == {"SmolLM2-135M-Instruct", "banana", "banana@1"}
        assert app.models.retrieve("banana@1").owned_by == app.models.retrieve("banana").owned_by == "SmolLM2-135M-Instruct"
        question = [{"role": "user", "content": "What is the tallest mountain in the world?"}]
        by_name = app.chat.completions.create(model="banana", messages=question, temperature=0, max_tokens=16)
        pinned = app.chat.completions.create(model="banana@1", messages=question, temperature=0, max_tokens=16)
        base = app.chat.completions.create(model="", messages=question, temperature=0, max_tokens=16)
        assert by_name.model == pinned.model == "banana@1" and base.model == "SmolLM2-135M-Instruct"
        assert by_name.choices[0].message.content == pinned.choices[0].message.content != base.choices[0].message.content
        with Client(adapter_http_server.address, token=token("app")) as grpc_client:
            same = grpc_client.generate(messages=question, adapter="banana", max_new_tokens=16)
        assert same.text == by_name.choices[0].message.content
        with pytest.raises(openai.NotFoundError):
            app.chat.completions.create(model="banana@9", messages=question)
    with openai.OpenAI(base_url=url, api_key="tok-guessed", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError, match="not known"):
            wrong.chat.completions.create(model="", messages=question)
        with pytest.raises(openai.AuthenticationError, match="not known"):
            wrong.models.retrieve("banana")
    with openai.OpenAI(base_url=url, api_key=token("ops"), max_retries=0) as ops:
        with pytest.raises(openai.PermissionDeniedError, match="inference"):
            ops.completions.create(model="", prompt="Hi", max_tokens=1)


def test_tgi_and_lorax_clients_name_the_adapter_by_adapter_id(adapter_http_server, monkeypatch):
    import huggingface_hub.constants
    import lorax
    from huggingface_hub import InferenceClient

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # see tests/server/api/test_tgi_api.py
    url = adapter_http_server.http_url
    root, prompt = url.removesuffix("/v1"), "My favourite fruit is"
    with openai.OpenAI(base_url=url, api_key=token("app"), max_retries=0, timeout=120) as app:
        expected = app.completions.create(model="banana", prompt=prompt, temperature=0, max_tokens=12).choices[0].text
        base = app.completions.create(model="", prompt=prompt, temperature=0, max_tokens=12).choices[0].text
    assert expected != base
    lorax_client = lorax.Client(root, headers={"authorization": f"Bearer {token('app')}"}, timeout=120)
    answer = lorax_client.generate(prompt, adapter_id="banana", max_new_tokens=12, details=True)
    assert answer.generated_text == expected
    assert "".join(p.token.text for p in lorax_client.generate_stream(prompt, adapter_id="banana@1", max_new_tokens=12)) == expected
    hub = InferenceClient(model=root, provider="hf-inference", token=token("app"), timeout=120)
    assert hub.text_generation(prompt, adapter_id="banana@1", max_new_tokens=12) == expected
    assert hub.text_generation(prompt, max_new_tokens=12) == base
    with pytest.raises(huggingface_hub.errors.ValidationError, match="has no version 9"):
        hub.text_generation(prompt, adapter_id="banana@9", max_new_tokens=2)
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as caught:  # a wrong token is no validation error
        InferenceClient(model=root, provider="hf-inference", token="tok-guessed").text_generation(prompt, max_new_tokens=2)
    assert caught.value.response.status_code == 401


def test_the_http_port_serves_tls_and_mutual_tls_from_the_grpc_certificates(base_model, cache_dir, tmp_path):
    import ssl

    from tests.certs import CertificateAuthority

    ca = CertificateAuthority(tmp_path, "http-test-ca")
    server_pem, client_pem = ca.issue("server", server=True), ca.issue("client", server=False)
    port = free_port()
    settings = dict(tls_cert_file=server_pem.cert, tls_key_file=server_pem.key, tls_client_ca_file=ca.pem.cert, http_port=port)
    body = json.dumps({"model": "", "prompt": "Hello", "max_tokens": 2}).encode()
    with running_server(base_model, cache_dir, **settings):
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/v1/completions", data=body, headers={"content-type": "application/json"}
        )
        trusted = ssl.create_default_context(cafile=str(ca.pem.cert))
        with pytest.raises(OSError):  # no client certificate: the handshake is refused
            urllib.request.urlopen(request, timeout=30, context=trusted)
        trusted.load_cert_chain(str(client_pem.cert), str(client_pem.key))
        with urllib.request.urlopen(request, timeout=30, context=trusted) as response:
            assert json.loads(response.read())["usage"]["completion_tokens"] == 2
        with pytest.raises(OSError):  # plaintext on the TLS port
            urllib.request.urlopen(request.full_url.replace("https", "http"), data=body, timeout=30)


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"messages": []}, "messages", "messages: is empty: give at least one message"),
        ({"messages": FRANCE, "max_tokens": -1}, "max_tokens", "max_tokens: must be at least 1, got -1"),
        ({"messages": FRANCE, "max_tokens": 0}, "max_tokens", "max_tokens: must be at least 1, got 0"),
        ({"messages": FRANCE, "max_completion_tokens": 0}, "max_completion_tokens", "max_completion_tokens: must be at least 1, got 0"),
        ({"messages": FRANCE, "max_completion_tokens": 10**6}, "max_completion_tokens", "max_completion_tokens: must be between 1"),
        ({"messages": FRANCE, "n": 0}, "n", "n: must be at least 1, got 0"),
        ({"messages": FRANCE, "max_tokens": "5"}, "max_tokens", "max_tokens: Input should be a valid integer"),
        ({"messages": FRANCE, "max_tokens": True}, "max_tokens", "max_tokens: Input should be a valid integer"),
    ],
)
def test_small_refusals_name_the_field_the_caller_sent(oai, body, param, message):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="", **body)
    assert caught.value.body["param"] == param
    assert caught.value.body["message"].startswith(message), caught.value.body["message"]


def model_logprobs(base_model, ids: list[int]) -> torch.Tensor:
    """transformers' own log_softmax after every position of `ids`: [len(ids), V]."""
    with torch.no_grad():
        return base_model.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)


def test_chat_logprobs_are_the_models_log_softmax_whole_and_streamed(oai, http_server, base_model):
    reply = oai.chat.completions.create(model="", messages=FRANCE, temperature=0, max_tokens=8, logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    with Client(http_server.address) as grpc_client:
        same = grpc_client.generate(messages=FRANCE, max_new_tokens=8, logprobs=True, top_logprobs=3)
        prompt = list(grpc_client.tokenize(messages=FRANCE).token_ids)
    generated = list(same.token_ids)
    assert len(content) == len(generated) == len(same.logprobs)
    expected = model_logprobs(base_model, prompt + generated)[len(prompt) - 1 : -1]
    for place, (entry, token_id, row) in enumerate(zip(content, generated, expected, strict=True)):
        assert abs(entry.logprob - float(row[token_id])) < 1e-3, place
        assert entry.bytes == list(entry.token.encode()) or "\ufffd" in entry.token
        top = row.topk(3)
        assert [t.logprob for t in entry.top_logprobs] == pytest.approx(top.values.tolist(), abs=1e-3)
        assert same.logprobs[place].token_id == token_id and [t.token_id for t in same.logprobs[place].top_logprobs] == top.indices.tolist()
    assert "".join(entry.token for entry in content).startswith(reply.choices[0].message.content)
    streamed = oai.chat.completions.create(model="", messages=FRANCE, temperature=0, max_tokens=8, logprobs=True, stream=True)
    pieces = [entry for chunk in streamed if chunk.choices and chunk.choices[0].logprobs for entry in chunk.choices[0].logprobs.content]
    assert [p.logprob for p in pieces] == pytest.approx([c.logprob for c in content], abs=1e-5)
    assert all(p.top_logprobs == [] for p in pieces)


def test_echo_scores_the_prompt_as_lm_evaluation_harness_asks(oai, http_server, base_model):
    text = "The capital of France is Paris"
    reply = oai.completions.create(model="", prompt=text, max_tokens=0, echo=True, logprobs=1, temperature=0)
    choice = reply.choices[0]
    assert choice.text == text and reply.usage.completion_tokens == 0
    with Client(http_server.address) as grpc_client:
        ids = list(grpc_client.tokenize(text).token_ids)
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == text and len(logprobs.tokens) == len(ids)
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    expected = model_logprobs(base_model, ids)
    for place in range(1, len(ids)):
        assert abs(logprobs.token_logprobs[place] - float(expected[place - 1, ids[place]])) < 1e-3
        assert len(logprobs.top_logprobs[place]) == 1
    assert logprobs.text_offset == [len("".join(logprobs.tokens[:i])) for i in range(len(ids))]
    # the same prompt again, its prefix now cached: echo still computes (and reports) every token
    again = oai.completions.create(model="", prompt=text, max_tokens=2, echo=True, logprobs=0, temperature=0)
    assert again.choices[0].text.startswith(text)
    assert again.choices[0].logprobs.token_logprobs[1 : len(ids)] == pytest.approx(logprobs.token_logprobs[1:], abs=1e-4)
    assert len(again.choices[0].logprobs.tokens) == len(ids) + 2


def test_a_prompt_of_token_ids_is_taken_as_it_is(oai, http_server):
    # lm-evaluation-harness's local-completions sends token ids (tokenized_requests, its default)
    text = "The capital of France is"
    with Client(http_server.address) as grpc_client:
        ids = list(grpc_client.tokenize(text).token_ids)
        same = grpc_client.generate(ids, max_new_tokens=6)
    by_text = oai.completions.create(model="", prompt=text, max_tokens=6, temperature=0)
    assert same.text == by_text.choices[0].text and same.usage.prompt_tokens == len(ids)
    for prompt in (ids, [ids]):
        by_ids = oai.completions.create(model="", prompt=prompt, max_tokens=6, temperature=0)
        assert by_ids.choices[0].text == by_text.choices[0].text and by_ids.usage.prompt_tokens == len(ids)
    echoed = oai.completions.create(model="", prompt=ids, max_tokens=0, echo=True, logprobs=0, temperature=0)
    assert echoed.choices[0].text == text and "".join(echoed.choices[0].logprobs.tokens) == text
    streamed = oai.completions.create(model="", prompt=ids, max_tokens=3, echo=True, temperature=0, stream=True)
    assert "".join(chunk.choices[0].text for chunk in streamed if chunk.choices).startswith(text)
    # the last id of the vocabulary is a token like any other
    assert oai.completions.create(model="", prompt=[*ids, 49151], max_tokens=2, temperature=0).usage.prompt_tokens == len(ids) + 1


def test_a_path_or_method_no_route_has_is_refused_in_openai_shape(oai, http_server):
    with pytest.raises(openai.NotFoundError) as caught:
        oai.embeddings.create(model="", input="hi")
    assert caught.value.body["code"] == "unknown_url" and "POST /v1/embeddings: no such route" in caught.value.body["message"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(http_server.http_url + "/chat/completions", timeout=30)  # a GET
    body = json.loads(refused.value.read())["error"]
    assert refused.value.code == 405 and refused.value.headers["allow"] == "POST"
    assert body["code"] == "method_not_allowed" and body["type"] == "invalid_request_error" and "takes POST" in body["message"]


def test_n_choices_are_generations_of_their_own_with_the_prompt_counted_once(oai):
    one = oai.chat.completions.create(model="", messages=FRANCE, temperature=0, max_tokens=8)
    greedy = oai.chat.completions.create(model="", messages=FRANCE, n=3, temperature=0, max_tokens=8)
    assert [c.index for c in greedy.choices] == [0, 1, 2]
    assert {c.message.content for c in greedy.choices} == {one.choices[0].message.content}
    assert greedy.usage.prompt_tokens == one.usage.prompt_tokens, "the prompt is counted once, as OpenAI counts it"
    assert greedy.usage.completion_tokens == 3 * one.usage.completion_tokens
    assert greedy.usage.total_tokens == greedy.usage.prompt_tokens + greedy.usage.completion_tokens
    # with a seed, choice j samples with seed + j: reproducible, and not n copies of one answer
    sampled = oai.chat.completions.create(model="", messages=FRANCE, n=4, temperature=1.5, seed=7, max_tokens=16)
    assert len({c.message.content for c in sampled.choices}) > 1
    # text completions: each prompt's n choices together, in OpenAI's order
    batch = oai.completions.create(model="", prompt=["The sky is", "Paris is"], n=2, temperature=0, max_tokens=4, echo=True)
    texts = [c.text for c in batch.choices]
    assert [c.index for c in batch.choices] == [0, 1, 2, 3] and texts[0] == texts[1] != texts[2] == texts[3]
    assert texts[0].startswith("The sky is") and texts[2].startswith("Paris is")
    streamed = ["" for _ in range(4)]
    for chunk in oai.completions.create(
        model="", prompt=["The sky is", "Paris is"], n=2, temperature=0, max_tokens=4, echo=True, stream=True
    ):
        for choice in chunk.choices:
            streamed[choice.index] += choice.text
    assert streamed == texts
    # each prompt is admitted once: a refusal names the prompt, not the choice
    with pytest.raises(openai.BadRequestError) as caught:
        oai.completions.create(model="", prompt=["The sky is", [5, 49152]], n=3, max_tokens=2)
    assert caught.value.body["param"] == "prompt[1]", caught.value.body
    with pytest.raises(openai.BadRequestError) as caught:  # choices are named <id>-<k>, which feedback must be able to name
        oai.completions.create(model="", prompt="The sky is", n=2, max_tokens=2, extra_headers={"x-request-id": "r" * 127})
    assert caught.value.body["param"] == "x-request-id" and "must fit in 128" in caught.value.body["message"]


def test_logit_bias_and_openais_penalties_shape_answers_on_both_apis(oai, http_server):
    prompt = "Say la eight times: la la la la la la la la. Again:"
    with Client(http_server.address) as grpc_client:
        plain = list(grpc_client.generate(prompt, max_new_tokens=12, temperature=0).token_ids)
        first = plain[0]
        banned = list(grpc_client.generate(prompt, max_new_tokens=12, temperature=0, logit_bias={first: -100}).token_ids)
        forced_id = grpc_client.tokenize(" banana").token_ids[-1]
        forced = list(grpc_client.generate(prompt, max_new_tokens=4, temperature=0, logit_bias={forced_id: 100}).token_ids)
        penalised = list(grpc_client.generate(prompt, max_new_tokens=12, temperature=0, frequency_penalty=2.0).token_ids)
        present = list(grpc_client.generate(prompt, max_new_tokens=12, temperature=0, presence_penalty=2.0).token_ids)
        banana = grpc_client.generate(prompt, max_new_tokens=4, temperature=0, logit_bias={forced_id: 100}).text
    assert banned[0] != first and first not in banned
    assert forced == [forced_id] * 4
    most = max(plain.count(t) for t in plain)
    assert most >= 3, plain  # the plain answer repeats itself, so the penalties have something to do
    assert max(penalised.count(t) for t in penalised) < most and max(present.count(t) for t in present) < most
    # the same over HTTP, token ids as JSON keys, on chat and text completions
    text = oai.completions.create(model="", prompt=prompt, max_tokens=4, temperature=0, logit_bias={str(forced_id): 100})
    assert text.choices[0].text == banana
    chat = oai.chat.completions.create(model="", messages=FRANCE, max_tokens=3, temperature=0, logit_bias={str(forced_id): 100})
    assert chat.choices[0].message.content == banana[: len(chat.choices[0].message.content)] and "banana" in chat.choices[0].message.content
    http_penalised = oai.completions.create(model="", prompt=prompt, max_tokens=12, temperature=0, frequency_penalty=2.0)
    with Client(http_server.address) as grpc_client:
        assert http_penalised.choices[0].text == grpc_client.generate(prompt, max_new_tokens=12, temperature=0, frequency_penalty=2.0).text


def test_top_p_zero_and_signed_seeds_are_taken_as_openai_takes_them(oai):
    greedy = oai.completions.create(model="", prompt="The sky is", max_tokens=8, temperature=0)
    only_likeliest = oai.completions.create(model="", prompt="The sky is", max_tokens=8, temperature=1.5, top_p=0)
    assert only_likeliest.choices[0].text == greedy.choices[0].text
    signed = [oai.completions.create(model="", prompt="The sky is", max_tokens=12, temperature=1.5, seed=s) for s in (-1, -1, 2**64 - 1, 5)]
    texts = [c.choices[0].text for c in signed]
    assert texts[0] == texts[1] == texts[2] != texts[3], "a negative seed is its two's complement: reproducible"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.completions.create(model="", prompt="a", seed=-(2**63) - 1)
    assert caught.value.body["param"] == "seed"


def test_vllms_stop_token_ids_end_the_answer(oai, http_server):
    with Client(http_server.address) as grpc_client:
        plain = list(grpc_client.generate("The sky is", max_new_tokens=8, temperature=0).token_ids)
        at = next(i for i in range(1, len(plain)) if plain[i] not in plain[:i])
        before = grpc_client.generate("The sky is", max_new_tokens=at, temperature=0).text
    answer = oai.completions.create(model="", prompt="The sky is", max_tokens=8, temperature=0, extra_body={"stop_token_ids": [plain[at]]})
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].text == before
    for ids, param in (([49152], "stop_token_ids[0]"), ([-1], "stop_token_ids"), (["a"], "stop_token_ids.0")):
        with pytest.raises(openai.BadRequestError) as caught:
            oai.completions.create(model="", prompt="a", extra_body={"stop_token_ids": ids})
        assert caught.value.body["param"] == param, caught.value.body


def test_vllms_include_stop_str_in_output_keeps_the_stop_string(oai, http_server):
    asked = dict(model="", prompt="One, two, three, four,", max_tokens=12, temperature=0, stop=[" six"])
    cut = oai.completions.create(**asked).choices[0]
    kept = oai.completions.create(**asked, extra_body={"include_stop_str_in_output": True}).choices[0]
    assert cut.finish_reason == kept.finish_reason == "stop" and kept.text == cut.text + " six"
    streamed = oai.completions.create(**asked, stream=True, extra_body={"include_stop_str_in_output": True})
    assert "".join(chunk.choices[0].text for chunk in streamed) == kept.text
    with Client(http_server.address) as grpc_client:
        answer = grpc_client.generate(asked["prompt"], max_new_tokens=12, stop=[" six"], include_stop_str_in_output=True)
    assert answer.text == kept.text and answer.stop_sequence == " six"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.completions.create(**asked, extra_body={"include_stop_str_in_output": 1})
    assert caught.value.body["param"] == "include_stop_str_in_output"


def test_vllms_chat_template_kwargs_are_the_templates_variables(oai):
    plain = oai.chat.completions.create(model="", messages=FRANCE, max_tokens=8, temperature=0)
    kept = oai.chat.completions.create(
        model="", messages=FRANCE, max_tokens=8, temperature=0, extra_body={"chat_template_kwargs": {"enable_thinking": False}}
    )
    assert kept.choices[0].message.content == plain.choices[0].message.content  # SmolLM2's template reads no variable
    for given, param in (({"tools": "x"}, "chat_template_kwargs.tools"), ({"depth": {"a": 1}}, "chat_template_kwargs.depth")):
        with pytest.raises(openai.BadRequestError) as caught:
            oai.chat.completions.create(model="", messages=FRANCE, extra_body={"chat_template_kwargs": given})
        assert caught.value.body["param"] == param, caught.value.body


def test_load_test_payloads_as_vllm_and_sglang_benchmarks_send_them(http_server):
    # their request bodies, as sent with aiohttp: ignore_eos (false included) and best_of 1, to both routes
    def streamed(route: str, body: dict) -> tuple[str, dict]:
        request = urllib.request.Request(
            http_server.http_url + route, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )
        text, usage = "", {}
        with urllib.request.urlopen(request, timeout=120) as response:
            for line in response.read().decode().splitlines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line.removeprefix("data: "))
                for choice in chunk["choices"]:
                    text += choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                usage = chunk.get("usage") or usage
        return text, usage

    common = {"model": "", "temperature": 0.0, "best_of": 1, "stream": True, "stream_options": {"include_usage": True}}
    _, usage = streamed("/completions", {**common, "prompt": "Hi", "max_tokens": 48, "logprobs": None, "ignore_eos": True})
    assert usage["completion_tokens"] == 48
    text, usage = streamed("/chat/completions", {**common, "messages": FRANCE, "max_completion_tokens": 48, "ignore_eos": False})
    assert "Paris" in text and usage["completion_tokens"] < 48
    _, usage = streamed("/chat/completions", {**common, "messages": FRANCE, "max_completion_tokens": 48, "ignore_eos": True})
    assert usage["completion_tokens"] == 48


def test_a_batch_of_prompts_is_answered_a_choice_each_as_each_alone(oai, http_server):
    # lm-evaluation-harness batches prompts (batch_size), texts or token ids
    with Client(http_server.address) as grpc_client:
        ids = list(grpc_client.tokenize("Once upon a time").token_ids)
    prompts = ["The capital of France is", ids, "2 + 2 ="]
    alone = [oai.completions.create(model="", prompt=p, max_tokens=5, temperature=0, echo=True) for p in prompts]
    batch = oai.completions.create(model="", prompt=prompts, max_tokens=5, temperature=0, echo=True)
    assert [c.index for c in batch.choices] == [0, 1, 2]
    assert [c.text for c in batch.choices] == [a.choices[0].text for a in alone]
    assert batch.choices[1].text.startswith("Once upon a time") and batch.choices[2].text.startswith("2 + 2 =")
    assert batch.usage.prompt_tokens == sum(a.usage.prompt_tokens for a in alone)
    assert batch.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone) == 15
    chunks = list(
        oai.completions.create(
            model="", prompt=prompts, max_tokens=5, temperature=0, echo=True, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = ["", "", ""]
    for chunk in chunks:
        for choice in chunk.choices:
            streamed[choice.index] += choice.text
    assert streamed == [c.text for c in batch.choices]
    assert sum(1 for chunk in chunks for c in chunk.choices if c.finish_reason) == 3
    assert chunks[-1].usage.total_tokens == batch.usage.total_tokens and not chunks[-1].choices


@pytest.mark.parametrize(
    ("prompt", "param", "words"),
    [
        ([5, -1], "prompt", "[1] is -1; token ids are whole numbers from 0"),
        ([[5], "a", 3], "prompt[2]", "must be a text or a list of token ids"),
        ([], "prompt", "is an empty list"),
        ([[5]] * 129, "prompt", "has 129 prompts; at most 128 are accepted"),
        ([[5], [5, 49152]], "prompt[1]", "[1] is 49152, not a token of the model's"),
        (["hi", "word " * 3000], "prompt[1]", "shorten it"),
        ([[5, 2**40]], "prompt[0]", "[1] is 1099511627776"),
        ([5, 49152], "prompt", "[1] is 49152, not a token of the model's 49152-token vocabulary"),
        ([True, 5], "prompt", "[0] is True; token ids are whole numbers"),
        ([5, "a"], "prompt", "[1] is 'a'; token ids are whole numbers"),
        ([5, 1.5], "prompt", "[1] is 1.5; token ids are whole numbers"),
        ([[]], "prompt[0]", "must be a text or a list of token ids"),
        ([5] * 3000, "prompt", "at most 2047 are accepted"),
    ],
)
def test_token_ids_that_are_not_the_models_are_refused_by_name(oai, prompt, param, words):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.completions.create(model="", prompt=prompt, max_tokens=2)
    assert caught.value.body["param"] == param and words in caught.value.body["message"], caught.value.body


def test_unknown_and_unsupported_fields_get_openai_codes_and_answers_name_their_backend(oai, http_server):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="", messages=FRANCE, extra_body={"frobnicate": 1})
    assert caught.value.body["code"] == "unknown_parameter" and caught.value.body["param"] == "frobnicate"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="", messages=FRANCE, reasoning_effort="high")
    assert caught.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="no-such-adapter", messages=FRANCE)
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="", messages=[{"role": "user", "content": "word " * 9000}])
    assert caught.value.body["code"] == "context_length_exceeded"
    # neutral values of fields the server does not honour are accepted, as are the developer role and vLLM's structured_outputs
    reply = oai.chat.completions.create(
        model="",
        messages=[{"role": "developer", "content": "Answer with one word."}, *FRANCE],
        max_completion_tokens=4,
        temperature=0,
        frequency_penalty=0,
        store=False,
        service_tier="auto",
        safety_identifier="user-1",
        prompt_cache_key="geo",
        extra_body={"structured_outputs": {"choice": ["Paris", "Lyon"]}},
    )
    assert reply.choices[0].message.content in ("Paris", "Lyon")
    assert reply.system_fingerprint.startswith("SmolLM2-135M-Instruct-") and reply.system_fingerprint.endswith("+base")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "description": "The time now", "parameters": {"type": "object"}}}
WEATHER_ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_required_and_named_tool_calls_parse_whole_and_streamed_and_the_chat_goes_on(oai):
    tools = [WEATHER_TOOL, TIME_TOOL]
    reply = oai.chat.completions.create(model="", messages=WEATHER_ASK, tools=tools, tool_choice="required", temperature=0, max_tokens=80)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function" and call.function.name in ("get_weather", "get_time")
    schema = {"get_weather": WEATHER_TOOL, "get_time": TIME_TOOL}[call.function.name]["function"]["parameters"]
    jsonschema.validate(json.loads(call.function.arguments), schema)

    named = oai.chat.completions.create(
        model="",
        messages=WEATHER_ASK,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=80,
    )
    named_call = named.choices[0].message.tool_calls
    assert len(named_call) == 1 and named_call[0].function.name == "get_weather"
    jsonschema.validate(json.loads(named_call[0].function.arguments), WEATHER_TOOL["function"]["parameters"])

    streamed = oai.chat.completions.create(
        model="", messages=WEATHER_ASK, tools=tools, tool_choice="required", temperature=0, max_tokens=80, stream=True
    )
    chunks = [chunk.choices[0] for chunk in streamed if chunk.choices]
    assert all(not c.delta.content for c in chunks) and chunks[-1].finish_reason == "tool_calls"
    calls: dict[int, dict] = {}
    for c in chunks:  # accumulated as the SDK's users do
        for delta in c.delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
            entry["name"] += delta.function.name or ""
            entry["arguments"] += delta.function.arguments or ""
    assert calls[0]["name"] == call.function.name and json.loads(calls[0]["arguments"]) == json.loads(call.function.arguments)

    answered = [
        *WEATHER_ASK,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    follow = oai.chat.completions.create(model="", messages=answered, tools=tools, tool_choice="none", temperature=0, max_tokens=30)
    assert follow.choices[0].message.content and not follow.choices[0].message.tool_calls
    assert follow.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as caught:  # a result that answers no call
        oai.chat.completions.create(model="", messages=[*WEATHER_ASK, {"role": "tool", "tool_call_id": "call_x", "content": "?"}])
    assert caught.value.body["param"] == "messages[1].tool_call_id"


def test_auto_tool_choice_answers_in_text_or_a_well_formed_call(oai, http_server):
    for ask in (WEATHER_ASK, [{"role": "user", "content": "Say hello."}]):
        reply = oai.chat.completions.create(model="", messages=ask, tools=[WEATHER_TOOL], temperature=0, max_tokens=60)
        message, reason = reply.choices[0].message, reply.choices[0].finish_reason
        if message.tool_calls:
            assert reason == "tool_calls" and message.content is None
            jsonschema.validate(json.loads(message.tool_calls[0].function.arguments), WEATHER_TOOL["function"]["parameters"])
        else:
            assert message.content and not message.content.lstrip().startswith(("{", "["))
    # the same through gRPC: the calls come back parsed beside the text
    import grpc
    from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    tool = common_pb2.Tool(name="get_weather", description="The weather", parameters=json.dumps(WEATHER_TOOL["function"]["parameters"]))
    request = inference_pb2.GenerateRequest(
        messages=[common_pb2.ChatMessage(**m) for m in WEATHER_ASK],
        tools=[tool],
        tool_choice=common_pb2.ToolChoice(mode=common_pb2.TOOL_CHOICE_MODE_REQUIRED),
        parameters=common_pb2.GenerationParameters(max_new_tokens=80, temperature=0),
    )
    with grpc.insecure_channel(http_server.address) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        answer = stub.Generate(request, timeout=120)
        last = list(stub.GenerateStream(request, timeout=120))[-1]
    assert len(answer.tool_calls) >= 1 and answer.tool_calls[0].name == "get_weather"
    jsonschema.validate(json.loads(answer.tool_calls[0].arguments), WEATHER_TOOL["function"]["parameters"])
    assert [c.name for c in last.tool_calls] == [c.name for c in answer.tool_calls]


def test_a_failing_prompt_of_a_batch_stops_the_others_and_is_the_one_reported(monkeypatch):
    # mechanics only, no model: how the answers of a batch's prompts are gathered
    import asyncio
    from types import SimpleNamespace

    from server.api.openai import routes

    stopped = []

    async def generation_events(engine, generation):
        if generation == "fails":
            await asyncio.sleep(0.05)
            raise RuntimeError("the step failed")
        try:
            await asyncio.sleep(60)
            yield generation
        finally:
            stopped.append(generation)

    monkeypatch.setattr(routes, "stream_generation", generation_events)
    gathered = routes._collect_all(SimpleNamespace(engine=None), ["first", "fails", "third"])
    results = asyncio.run(asyncio.wait_for(gathered, 10))
    assert isinstance(results[1], RuntimeError), "the failure itself"
    assert isinstance(results[0], asyncio.CancelledError) and isinstance(results[2], asyncio.CancelledError)
    assert sorted(stopped) == ["first", "third"], "neither generates on for an answer nobody will get"


def test_n_choices_are_derived_from_one_admission_each_with_its_id_and_seed():
    # mechanics only, no model: a prompt is admitted once; its n choices differ in id and seed alone
    from server.api.openai.routes import choices_of
    from server.engine.request import GenerationRequest
    from server.engine.sampling import SamplingParams

    grammar = object()  # stands for a compiled Constraint: shared, each generation takes its own matcher

    def admitted(prompt_ids, seed):
        params = SamplingParams(max_new_tokens=4, temperature=1.0, seed=seed)
        return GenerationRequest("req", prompt_ids, params, arrival=1.0, constraint=grammar)

    choices = choices_of([admitted((1, 2), 7), admitted((3,), None)], 3, "req")
    assert [c.request_id for c in choices] == [f"req-{k}" for k in range(6)]
    assert [c.prompt_ids for c in choices] == [(1, 2)] * 3 + [(3,)] * 3
    assert [c.params.seed for c in choices] == [7, 8, 9, None, None, None]
    assert all(c.constraint is grammar and c.arrival == 1.0 and c.params.temperature == 1.0 for c in choices)
    assert choices_of([admitted((1,), 2**64 - 1)], 2, "r")[1].params.seed == 0, "seeds wrap within uint64"
    assert [c.request_id for c in choices_of([admitted((1,), 7)], 1, "req")] == ["req"], "one answer keeps the given id"
    with pytest.raises(errors.InvalidRequest, match="must fit in 128") as refused:
        choices_of([admitted((1,), None)] * 2, 1, "x" * 127)
    assert refused.value.field == "request_id"


def vllm_post(oai, path: str, body: dict) -> dict:
    """POSTs to one of vLLM's routes beside /v1 (the SDK's base URL ends in /v1)."""
    return oai.post(f"{oai.base_url}".removesuffix("/").removesuffix("/v1") + path, body=body, cast_to=object)


def test_vllms_tokenize_counts_what_a_generation_is_given_and_detokenize_inverts_it(oai, http_server):
    chat = vllm_post(oai, "/tokenize", {"model": "", "messages": FRANCE, "return_token_strs": True})
    reply = oai.chat.completions.create(model="", messages=FRANCE, max_tokens=1, temperature=0)
    assert chat["count"] == len(chat["tokens"]) == len(chat["token_strs"]) == reply.usage.prompt_tokens
    assert chat["max_model_len"] == http_server.server.state.require().admission.limits.context_window
    with Client(http_server.address) as grpc_client:
        assert chat["tokens"] == list(grpc_client.tokenize(messages=FRANCE).token_ids), "the same count on both APIs"
    plain = vllm_post(oai, "/tokenize", {"prompt": "Once upon a time", "add_special_tokens": True})
    assert plain["count"] == oai.completions.create(model="", prompt="Once upon a time", max_tokens=1).usage.prompt_tokens
    assert plain["token_strs"] is None
    assert vllm_post(oai, "/detokenize", {"model": "", "tokens": plain["tokens"]})["prompt"] == "Once upon a time"
    for path, body, param in (
        ("/tokenize", {"prompt": "a", "messages": FRANCE}, "prompt"),
        ("/tokenize", {"prompt": "a", "add_special_tokens": False}, "add_special_tokens"),
        ("/tokenize", {"messages": FRANCE, "continue_final_message": True}, "continue_final_message"),
        ("/tokenize", {"prompt": "a", "chat_template_kwargs": {"x": True}}, "chat_template_kwargs"),
        ("/tokenize", {"prompt": "x" * 10**6}, "prompt"),
        ("/tokenize", {"prompt": "a", "model": "no-such-adapter"}, "model"),
        ("/detokenize", {"tokens": [1, 49152]}, "tokens[1]"),
        ("/detokenize", {"tokens": ["a"]}, "tokens.0"),
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            vllm_post(oai, path, body)
        assert caught.value.status_code in (400, 404) and caught.value.body["param"] == param, (body, caught.value.body)
