"""Reading an adapter version from disk and checking it before anything is served.

Every check that fails raises `AdapterRefused` with a reason from a small fixed set (it labels
the refusal metric) and a message that says what is wrong. Only safetensors are read; a version
that carries pickle weights is refused without opening them. Files are read through
common.safe_files: only regular files that the manifest names, inside the version directory, never
through a link; the bytes that are checksummed are the bytes that are parsed.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from common.adapter_manifest import CONFIG_FILE, MANIFEST_FILE, PICKLE_SUFFIXES, WEIGHTS_FILE, AdapterManifest
from common.base_model import BaseModel
from common.errors import FailedPrecondition
from common.model_families import LORA_BLOCKS, SEPARATE
from common.safe_files import Directory, UnsafePath, is_plain_file_name

# ASCII and without leading zeros, as PEFT writes them: '\d' would also read 'layers.٣' and
# 'layers.03' as layer 3, so that two keys could name one weight and the last read would win
_KEY = re.compile(r"base_model\.model\.model\.layers\.(0|[1-9][0-9]{0,5})\.(self_attn|mlp)\.([A-Za-z0-9_]+)\.lora_([AB])\.weight")
# Largest magnitude accepted in A and in B * scale. Trained LoRA weights are orders of magnitude
# smaller; anything near this overflows the activations of the layers it is added to.
MAX_LORA_WEIGHT = 1e3
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
    PATH = "path"


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
    # fused projection -> the modules it joins, in output order (common.model_families)
    groups: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(SEPARATE))

    @classmethod
    def from_base(cls, base: BaseModel) -> BaseSpec:
        layer = base.model.model.layers[0]
        shapes = {}
        for module in base.shape.family.lora_modules:
            linear = getattr(getattr(layer, LORA_BLOCKS[module]), module)
            shapes[module] = (int(linear.in_features), int(linear.out_features))
        groups = base.shape.family.groups
        return cls(base.fingerprint, base.architecture, base.name, len(base.model.model.layers), shapes, base.dtype, groups)


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


def read_peft_config(config_bytes: bytes, spec: BaseSpec, max_rank: int) -> PeftSettings:
    """Checks adapter_config.json: a plain LoRA on modules the base has, within the rank limit."""
    try:
        config = json.loads(config_bytes)
    except ValueError as exc:
        raise AdapterRefused(RefusalReason.CONFIG, f"{CONFIG_FILE} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise AdapterRefused(RefusalReason.CONFIG, f"{CONFIG_FILE} must hold a JSON object")
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
    if not isinstance(rank, int) or rank < 1 or not isinstance(alpha, (int, float)) or not 0 < alpha < math.inf:
        raise AdapterRefused(
            RefusalReason.CONFIG, f"r must be a positive integer and lora_alpha positive, got r={rank!r}, lora_alpha={alpha!r}"
        )
    if rank > max_rank:
        raise AdapterRefused(RefusalReason.RANK, f"rank {rank} is above the server's max_lora_rank {max_rank}")
    targets = config.get("target_modules") or []
    if isinstance(targets, str):  # a regex or "all-linear": the weights say what was targeted
        targets = []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise AdapterRefused(RefusalReason.CONFIG, "target_modules must be a list of module names")
    # PEFT matches an entry by its last dotted part, and writes "all-linear" out as every module's
    # full path ("model.layers.0.mlp.up_proj"); which layers carry weights, the weights say.
    modules = {target: target.rsplit(".", 1)[-1] for target in targets}
    unknown = sorted(target for target, module in modules.items() if module not in spec.shapes)
    if unknown:
        raise AdapterRefused(
            RefusalReason.TARGET_MODULES,
            f"target modules {unknown} are not LoRA-targetable layers of the base model ({', '.join(spec.shapes)})",
        )
    return PeftSettings(rank, float(alpha), bool(config.get("use_rslora")), sorted(set(modules.values())))


def read_lora_weights(
    weights_bytes: bytes, spec: BaseSpec, settings: PeftSettings, dtype: torch.dtype
) -> dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]]:
    """Parses adapter_model.safetensors and checks every key, shape and value against the base."""
    rank, scale = settings.rank, scale_of(settings)
    try:
        tensors = load_safetensors(weights_bytes)
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterRefused(RefusalReason.WEIGHTS, f"{WEIGHTS_FILE} is truncated or not safetensors: {exc}") from None
    halves: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        match = _KEY.fullmatch(key)
        if match is None:
            raise AdapterRefused(
                RefusalReason.UNSUPPORTED,
                f"weight {key!r} is not a LoRA A/B matrix of a decoder layer; extra trained modules are not supported",
            )
        layer, parent, module, half = int(match[1]), match[2], match[3], match[4]
        if module not in spec.shapes or LORA_BLOCKS[module] != parent:
            raise AdapterRefused(
                RefusalReason.TARGET_MODULES, f"weight {key!r} targets {parent}.{module}, which the base model does not have"
            )
        if layer >= spec.num_layers:
            raise AdapterRefused(RefusalReason.WEIGHTS, f"weight {key!r} is for layer {layer}; the base has {spec.num_layers} layers")
        in_features, out_features = spec.shapes[module]
        expected = (rank, in_features) if half == "A" else (out_features, rank)
        if tuple(tensor.shape) != expected:
            raise AdapterRefused(
                RefusalReason.WEIGHTS, f"weight {key!r} has shape {tuple(tensor.shape)}, expected {expected} for rank {rank}"
            )
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise AdapterRefused(RefusalReason.WEIGHTS, f"weight {key!r} is not finite floating point")
        largest = float(tensor.abs().max()) * (scale if half == "B" else 1.0)
        if largest > MAX_LORA_WEIGHT:
            what = "times the scale alpha/r " if half == "B" else ""
            raise AdapterRefused(
                RefusalReason.WEIGHTS,
                f"weight {key!r} {what}reaches {largest:.3g}; LoRA weights above {MAX_LORA_WEIGHT:g} in magnitude would overflow the model",
            )
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


def _refuse_pickles(files: Directory) -> None:
    pickles = [name for name in files.names() if Path(name).suffix in PICKLE_SUFFIXES]
    if pickles:
        raise AdapterRefused(
            RefusalReason.PICKLE, f"pickle weights are never loaded ({', '.join(pickles)}); save the adapter with safetensors"
        )


def _read(files: Directory, name: str) -> bytes:
    try:
        return files.read(name)
    except FileNotFoundError:
        raise AdapterRefused(RefusalReason.MISSING, f"{name} is missing") from None
    except UnsafePath as exc:
        raise AdapterRefused(RefusalReason.PATH, str(exc)) from None
    except OSError as exc:
        raise AdapterRefused(RefusalReason.MISSING, f"{name} cannot be read: {exc.strerror}") from None


def _manifest(files: Directory, identity: tuple[str, int] | None) -> AdapterManifest:
    try:
        manifest = AdapterManifest.model_validate_json(_read(files, MANIFEST_FILE))
    except ValidationError as exc:
        raise AdapterRefused(
            RefusalReason.MANIFEST, f"{MANIFEST_FILE} is invalid: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
        ) from None
    if identity is not None and (manifest.name, manifest.version) != identity:
        name, version = identity
        raise AdapterRefused(
            RefusalReason.MANIFEST,
            f"{MANIFEST_FILE} describes {manifest.name}@{manifest.version} but "
            f"lies in {name}/{version}; a version's directory is its identity "
            "(copy versions with the import command instead of copying directories)",
        )
    for name in manifest.files:
        if not is_plain_file_name(name) or name == MANIFEST_FILE:
            raise AdapterRefused(
                RefusalReason.MANIFEST, f"{MANIFEST_FILE} lists {name[:80]!r}, which is not a plain file name of the version directory"
            )
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in manifest.files:
            raise AdapterRefused(RefusalReason.MANIFEST, f"{MANIFEST_FILE} lists no checksum for {name}")
    return manifest


def load_version(files: Directory, spec: BaseSpec, max_rank: int, identity: tuple[str, int] | None = None) -> LoadedAdapter:
    """Reads and checks one version: pickles, manifest (and its identity), base, checksums, config, weights."""
    _refuse_pickles(files)
    manifest = _manifest(files, identity)
    if manifest.base_fingerprint != spec.fingerprint:
        raise AdapterRefused(
            RefusalReason.WRONG_BASE,
            f"trained on base {manifest.base_model or '?'} ({manifest.base_fingerprint}); "
            f"this server runs {spec.model_name} ({spec.fingerprint})",
        )
    if manifest.architecture and manifest.architecture != spec.architecture:
        raise AdapterRefused(RefusalReason.WRONG_BASE, f"trained for {manifest.architecture}; this server runs {spec.architecture}")
    contents = {}
    for name, digest in manifest.files.items():
        data = _read(files, name)
        if hashlib.sha256(data).hexdigest() != digest:
            raise AdapterRefused(
                RefusalReason.CHECKSUM, f"{name} does not match its sha256 in the manifest (changed or corrupted after publishing)"
            )
        if name in (CONFIG_FILE, WEIGHTS_FILE):
            contents[name] = data
    settings = read_peft_config(contents[CONFIG_FILE], spec, max_rank)
    weights = read_lora_weights(contents[WEIGHTS_FILE], spec, settings, spec.dtype)
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


def _open(root: Path, parts: list[str]) -> Directory:
    try:
        return Directory.open(root, parts)
    except UnsafePath as exc:
        raise AdapterRefused(RefusalReason.PATH, str(exc)) from None
    except FileNotFoundError:
        raise AdapterRefused(RefusalReason.MISSING, f"{'/'.join(parts)} does not exist") from None


def load_stored(root: Path, name: str, version: int, spec: BaseSpec, max_rank: int) -> LoadedAdapter:
    """The version `<root>/<name>/<version>`; neither directory may be a link, the manifest must agree."""
    with _open(root, [name, str(version)]) as files:
        return load_version(files, spec, max_rank, identity=(name, version))


def load_adapter(directory: Path, spec: BaseSpec, max_rank: int) -> LoadedAdapter:
    """A version directory outside a store (tools, tests): identity as its manifest says."""
    with _open(directory.parent, [directory.name]) as files:
        return load_version(files, spec, max_rank)


def manifest_for_peft_dir(directory: Path, spec: BaseSpec, max_rank: int, name: str, source: str) -> AdapterManifest:
    """Checks a plain PEFT adapter directory against the base and drafts its manifest (for import)."""
    with _open(directory.parent, [directory.name]) as files:
        _refuse_pickles(files)
        settings = read_peft_config(_read(files, CONFIG_FILE), spec, max_rank)
        weights = read_lora_weights(_read(files, WEIGHTS_FILE), spec, settings, torch.float32)
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
