"""The continuous-batching engine on the real embedded model."""

from __future__ import annotations

import threading
import time

import pytest

from common.errors import DeadlineExceeded, InvalidRequest, ResourceExhausted
from server.engine.engine import Engine, EngineConfig
from server.engine.request import GenerationEvent, GenerationRequest, StopReason
from server.engine.sampling import SamplingParams
from tests.load import run_concurrently
from tests.waiting import wait_for

QUESTIONS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Who wrote Hamlet? Answer in one short sentence, and then explain why the play is still performed today.",
    "What is 12 times 7?",
    "Name a colour of the rainbow.",
]


def make_engine(base, **overrides) -> Engine:
    values = dict(max_batch_size=16, max_batch_tokens=256, max_waiting=32, num_blocks=256, block_size=16, max_model_len=2048)
    values.update(overrides)
    return Engine(base, EngineConfig(**values))


@pytest.fixture(scope="module")
def engine(base_model):
    engine = make_engine(base_model)
    engine.start()
    yield engine
    engine.stop()


def request(base, question: str, rid: str = "", **params) -> GenerationRequest:
    text = base.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    ids = base.tokenizer(text, add_special_tokens=False)["input_ids"]
    params.setdefault("max_new_tokens", 24)
    return GenerationRequest(rid or question[:20], tuple(ids), SamplingParams(**params), arrival=time.monotonic())


class Recorder:
    """Collects one request's events on the engine thread."""

    def __init__(self) -> None:
        self.events: list[GenerationEvent] = []
        self.done = threading.Event()

    def __call__(self, event: GenerationEvent) -> None:
        self.events.append(event)
        if event.finished is not None:
            self.done.set()

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events)

    @property
    def finished(self):
        return self.events[-1].finished

    def generated(self) -> int:
        return sum(len(e.token_ids) for e in self.events)


def test_greedy_output_is_the_same_alone_and_batched(engine, base_model):
    alone = [engine.generate(request(base_model, q), timeout=120)[:2] for q in QUESTIONS]
    batched = run_concurrently(engine, [request(base_model, q) for q in QUESTIONS * 3])
    for i, result in enumerate(batched):
        assert result == alone[i % len(QUESTIONS)], QUESTIONS[i % len(QUESTIONS)]
    assert "Paris" in alone[0][0]


def test_chunked_prefill_gives_the_same_tokens(base_model, engine):
    long_question = "Summarise this: " + " ".join(f"sentence {i} says the sky is blue." for i in range(40))
    unchunked = engine.generate(request(base_model, long_question), timeout=120)[1]
    small_steps = make_engine(base_model, max_batch_tokens=32)
    small_steps.start()
    try:
        chunked = small_steps.generate(request(base_model, long_question), timeout=120)[1]
    finally:
        small_steps.stop()
    assert len(request(base_model, long_question).prompt_ids) > 4 * 32
    assert chunked == unchunked


def test_a_new_request_joins_the_running_batch_instead_of_waiting(engine, base_model):
    long, short = Recorder(), Recorder()
    engine.submit(request(base_model, QUESTIONS[3], "long", max_new_tokens=80, min_new_tokens=80), long)
    wait_for(lambda: long.generated() >= 5)
    engine.submit(request(base_model, QUESTIONS[0], "short", max_new_tokens=4), short)
    assert short.done.wait(60)
    assert not long.done.is_set(), "the short request finished while the long one was still generating"
    assert long.done.wait(120)
    assert long.finished.generated_tokens == 80 and short.finished.generated_tokens == 4


def test_cancelling_frees_the_slot_and_blocks(engine, base_model):
    recorder = Recorder()
    seq_id = engine.submit(request(base_model, QUESTIONS[1], "cancel-me", max_new_tokens=200, min_new_tokens=200), recorder)
    wait_for(lambda: recorder.generated() >= 3)
    engine.cancel(seq_id)
    assert recorder.done.wait(30)
    assert recorder.finished.reason is StopReason.CANCELLED
    assert 3 <= recorder.finished.generated_tokens < 200
    wait_for(lambda: engine.num_running == 0, 5)
    assert engine.allocator.num_free == engine.config.num_blocks


def test_time_limit_returns_the_text_so_far(engine, base_model):
    req = request(base_model, QUESTIONS[1], max_new_tokens=500, min_new_tokens=500)
    req = GenerationRequest(req.request_id, req.prompt_ids, req.params, req.arrival, time_limit_at=req.arrival + 0.5)
    text, tokens, finished = engine.generate(req, timeout=60)
    assert finished.reason is StopReason.TIME_LIMIT
    assert 0 < len(tokens) < 500 and text
    assert finished.total_s >= 0.5


def test_stop_strings_end_generation_and_are_not_returned(engine, base_model):
    text, _, finished = engine.generate(request(base_model, QUESTIONS[0], stop=("Paris",)), timeout=60)
    assert finished.reason is StopReason.STOP_SEQUENCE and finished.stop_sequence == "Paris"
    assert text == "The capital of France is "


def test_waiting_queue_is_bounded_beyond_what_the_batch_can_take(base_model):
    idle = make_engine(base_model, max_waiting=2, max_batch_size=1)  # never started: nothing leaves the queue
    for name in "abc":  # one for the free batch place, two waiting
        idle.submit(request(base_model, name), Recorder())
    with pytest.raises(ResourceExhausted, match="2 requests are already waiting beyond the running batch"):
        idle.submit(request(base_model, "d"), Recorder())
    group = [(request(base_model, name), Recorder()) for name in "xyz"]
    with pytest.raises(ResourceExhausted):
        idle.submit_group(group)
    assert idle.num_waiting == 3, "a refused group leaves nothing queued"


def test_a_group_comes_in_whole_while_one_place_is_left(base_model):
    idle = make_engine(base_model, max_waiting=2, max_batch_size=1)
    idle.submit(request(base_model, "a"), Recorder())
    ids = idle.submit_group([(request(base_model, name), Recorder()) for name in "wxyz"])
    assert len(set(ids)) == 4 and idle.num_waiting == 5


def test_a_burst_fills_the_batch_and_the_queue_before_anything_is_refused(base_model):
    """64 requests at once with max_batch_size 8 and max_waiting 8: 16 are taken, not 9."""
    engine = make_engine(base_model, max_batch_size=8, max_waiting=8)
    engine.start()
    try:
        recorders, refused = [], 0
        for i in range(64):
            recorder = Recorder()
            try:
                engine.submit(request(base_model, QUESTIONS[i % len(QUESTIONS)], f"burst-{i}", max_new_tokens=8), recorder)
                recorders.append(recorder)
            except ResourceExhausted:
                refused += 1
        assert len(recorders) >= 16 and refused == 64 - len(recorders)
        assert all(r.done.wait(120) for r in recorders)
        assert all(r.finished.error is None and r.finished.generated_tokens == 8 for r in recorders)
    finally:
        engine.stop()


def test_an_expired_deadline_drops_a_waiting_request(base_model):
    engine = make_engine(base_model, max_batch_size=1)
    engine.start()
    try:
        blocker, late = Recorder(), Recorder()
        engine.submit(request(base_model, QUESTIONS[1], "blocker", max_new_tokens=60, min_new_tokens=60), blocker)
        req = request(base_model, QUESTIONS[0], "late")
        engine.submit(GenerationRequest("late", req.prompt_ids, req.params, req.arrival, deadline_at=time.monotonic() + 0.2), late)
        assert late.done.wait(30)
        assert late.finished.reason is StopReason.CANCELLED and late.finished.generated_tokens == 0
        assert isinstance(late.finished.error, DeadlineExceeded)
        assert blocker.done.wait(60)
        assert engine.num_waiting == 0
    finally:
        engine.stop()


def test_request_larger_than_the_context_is_refused(base_model):
    small = make_engine(base_model, max_model_len=64)
    with pytest.raises(InvalidRequest, match="exceed the context window of 64 tokens"):
        small.submit(request(base_model, QUESTIONS[0], max_new_tokens=60), Recorder())


def test_stopping_the_engine_cancels_what_is_left(base_model):
    engine = make_engine(base_model, max_batch_size=1)
    engine.start()
    running, queued = Recorder(), Recorder()
    engine.submit(request(base_model, QUESTIONS[1], max_new_tokens=300, min_new_tokens=300), running)
    engine.submit(request(base_model, QUESTIONS[0]), queued)
    wait_for(lambda: running.generated() >= 2)
    engine.stop()
    assert running.finished.reason is StopReason.CANCELLED
    assert queued.finished.reason is StopReason.CANCELLED
