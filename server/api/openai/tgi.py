"""Text Generation Inference's own generation API, with LoRAX's adapter field: `POST /generate`,
`POST /generate_stream`, `POST /` (either, by `stream`) and `GET /info`. Clients written for TGI
or LoRAX (huggingface_hub's `InferenceClient.text_generation`, `lorax-client`) call it.

Underneath it is a text completion: the body becomes a CompletionRequest, whose admission is the
OpenAI route's, and the answer is worded as TGI words it. Where TGI's rules differ from OpenAI's,
TGI's hold here, since its clients rely on them:
- sampling is on where `do_sample` is set or a sampling parameter is given other than its neutral
  value (temperature 1, top_k 0, top_p 1); otherwise decoding is greedy. A sampled answer without a
  seed is given one, which `details.seed` reports, so it can be had again;
- the stop sequence that ended an answer stays at the end of its text;
- `best_of` answers several times and keeps the one of the highest mean token log-probability;
- refusals are `{"error", "error_type"}`, which both clients turn into their typed errors.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import Field

from common.errors import UNSUPPORTED_PARAMETER, InvalidRequest
from server.api.openai.answers import sse_event
from server.api.openai.schemas import MAX_COMPLETION_LOGPROBS, Body, CompletionRequest, refuse_unsupported
from server.api.token_spelling import TokenSpeller
from server.engine.logprobs import TokenLogprob
from server.engine.request import Finished, GenerationEvent, StopReason

GENERATE_ROUTE, STREAM_ROUTE, COMPAT_ROUTE, INFO_ROUTE = "/generate", "/generate_stream", "/", "/info"
MAX_BEST_OF = 4
MAX_TOP_N_TOKENS = MAX_COMPLETION_LOGPROBS  # TGI's default max_top_n_tokens is 5 as well
_UNSUPPORTED = {
    "adapter_source": "is not supported: adapters come from the server's adapter store; name one with adapter_id",
    "merged_adapters": "is not supported: one adapter answers a request; name it with adapter_id",
    "api_token": "is not supported: adapters are not fetched on a caller's behalf",
    "watermark": "is not supported: answers are not watermarked",
}
# the CompletionRequest's fields, as a TGI caller named them
_TGI_NAMES = {
    "prompt": "inputs",
    "max_tokens": "parameters.max_new_tokens",
    "model": "parameters.adapter_id",
    "n": "parameters.best_of",
    "ignore_eos": "parameters.ignore_eos_token",
    "include_stop_str_in_output": "parameters.stop",
}
# how TGI's clients tell refusals apart: their typed errors follow error_type, not the status
_ERROR_TYPES = {"rate_limit_error": "overloaded", "service_unavailable_error": "overloaded"}
_ERROR_TYPES |= {"invalid_request_error": "validation", "not_found_error": "validation", "server_error": "generation"}


class Grammar(Body):
    """TGI's grammar: a JSON schema (`json`, or `json_schema` with the schema under `schema`) or a regex."""

    type: Literal["json", "regex", "json_schema"]
    value: Any


class LoraxResponseFormat(Body):
    """LoRAX's response_format: JSON, under a schema where one is given."""

    type: Literal["json_object"]
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class GenerateParameters(Body):
    adapter_id: str | None = None  # TGI's and LoRAX's name of the adapter: an adapter of the store, "name" or "name@3"
    adapter_source: str | None = None
    merged_adapters: dict[str, Any] | None = None
    api_token: str | None = None
    best_of: int | None = None
    decoder_input_details: bool = False
    details: bool = False
    do_sample: bool = False
    frequency_penalty: float | None = None
    grammar: Grammar | None = None
    max_new_tokens: int | None = None
    repetition_penalty: float | None = None
    return_full_text: bool | None = None
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    temperature: float | None = None
    top_k: int | None = None
    top_n_tokens: int | None = None
    top_p: float | None = None
    truncate: int | None = None
    typical_p: float | None = None
    watermark: bool = False
    # LoRAX's own
    ignore_eos_token: bool = False
    return_k_alternatives: int | None = None
    response_format: LoraxResponseFormat | None = None

    def samples(self) -> bool:
        """TGI's rule: sampling where asked, or where a sampling parameter is other than neutral."""
        return self.do_sample or self.temperature not in (None, 1.0) or self.top_k not in (None, 0) or self.top_p not in (None, 1.0)

    def alternatives(self) -> int:
        """How many alternatives each token is shown with (TGI's top_n_tokens, LoRAX's return_k_alternatives)."""
        if self.top_n_tokens is not None and self.return_k_alternatives is not None:
            raise InvalidRequest("parameters.return_k_alternatives", "give one of top_n_tokens and return_k_alternatives")
        name, value = (
            ("top_n_tokens", self.top_n_tokens) if self.top_n_tokens is not None else ("return_k_alternatives", self.return_k_alternatives)
        )
        if value is not None and not 0 <= value <= MAX_TOP_N_TOKENS:
            raise InvalidRequest(f"parameters.{name}", f"must be between 0 and {MAX_TOP_N_TOKENS}, got {value}")
        return value or 0


class GenerateBody(Body):
    inputs: str
    parameters: GenerateParameters = Field(default_factory=GenerateParameters)
    stream: bool = False  # taken by "/" alone, which answers as /generate or /generate_stream by it

    def completion(self, streamed: bool, prompt_ids: list[int] | None = None) -> tuple[CompletionRequest, int | None]:
        """The text completion that answers this body, and the seed it samples with (None: greedy).
        `prompt_ids`: the prompt's tokens where `truncate` cut them."""
        self.refuse_unknown()
        p = self.parameters
        try:
            refuse_unsupported(p, _UNSUPPORTED)
        except InvalidRequest as exc:
            raise InvalidRequest(f"parameters.{exc.field}", exc.reason, exc.code) from None
        if p.typical_p not in (None, 1.0):
            raise InvalidRequest(
                "parameters.typical_p", "is not supported: typical sampling is not implemented; use top_p", UNSUPPORTED_PARAMETER
            )
        if not self.inputs:
            raise InvalidRequest("inputs", "is empty: give the text to continue")
        best_of = p.best_of if p.best_of is not None else 1
        sampled = p.samples() and p.temperature != 0
        if not 1 <= best_of <= MAX_BEST_OF:
            raise InvalidRequest("parameters.best_of", f"must be between 1 and {MAX_BEST_OF}, got {best_of}")
        if best_of > 1 and streamed:
            raise InvalidRequest("parameters.best_of", "must be 1 when streaming: the best answer is known only once all have ended")
        if best_of > 1 and not sampled:
            raise InvalidRequest(
                "parameters.best_of", "needs sampling (do_sample, or a temperature, top_k or top_p): greedy answers are all alike"
            )
        if p.decoder_input_details and streamed:
            raise InvalidRequest("parameters.decoder_input_details", "is not supported when streaming (as in TGI)")
        if p.grammar is not None and p.response_format is not None:
            raise InvalidRequest("parameters.response_format", "give one of grammar and response_format")
        alternatives = p.alternatives()
        details = p.details or p.decoder_input_details  # TGI: the prompt's tokens come with the details
        seed = (p.seed if p.seed is not None else secrets.randbits(63)) if sampled else None
        body: dict[str, Any] = {
            "prompt": prompt_ids if prompt_ids is not None else self.inputs,
            "model": p.adapter_id or "",
            "n": best_of,
            "temperature": (1.0 if p.temperature is None else p.temperature) if sampled else 0.0,
            "seed": seed,
            "stop": p.stop,
            "include_stop_str_in_output": True,
            "ignore_eos": p.ignore_eos_token,
            # every token's log-probability where it is shown (details, each streamed token) or ranks answers (best_of)
            "logprobs": alternatives if (details or streamed or best_of > 1 or alternatives) else None,
            "echo": p.decoder_input_details,
        }
        for name in ("max_new_tokens", "top_k", "top_p", "repetition_penalty", "frequency_penalty"):
            value = getattr(p, name)
            if value is not None:  # greedy decoding leaves top_k and top_p without effect, as in TGI
                body["max_tokens" if name == "max_new_tokens" else name] = value
        structured = self._structured()
        if structured is not None:
            body["structured_outputs"] = structured
        return CompletionRequest.model_validate(body, strict=False), seed

    def _structured(self) -> dict[str, Any] | None:
        """vLLM's structured_outputs of the grammar or response format, if any."""
        p = self.parameters
        if p.response_format is not None:
            return {"json": p.response_format.schema_} if p.response_format.schema_ is not None else {"json_object": True}
        if p.grammar is None:
            return None
        value = p.grammar.value
        if p.grammar.type == "regex":
            if not isinstance(value, str):
                raise InvalidRequest("parameters.grammar.value", "must be a regular expression (a string) for type regex")
            return {"regex": value}
        if p.grammar.type == "json_schema":  # TGI 3's {"name": ..., "schema": {...}}
            if not isinstance(value, dict) or not isinstance(value.get("schema"), dict):
                raise InvalidRequest(
                    "parameters.grammar.value", "must be an object with the JSON schema under schema, for type json_schema"
                )
            value = value["schema"]
        if not isinstance(value, (dict, str)):
            raise InvalidRequest("parameters.grammar.value", "must be a JSON schema (an object or its text) for type json")
        return {"json": value}


def tgi_param(field: str, body: GenerateBody) -> str:
    """A text completion's field (as the OpenAI route names it) as the TGI body names it
    ("stop[1]" -> "parameters.stop[1]")."""
    p = body.parameters
    if field.startswith(("response_format", "structured_outputs")):  # the schema or regex as a whole
        return "parameters.response_format" if p.response_format is not None else "parameters.grammar"
    alternatives = "parameters.return_k_alternatives" if p.return_k_alternatives is not None else "parameters.top_n_tokens"
    for name, tgi_name in {**_TGI_NAMES, "logprobs": alternatives}.items():
        if field == name or field.startswith((name + ".", name + "[")):
            return tgi_name + field[len(name) :]
    return field if field in ("x-request-id", "") else f"parameters.{field}"


def tgi_error(status: int, message: str, param: str | None, code: str) -> dict[str, Any]:
    """TGI's error body. Its clients raise a typed error by `error_type`; a refused token or
    permission has none, so they raise their plain HTTP error with its status."""
    body: dict[str, Any] = {"error": message}
    if status not in (401, 403):
        body["error_type"] = (
            "validation" if 400 <= status < 500 and status != 429 else "overloaded" if status in (429, 503) else "generation"
        )
    return body


def finish_reason(reason: StopReason) -> str:
    if reason is StopReason.END_OF_SEQUENCE:
        return "eos_token"
    return "stop_sequence" if reason is StopReason.STOP_SEQUENCE else "length"


class TgiWording:
    """How one request's answers are worded as TGI words them."""

    def __init__(self, body: GenerateBody, speller: TokenSpeller, prompt_ids: tuple[int, ...], seed: int | None):
        self._body = body
        self._speller = speller
        self._special = speller.special_ids
        self._prompt_ids = prompt_ids
        self._seed = seed
        self._full_text = bool(body.parameters.return_full_text)

    def seed(self, index: int) -> int | None:
        """The seed answer `index` sampled with (`routes.choices_of` gives the j-th seed + j)."""
        return None if self._seed is None else (self._seed + index) % 2**64

    def token(self, lp: TokenLogprob, text: str | None = None) -> dict[str, Any]:
        """A generated token: its text (its own spelling, or the text it added to a stream) and log-probability."""
        shown = self._speller.spell(lp.token_id)[0] if text is None else text
        token: dict[str, Any] = {"id": lp.token_id, "text": shown, "logprob": lp.logprob, "special": lp.token_id in self._special}
        if self._body.parameters.return_k_alternatives:
            token["alternative_tokens"] = [self._alternative(t, v) for t, v in lp.top]
        return token

    def top_tokens(self, lp: TokenLogprob) -> list[dict[str, Any]]:
        if not self._body.parameters.top_n_tokens:
            return []
        return [{**self._alternative(t, v), "special": t in self._special} for t, v in lp.top]

    def _alternative(self, token_id: int, value: float) -> dict[str, Any]:
        return {"id": token_id, "text": self._speller.spell(token_id)[0], "logprob": value}

    def text(self, generated: str) -> str:
        return self._body.inputs + generated if self._full_text else generated

    def sequence(self, events: list[GenerationEvent], finished: Finished, index: int) -> dict[str, Any]:
        """One answer's details (without best_of's other answers)."""
        logprobs = [lp for event in events for lp in event.logprobs]
        prefill = [lp for event in events for lp in event.prompt_logprobs]
        shown: dict[str, Any] = {
            "finish_reason": finish_reason(finished.reason),
            "generated_tokens": finished.generated_tokens,
            "prompt_tokens": finished.prompt_tokens,  # LoRAX's
            "seed": self.seed(index),
            "prefill": [self._prefill(token_id, lp) for token_id, lp in zip(self._prompt_ids, prefill, strict=True)] if prefill else [],
            "tokens": [self.token(lp) for lp in logprobs],
        }
        if self._body.parameters.top_n_tokens:
            shown["top_tokens"] = [self.top_tokens(lp) for lp in logprobs]
        return shown

    def _prefill(self, token_id: int, lp: TokenLogprob | None) -> dict[str, Any]:
        return {"id": token_id, "text": self._speller.spell(token_id)[0], "logprob": lp.logprob if lp is not None else None}

    def whole(self, ended: list[tuple[list[GenerationEvent], Finished]]) -> dict[str, Any]:
        """The answer: the best of the answers where best_of asked for several (by mean token log-probability)."""
        best = max(range(len(ended)), key=lambda i: _mean_logprob(ended[i][0])) if len(ended) > 1 else 0
        texts = ["".join(event.text for event in events) for events, _ in ended]
        answer: dict[str, Any] = {"generated_text": self.text(texts[best])}
        if not (self._body.parameters.details or self._body.parameters.decoder_input_details):
            return answer
        details = self.sequence(*ended[best], best)
        if len(ended) > 1:
            others = [i for i in range(len(ended)) if i != best]
            details["best_of_sequences"] = [{"generated_text": self.text(texts[i]), **self.sequence(*ended[i], i)} for i in others]
        return {**answer, "details": details}


def _mean_logprob(events: list[GenerationEvent]) -> float:
    values = [lp.logprob for event in events for lp in event.logprobs]
    return sum(values) / len(values) if values else float("-inf")


class TgiStream:
    """A TGI stream: one event per generated token, the last with the whole text (and details)."""

    done = ""

    def __init__(self, wording: TgiWording, details: bool) -> None:
        self._wording = wording
        self._details = details
        self._index = 0
        self._texts: list[str] = []
        self._last: TokenLogprob | None = None

    def opening(self) -> list[str]:
        return []

    def event(self, index: int, event: GenerationEvent, used: dict[str, Any] | None) -> list[str]:
        """Each of the event's tokens; its text goes with the last of them (the tokens before it
        added nothing that could be shown yet: part of a character, or of a possible stop sequence)."""
        self._texts.append(event.text)
        lines = []
        count = len(event.logprobs)
        for k, lp in enumerate(event.logprobs):
            ending = event.finished if k == count - 1 else None
            lines.append(self._token_event(lp, event.text if k == count - 1 else "", ending))
            self._last = lp
        if not count and event.finished is not None:
            # an end without a new token (a time limit between steps): TGI's last event carries the
            # whole text, so it comes with the token before once more (token 0 where there was none)
            lines.append(self._token_event(self._last or TokenLogprob(0, 0.0), event.text, event.finished))
        return lines

    def _token_event(self, lp: TokenLogprob, text: str, finished: Finished | None) -> str:
        self._index += 1
        payload: dict[str, Any] = {
            "index": self._index,
            "token": self._wording.token(lp, text),
            "top_tokens": self._wording.top_tokens(lp),
            "generated_text": None,
            "details": None,
        }
        if finished is not None:
            payload["generated_text"] = self._wording.text("".join(self._texts))
            if self._details:
                reason = finish_reason(finished.reason)
                shown = {"finish_reason": reason, "generated_tokens": finished.generated_tokens, "prompt_tokens": finished.prompt_tokens}
                payload["details"] = {**shown, "seed": self._wording.seed(0)}
        return sse_event(payload)

    def closing(self, usages: list[dict[str, Any]]) -> list[str]:
        return []

    def failure(self, error: dict[str, Any]) -> list[str]:
        """TGI's error event, from OpenAI's error body."""
        shown = error["error"]
        return [sse_event({"error": shown["message"], "error_type": _ERROR_TYPES.get(shown["type"], "generation")})]
