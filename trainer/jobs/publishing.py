"""Publishing a trained adapter: its files, loss curve, task spec and report, as one store version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.adapter_manifest import AdapterManifest
from common.adapter_store import AdapterStore
from common.base_model import BaseModel
from common.task_spec import TaskSpec
from trainer.config import JobConfig
from trainer.evaluation.holdout import EvalReport
from trainer.jobs.workdir import HTML_REPORT, LOSS_CURVE
from trainer.training.loop import History


def publish_decision(config: JobConfig, report: EvalReport) -> tuple[bool, str]:
    """Whether to publish, and why not when not."""
    if config.publish == "never":
        return False, "publishing is off for this job (publish=never)"
    if config.publish == "if_beats_icl" and not report.adapter_beats_icl:
        return False, (
            f"the adapter ({report.score(report.adapter):.3f} {report.metric}) did not beat "
            f"{report.base_icl.shots}-shot prompting of the base model ({report.score(report.base_icl):.3f})"
        )
    return True, ""


def write_loss_curve(history: History, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    if history.train:
        steps, losses = zip(*history.train, strict=True)
        axes.plot(steps, losses, label="train loss", linewidth=1)
    if history.validation:
        steps, losses = zip(*history.validation, strict=True)
        axes.plot(steps, losses, "o-", label="validation loss")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (completion tokens)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def publish(
    store: AdapterStore,
    adapter_dir: Path,
    model: Any,
    base: BaseModel,
    spec: TaskSpec,
    config: JobConfig,
    report: EvalReport,
    history: History,
    job_id: str,
    report_html: str,
) -> int:
    """Saves the adapter with its loss curve and publishes it as the next version, not yet current; returns it.

    The manifest names the job, so a job resumed after a crash finds the version (see trainer.jobs.job)."""
    model.save_pretrained(adapter_dir)
    (adapter_dir / "README.md").unlink(missing_ok=True)  # PEFT's model card template says nothing true
    write_loss_curve(history, adapter_dir / LOSS_CURVE)
    (adapter_dir / HTML_REPORT).write_text(report_html, encoding="utf-8")
    hp = config.hyperparameters
    manifest = AdapterManifest(
        name=config.adapter_name,
        base_fingerprint=base.fingerprint,
        base_model=base.name,
        architecture=base.architecture,
        rank=hp.rank,
        alpha=hp.alpha,
        target_modules=sorted(base.shape.family.lora_targets(hp.target_modules)),
        files={},
        source=f"trainer job {job_id}",
        job_id=job_id,
        task=spec.model_dump(),
        eval_report={**report.model_dump(), "margin": report.margin, "adapter_beats_icl": report.adapter_beats_icl},
    )
    return store.publish(adapter_dir, manifest, make_current=False)
