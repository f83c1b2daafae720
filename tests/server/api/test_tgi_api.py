"""TGI's and LoRAX's own generation API (/generate, /generate_stream, /, /info) on a real server,
driven by the clients written for it: huggingface_hub's InferenceClient and lorax-client. Each
answer is checked against the OpenAI route's answer to the same request, which the other tests
check against transformers."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import huggingface_hub.constants
import jsonschema
import lorax
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import ValidationError

from tests.conftest import running_server
from tests.tools import free_port

PROMPT = "The three largest cities of France are"
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 20}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def root(http_server) -> str:
    return http_server.http_url.removesuffix("/v1")


@pytest.fixture()
def hub(root, monkeypatch):
    # the suite keeps huggingface_hub offline, which blocks its client's every request, loopback
    # included; this client only ever calls the server under test
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return InferenceClient(model=root, provider="hf-inference", timeout=120)


@pytest.fixture()
def lorax_client(root):
    return lorax.Client(root, timeout=120)


def post(root: str, path: str, body: dict) -> tuple[int, dict, object]:
    """A raw POST: status, headers and JSON answer (an error's too)."""
    request = urllib.request.Request(root + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def completion(oai, prompt=PROMPT, **kwargs):
    return oai.completions.create(model="", prompt=prompt, temperature=0, **kwargs)


def test_greedy_answers_equal_the_text_completions_whole_and_streamed(hub, lorax_client, oai):
    expected = completion(oai, max_tokens=12, logprobs=0)
    choice = expected.choices[0]
    whole = hub.text_generation(PROMPT, max_new_tokens=12, details=True)
    assert whole.generated_text == choice.text
    assert whole.details.finish_reason == "length" and whole.details.generated_tokens == 12
    assert [t.text for t in whole.details.tokens] == choice.logprobs.tokens
    assert [t.logprob for t in whole.details.tokens] == pytest.approx(choice.logprobs.token_logprobs, abs=1e-3)
    assert whole.details.seed is None  # greedy

    streamed = list(hub.text_generation(PROMPT, max_new_tokens=12, stream=True, details=True))
    assert "".join(event.token.text for event in streamed) == choice.text
    assert [event.generated_text for event in streamed[:-1]] == [None] * (len(streamed) - 1)
    assert streamed[-1].generated_text == choice.text and streamed[-1].details.generated_tokens == 12
    assert [event.token.id for event in streamed] == [t.id for t in whole.details.tokens]
    assert all(math.isfinite(event.token.logprob) for event in streamed)
    assert hub.text_generation(PROMPT, max_new_tokens=12) == choice.text

    # lorax-client posts to "/", which answers as /generate (in a list) or /generate_stream by `stream`
    answer = lorax_client.generate(PROMPT, max_new_tokens=12, details=True)
    assert answer.generated_text == choice.text
    assert answer.details.prompt_tokens == expected.usage.prompt_tokens
    assert answer.details.tokens[0].special is False
    pieces = list(lorax_client.generate_stream(PROMPT, max_new_tokens=12, details=True))
    assert "".join(p.token.text for p in pieces) == choice.text
    assert pieces[-1].details.finish_reason == "length" and pieces[-1].details.prompt_tokens == expected.usage.prompt_tokens


def test_an_answer_that_ends_names_why_and_keeps_its_stop_sequence_as_tgi_does(hub, oai, root):
    ended = hub.text_generation("Say hello.", max_new_tokens=200, details=True)
    assert ended.details.finish_reason == "eos_token"
    assert ended.details.tokens[-1].special is True  # the end token is counted and shown, not in the text
    assert ended.details.generated_tokens == len(ended.details.tokens)
    plain = completion(oai, max_tokens=12).choices[0].text
    stop = plain.split()[1]
    stopped = hub.text_generation(PROMPT, max_new_tokens=12, stop=[stop], details=True)
    assert stopped.details.finish_reason == "stop_sequence"
    assert stopped.generated_text.endswith(stop) and plain.startswith(stopped.generated_text)
    full = hub.text_generation(PROMPT, max_new_tokens=4, return_full_text=True)
    assert full == PROMPT + completion(oai, max_tokens=4).choices[0].text
    status, headers, listed = post(root, "/", {"inputs": PROMPT, "parameters": {"max_new_tokens": 4}})
    assert status == 200 and listed == [{"generated_text": completion(oai, max_tokens=4).choices[0].text}]
    assert headers["x-generated-tokens"] == "4"


def test_sampling_reports_its_seed_and_the_seed_gives_the_answer_again(hub):
    sampled = hub.text_generation(PROMPT, max_new_tokens=16, do_sample=True, details=True)
    assert sampled.details.seed is not None
    again = hub.text_generation(PROMPT, max_new_tokens=16, do_sample=True, seed=sampled.details.seed, details=True)
    assert again.generated_text == sampled.generated_text and again.details.seed == sampled.details.seed
    # a temperature alone samples, as in TGI
    assert hub.text_generation(PROMPT, max_new_tokens=4, temperature=0.7, details=True).details.seed is not None


def test_best_of_keeps_the_answer_of_the_highest_mean_log_probability(hub):
    answer = hub.text_generation(PROMPT, max_new_tokens=8, best_of=3, do_sample=True, seed=7, details=True)
    sequences = [answer.details, *answer.details.best_of_sequences]
    assert len(sequences) == 3 and sorted(s.seed for s in sequences) == [7, 8, 9]

    def mean(sequence):
        return sum(t.logprob for t in sequence.tokens) / len(sequence.tokens)

    assert mean(answer.details) == max(mean(s) for s in sequences)
    for other in answer.details.best_of_sequences:  # each is the answer its seed gives alone
        alone = hub.text_generation(PROMPT, max_new_tokens=8, do_sample=True, seed=other.seed)
        assert alone == other.generated_text


def test_prompt_tokens_and_alternatives_are_the_models_log_probabilities(hub, lorax_client, oai, root):
    echoed = completion(oai, max_tokens=3, logprobs=3, echo=True).choices[0].logprobs
    prompt_count = len(echoed.tokens) - 3
    answer = hub.text_generation(PROMPT, max_new_tokens=3, decoder_input_details=True, details=True)
    prefill = answer.details.prefill
    assert [t.text for t in prefill] == echoed.tokens[:prompt_count]
    assert prefill[0].logprob is None
    assert [t.logprob for t in prefill[1:]] == pytest.approx(echoed.token_logprobs[1:prompt_count], abs=1e-3)
    _, _, raw = post(root, "/generate", {"inputs": PROMPT, "parameters": {"max_new_tokens": 3, "details": True, "top_n_tokens": 3}})
    for step, top in zip(raw["details"]["top_tokens"], echoed.top_logprobs[prompt_count:], strict=True):
        assert {t["text"]: t["logprob"] for t in step} == pytest.approx(top, abs=1e-3)
    streamed = list(hub.text_generation(PROMPT, max_new_tokens=3, stream=True, details=True, top_n_tokens=2))
    assert all(len(event.top_tokens) == 2 for event in streamed)
    alternatives = lorax_client.generate(PROMPT, max_new_tokens=3, details=True, return_k_alternatives=2)
    assert [len(t.alternative_tokens) for t in alternatives.details.tokens] == [2, 2, 2]


def test_grammars_and_response_format_constrain_the_answer(hub, lorax_client):
    answer = hub.text_generation("A French city as JSON:", max_new_tokens=60, grammar={"type": "json", "value": CITY})
    jsonschema.validate(json.loads(answer), CITY)
    code = hub.text_generation("A postcode:", max_new_tokens=8, grammar={"type": "regex", "value": "[0-9]{5}"})
    assert len(code) == 5 and code.isdigit()
    formatted = lorax_client.generate("A French city as JSON:", max_new_tokens=60, response_format={"type": "json_object", "schema": CITY})
    jsonschema.validate(json.loads(formatted.generated_text), CITY)


def test_truncate_keeps_the_prompts_last_tokens(hub, oai, root):
    tokens = post(root, "/tokenize", {"prompt": PROMPT})[2]["tokens"]
    answer = hub.text_generation(PROMPT, max_new_tokens=6, truncate=3, details=True)
    expected = completion(oai, prompt=tokens[-3:], max_tokens=6).choices[0].text
    assert answer.generated_text == expected


def test_info_describes_the_model_and_its_limits(hub, http_server):
    info = hub.get_endpoint_info()
    assert info["model_id"] == "SmolLM2-135M-Instruct" and info["model_pipeline_tag"] == "text-generation"
    assert info["max_total_tokens"] > info["max_input_tokens"] > 0 and info["max_best_of"] >= 2


@pytest.mark.parametrize(
    ("parameters", "named", "words"),
    [
        ({"best_of": 2}, "parameters.best_of", "needs sampling"),
        ({"best_of": 9, "do_sample": True}, "parameters.best_of", "between 1 and"),
        ({"typical_p": 0.5}, "parameters.typical_p", "not supported"),
        ({"watermark": True}, "parameters.watermark", "not watermarked"),
        ({"adapter_source": "hub"}, "parameters.adapter_source", "adapter store"),
        ({"top_n_tokens": 9}, "parameters.top_n_tokens", "between 0 and 5"),
        ({"max_new_tokens": 0}, "parameters.max_new_tokens", "at least 1"),
        ({"temperature": -1.0}, "parameters.temperature", "temperature"),
        ({"stop": ["x"] * 40}, "parameters.stop", "stop"),
        ({"truncate": 0}, "parameters.truncate", "at least 1"),
        ({"frobnicate": 1}, "parameters.frobnicate", "not a field"),
        ({"grammar": {"type": "json", "value": 5}}, "parameters.grammar.value", "JSON schema"),
        ({"grammar": {"type": "json", "value": {"type": "nonsense"}}}, "parameters.grammar", ""),
    ],
)
def test_refusals_name_the_tgi_field_in_tgis_error_shape(root, hub, parameters, named, words):
    status, _, body = post(root, "/generate", {"inputs": PROMPT, "parameters": parameters})
    assert status == 400, body
    assert body["error_type"] == "validation" and body["error"].startswith(named) and words in body["error"]


def test_clients_raise_their_typed_errors_and_the_server_goes_on(hub, lorax_client, root):
    with pytest.raises(ValidationError, match="parameters.best_of"):
        hub.text_generation(PROMPT, max_new_tokens=4, best_of=2)
    with pytest.raises(ValidationError, match="no-such-adapter"):
        hub.text_generation(PROMPT, max_new_tokens=4, adapter_id="no-such-adapter")
    with pytest.raises(ValidationError, match="parameters.decoder_input_details"):
        list(hub.text_generation(PROMPT, max_new_tokens=4, stream=True, decoder_input_details=True, details=True))
    with pytest.raises(lorax.errors.ValidationError, match="parameters.adapter_source"):
        lorax_client.generate(PROMPT, max_new_tokens=4, adapter_id="banana", adapter_source="local")
    status, _, body = post(root, "/generate", {"inputs": PROMPT, "stream": True})
    assert status == 400 and "/generate_stream" in body["error"]
    assert hub.text_generation(PROMPT, max_new_tokens=2)


def test_calls_are_counted_in_the_http_metrics(hub, http_server):
    import urllib.request

    hub.text_generation(PROMPT, max_new_tokens=1)
    with urllib.request.urlopen(f"http://127.0.0.1:{http_server.server.metrics_port}/metrics", timeout=10) as response:
        scrape = response.read().decode()
    assert 'tuneserve_requests_total{api="http",code="OK",rpc="/"}' in scrape


def test_served_model_names_are_the_names_clients_call_the_base_model_by(base_model, cache_dir, monkeypatch):
    import openai

    names = ["meta-llama/Llama-3.2-1B", "tgi"]
    with running_server(base_model, cache_dir, http_port=free_port(), served_model_names=names) as running:
        url = running.http_url
        with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as oai:
            assert [m.id for m in oai.models.list()] == names
            answer = oai.chat.completions.create(model="tgi", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0)
            assert answer.model == names[0]
            same = oai.chat.completions.create(model=names[0], messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0)
            assert same.choices[0].message.content == answer.choices[0].message.content
            with pytest.raises(openai.NotFoundError):  # the file's name is replaced, as vLLM's --served-model-name does
                oai.completions.create(model="SmolLM2-135M-Instruct", prompt="Hi", max_tokens=1)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        hub = InferenceClient(model=url.removesuffix("/v1"), provider="hf-inference", timeout=120)
        chat = hub.chat_completion([{"role": "user", "content": "Hi"}], model="tgi", max_tokens=4, temperature=0)
        assert chat.choices[0].message.content == answer.choices[0].message.content
        assert hub.get_endpoint_info()["model_id"] == names[0]


@pytest.mark.parametrize("names", [["a b"], ["x@1"], [""], ["same", "same"], ["n" * 129]])
def test_served_model_names_that_could_not_be_called_are_refused_at_start(names):
    from pydantic import ValidationError as SettingsError

    from server.config import ServerSettings

    with pytest.raises(SettingsError, match="served_model_names"):
        ServerSettings(served_model_names=names)
