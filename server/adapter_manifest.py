"""Adapter names, references (`name`, `name@3`) and the `tuneserve.json` manifest of a version."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.errors import InvalidRequest

MANIFEST_FILE = "tuneserve.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MAX_NAME_CHARS = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, field: str = "adapter") -> str:
    """A name is a safe single path segment: letters, digits, '.', '_', '-', no '..', <= 128 chars."""
    if not name:
        raise InvalidRequest(field, "adapter name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(field, f"adapter name has {len(name)} characters; at most {MAX_NAME_CHARS} are allowed")
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidRequest(
            field, f"adapter name {name!r} may only use letters, digits, '.', '_' and '-', must start with a letter or digit, and may not contain '..'"
        )
    return name


@dataclass(frozen=True)
class AdapterRef:
    """What a request asks for: a name and, when pinned, a version."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str, field: str = "adapter") -> AdapterRef:
        name, sep, version = text.partition("@")
        check_name(name, field)
        if not sep:
            return cls(name)
        if not version.isdigit() or int(version) < 1:
            raise InvalidRequest(field, f"version in {text!r} must be a positive integer, as in {name}@3")
        return cls(name, int(version))

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


class AdapterManifest(BaseModel):
    """`tuneserve.json`: what a stored adapter version is, what it was trained on, and its files."""

    model_config = ConfigDict(extra="allow")

    format_version: int = 1
    """Version of this manifest format."""
    name: str
    """Adapter name in the store."""
    version: int = Field(0, ge=0)
    """Version number in the store; set when published."""
    base_fingerprint: str
    """Fingerprint of the base model the adapter was trained on; the server refuses any other."""
    base_model: str = ""
    """Human-readable name of that base model."""
    architecture: str = ""
    """Architecture of that base model, e.g. LlamaForCausalLM."""
    rank: int = Field(ge=1)
    """LoRA rank r."""
    alpha: float = Field(gt=0)
    """LoRA alpha; the delta is scaled by alpha / r (alpha / sqrt(r) with rsLoRA)."""
    use_rslora: bool = False
    """Whether the scaling is rank-stabilised."""
    target_modules: list[str]
    """Base modules that carry LoRA weights, e.g. q_proj, v_proj."""
    files: dict[str, str]
    """sha256 of every file of the version, by file name."""
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    """When the version was made."""
    source: str = ""
    """Where it came from: a trainer job, or an import of someone else's PEFT directory."""
    task: dict[str, Any] | None = None
    """The task spec the adapter was trained with (prompt template, labels); see server.tasks."""
    eval_report: dict[str, Any] | None = None
    """The trainer's evaluation of this adapter against the base and few-shot prompting."""

    @property
    def content_hash(self) -> str:
        """Identity of the weights and config: what any state cached per adapter is keyed by."""
        blob = "".join(f"{name}:{digest}\n" for name, digest in sorted(self.files.items()))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]
