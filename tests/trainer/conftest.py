"""A real trainer service on loopback, and small real data sets."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.background import BackgroundServer
from tests.waiting import wait_for

POSITIVE = [
    "A wonderful, moving film with superb acting.",
    "I loved every minute of it.",
    "Brilliant script and a beautiful score.",
    "The best comedy I have seen this year.",
    "Charming, funny and full of heart.",
    "A triumph from start to finish.",
    "Gripping and beautifully shot.",
    "An absolute delight for the whole family.",
    "Smart, warm and wonderfully acted.",
    "A masterpiece that stays with you.",
    "Fresh, clever and very entertaining.",
    "The cast is terrific and the story soars.",
    "Joyful, touching and genuinely funny.",
    "A stunning achievement in every way.",
    "I would happily watch it again tomorrow.",
    "Thrilling action and a great sense of humour.",
    "Heartfelt and hugely enjoyable.",
    "A gem of a movie.",
    "Inventive, exciting and deeply satisfying.",
    "Pure cinematic joy.",
]
NEGATIVE = [
    "A dull, lifeless film with wooden acting.",
    "I was bored from start to finish.",
    "A terrible script and a grating score.",
    "The worst comedy I have seen this year.",
    "Tedious, unfunny and heartless.",
    "A disaster from start to finish.",
    "Confusing and badly shot.",
    "An ordeal for the whole family.",
    "Stupid, cold and badly acted.",
    "A mess that I wanted to forget.",
    "Stale, lazy and very boring.",
    "The cast is wasted and the story sinks.",
    "Joyless, shallow and painfully unfunny.",
    "A complete failure in every way.",
    "I would never watch it again.",
    "Sloppy action and no sense of humour.",
    "Hollow and utterly tiresome.",
    "A dud of a movie.",
    "Derivative, slow and deeply unsatisfying.",
    "Pure cinematic misery.",
]


def sentiment_rows() -> list[dict[str, str]]:
    rows = []
    for good, bad in zip(POSITIVE, NEGATIVE, strict=True):
        rows += [{"text": good, "label": "positive"}, {"text": bad, "label": "negative"}]
    return rows


@pytest.fixture(scope="session")
def sentiment_jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "sentiment.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in sentiment_rows()))
    return path


def trainer_settings(tmp: Path, cache_dir: Path, **overrides):
    from trainer.config import TrainerSettings

    values = dict(port=0, metrics_port=0, cache_dir=cache_dir, work_dir=tmp / "work", adapter_store=tmp / "store", log_format="text")
    values.update(overrides)
    return TrainerSettings(**values)


@contextlib.contextmanager
def running_trainer(settings) -> Iterator[BackgroundServer]:
    """A real trainer service on a free loopback port, stopped afterwards."""
    from trainer.app import TrainerServer

    with BackgroundServer(None, server=TrainerServer(settings)) as running:
        yield running


@pytest.fixture(scope="module")
def trainer(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("trainer")
    (root / "data").mkdir()
    with running_trainer(trainer_settings(root, cache_dir, data_dirs=[root / "data"])) as running:
        yield running


@pytest.fixture()
def trainer_client(trainer):
    from tuneserve_client import Client

    with Client(trainer.address, timeout=60) as client:
        yield client


# Steps of a job on the tiny random Llama (tests/conftest.py's tiny_llama_dir) in the tests that kill
# a run: tens of milliseconds each, so a run is still training, between two checkpoints, when the
# test looks for it and kills it.
TINY_MODEL_STEPS = 60

# Small and quick: a few steps, a small holdout, a short probe.
QUICK = dict(
    hyperparameters={"max_steps": 4, "batch_size": 8, "learning_rate": 1e-3},
    evaluation={"icl_shots": 2, "max_holdout": 8, "forgetting_probe": 8},
    validation_split=0.2,
)


def start_trainer_process(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m trainer` as its own process on `port`, its output in `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", "--port", str(port), "--metrics-port", "0"],
        env={**os.environ, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_job(client, job_id: str, states: set[int], timeout: float = 300):
    """The job once it is in one of `states` (trainer_pb2.JobState values)."""
    from tuneserve.v1 import trainer_pb2

    def reached():
        job = client.get_job(job_id)
        return job if job.state in states else None

    return wait_for(reached, timeout, interval=0.2, what=f"{job_id} to reach {[trainer_pb2.JobState.Name(s) for s in states]}")
