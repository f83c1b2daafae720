"""Fine-tuning through the OpenAI API: the official `openai` SDK against a real server whose
`trainer_address` is a real trainer sharing its adapter store."""

from __future__ import annotations

import io
import json
import time

import openai
import pytest
from tuneserve_client import Client

from tests.conftest import running_server
from tests.server.api.test_openai_api import free_port
from tests.trainer.conftest import NEGATIVE, POSITIVE, running_trainer, trainer_settings


def chat_lines() -> bytes:
    """The sentiment data in OpenAI's chat fine-tuning format."""
    rows = [(text, "positive") for text in POSITIVE] + [(text, "negative") for text in NEGATIVE]
    lines = [
        {
            "messages": [
                {"role": "system", "content": "Say whether the review is positive or negative."},
                {"role": "user", "content": text},
                {"role": "assistant", "content": label, "weight": 1},
            ]
        }
        for text, label in rows
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


# the operator's forgetting probe for jobs that cannot choose one, as the OpenAI API's cannot: a
# few questions, where the default hundred would take most of the job's time on two cores
PROBE_QUESTIONS = 8


@pytest.fixture(scope="module")
def trainer_and_server(base_model, cache_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("fine-tuning")
    with running_trainer(trainer_settings(root, cache_dir, forgetting_probe=PROBE_QUESTIONS)) as trainer:
        settings = dict(http_port=free_port(), adapter_store=root / "store", trainer_address=trainer.address)
        with running_server(base_model, cache_dir, **settings) as server:
            with openai.OpenAI(base_url=server.http_url, api_key="unused", max_retries=0, timeout=120) as client:
                yield trainer, client


@pytest.fixture()
def fine_tuning(trainer_and_server):
    return trainer_and_server[1]


def wait_status(client: openai.OpenAI, job_id: str, statuses: set[str], timeout: float = 900):
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"{job_id} still {job.status}"
        time.sleep(0.5)


@pytest.mark.slow
def test_the_fine_tuning_flow_of_the_openai_sdk_ends_in_a_model_chat_answers_with(trainer_and_server):
    trainer, client = trainer_and_server
    data = chat_lines()
    uploaded = client.files.create(file=("reviews.jsonl", io.BytesIO(data)), purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(data) and uploaded.filename == "reviews.jsonl"
    assert uploaded.id in [f.id for f in client.files.list(purpose="fine-tune")]
    assert client.files.retrieve(uploaded.id).purpose == "fine-tune"
    assert client.files.content(uploaded.id).read() == data

    job = client.fine_tuning.jobs.create(
        model="SmolLM2-135M-Instruct",
        training_file=uploaded.id,
        suffix="reviews",
        hyperparameters={"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 5},
    )
    assert job.status in ("validating_files", "queued", "running") and job.training_file == uploaded.id
    assert job.hyperparameters.n_epochs == 1 and job.hyperparameters.learning_rate_multiplier == 5
    second = client.fine_tuning.jobs.create(model="SmolLM2-135M-Instruct", training_file=uploaded.id, suffix="reviews-two")
    assert client.fine_tuning.jobs.cancel(second.id).status == "cancelled"
    listed = [j.id for j in client.fine_tuning.jobs.list(limit=10)]
    assert job.id in listed and second.id in listed

    done = wait_status(client, job.id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model.startswith("reviews@") and done.finished_at >= done.created_at
    assert done.model_extra["evaluation"]["holdout_examples"] >= 1
    with Client(trainer.address, timeout=60) as trainer_client:
        assert trainer_client.get_job(job.id).report.forgetting.questions == PROBE_QUESTIONS

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=1000))
    assert events[0].created_at >= events[-1].created_at, "newest first, as OpenAI lists them"
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and all(e.data["step"] >= 1 and e.data["train_loss"] > 0 for e in metrics)
    assert any(e.message == "Job succeeded" for e in events)
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.fine_tuned_model_checkpoint for c in checkpoints] == [done.fine_tuned_model]
    pages_by_cursor(client, job.id, second.id, checkpoints[0].id)

    reply = client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=[
            {"role": "system", "content": "Say whether the review is positive or negative."},
            {"role": "user", "content": "A joyful film."},
        ],
        max_tokens=4,
        temperature=0,
    )
    assert reply.model == done.fine_tuned_model and reply.choices[0].message.content
    report = client.get(f"/fine_tuning/jobs/{job.id}/report", cast_to=str)
    assert "<html" in report.lower()
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def pages_by_cursor(client: openai.OpenAI, job_id: str, newer_job_id: str, checkpoint_id: str) -> None:
    """Each list read a page at a time, as a client that follows `after` until an empty page does
    (the openai SDK did so before it read has_more): the pages join up, and the last one is empty."""
    listed = [j.id for j in client.fine_tuning.jobs.list(limit=1000).data]
    assert listed.index(newer_job_id) < listed.index(job_id), "newest first"
    first = client.fine_tuning.jobs.list(limit=1)
    rest = client.fine_tuning.jobs.list(limit=1000, after=first.data[0].id)
    assert first.has_more and not rest.has_more and [j.id for j in first.data + rest.data] == listed

    every = [e.id for e in client.fine_tuning.jobs.list_events(job_id, limit=1000).data]
    first = client.fine_tuning.jobs.list_events(job_id, limit=2)
    rest = client.fine_tuning.jobs.list_events(job_id, limit=1000, after=first.data[-1].id)
    assert first.has_more and not rest.has_more and [e.id for e in first.data + rest.data] == every

    one = client.fine_tuning.jobs.checkpoints.list(job_id, limit=1)
    assert [c.id for c in one.data] == [checkpoint_id] and not one.has_more
    beyond = client.fine_tuning.jobs.checkpoints.list(job_id, after=checkpoint_id)
    assert beyond.data == [] and not beyond.has_more


def test_bad_files_and_jobs_are_refused_in_openai_error_shape(fine_tuning):
    client = fine_tuning
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("bad.jsonl", io.BytesIO(b'{"prompt": "a", "completion": "b"}\n{not json\n')), purpose="fine-tune")
    assert caught.value.body["param"] == "file" and "line 2" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.jsonl", io.BytesIO(b'{"prompt": "a", "completion": "b"}\n')), purpose="assistants")
    assert caught.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="SmolLM2-135M-Instruct", training_file="file-000000000000000000000000")
    assert caught.value.body["param"] == "training_file" and "never uploaded" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x")
    assert caught.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="SmolLM2-135M-Instruct", training_file="file-x", method={"type": "dpo"})
    assert caught.value.body["param"].startswith("method")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("job-nope")
    # a file that parses but does not train: the job fails with OpenAI's error code
    weightless = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "weight": 0}]}).encode()
    kept = client.files.create(file=("w.jsonl", io.BytesIO(weightless + b"\n")), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="SmolLM2-135M-Instruct", training_file=kept.id)
    failed = wait_status(client, job.id, {"failed", "succeeded"}, timeout=120)
    assert failed.status == "failed" and failed.error.code == "invalid_training_file" and failed.error.param == "training_file"
    assert "weight is 0" in failed.error.message
    for unknown in (
        lambda: client.fine_tuning.jobs.list(after="ftjob-nope"),
        lambda: client.fine_tuning.jobs.list_events(job.id, after="ftevent-nope"),
        lambda: client.fine_tuning.jobs.checkpoints.list(job.id, after="ftckpt-nope"),
        lambda: client.files.list(after="file-nope"),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            unknown()
        assert caught.value.body["param"] == "after" and "nope" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.checkpoints.list(job.id, limit=0)
    assert caught.value.body["param"] == "limit"


def test_without_a_trainer_the_fine_tuning_routes_answer_404():
    # mechanics only, no model: the routes of a server with no trainer_address
    from starlette.testclient import TestClient

    from common.rpc.metrics import RpcMetrics
    from server.api.openai.fine_tuning import FineTuning
    from server.api.openai.routes import OpenAIRoutes
    from server.api.serving_state import ServingState

    app = OpenAIRoutes(ServingState(), RpcMetrics(), None, 1 << 20, fine_tuning=FineTuning("", lambda: ("base",), 1 << 20)).app()
    with TestClient(app) as http:
        answer = http.get("/v1/fine_tuning/jobs")
    assert answer.status_code == 404 and "trainer_address" in answer.json()["error"]["message"]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "", "1e3", "²", "１", "5" * 5000])
def test_a_limit_that_is_not_a_whole_number_in_range_is_refused_by_name(limit):
    # mechanics only, no model: what the fine-tuning lists do with their query
    from common import errors
    from server.api.openai.fine_tuning import cursor_page

    with pytest.raises(errors.InvalidRequest) as caught:
        cursor_page([{"id": "a"}], {"limit": limit}, "thing", default=10)
    assert caught.value.field == "limit" and "from 1 to 1000" in str(caught.value)
