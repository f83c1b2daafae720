"""What one step computes for one sequence: pieces of new tokens, and why each logits row is wanted.

A scheduled chunk of a sequence becomes one or more pieces: runs of new tokens that see a given
context. One-token pieces become the step's decode rows, longer ones its prefill spans (see
server.engine.batch_builder). Each logits row a step produces serves one purpose: sampling the
next token, or scoring a continuation (server.engine.scoring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    from server.engine.sequence import Sequence

# ("sample",): the next token; ("first",): every continuation's first token after the prompt;
# ("branch", b, j): token j + 1 of continuation b, after its token j; ("prompt", p): the
# log-probability of prompt token p + 1 after position p (server.engine.logprobs)
Purpose = tuple[Literal["sample"]] | tuple[Literal["first"]] | tuple[Literal["branch"], int, int] | tuple[Literal["prompt"], int]


@dataclass
class Piece:
    seq: Sequence
    tokens: list[int]
    start: int  # position of tokens[0]
    write_slots: torch.Tensor  # [n] where the new tokens' K/V go
    kv_slots: torch.Tensor  # [context] every slot the last token attends to, these included
    wants: list[tuple[int, Purpose]] = field(default_factory=list)  # (index in piece, why its logits are needed)


@dataclass
class RowUse:
    seq: Sequence
    purpose: Purpose
