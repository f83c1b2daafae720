"""One training job from data to published adapter: prepare, train, evaluate, publish."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.adapter_store import AdapterStore
from common.base_model import BaseModel, load_base_model
from common.errors import Cancelled, InvalidRequest
from common.settings import ModelSettings
from common.task_spec import TaskSpec
from trainer.config import JobConfig, TrainerSettings
from trainer.evaluation import html_report
from trainer.evaluation.holdout import DataNotes, EvalReport, choose_demonstrations, evaluate, load_probe
from trainer.jobs.publishing import publish, publish_decision, write_loss_curve
from trainer.jobs.records import JobState, JobStore
from trainer.jobs.storage import JobStorage, open_job_storage
from trainer.jobs.workdir import JobFiles, write_private
from trainer.training.data import (
    DataRejected,
    Example,
    TokenizedExample,
    choose_labels,
    example_key,
    label_errors,
    parse_jsonl,
    split,
    tokenize,
)
from trainer.training.loop import Distributed, Progress, Trainer, build_lora_model

log = logging.getLogger(__name__)

NOTED_LINES = 20  # duplicate and overlapping lines named in the report


VALIDATION_SOURCE = "validation data"
# Bad lines a job record (and GetJob) carries; the job's directory keeps all of them.
MAX_REPORTED_INVALID_LINES = 10_000


def record_invalid_lines(files: JobFiles, rejected: DataRejected) -> list[dict[str, Any]]:
    """Keeps every bad line in the job's directory; returns the first MAX_REPORTED for the job record."""
    write_private(files.invalid_lines, "".join(f"{error}\n" for error in rejected.errors).encode())
    return [{"line": e.line, "reason": e.reason, "source": e.source} for e in rejected.errors[:MAX_REPORTED_INVALID_LINES]]


@dataclass
class PreparedData:
    spec: TaskSpec
    train: list[Example]
    holdout: list[Example]
    train_tokens: list[TokenizedExample]
    holdout_tokens: list[TokenizedExample]
    dropped: list[int]
    duplicates: list[str] = field(default_factory=list)  # exact copies dropped: "line 12 (repeats line 3)"
    holdout_overlap: list[int] = field(default_factory=list)  # holdout lines dropped: the same example is in training


def task_spec(config: JobConfig, data_format: str, labels: list[str], chat_template: bool = True) -> TaskSpec:
    """The task the adapter is trained for and published with. A base model without a chat
    template (Gemma 3 270M's GGUF) takes the plain template whatever the job asked."""
    task = config.task
    kind = task.kind if task.kind != "auto" else ("classification" if data_format == "classification" else "generation")
    if kind == "classification" and data_format != "classification":
        raise InvalidRequest("task.kind", 'classification needs {"text", "label"} data')
    try:
        return TaskSpec(
            name=config.adapter_name,
            kind=kind,
            instruction=task.instruction,
            template=task.template if chat_template else "plain",
            input_format=task.input_format,
            labels=labels if kind == "classification" else [],
            adapter=config.adapter_name,
            output_schema=task.output_schema,
        )
    except ValueError as exc:
        raise InvalidRequest("task", str(exc)) from None


def prepare(config: JobConfig, tokenizer: Any, files: JobFiles) -> PreparedData:
    """Reads, checks, tokenizes and splits the job's data; raises DataRejected with every bad line."""
    dataset = parse_jsonl(files.train.read_bytes(), duplicates=config.duplicates)
    errors = list(dataset.errors)
    holdout_set = None
    if files.validation.is_file():
        holdout_set = parse_jsonl(
            files.validation.read_bytes(), "validation data", VALIDATION_SOURCE, duplicates=config.duplicates, field="validation_data"
        )
    if holdout_set is not None:
        errors += holdout_set.errors
        if dataset.format and holdout_set.format and holdout_set.format != dataset.format:
            raise InvalidRequest("validation_data", f"is in {holdout_set.format} format, the training data in {dataset.format}")
    if dataset.format is None or not dataset.examples:
        raise DataRejected(errors)
    try:
        labels = choose_labels(dataset, config.task.labels)
    except InvalidRequest:
        if errors:  # the bad lines may hold the missing labels: they are what to fix first
            raise DataRejected(errors) from None
        raise
    errors += label_errors(dataset, labels)
    spec = task_spec(config, dataset.format, labels, chat_template=bool(getattr(tokenizer, "chat_template", None)))
    hp, end_id = config.hyperparameters, tokenizer.eos_token_id
    tokens, dropped = tokenize(tokenizer, spec, dataset.examples, hp.max_seq_len, end_id, config.over_length, errors)
    if holdout_set is not None:
        errors += label_errors(holdout_set, labels, VALIDATION_SOURCE)
        holdout_tokens, dropped_holdout = tokenize(
            tokenizer, spec, holdout_set.examples, hp.max_seq_len, end_id, config.over_length, errors, VALIDATION_SOURCE
        )
    if errors:
        raise DataRejected(errors)
    kept = {t.line: t for t in tokens}
    examples = [e for e in dataset.examples if e.line in kept]
    if holdout_set is not None:
        train, holdout = examples, [e for e in holdout_set.examples if e.line in {t.line for t in holdout_tokens}]
        dropped += dropped_holdout
    else:
        train, holdout = split(examples, config.validation_split, hp.seed)
    # a holdout example that is also a training example inflates the holdout score
    trained = {example_key(e) for e in train}
    overlap = [e.line for e in holdout if example_key(e) in trained]
    holdout = [e for e in holdout if example_key(e) not in trained]
    if holdout_set is not None:
        holdout_lines = {e.line for e in holdout}
        holdout_tokens = [t for t in holdout_tokens if t.line in holdout_lines]
    else:
        holdout_tokens = [kept[e.line] for e in holdout]
    if not train or not holdout:
        raise InvalidRequest(
            "training_data", "no examples are left to train on or to hold out (too long, or the holdout repeats the training data)"
        )
    return PreparedData(
        spec=spec,
        train=train,
        holdout=holdout,
        train_tokens=[kept[e.line] for e in train],
        holdout_tokens=holdout_tokens,
        dropped=sorted(dropped),
        duplicates=[f"line {line} (repeats line {first})" for line, first in dataset.duplicates]
        + [f"validation line {line} (repeats line {first})" for line, first in (holdout_set.duplicates if holdout_set else [])],
        holdout_overlap=overlap,
    )


def load_training_base(settings: TrainerSettings, config: JobConfig) -> BaseModel:
    """A fresh base model owned by the job (PEFT changes the model it wraps)."""
    quantization = "nf4" if config.hyperparameters.qlora else "none"
    model_settings = ModelSettings(
        model=settings.model,
        cache_dir=settings.cache_dir,
        quantization=quantization,
        device=settings.device,
        dtype=settings.dtype,
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
    storage: JobStorage | None = None,
) -> tuple[Any, EvalReport, Any]:
    """Trains (resuming from a checkpoint if there is one) and evaluates; returns model, report, history."""
    hp = config.hyperparameters
    model = build_lora_model(base, hp)
    trainer = Trainer(
        model,
        data.train_tokens,
        data.holdout_tokens,
        hp,
        base.tokenizer.pad_token_id,
        files.checkpoints,
        config.checkpoint_every,
        on_progress=on_progress,
        should_stop=should_stop,
        distributed=Distributed.from_env(),
        on_checkpoint=(lambda path: storage.save_checkpoint(job_id, path)) if storage is not None else None,
    )
    if storage is not None:
        storage.restore_checkpoint(job_id, files)
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
    report = evaluate(model, base.tokenizer, data.spec, holdout, demos, base.tokenizer.eos_token_id, probe, val_loss)
    report.data = DataNotes(
        duplicates_dropped=len(data.duplicates),
        duplicates=data.duplicates[:NOTED_LINES],
        holdout_overlap_dropped=len(data.holdout_overlap),
        holdout_overlap_lines=data.holdout_overlap[:NOTED_LINES],
    )
    data.spec = data.spec.model_copy(update={"demonstrations": demos})
    return model, report, history


def write_job_report(files: JobFiles, job_id: str, config: JobConfig, summary: dict[str, Any], history: Any, publish_note: str) -> str:
    """Writes the job's loss curve and HTML report into its directory (kept after the job); returns the HTML."""
    write_loss_curve(history, files.loss_curve)
    job = {"id": job_id, "adapter_name": config.adapter_name, "publish_note": publish_note}
    page = html_report.render(summary, job, files.loss_curve.read_bytes())
    files.html_report.write_text(page, encoding="utf-8")
    return page


def data_warnings(data: PreparedData) -> list[str]:
    """What was dropped from the data, said once when the job starts."""
    notes = []
    if data.duplicates:
        first = "; ".join(data.duplicates[:5]) + ("; ..." if len(data.duplicates) > 5 else "")
        notes.append(f"dropped {len(data.duplicates)} exact duplicate examples ({first}); duplicates=keep trains on them")
    if data.holdout_overlap:
        lines = ", ".join(str(line) for line in data.holdout_overlap[:5]) + (", ..." if len(data.holdout_overlap) > 5 else "")
        notes.append(
            f"dropped {len(data.holdout_overlap)} holdout examples that are also training examples "
            f"(holdout lines {lines}): they would inflate the holdout score"
        )
    return notes


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
    every rank trains; only rank 0 evaluates, publishes and records the outcome. Publishing is
    exactly-once: the version is recorded in the job before the pointer moves, and a job resumed
    after a crash that finds its own version in the store finishes from it instead of training on.
    """
    files = JobFiles.of(settings.work_dir, job_id)
    storage = open_job_storage(settings.job_store, settings.work_dir)
    config = JobConfig.model_validate(jobs.get(job_id).config)
    published = store.published_by(config.adapter_name, job_id)
    if published is not None:
        if Distributed.from_env().main:
            _finish_published(job_id, config, published, jobs, store)
            cleanup(files, storage, job_id)
        return
    storage.restore_inputs(job_id, files)
    data = prepare(config, tokenizer, files)
    for note in data_warnings(data):
        log.warning(note, extra={"job_id": job_id})
        jobs.add_event(job_id, "message", {"text": note})
    base = load_training_base(settings, config)
    model, report, history = train_and_evaluate(
        job_id, config, data, base, files, jobs, settings.probe_data, should_stop, on_progress, storage
    )
    if not Distributed.from_env().main:
        return
    if should_stop():
        raise Cancelled("the job was cancelled")
    summary = {**report.model_dump(), "margin": report.margin, "adapter_beats_icl": report.adapter_beats_icl}
    jobs.add_event(job_id, "evaluation", summary)
    result = {
        **jobs.get(job_id).result,
        "report": report.model_dump(),
        "margin": report.margin,
        "adapter_beats_icl": report.adapter_beats_icl,
    }
    should_publish, note = publish_decision(config, report)
    report_html = write_job_report(files, job_id, config, summary, history, "" if should_publish else note)
    storage.save_outputs(job_id, files)
    if should_publish:
        version = publish(store, files.adapter, model, base, data.spec, config, report, history, job_id, report_html)
        jobs.update(job_id, result={**result, "published_adapter": f"{config.adapter_name}@{version}"})
        _finish_published(job_id, config, version, jobs, store)
    else:
        result["publish_note"] = note
        jobs.add_event(job_id, "message", {"text": f"not published: {note}"})
        jobs.update(job_id, result=result)
        jobs.transition(job_id, JobState.SUCCEEDED)
    cleanup(files, storage, job_id)


def _finish_published(job_id: str, config: JobConfig, version: int, jobs: JobStore, store: AdapterStore) -> None:
    """Makes the job's published version current (once) and the job SUCCEEDED, from what the store holds."""
    label = f"{config.adapter_name}@{version}"
    result = jobs.get(job_id).result
    if result.get("published_adapter") != label:  # killed between publishing and recording it
        evaluation = dict(store.manifest(config.adapter_name, version).eval_report or {})
        margin, beats = evaluation.pop("margin", 0.0), evaluation.pop("adapter_beats_icl", False)
        result = {**result, "report": evaluation, "margin": margin, "adapter_beats_icl": beats, "published_adapter": label}
        jobs.update(job_id, result=result)
        jobs.add_event(job_id, "message", {"text": f"found {label}, published before the trainer stopped; not publishing again"})
    if not result.get("pointer_moved"):
        store.set_current(config.adapter_name, version)
        jobs.update(job_id, result={**result, "pointer_moved": True})
        jobs.add_event(job_id, "message", {"text": f"published {label}"})
    jobs.transition(job_id, JobState.SUCCEEDED)


def cleanup(files: JobFiles, storage: JobStorage | None = None, job_id: str = "") -> None:
    """Removes what a finished or cancelled job no longer needs (checkpoints, the staging adapter)."""
    shutil.rmtree(files.checkpoints, ignore_errors=True)
    shutil.rmtree(files.adapter, ignore_errors=True)
    if storage is not None:
        storage.delete_checkpoints(job_id)
