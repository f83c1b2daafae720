"""vLLM's /tokenize and /detokenize: a prompt's tokens as Generate would see them, and the text of
token ids. Clients count tokens with them before they send (a context budget, a price), so a
count here is exactly the one admission makes: the same rendering and tokenizing as gRPC's
Tokenize (server.api.inference.tokenize). Settings that would count differently from a
generation (`add_special_tokens` other than the default, `continue_final_message`, tools, a
chat template of the caller's) are refused by name rather than honoured here alone.
"""

from __future__ import annotations

from typing import Any

from tuneserve.v1 import inference_pb2

from common.errors import UNSUPPORTED_PARAMETER, InvalidRequest
from server.api.openai.schemas import Body, ChatMessage, message_proto, refuse_unsupported, set_template_variables

TOKENIZE_ROUTE, DETOKENIZE_ROUTE = "/tokenize", "/detokenize"
# what a generation does, which the count must match: a plain prompt with the tokenizer's special
# tokens (as written), chat messages with the template's own and nothing added
_GENERATION_DEFAULTS = {"prompt": True, "messages": False}
_UNSUPPORTED = {
    "continue_final_message": "is not supported: a chat answer here always starts a new assistant turn",
    "chat_template": "is not supported: prompts are rendered with the model's own chat template",
    "tools": "is not supported here: tool descriptions are counted by a generation's usage.prompt_tokens",
    "documents": "is not supported: the chat templates are rendered without documents",
    "mm_processor_kwargs": "is not supported: this server takes text only",
}


class TokenizeBody(Body):
    model: str = ""
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: bool | None = None
    add_generation_prompt: bool | None = None
    return_token_strs: bool = False
    chat_template_kwargs: dict[str, Any] | None = None
    continue_final_message: bool | None = None
    chat_template: str | None = None
    tools: list[Any] | None = None
    documents: list[Any] | None = None
    mm_processor_kwargs: dict[str, Any] | None = None

    def tokenize_request(self) -> inference_pb2.TokenizeRequest:
        """The gRPC TokenizeRequest of this body (one of prompt and messages)."""
        self.refuse_unknown()
        refuse_unsupported(self, _UNSUPPORTED)
        if (self.prompt is None) == (self.messages is None):
            raise InvalidRequest("prompt", "give either prompt or messages")
        kind = "prompt" if self.prompt is not None else "messages"
        default = _GENERATION_DEFAULTS[kind]
        if self.add_special_tokens not in (None, default):
            reason = f"can only be {str(default).lower()} for {kind}: a generation tokenizes them so, and the count must match"
            raise InvalidRequest("add_special_tokens", reason, UNSUPPORTED_PARAMETER)
        if self.add_generation_prompt is False:
            reason = "can only be true: a chat prompt always ends where the answer starts"
            raise InvalidRequest("add_generation_prompt", reason, UNSUPPORTED_PARAMETER)
        if self.messages is not None:
            messages = [message_proto(m, i) for i, m in enumerate(self.messages)]
            request = inference_pb2.TokenizeRequest(messages=messages)
            if self.chat_template_kwargs:
                set_template_variables(request, self.chat_template_kwargs)
            return request
        if self.chat_template_kwargs:
            raise InvalidRequest("chat_template_kwargs", "applies to messages: only they are rendered with the chat template")
        return inference_pb2.TokenizeRequest(text=self.prompt or "")


class DetokenizeBody(Body):
    model: str = ""
    tokens: list[int]

    def token_ids(self, vocab: int) -> list[int]:
        self.refuse_unknown()
        outside = next((i for i, token in enumerate(self.tokens) if not 0 <= token < vocab), None)
        if outside is not None:
            raise InvalidRequest(f"tokens[{outside}]", f"is {self.tokens[outside]}, not a token of the model's {vocab}-token vocabulary")
        return self.tokens
