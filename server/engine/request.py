"""What the engine is asked to do and what it reports back, independent of gRPC."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.engine.sampling import SamplingParams

if TYPE_CHECKING:
    from server.adapters.loader import LoadedAdapter
    from server.engine.logprobs import TokenLogprob
    from server.engine.structured_output import Constraint


class StopReason(enum.Enum):
    """Why a generation ended; names match the proto's STOP_REASON_* values."""

    END_OF_SEQUENCE = enum.auto()
    MAX_TOKENS = enum.auto()
    STOP_SEQUENCE = enum.auto()
    TIME_LIMIT = enum.auto()
    CANCELLED = enum.auto()
    UNFINISHED_STRUCTURE = enum.auto()  # the token budget ran out inside a structured output


@dataclass(frozen=True)
class GenerationRequest:
    """A validated, tokenized request, ready to be scheduled."""

    request_id: str
    prompt_ids: tuple[int, ...]
    params: SamplingParams
    arrival: float  # time.monotonic() when the request reached the server
    time_limit_at: float | None = None  # monotonic time at which to stop with TIME_LIMIT
    deadline_at: float | None = None  # monotonic time after which nobody waits for the answer
    adapter: LoadedAdapter | None = None  # the resolved adapter version, or None for the base model
    branches: tuple[tuple[int, ...], ...] = ()  # scoring: continuations whose log-probabilities are wanted
    constraint: Constraint | None = None  # structured output: the grammar the answer must match


@dataclass(frozen=True)
class Finished:
    """The end of a generation, with its accounting."""

    reason: StopReason
    prompt_tokens: int
    generated_tokens: int
    queue_s: float
    time_to_first_token_s: float
    total_s: float
    stop_sequence: str = ""
    cached_prompt_tokens: int = 0
    error: BaseException | None = None  # set when the engine failed this request
    scores: tuple[float, ...] = ()  # scoring requests: log P(branch | prompt) for each branch


@dataclass
class GenerationEvent:
    """New output of one request; the last event of a request carries `finished`."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    finished: Finished | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)  # one per token id, when the request asked
    prompt_logprobs: list[TokenLogprob | None] = field(default_factory=list)  # on the first event; None for the first token


EventSink = Callable[[GenerationEvent], None]
