"""Real training on the embedded model: loss goes down, QLoRA, and the server answering with what
the trainer published. Exact resumption from a checkpoint, killing a trainer process and resuming its
job, and DDP under torchrun are mechanics and run on the tiny random Llama, where a step costs
milliseconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tuneserve.v1 import trainer_pb2
from tuneserve_client import Client

from common.errors import Cancelled
from common.task_spec import TaskSpec
from common.threads import run_on_fresh_thread
from tests.conftest import running_server
from tests.tools import free_port, tool
from tests.trainer.conftest import QUICK, TINY_MODEL_STEPS, sentiment_rows, wait_job
from tests.waiting import wait_for
from trainer.config import Hyperparameters
from trainer.training.data import Example, tokenize

HP = Hyperparameters(rank=8, alpha=16, max_steps=6, batch_size=8, learning_rate=1e-3, warmup_ratio=0.0, seed=11)


def sentiment_tokens(tokenizer):
    spec = TaskSpec(name="s", kind="classification", labels=["negative", "positive"])
    examples = [Example(i + 1, r["text"], r["label"]) for i, r in enumerate(sentiment_rows())]
    tokens, _ = tokenize(tokenizer, spec, examples, 256, tokenizer.eos_token_id)
    return tokens[:32], tokens[32:]


def train_run(cache_dir: Path, checkpoints: Path, stop_after: int | None = None, qlora: bool = False, source: str = "embedded"):
    """Trains HP from scratch or from `checkpoints`; optionally stops (as a kill would) after a step."""

    def run():
        from common.base_model import load_base_model
        from common.settings import ModelSettings
        from trainer.training.loop import Trainer, build_lora_model

        base = load_base_model(ModelSettings(model=source, cache_dir=cache_dir, quantization="nf4" if qlora else "none"))
        hp = HP.model_copy(update={"qlora": qlora})
        model = build_lora_model(base, hp)
        train, holdout = sentiment_tokens(base.tokenizer)
        steps: list[int] = []
        trainer = Trainer(
            model,
            train,
            holdout,
            hp,
            base.tokenizer.pad_token_id,
            checkpoints,
            checkpoint_every=2,
            on_progress=lambda p: steps.append(p.step),
            should_stop=lambda: stop_after is not None and len(steps) >= stop_after,
        )
        resumed = trainer.resume()
        try:
            history = trainer.run()
        except Cancelled:
            return None, steps, resumed
        from peft import get_peft_model_state_dict

        return {k: v.clone() for k, v in get_peft_model_state_dict(model).items()}, history, resumed

    return run_on_fresh_thread(run)


@pytest.mark.slow
def test_training_lowers_holdout_loss(cache_dir, tmp_path):
    weights, history, resumed = train_run(cache_dir, tmp_path / "a")
    assert weights and not resumed
    start, end = history.validation[0], history.validation[-1]
    assert start[0] == 0 and end[0] == 6 and end[1] < start[1], "the holdout loss went down"


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(cache_dir, tiny_llama_dir, tmp_path):
    """Exact resumption (weights, optimizer, schedule, data order) does not depend on the model: on
    the tiny random Llama."""
    tiny = str(tiny_llama_dir)
    uninterrupted, _, _ = train_run(cache_dir, tmp_path / "a", source=tiny)
    nothing, steps, _ = train_run(cache_dir, tmp_path / "b", stop_after=3, source=tiny)
    assert nothing is None and steps == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["step-0000002"], "checkpoint every 2 steps, atomically"
    finished, history_b, resumed = train_run(cache_dir, tmp_path / "b", source=tiny)
    assert resumed and [s for s, _ in history_b.train] == [1, 2, 3, 4, 5, 6]
    assert finished.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert torch.allclose(finished[key], value, atol=1e-5), key


@pytest.mark.slow
def test_qlora_trains_on_the_4bit_base(cache_dir, tmp_path):
    weights, history, _ = train_run(cache_dir, tmp_path / "q", qlora=True)
    assert weights and history.validation[-1][1] < history.validation[0][1]


def start_trainer(tmp: Path, cache_dir: Path, port: int, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "TUNESERVE_WORK_DIR": str(tmp / "work"),
        "TUNESERVE_ADAPTER_STORE": str(tmp / "store"),
        "TUNESERVE_CACHE_DIR": str(cache_dir),
        "TUNESERVE_PORT": str(port),
        "TUNESERVE_METRICS_PORT": str(free_port()),
        **env,
    }
    return subprocess.Popen(
        [tool("tuneserve-trainer"), "--log-format", "text"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


JOB = dict(
    hyperparameters={"max_steps": TINY_MODEL_STEPS, "batch_size": 8, "learning_rate": 1e-3, "seed": 5},
    evaluation={"icl_shots": 0, "max_holdout": 4, "forgetting_probe": 0},
    checkpoint_every=2,
)


@pytest.mark.slow
def test_a_killed_trainer_resumes_its_job_from_the_last_checkpoint(tmp_path, cache_dir, tiny_llama_dir, sentiment_jsonl):
    port = free_port()
    proc = start_trainer(tmp_path, cache_dir, port, TUNESERVE_MODEL=str(tiny_llama_dir))
    try:
        with Client(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_ready(120)
            job = client.create_job(str(sentiment_jsonl), "resumed", **JOB)
            wait_for(lambda: client.get_job(job.id).step >= 3, 300, interval=0.05, what="three steps before the kill")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc = start_trainer(tmp_path, cache_dir, port, TUNESERVE_MODEL=str(tiny_llama_dir))
        with Client(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_ready(120)
            twin = client.create_job(str(sentiment_jsonl), "uninterrupted", **JOB)
            done = wait_job(client, job.id, {trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED})
            assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error_message
            messages = [e.message for e in client.watch_job(job.id) if e.WhichOneof("event") == "message"]
            assert any(m.startswith("resumed from the checkpoint at step") for m in messages), messages
            assert wait_job(client, twin.id, {trainer_pb2.JOB_STATE_SUCCEEDED}).published_adapter == "uninterrupted@1"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    resumed = load_file(tmp_path / "store" / "resumed" / "1" / "adapter_model.safetensors")
    straight = load_file(tmp_path / "store" / "uninterrupted" / "1" / "adapter_model.safetensors")
    assert resumed.keys() == straight.keys()
    for key in resumed:
        assert torch.allclose(resumed[key], straight[key], atol=1e-5), key


@pytest.mark.slow
def test_distributed_training_under_torchrun(tmp_path, cache_dir, tiny_llama_dir, sentiment_jsonl):
    """Two DDP processes (gloo on CPU; one GPU each where there are GPUs) train one job."""
    port = free_port()
    proc = start_trainer(tmp_path, cache_dir, port, TUNESERVE_PROCESSES="2", TUNESERVE_MODEL=str(tiny_llama_dir))
    try:
        with Client(f"127.0.0.1:{port}", timeout=60) as client:
            client.wait_until_ready(120)
            job = client.create_job(str(sentiment_jsonl), "ddp", **{**JOB, "hyperparameters": {**JOB["hyperparameters"], "max_steps": 3}})
            done = wait_job(client, job.id, {trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED})
            assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error_message
            assert done.published_adapter == "ddp@1" and done.step == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


@pytest.mark.gpu
def test_jobs_train_evaluate_and_publish_on_the_gpu(tmp_path, cache_dir, tiny_llama_dir, sentiment_jsonl):
    """The trainer with a CUDA GPU (its device setting left at auto): a classification job (loss,
    validation, zero- and k-shot label scores, the forgetting probe) and a generation job (greedy
    answers) on the tiny random Llama. What is checked is that every batch reaches the model's
    device; the real model's training is checked on the CPU above (where this test passes too)."""
    from tests.trainer.conftest import running_trainer, trainer_settings

    data = sentiment_jsonl.parent
    (data / "capitals.jsonl").write_text(
        "".join(json.dumps({"prompt": f"The capital of country {i}?", "completion": f"City {i}"}) + "\n" for i in range(12))
    )
    settings = trainer_settings(tmp_path, cache_dir, model=str(tiny_llama_dir), data_dirs=[data])
    with running_trainer(settings) as trainer, Client(trainer.address, timeout=60) as client:
        jobs = [
            client.create_job(str(sentiment_jsonl), "gpu-reviews", **QUICK),
            client.create_job(str(data / "capitals.jsonl"), "gpu-capitals", task={"kind": "generation"}, **QUICK),
        ]
        for job in jobs:
            done = wait_job(client, job.id, {trainer_pb2.JOB_STATE_SUCCEEDED, trainer_pb2.JOB_STATE_FAILED})
            assert done.state == trainer_pb2.JOB_STATE_SUCCEEDED, done.error_message
            assert done.published_adapter.endswith("@1")


@pytest.mark.slow
def test_the_server_serves_what_the_trainer_published(trainer, trainer_client, sentiment_jsonl, base_model, cache_dir):
    job = trainer_client.create_job(
        str(sentiment_jsonl), "served", **{**QUICK, "hyperparameters": {**QUICK["hyperparameters"], "max_steps": 6}}
    )
    assert wait_job(trainer_client, job.id, {trainer_pb2.JOB_STATE_SUCCEEDED}).published_adapter == "served@1"
    store = Path(trainer.server.settings.adapter_store)
    with running_server(base_model, cache_dir, adapter_store=store) as server, Client(server.address) as client:
        info = client.get_adapter("served")
        assert info.current_version == 1
        trained_prompt = [
            {"role": "system", "content": "Answer with one of: negative, positive."},
            {"role": "user", "content": "An absolute joy, I loved it."},
        ]
        reply = client.generate(messages=trained_prompt, adapter="served", max_new_tokens=4)
        assert reply.adapter == "served@1" and reply.text.strip() in {"positive", "negative"}
    assert json.loads((store / "served" / "1" / "tuneserve.json").read_text())["source"] == f"trainer job {job.id}"


def test_a_job_killed_after_publishing_finishes_from_its_version_and_never_publishes_again(tmp_path, cache_dir, base_model):
    """The crash this simulates: `<name>/1` renamed into the store, then SIGKILL before the job
    recorded it (and before the pointer moved), leaving the pointer's temporary file behind."""
    from common.adapter_manifest import AdapterManifest
    from common.file_adapter_store import FileAdapterStore
    from tests.trainer.conftest import trainer_settings
    from trainer.execution.runner import JobRunner
    from trainer.jobs.records import JobState, JobStore

    settings = trainer_settings(tmp_path, cache_dir)
    jobs, store = JobStore.open(settings.job_database()), FileAdapterStore(settings.adapter_store)
    job = jobs.create("crashy", {"adapter_name": "crashy"})
    jobs.transition(job.id, JobState.QUEUED)
    jobs.transition(job.id, JobState.RUNNING)
    source = tmp_path / "adapter"
    source.mkdir()
    (source / "adapter_config.json").write_text("{}")
    (source / "adapter_model.safetensors").write_bytes(b"weights")
    report = {
        "metric": "accuracy",
        "holdout_examples": 8,
        "base_zero_shot": {"accuracy": 0.5},
        "base_icl": {"accuracy": 0.5, "shots": 2},
        "adapter": {"accuracy": 0.75},
        "margin": 0.25,
        "adapter_beats_icl": True,
    }
    manifest = AdapterManifest(
        name="crashy",
        base_fingerprint=base_model.fingerprint,
        rank=8,
        alpha=16,
        target_modules=["q_proj"],
        files={},
        job_id=job.id,
        eval_report=report,
    )
    assert store.publish(source, manifest, make_current=False) == 1
    leftover = store.root / "crashy" / ".current.0123abcd"
    leftover.write_text("1\n")

    runner = JobRunner(settings, jobs, store, base_model.tokenizer)
    runner.start()  # the restart: the RUNNING job goes back to the queue and runs again
    try:
        wait_for(lambda: jobs.get(job.id).state.terminal, 60, interval=0.1, what="the resumed job to end")
    finally:
        runner.stop()
    done = jobs.get(job.id)
    assert done.state is JobState.SUCCEEDED, done.error_message
    assert store.versions("crashy") == [1] and store.current("crashy") == 1, "published once, and made current"
    assert (
        done.result["published_adapter"] == "crashy@1"
        and done.result["margin"] == 0.25
        and done.result["report"]["adapter"]["accuracy"] == 0.75
    )
    assert not leftover.exists(), "what the killed publish left is cleaned on start"
    messages = [e.payload.get("text", "") for e in jobs.events(job.id) if e.kind == "message"]
    assert any("not publishing again" in m for m in messages)
    jobs.close()
