"""One training job from data to published adapter: prepare, train, evaluate, publish."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.adapter_store import AdapterStore
from server.base_model import BaseModel, load_base_model
from server.config import ModelSettings
from server.errors import Cancelled, InvalidRequest
from server.task_spec import TaskSpec
from trainer.config import JobConfig, TrainerSettings
from trainer.data import Example, TokenizedExample, check_labels, read_jsonl, split, tokenize
from trainer.evaluation import EvalReport, choose_demonstrations, evaluate, load_probe
from trainer.jobs_db import JobState, JobStore
from trainer.publishing import publish, publish_decision
from trainer.training import Distributed, Progress, Trainer, build_lora_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFiles:
    """A job's directory under the trainer's work dir."""

    root: Path

    @classmethod
    def of(cls, work_dir: Path, job_id: str) -> JobFiles:
        return cls(work_dir / "jobs" / job_id)

    @property
    def train(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def validation(self) -> Path:
        return self.root / "validation.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"


@dataclass
class PreparedData:
    spec: TaskSpec
    train: list[Example]
    holdout: list[Example]
    train_tokens: list[TokenizedExample]
    holdout_tokens: list[TokenizedExample]
    dropped: list[int]


def task_spec(config: JobConfig, data_format: str, labels: list[str]) -> TaskSpec:
    task = config.task
    kind = task.kind if task.kind != "auto" else ("classification" if data_format == "classification" else "generation")
    if kind == "classification" and data_format != "classification":
        raise InvalidRequest("task.kind", "classification needs {\"text\", \"label\"} data")
    try:
        return TaskSpec(
            name=config.adapter_name, kind=kind, instruction=task.instruction, template=task.template,
            input_format=task.input_format, labels=labels if kind == "classification" else [], adapter=config.adapter_name,
        )
    except ValueError as exc:
        raise InvalidRequest("task", str(exc)) from None


def prepare(config: JobConfig, tokenizer: Any, files: JobFiles) -> PreparedData:
    """Reads, checks, splits and tokenizes the job's data; raises with every problem found."""
    dataset = read_jsonl(files.train.read_bytes())
    labels = check_labels(dataset, config.task.labels)
    spec = task_spec(config, dataset.format, labels)
    hp = config.hyperparameters
    if files.validation.is_file():
        holdout_set = read_jsonl(files.validation.read_bytes(), "validation data")
        if holdout_set.format != dataset.format:
            raise InvalidRequest("validation_data", f"is in {holdout_set.format} format, the training data in {dataset.format}")
        check_labels(holdout_set, labels)
        train, holdout = dataset.examples, holdout_set.examples
    else:
        train, holdout = split(dataset.examples, config.validation_split, hp.seed)
    end_id = tokenizer.eos_token_id
    train_tokens, dropped = tokenize(tokenizer, spec, train, hp.max_seq_len, end_id, config.over_length)
    holdout_tokens, dropped_holdout = tokenize(tokenizer, spec, holdout, hp.max_seq_len, end_id, config.over_length)
    kept = {t.line for t in train_tokens}
    kept_holdout = {t.line for t in holdout_tokens}
    return PreparedData(
        spec=spec,
        train=[e for e in train if e.line in kept],
        holdout=[e for e in holdout if e.line in kept_holdout],
        train_tokens=train_tokens,
        holdout_tokens=holdout_tokens,
        dropped=sorted(dropped + dropped_holdout),
    )


def load_training_base(settings: TrainerSettings, config: JobConfig) -> BaseModel:
    """A fresh base model owned by the job (PEFT changes the model it wraps)."""
    quantization = "nf4" if config.hyperparameters.qlora else "none"
    model_settings = ModelSettings(
        model=settings.model, cache_dir=settings.cache_dir, quantization=quantization, device=settings.device, dtype=settings.dtype,
        torch_threads=settings.torch_threads,
    )
    return load_base_model(model_settings)


def train_and_evaluate(
    job_id: str,
    config: JobConfig,
    data: PreparedData,
    base: BaseModel,
    files: JobFiles,
    jobs: JobStore,
    probe_path: Path,
    should_stop: Callable[[], bool],
    on_progress: Callable[[Progress], None],
) -> tuple[Any, EvalReport, Any]:
    """Trains (resuming from a checkpoint if there is one) and evaluates; returns model, report, history."""
    hp = config.hyperparameters
    model = build_lora_model(base, hp)
    trainer = Trainer(
        model, data.train_tokens, data.holdout_tokens, hp, base.tokenizer.pad_token_id, files.checkpoints, config.checkpoint_every,
        on_progress=on_progress, should_stop=should_stop, distributed=Distributed.from_env(),
    )
    if trainer.resume():
        jobs.add_event(job_id, "message", {"text": f"resumed from the checkpoint at step {trainer.position.step}"})
    history = trainer.run()
    jobs.add_event(job_id, "message", {"text": "training done; evaluating on the holdout split"})
    evaluation = config.evaluation
    holdout = data.holdout[: evaluation.max_holdout]
    demos = choose_demonstrations(data.train, data.spec, evaluation.icl_shots, hp.seed)
    probe = load_probe(probe_path, evaluation.forgetting_probe)
    if evaluation.forgetting_probe and not probe:
        jobs.add_event(job_id, "message", {"text": f"no forgetting probe data at {probe_path}; run scripts/fetch_data.py"})
    val_loss = history.validation[-1][1] if history.validation else None
    report = evaluate(model, base.tokenizer, data.spec, data.train, holdout, demos, base.tokenizer.eos_token_id, probe, val_loss)
    data.spec = data.spec.model_copy(update={"demonstrations": demos})
    return model, report, history


def execute(
    job_id: str,
    settings: TrainerSettings,
    jobs: JobStore,
    store: AdapterStore,
    tokenizer: Any,
    should_stop: Callable[[], bool],
    on_progress: Callable[[Progress], None],
) -> None:
    """Runs a RUNNING job to SUCCEEDED: train, evaluate, publish by its policy, clean up.

    Raises Cancelled when `should_stop` says so; the caller decides what that means. Under torchrun
    every rank trains; only rank 0 evaluates, publishes and records the outcome.
    """
    files = JobFiles.of(settings.work_dir, job_id)
    config = JobConfig.model_validate(jobs.get(job_id).config)
    data = prepare(config, tokenizer, files)
    base = load_training_base(settings, config)
    model, report, history = train_and_evaluate(job_id, config, data, base, files, jobs, settings.probe_data, should_stop, on_progress)
    if not Distributed.from_env().main:
        return
    if should_stop():
        raise Cancelled("the job was cancelled")
    summary = {**report.model_dump(), "margin": report.margin, "adapter_beats_icl": report.adapter_beats_icl}
    jobs.add_event(job_id, "evaluation", summary)
    result = {**jobs.get(job_id).result, "report": report.model_dump(), "margin": report.margin, "adapter_beats_icl": report.adapter_beats_icl}
    should_publish, note = publish_decision(config, report)
    if should_publish:
        version = publish(store, files.adapter, model, base, data.spec, config, report, history, job_id)
        result["published_adapter"] = f"{config.adapter_name}@{version}"
        jobs.add_event(job_id, "message", {"text": f"published {config.adapter_name}@{version}"})
    else:
        result["publish_note"] = note
        jobs.add_event(job_id, "message", {"text": f"not published: {note}"})
    jobs.update(job_id, result=result)
    jobs.transition(job_id, JobState.SUCCEEDED)
    cleanup(files)


def cleanup(files: JobFiles) -> None:
    """Removes what a finished or cancelled job no longer needs (checkpoints, the staging adapter)."""
    shutil.rmtree(files.checkpoints, ignore_errors=True)
    shutil.rmtree(files.adapter, ignore_errors=True)
