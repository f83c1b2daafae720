"""Typed settings of the trainer service and of one training job.

Defaults follow what TRL, Axolotl and Unsloth agree on for LoRA fine-tuning of small instruction
models: rank 16 with alpha 32 on every linear layer of the decoder, dropout 0.05, AdamW at 2e-4
with a cosine schedule after a 3% warm-up, batches of 8, gradient clipping at 1.0, no weight decay,
3 epochs (transformers' own default), sequences up to 1024 tokens, seed 42.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.model_families import ALL_LINEAR, LORA_BLOCKS
from common.settings import AdapterStoreSettings, ModelSettings, SecuritySettings, StoreLocation, default_cache_dir, settings_config


class Hyperparameters(BaseModel):
    """How one job trains; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(16, ge=1, le=256)
    """LoRA rank r."""
    alpha: float = Field(32.0, gt=0)
    """LoRA alpha; the update is scaled by alpha / r."""
    dropout: float = Field(0.05, ge=0, lt=1)
    """Dropout on the LoRA input during training."""
    target_modules: list[str] = Field(default_factory=lambda: [ALL_LINEAR])
    """Linear layers that get LoRA weights, by module name: "all-linear" (the default) is every one
    the base model has (q_proj ... down_proj; Phi-3's are qkv_proj, o_proj, gate_up_proj, down_proj)."""
    learning_rate: float = Field(2e-4, gt=0, le=1)
    """Peak learning rate of AdamW."""
    learning_rate_multiplier: float | None = Field(None, gt=0, le=100)
    """Where the job was asked for one (OpenAI's name): learning_rate is the default times it."""
    epochs: int = Field(3, ge=1, le=100)
    """Passes over the training split (ignored when max_steps is set)."""
    max_steps: int = Field(0, ge=0)
    """Optimizer steps to take; 0 means epochs * steps per epoch."""
    batch_size: int = Field(8, ge=1, le=1024)
    """Examples per micro-batch."""
    gradient_accumulation: int = Field(1, ge=1, le=1024)
    """Micro-batches per optimizer step."""
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    """Fraction of the steps over which the learning rate warms up linearly, before the cosine decay."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Gradient clipping norm."""
    max_seq_len: int = Field(1024, ge=16)
    """Longest example (prompt plus completion) in tokens."""
    seed: int = Field(42, ge=0)
    """Seed of data order, LoRA initialisation, dropout and the train/holdout split."""
    qlora: bool = False
    """Train on the 4-bit (nf4) base (QLoRA) instead of the unquantized one."""

    @model_validator(mode="after")
    def _targets(self) -> Hyperparameters:
        if self.target_modules == [ALL_LINEAR]:
            return self
        unknown = sorted(set(self.target_modules) - set(LORA_BLOCKS))
        if unknown or not self.target_modules:
            raise ValueError(f"target_modules must be {[ALL_LINEAR]} or a non-empty subset of {list(LORA_BLOCKS)}, got unknown {unknown}")
        return self


# the forgetting probe's size where neither the job nor the operator chooses one
FORGETTING_PROBE_QUESTIONS = 100


class EvaluationConfig(BaseModel):
    """What the job measures on its holdout split."""

    model_config = ConfigDict(extra="forbid")

    icl_shots: int = Field(4, ge=0, le=64)
    """k of the base model's k-shot in-context baseline (demonstrations drawn from the training split)."""
    max_holdout: int = Field(1000, ge=1)
    """At most this many holdout examples are scored."""
    forgetting_probe: int = Field(FORGETTING_PROBE_QUESTIONS, ge=0)
    """General-knowledge questions (MMLU sample) answered by base and adapter; 0 skips the probe."""


class TaskConfig(BaseModel):
    """The task the adapter is trained for; it becomes the task spec served with the adapter."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["classification", "generation", "auto"] = "auto"
    """auto: classification for text+label data, generation otherwise."""
    instruction: str = ""
    """Instruction given to the model (system message with the chat template)."""
    template: Literal["chat", "plain"] = "chat"
    """Prompt template: the model's chat template, or plain text (always, for a model without a chat template)."""
    input_format: str = ""
    """How the input is written into the prompt; must contain {input}. Empty: the template's default."""
    labels: list[str] = Field(default_factory=list)
    """Labels of a classification task; empty: the distinct labels of the data."""
    output_schema: dict[str, Any] | None = None
    """Generation tasks: the JSON schema every answer follows (JSON text is accepted too); written
    into the training prompts and enforced by structured output when the adapter serves the task."""

    @field_validator("output_schema", mode="before")
    @classmethod
    def _schema_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"output_schema is not JSON: {exc}") from None
        return value


class JobConfig(BaseModel):
    """Everything a job needs besides its data; stored with the job."""

    model_config = ConfigDict(extra="forbid")

    adapter_name: str
    task: TaskConfig = Field(default_factory=TaskConfig)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    validation_split: float = Field(0.1, gt=0, lt=1)
    """Fraction of the data held out for evaluation when no validation file is given."""
    over_length: Literal["refuse", "truncate", "drop"] = "refuse"
    """What to do with examples over max_seq_len: refuse the data, truncate their input, or drop them."""
    duplicates: Literal["refuse", "drop", "keep"] = "drop"
    """Exact duplicate examples: drop them with a warning (counted in the report), refuse the data, or keep them."""
    checkpoint_every: int = Field(50, ge=1)
    """Optimizer steps between checkpoints."""
    publish: Literal["always", "if_beats_icl", "never"] = "always"
    """Publish the adapter always, only if it beats the k-shot baseline, or never."""
    gpus: int | None = Field(None, ge=0, le=16)
    """GPUs of the job's pod under the kubernetes executor (one training process per GPU, torchrun
    inside the pod when there are several); unset: the trainer's job_gpus."""
    training_file_id: str = ""
    """The kept file the training data came from (UploadFile), where it came from one."""
    validation_file_id: str = ""
    """The kept file the validation data came from, where it came from one."""


class TrainerSettings(ModelSettings, SecuritySettings, AdapterStoreSettings):
    """Settings of `tuneserve-trainer`."""

    model_config = settings_config("tuneserve-trainer")

    host: str = "127.0.0.1"
    """Address the trainer's gRPC server binds to."""

    port: int = Field(50052, ge=0, le=65535)
    """gRPC port of the trainer; 0 picks a free one."""

    metrics_host: str | None = None
    """Address of the trainer's /metrics endpoint; unset uses `host`."""

    metrics_port: int = Field(9091, ge=0, le=65535)
    """Port of the trainer's Prometheus endpoint."""

    adapter_store: StoreLocation = Field(default_factory=lambda: str(default_cache_dir() / "adapters"))
    """Adapter store the trainer publishes into, shared with the servers: a directory, or
    s3://BUCKET/PREFIX with its catalog in database_url (common.adapter_store)."""

    work_dir: Path = Field(default_factory=lambda: default_cache_dir() / "trainer")
    """Where jobs keep their database, data and checkpoints; a restarted trainer resumes from it."""

    probe_data: Path = Field(default_factory=lambda: default_cache_dir() / "data" / "mmlu_probe.jsonl")
    """General-knowledge questions for the forgetting probe (made by scripts/fetch_data.py at install)."""

    forgetting_probe: int = Field(FORGETTING_PROBE_QUESTIONS, ge=0)
    """Questions of the forgetting probe for a job that does not set evaluation.forgetting_probe (no
    job from the OpenAI fine-tuning API can): base and adapter each score every one; 0 skips the probe."""

    processes: int = Field(1, ge=1, le=64)
    """Training processes per job: 1 trains in the trainer process; N > 1 launches `torchrun
    --nproc-per-node N` (DDP, one GPU per process, gloo on CPU)."""

    executor: Literal["thread", "process", "kubernetes"] = "thread"
    """Where a queued job runs: `thread` in the trainer process, `process` in a child process per
    job (`python -m trainer.jobs.run_job JOB_ID`, torchrun when processes > 1), `kubernetes` as one
    batch/v1 Job per training job running that same entry point (trainer.execution)."""

    max_concurrent_jobs: int = Field(1, ge=1, le=1000)
    """Jobs this trainer replica runs at once (Jobs it keeps created, under `kubernetes`; Kueue may
    still hold some of them back against quota)."""

    job_retries: int = Field(3, ge=0, le=100)
    """Times a job whose run ended without an outcome (its process killed, its node lost) is started
    again from its last checkpoint before it fails; the Kubernetes Job's backoffLimit."""

    job_store: str | None = None
    """Where jobs keep their data, checkpoints and reports beyond the run: unset, the work dir (a
    local disk, or a volume the trainer and every job pod mount); s3://BUCKET/PREFIX, object
    storage, so a job's pod on any node reads its data and resumes from its last checkpoint."""

    job_gpus: int = Field(0, ge=0, le=16)
    """GPUs of a job's pod under the kubernetes executor when the job does not ask (JobConfig.gpus)."""

    kubernetes_namespace: str = ""
    """Namespace of the training Jobs; empty: the trainer pod's own (from its service account)."""

    kubernetes_job_template: Path | None = None
    """YAML of the pod template every training Job starts from (image, settings, volumes,
    resources, node selector, tolerations); the Helm chart writes it. Required by `kubernetes`."""

    kueue_queue: str = ""
    """Kueue LocalQueue the training Jobs are submitted to (created suspended, admitted by Kueue
    against quota); empty: no queue label, the Jobs start at once."""

    job_deadline_s: int = Field(7 * 24 * 3600, ge=60)
    """activeDeadlineSeconds of a training Job: past it the cluster stops the Job and the job fails."""

    job_ttl_s: int = Field(24 * 3600, ge=0)
    """ttlSecondsAfterFinished of a training Job: how long a finished Job and its pod (logs) are kept."""

    kubernetes_poll_s: float = Field(5.0, gt=0, le=300)
    """Seconds between two looks at the training Jobs and their pods under `kubernetes`."""

    job_lease_s: float = Field(30.0, ge=1.0, le=3600.0)
    """Seconds a replica's claim on a job lasts without renewal (renewed every third of it); past it,
    another replica sharing the database takes the job over and resumes it from its last checkpoint."""

    max_data_bytes: int = Field(256 * 2**20, ge=1024)
    """Largest training or validation file accepted."""

    data_dirs: list[Path] = Field(default_factory=list)
    """Directories whose files CreateJob may name as training_file or validation_file (a shared
    volume); a named path must resolve, links followed, inside one of them. Empty: no file is read
    by path and data is sent inline."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""

    log_format: Literal["json", "text"] = "json"
    """Log format."""

    @field_validator("job_store")
    @classmethod
    def _object_store(cls, value: str | None) -> str | None:
        if value:
            from common.blob_store import BucketPrefix

            BucketPrefix.parse(value, "job_store")  # ValueError names what is wrong with it
        return value or None

    @model_validator(mode="after")
    def _kubernetes_needs(self) -> TrainerSettings:
        if self.executor == "kubernetes":
            if self.kubernetes_job_template is None:
                raise ValueError("executor 'kubernetes' needs kubernetes_job_template: the pod template of the training Jobs")
            if not (self.database_url or "").startswith("postgresql"):
                raise ValueError("executor 'kubernetes' needs a PostgreSQL database_url: the Jobs' pods record progress and outcomes there")
        return self

    def job_database(self) -> str:
        """The database URL of the jobs, their events and reviews."""
        return self.database_url if self.database_url is not None else f"sqlite:///{self.work_dir / 'jobs.sqlite3'}"
