"""How a token is shown to a caller next to its log-probability: its text and its bytes.

A token may stand for part of a multi-byte character: its text is then U+FFFD, and its bytes
are the raw bytes it adds (byte-level BPE spells them with the GPT-2 byte alphabet, sentencepiece
as <0xNN> tokens), so a client can join the bytes of consecutive tokens into the real text, as
OpenAI's `bytes` field allows.
"""

from __future__ import annotations

import re
import threading
import weakref
from functools import cache
from typing import Any

from tuneserve.v1 import common_pb2

from server.engine.logprobs import TokenLogprob

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@cache
def _byte_level_alphabet() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


class TokenSpeller:
    """Text and bytes of token ids of one tokenizer, remembered once spelled."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._known: dict[int, tuple[str, bytes]] = {}
        self._lock = threading.Lock()
        self.special_ids = frozenset(int(token_id) for token_id in tokenizer.all_special_ids)  # TGI shows them as `special`

    def spell(self, token_id: int) -> tuple[str, bytes]:
        known = self._known.get(token_id)
        if known is None:
            with self._lock:
                known = self._known[token_id] = self._spell(token_id)
        return known

    def _spell(self, token_id: int) -> tuple[str, bytes]:
        text = str(self._tokenizer.decode([token_id]))
        if "\ufffd" not in text:
            return text, text.encode()
        piece = str(self._tokenizer.convert_ids_to_tokens(token_id))
        byte = _BYTE_TOKEN.fullmatch(piece)
        if byte is not None:
            return text, bytes([int(byte.group(1), 16)])
        alphabet = _byte_level_alphabet()
        if all(char in alphabet for char in piece):
            return text, bytes(alphabet[char] for char in piece)
        return text, text.encode()

    def decode(self, token_ids: tuple[int, ...]) -> str:
        """The text of several tokens together (where one alone may be part of a character)."""
        return str(self._tokenizer.decode(list(token_ids)))

    def proto(self, logprob: TokenLogprob | None) -> common_pb2.TokenLogprob:
        """The gRPC form; the first prompt token (None) has no log-probability and shows as empty."""
        if logprob is None:
            return common_pb2.TokenLogprob()
        text, raw = self.spell(logprob.token_id)
        top = []
        for token_id, value in logprob.top:
            top_text, top_raw = self.spell(token_id)
            top.append(common_pb2.TopLogprob(token_id=token_id, token=top_text, logprob=value, token_bytes=top_raw))
        return common_pb2.TokenLogprob(token_id=logprob.token_id, token=text, logprob=logprob.logprob, token_bytes=raw, top_logprobs=top)


_SPELLERS: weakref.WeakKeyDictionary[Any, TokenSpeller] = weakref.WeakKeyDictionary()


def speller_for(tokenizer: Any) -> TokenSpeller:
    """The one speller of a tokenizer, kept as long as the tokenizer lives."""
    speller = _SPELLERS.get(tokenizer)
    if speller is None:
        speller = _SPELLERS[tokenizer] = TokenSpeller(tokenizer)
    return speller
