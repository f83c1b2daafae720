"""Turning a growing list of token ids into text deltas, one token at a time.

Decoding token by token breaks multi-byte characters and drops the spaces that some tokenizers
only render in context, so each step decodes a short window and emits what it adds, holding back
text that ends in an incomplete character (the approach of TGI and vLLM).
"""

from __future__ import annotations

from typing import Any

_CONTEXT_TOKENS = 5  # prompt tokens decoded along with the first output tokens, for spacing
_INCOMPLETE = "\ufffd"


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, prompt_ids: list[int] | tuple[int, ...]) -> None:
        self._tokenizer = tokenizer
        self._tokens = list(prompt_ids[-_CONTEXT_TOKENS:])
        self._prefix_offset = 0
        self._read_offset = len(self._tokens)
        self.text = ""

    def _decode(self, tokens: list[int]) -> str:
        return self._tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token_id: int) -> str:
        """Adds one generated token; returns the text it completes (often "", sometimes more)."""
        self._tokens.append(token_id)
        prefix = self._decode(self._tokens[self._prefix_offset : self._read_offset])
        current = self._decode(self._tokens[self._prefix_offset :])
        if len(current) <= len(prefix) or current.endswith(_INCOMPLETE):
            return ""
        delta = current[len(prefix) :]
        self._prefix_offset, self._read_offset = self._read_offset, len(self._tokens)
        self.text += delta
        return delta

    def flush(self) -> str:
        """Text of tokens still held back (an unfinished character at the very end)."""
        prefix = self._decode(self._tokens[self._prefix_offset : self._read_offset])
        current = self._decode(self._tokens[self._prefix_offset :])
        delta = current[len(prefix) :] if len(current) > len(prefix) else ""
        self._prefix_offset = self._read_offset = len(self._tokens)
        self.text += delta
        return delta
