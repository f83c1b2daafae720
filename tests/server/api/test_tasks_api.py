"""Few-shot requests and task endpoints on a real server: classification, generation, reloads,
and a task switching from demonstrations to an adapter when the trainer publishes one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml
from tuneserve.v1 import common_pb2
from tuneserve_client import Client, errors

from common.file_adapter_store import FileAdapterStore
from common.task_spec import TaskSpec, completion_ids, prompt_ids, render_prompt
from common.threads import run_on_fresh_thread
from tests.conftest import running_server
from tests.waiting import wait_for

SENTIMENT = {
    "name": "sentiment",
    "kind": "classification",
    "instruction": "Is the movie review positive or negative?",
    "labels": ["positive", "negative"],
    "demonstrations": [
        {"input": "A wonderful film, I loved it.", "output": "positive"},
        {"input": "Dull and far too long.", "output": "negative"},
        {"input": "Brilliant acting and a great story.", "output": "positive"},
        {"input": "A boring, stupid mess.", "output": "negative"},
    ],
}
SHARED_PREFIX = {
    "name": "rating",
    "kind": "classification",
    "instruction": "Rate the review.",
    "labels": ["very good", "very bad", "mixed feelings overall"],
}
CAPITALS = {
    "name": "capitals",
    "kind": "generation",
    "instruction": "Answer with the capital city only.",
    "demonstrations": [
        {"input": "France", "output": "Paris"},
        {"input": "Japan", "output": "Tokyo"},
        {"input": "Germany", "output": "Berlin"},
    ],
    "parameters": {"max_new_tokens": 8},
}

PLACE_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "country": {"type": "string", "maxLength": 30}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
PLACES = {
    "name": "places",
    "kind": "generation",
    "instruction": "Say where the landmark is.",
    "output_schema": PLACE_SCHEMA,
    "parameters": {"max_new_tokens": 60},
}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tasks")
    (root / "sentiment.yaml").write_text(yaml.safe_dump(SENTIMENT))
    (root / "more.yaml").write_text(yaml.safe_dump({"tasks": [SHARED_PREFIX, CAPITALS, PLACES]}))
    (root / "broken.yaml").write_text(yaml.safe_dump({"name": "oops", "kind": "classification", "labels": ["only-one"]}))
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> FileAdapterStore:
    return FileAdapterStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def task_server(base_model, cache_dir, task_dir, store):
    with running_server(base_model, cache_dir, task_dir=task_dir, adapter_store=store.root, adapter_poll_interval_s=0.1) as running:
        yield running


@pytest.fixture()
def tasks(task_server):
    with Client(task_server.address, timeout=120) as client:
        yield client


def test_tasks_are_listed_with_their_backing_and_broken_files_are_reported(tasks):
    listing = tasks.list_tasks()
    by_name = {t.name: t for t in listing.tasks}
    assert {"sentiment", "rating", "capitals"} <= set(by_name) and "oops" not in by_name
    assert by_name["sentiment"].backing == common_pb2.TASK_BACKING_DEMONSTRATIONS and by_name["sentiment"].demonstrations == 4
    assert by_name["rating"].backing == common_pb2.TASK_BACKING_BASE
    assert by_name["capitals"].default_parameters.max_new_tokens == 8
    assert len(listing.problems) == 1 and listing.problems[0].source.endswith("broken.yaml")
    assert "task 'oops'" in listing.problems[0].error and "at least two labels" in listing.problems[0].error
    assert tasks.get_task("sentiment").source == "file sentiment.yaml"


def test_classify_with_demonstrations_gets_obvious_reviews_right(tasks):
    for text, label in [
        ("An absolute masterpiece, I loved every minute of it.", "positive"),
        ("Terrible, boring and a complete waste of time.", "negative"),
    ]:
        result = tasks.classify("sentiment", text)
        assert result.label == label, result
        assert math.isclose(sum(s.probability for s in result.scores), 1.0, abs_tol=1e-6)
        assert [s.probability for s in result.scores] == sorted((s.probability for s in result.scores), reverse=True)
        assert result.prompt_info.backing == common_pb2.TASK_BACKING_DEMONSTRATIONS
        assert list(result.prompt_info.demonstrations_used) == [0, 1, 2, 3] and result.adapter == ""
        assert result.usage.generated_tokens == 0 and result.usage.prompt_tokens == result.prompt_info.prompt_tokens > 50


def test_classify_batch_keeps_order_and_matches_single_calls(tasks):
    texts = ["Loved it!", "Hated it.", "A gorgeous, moving film.", "Awful acting and a dumb plot."]
    batch = tasks.classify_batch("sentiment", texts)
    assert [r.label for r in batch] == [tasks.classify("sentiment", t).label for t in texts]
    for r in batch:
        assert math.isclose(sum(s.probability for s in r.scores), 1.0, abs_tol=1e-6)


def test_multi_token_labels_sharing_a_first_token_are_scored_exactly(tasks, base_model):
    """The server's label log-probabilities equal a direct computation with the model."""
    from tests.scoring import direct_logprob

    text = "The plot drags but the acting is superb."
    result = tasks.classify("rating", text)
    tok = base_model.tokenizer
    spec = TaskSpec.model_validate(SHARED_PREFIX)
    prompt = prompt_ids(tok, render_prompt(tok, spec, text))
    labels = [completion_ids(tok, spec, label, tok.eos_token_id) for label in spec.labels]
    assert labels[0][0] == labels[1][0] and len(labels[2]) > 2, "two labels share a first token, one is long"
    expected = run_on_fresh_thread(lambda: [direct_logprob(base_model.model, prompt, c) for c in labels])
    got = {s.label: s.logprob for s in result.scores}
    for label, want in zip(spec.labels, expected, strict=True):
        assert math.isclose(got[label], want, abs_tol=2e-3), (label, got[label], want)


def test_run_task_uses_its_demonstrations_and_defaults(tasks):
    reply = tasks.run_task("capitals", "Italy")
    assert "Rome" in reply.text and reply.usage.generated_tokens <= 8
    assert reply.prompt_info.backing == common_pb2.TASK_BACKING_DEMONSTRATIONS and list(reply.prompt_info.demonstrations_used) == [0, 1, 2]
    streamed = list(tasks.run_task_stream("capitals", "Italy"))
    assert "".join(c.text for c in streamed) == reply.text
    assert streamed[-1].prompt_info.prompt_tokens == reply.prompt_info.prompt_tokens
    assert tasks.run_task("capitals", "Spain", max_new_tokens=1).usage.generated_tokens == 1, "request parameters override the task's"


def test_a_task_with_an_output_schema_always_answers_json_that_validates(tasks):
    assert json.loads(tasks.get_task("places").output_schema) == PLACE_SCHEMA
    for landmark in ("the Eiffel Tower", "the Colosseum", "Big Ben", "the Statue of Liberty"):
        reply = tasks.run_task("places", landmark)
        assert reply.stop_reason == common_pb2.STOP_REASON_END_OF_SEQUENCE
        jsonschema.validate(json.loads(reply.text), PLACE_SCHEMA)
    with pytest.raises(errors.InvalidArgumentError, match="answers by its own output_schema") as info:
        tasks.run_task("places", "Big Ben", structured_output={"regex": "x"})
    assert info.value.field == "parameters.structured_output"


def test_task_errors(tasks):
    with pytest.raises(errors.NotFoundError, match="no task 'nope'"):
        tasks.classify("nope", "x")
    with pytest.raises(errors.InvalidArgumentError, match="generation task; call RunTask"):
        tasks.classify("capitals", "x")
    with pytest.raises(errors.InvalidArgumentError, match="classification task; call Classify"):
        tasks.run_task("sentiment", "x")
    with pytest.raises(errors.InvalidArgumentError) as info:
        tasks.classify("sentiment", "   ")
    assert info.value.field == "input"
    with pytest.raises(errors.InvalidArgumentError, match="inputs\\[1\\]"):
        tasks.classify_batch("sentiment", ["fine", ""])


def test_few_shot_generate_reports_the_demonstrations_it_used(tasks):
    demos = [("Italy", "Rome"), ("Spain", "Madrid"), ("Peru", "Lima"), ("Kenya", "Nairobi")]
    few = {"query": "France", "demos": demos, "instruction": "Answer with the capital city only."}
    reply = tasks.generate(few_shot=few, max_new_tokens=6)
    assert "Paris" in reply.text and list(reply.prompt_info.demonstrations_used) == [0, 1, 2, 3]
    tight = tasks.generate(few_shot={**few, "max_prompt_tokens": reply.prompt_info.prompt_tokens - 10}, max_new_tokens=6)
    assert (
        list(tight.prompt_info.demonstrations_used) == [0, 1, 2] and tight.prompt_info.prompt_tokens <= reply.prompt_info.prompt_tokens - 10
    )
    similar = tasks.generate(
        few_shot={
            "query": "cold pasta tonight",
            "demos": [("the movie was long", "meh"), ("cold soup again", "bad"), ("cold pasta again", "bad")],
            "selection": "similar",
            "order": "most_similar_last",
            "max_demonstrations": 2,
        },
        max_new_tokens=2,
    )
    assert list(similar.prompt_info.demonstrations_used) == [1, 2]
    assert tasks.generate(few_shot={**few, "max_demonstrations": 1}, max_new_tokens=2).prompt_info.demonstrations_used == [0]


@pytest.mark.parametrize(
    "few_shot,field,words",
    [
        ({"query": ""}, "few_shot.query", "is empty"),
        ({"query": "x", "demos": [("", "y")]}, "few_shot.demonstrations[0].input", "1 to"),
        ({"query": "x", "input_format": "no placeholder"}, "few_shot.input_format", "{input} exactly once"),
        ({"query": "x", "template": "html"}, "few_shot.template", "chat"),
        ({"query": "x", "max_prompt_tokens": 10**6}, "few_shot.max_prompt_tokens", "at most the server's"),
        ({"query": "x " * 3000}, "few_shot.query", "over the budget"),
    ],
)
def test_few_shot_validation(tasks, few_shot, field, words):
    with pytest.raises(errors.InvalidArgumentError) as info:
        tasks.generate(few_shot=few_shot)
    assert info.value.field == field and words in info.value.message


def test_few_shot_and_a_prompt_are_exclusive(tasks):
    from tuneserve.v1 import inference_pb2
    from tuneserve_client._requests import few_shot_prompt

    request = inference_pb2.GenerateRequest(prompt="hi", few_shot=few_shot_prompt("x"))
    with pytest.raises(errors.InvalidArgumentError, match="exactly one of prompt, prompt_token_ids, messages and few_shot"):
        tasks._call(tasks.inference.Generate, request, 30)


def test_task_files_reload_and_a_broken_edit_keeps_the_last_good_version(tasks, task_dir):
    path = task_dir / "extra.json"
    path.write_text(json.dumps({"name": "yesno", "kind": "classification", "labels": ["yes", "no"], "instruction": "Answer yes or no."}))
    wait_for(lambda: "yesno" in {t.name for t in tasks.list_tasks().tasks}, 10, what="the new task file")
    assert tasks.classify("yesno", "Is the sky blue?").label in {"yes", "no"}
    path.write_text('{"name": "yesno", "kind": "classification", "labels": ["yes"]}')
    wait_for(lambda: any("extra.json" in p.source for p in tasks.list_tasks().problems), 10, what="the broken edit")
    assert tasks.get_task("yesno").labels == ["yes", "no"], "the last good version stays in use"
    path.unlink()


@pytest.mark.slow
def test_publishing_an_adapter_switches_the_task_to_it_and_serves_the_trained_template(tasks, store, cache_dir, base_model, tmp_path):
    """The trainer publishes `sentiment`; the same Classify call is then answered by the adapter,
    rendered exactly as the trainer formatted its training examples."""
    from common.base_model import load_tokenizer
    from tests.trainer.conftest import sentiment_rows
    from trainer.config import JobConfig, TrainerSettings
    from trainer.jobs.job import JobFiles, execute
    from trainer.jobs.records import JobState, JobStore
    from trainer.training.data import Example, render_example

    before = tasks.classify("sentiment", "I loved this film.")
    assert before.prompt_info.backing == common_pb2.TASK_BACKING_DEMONSTRATIONS

    settings = TrainerSettings(work_dir=tmp_path / "work", adapter_store=store.root, cache_dir=cache_dir)
    jobs = JobStore.open(settings.job_database())
    config = JobConfig(
        adapter_name="sentiment",
        task={"instruction": "Is the movie review positive or negative?"},
        hyperparameters={"max_steps": 6, "batch_size": 8, "learning_rate": 1e-3},
        evaluation={"icl_shots": 0, "max_holdout": 4, "forgetting_probe": 0},
    )
    job = jobs.create(config.adapter_name, config.model_dump())
    files = JobFiles.of(settings.work_dir, job.id)
    files.root.mkdir(parents=True)
    files.train.write_text("".join(json.dumps(r) + "\n" for r in sentiment_rows()))
    jobs.transition(job.id, JobState.RUNNING)
    run_on_fresh_thread(lambda: execute(job.id, settings, jobs, store, load_tokenizer(settings), lambda: False, lambda p: None))
    assert jobs.get(job.id).result["published_adapter"] == "sentiment@1"

    wait_for(lambda: tasks.get_task("sentiment").backing == common_pb2.TASK_BACKING_ADAPTER, 15, what="the task to switch to the adapter")
    text = "I loved this film."
    after = tasks.classify("sentiment", text)
    assert after.prompt_info.backing == common_pb2.TASK_BACKING_ADAPTER and after.adapter == "sentiment@1"
    assert list(after.prompt_info.demonstrations_used) == [], "the adapter was trained without demonstrations in the prompt"
    trained = TaskSpec.model_validate(store.manifest("sentiment", 1).task)
    trainer_prompt = prompt_ids(base_model.tokenizer, render_example(base_model.tokenizer, trained, Example(1, text, "positive")))
    assert after.usage.prompt_tokens == len(trainer_prompt), "served with exactly the training template"
    assert {s.label for s in after.scores} == {"positive", "negative"}
    assert tasks.get_task("sentiment").adapter == "sentiment@1"
    assert render_prompt(base_model.tokenizer, trained, text) == render_example(base_model.tokenizer, trained, Example(1, text, "x"))


def test_classify_batch_takes_its_whole_documented_limit_as_one_unit(auto_model, cache_dir, task_dir):
    """200 inputs (limit 256) on a server whose queue holds 64 beyond a batch of 16; one at the
    automatic precision, as users run it, since no answer is compared here."""
    texts = [f"Review {i}: {'a wonderful film' if i % 2 else 'a dull mess'}." for i in range(200)]
    with running_server(auto_model, cache_dir, task_dir=task_dir) as server, Client(server.address, timeout=120) as tasks:
        results = tasks.classify_batch("sentiment", texts)
    assert len(results) == 200 and [r.request_id.rsplit("-", 1)[1] for r in results] == [str(i) for i in range(200)]


def test_a_failed_classify_batch_cancels_everything_it_started(task_server):
    engine = task_server.server.state.require().engine
    texts = [f"Review {i}: it was a film with actors in it, and it went on for a while." for i in range(200)]
    with Client(task_server.address, timeout=0.5, retries=0) as hurried:
        with pytest.raises(errors.DeadlineExceededError):
            hurried.classify_batch("sentiment", texts)
    wait_for(lambda: not (engine.num_running or engine.num_waiting), 10, what="the engine to drop the cancelled inputs")


def test_a_classification_past_its_deadline_is_deadline_exceeded(task_server):
    with Client(task_server.address, timeout=0.05, retries=0) as hurried:
        with pytest.raises(errors.DeadlineExceededError):
            hurried.classify("sentiment", "An absolute masterpiece of a film. " * 40)
