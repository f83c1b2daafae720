"""Reading an adapter version from disk and checking it before anything is served.

Every check that fails raises `AdapterRefused` with a reason from a small fixed set (it labels
the refusal metric) and a message that says what is wrong. Only safetensors are read; a version
that carries pickle weights is refused without opening them.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file

from server.adapter_manifest import CONFIG_FILE, MANIFEST_FILE, WEIGHTS_FILE, AdapterManifest
from server.adapter_store import sha256_of
from server.errors import FailedPrecondition

# The LoRA-targetable linear layers of the Llama-family decoder layer, by attribute path.
LORA_MODULES = {
    "q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
    "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
}
_KEY = re.compile(r"base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight")
_UNSUPPORTED_CONFIG = {
    "use_dora": "DoRA adapters",
    "modules_to_save": "modules_to_save (extra trained modules such as embeddings or lm_head)",
    "rank_pattern": "per-module ranks (rank_pattern)",
    "alpha_pattern": "per-module alphas (alpha_pattern)",
    "layer_replication": "layer replication",
    "trainable_token_indices": "trainable token embeddings",
    "lora_bias": "LoRA bias terms",
    "use_qalora": "QA-LoRA",
}


class RefusalReason(str, enum.Enum):
    MANIFEST = "manifest"
    WRONG_BASE = "wrong_base"
    CONFIG = "config"
    UNSUPPORTED = "unsupported"
    TARGET_MODULES = "target_modules"
    RANK = "rank"
    CHECKSUM = "checksum"
    PICKLE = "pickle"
    WEIGHTS = "weights"
    MISSING = "missing"


class AdapterRefused(FailedPrecondition):
    """This adapter version will not be served; `reason` says which check failed."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BaseSpec:
    """What adapters are checked against: the base's identity and its targetable layers."""

    fingerprint: str
    architecture: str
    model_name: str
    num_layers: int
    shapes: dict[str, tuple[int, int]]  # module -> (in_features, out_features)
    dtype: torch.dtype

    @classmethod
    def from_base(cls, base: Any) -> BaseSpec:
        layer = base.model.model.layers[0]
        shapes = {}
        for module, parent in LORA_MODULES.items():
            linear = getattr(getattr(layer, parent), module)
            shapes[module] = (int(linear.in_features), int(linear.out_features))
        return cls(base.fingerprint, base.architecture, base.name, len(base.model.model.layers), shapes, base.dtype)


@dataclass
class LoadedAdapter:
    """A checked adapter version in host memory, ready to be copied into a LoRA slot."""

    name: str
    version: int
    manifest: AdapterManifest
    rank: int
    scale: float
    weights: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]]  # (layer, module) -> (A [r, in], B [out, r])
    nbytes: int = 0
    modules: frozenset[str] = field(default_factory=frozenset)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def content_hash(self) -> str:
        return self.manifest.content_hash


@dataclass(frozen=True)
class PeftSettings:
    rank: int
    alpha: float
    use_rslora: bool
    target_modules: list[str]


def read_peft_config(directory: Path, spec: BaseSpec, max_rank: int) -> PeftSettings:
    """Checks adapter_config.json: a plain LoRA on modules the base has, within the rank limit."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise AdapterRefused(RefusalReason.MISSING, f"{CONFIG_FILE} is missing")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AdapterRefused(RefusalReason.CONFIG, f"{CONFIG_FILE} is not valid JSON: {exc}") from None
    if config.get("peft_type") != "LORA":
        raise AdapterRefused(RefusalReason.UNSUPPORTED, f"only LoRA adapters are served, this is {config.get('peft_type')!r}")
    for key, what in _UNSUPPORTED_CONFIG.items():
        if config.get(key):
            raise AdapterRefused(RefusalReason.UNSUPPORTED, f"{what} are not supported ({key}={config[key]!r})")
    if config.get("bias", "none") != "none":
        raise AdapterRefused(RefusalReason.UNSUPPORTED, f"trained biases are not supported (bias={config['bias']!r})")
    if config.get("fan_in_fan_out"):
        raise AdapterRefused(RefusalReason.UNSUPPORTED, "fan_in_fan_out adapters (Conv1D bases) are not supported")
    rank, alpha = config.get("r"), config.get("lora_alpha")
    if not isinstance(rank, int) or rank < 1 or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise AdapterRefused(RefusalReason.CONFIG, f"r must be a positive integer and lora_alpha positive, got r={rank!r}, lora_alpha={alpha!r}")
    if rank > max_rank:
        raise AdapterRefused(RefusalReason.RANK, f"rank {rank} is above the server's max_lora_rank {max_rank}")
    targets = config.get("target_modules") or []
    if isinstance(targets, str):  # a regex or "all-linear": the weights say what was targeted
        targets = []
    unknown = sorted(set(targets) - set(spec.shapes))
    if unknown:
        raise AdapterRefused(RefusalReason.TARGET_MODULES, f"target modules {unknown} are not LoRA-targetable layers of the base model ({', '.join(spec.shapes)})")
    return PeftSettings(rank, float(alpha), bool(config.get("use_rslora")), sorted(targets))


def read_lora_weights(directory: Path, spec: BaseSpec, rank: int, dtype: torch.dtype) -> dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]]:
    """Loads adapter_model.safetensors and checks every key, shape and value against the base."""
    pickles = [p.name for p in directory.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    if pickles:
        raise AdapterRefused(RefusalReason.PICKLE, f"pickle weights are never loaded ({', '.join(pickles)}); save the adapter with safetensors")
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise AdapterRefused(RefusalReason.MISSING, f"{WEIGHTS_FILE} is missing")
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterRefused(RefusalReason.WEIGHTS, f"{WEIGHTS_FILE} is truncated or not safetensors: {exc}") from None
    halves: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        match = _KEY.fullmatch(key)
        if match is None:
            raise AdapterRefused(RefusalReason.UNSUPPORTED, f"weight {key!r} is not a LoRA A/B matrix of a decoder layer; extra trained modules are not supported")
        layer, parent, module, half = int(match[1]), match[2], match[3], match[4]
        if module not in spec.shapes or LORA_MODULES[module] != parent:
            raise AdapterRefused(RefusalReason.TARGET_MODULES, f"weight {key!r} targets {parent}.{module}, which the base model does not have")
        if layer >= spec.num_layers:
            raise AdapterRefused(RefusalReason.WEIGHTS, f"weight {key!r} is for layer {layer}; the base has {spec.num_layers} layers")
        in_features, out_features = spec.shapes[module]
        expected = (rank, in_features) if half == "A" else (out_features, rank)
        if tuple(tensor.shape) != expected:
            raise AdapterRefused(RefusalReason.WEIGHTS, f"weight {key!r} has shape {tuple(tensor.shape)}, expected {expected} for rank {rank}")
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise AdapterRefused(RefusalReason.WEIGHTS, f"weight {key!r} is not finite floating point")
        halves.setdefault((layer, module), {})[half] = tensor
    if not halves:
        raise AdapterRefused(RefusalReason.WEIGHTS, f"{WEIGHTS_FILE} holds no LoRA weights")
    weights = {}
    for where, pair in halves.items():
        if set(pair) != {"A", "B"}:
            raise AdapterRefused(RefusalReason.WEIGHTS, f"layer {where[0]} {where[1]} has lora_{''.join(pair)} without its other half")
        weights[where] = (pair["A"].to(dtype).contiguous(), pair["B"].to(dtype).contiguous())
    return weights


def scale_of(settings: PeftSettings) -> float:
    return settings.alpha / (math.sqrt(settings.rank) if settings.use_rslora else settings.rank)


def load_adapter(directory: Path, spec: BaseSpec, max_rank: int) -> LoadedAdapter:
    """Reads and checks one stored version: manifest, base, checksums, config, weights."""
    try:
        manifest = AdapterManifest.model_validate_json((directory / MANIFEST_FILE).read_text())
    except FileNotFoundError:
        raise AdapterRefused(RefusalReason.MISSING, f"{MANIFEST_FILE} is missing") from None
    except ValidationError as exc:
        raise AdapterRefused(RefusalReason.MANIFEST, f"{MANIFEST_FILE} is invalid: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    if manifest.base_fingerprint != spec.fingerprint:
        raise AdapterRefused(
            RefusalReason.WRONG_BASE,
            f"trained on base {manifest.base_model or '?'} ({manifest.base_fingerprint}); this server runs {spec.model_name} ({spec.fingerprint})",
        )
    if manifest.architecture and manifest.architecture != spec.architecture:
        raise AdapterRefused(RefusalReason.WRONG_BASE, f"trained for {manifest.architecture}; this server runs {spec.architecture}")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in manifest.files:
            raise AdapterRefused(RefusalReason.MANIFEST, f"{MANIFEST_FILE} lists no checksum for {name}")
    for name, digest in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise AdapterRefused(RefusalReason.MISSING, f"{name} is listed in the manifest but missing")
        if sha256_of(path) != digest:
            raise AdapterRefused(RefusalReason.CHECKSUM, f"{name} does not match its sha256 in the manifest (changed or corrupted after publishing)")
    settings = read_peft_config(directory, spec, max_rank)
    weights = read_lora_weights(directory, spec, settings.rank, spec.dtype)
    nbytes = sum(a.numel() * a.element_size() + b.numel() * b.element_size() for a, b in weights.values())
    return LoadedAdapter(
        name=manifest.name,
        version=manifest.version,
        manifest=manifest,
        rank=settings.rank,
        scale=scale_of(settings),
        weights=weights,
        nbytes=nbytes,
        modules=frozenset(module for _, module in weights),
    )


def manifest_for_peft_dir(directory: Path, spec: BaseSpec, max_rank: int, name: str, source: str) -> AdapterManifest:
    """Checks a plain PEFT adapter directory against the base and drafts its manifest (for import)."""
    settings = read_peft_config(directory, spec, max_rank)
    weights = read_lora_weights(directory, spec, settings.rank, torch.float32)
    return AdapterManifest(
        name=name,
        base_fingerprint=spec.fingerprint,
        base_model=spec.model_name,
        architecture=spec.architecture,
        rank=settings.rank,
        alpha=settings.alpha,
        use_rslora=settings.use_rslora,
        target_modules=sorted({module for _, module in weights}),
        files={},
        source=source,
    )
