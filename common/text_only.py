"""A multimodal checkpoint's language model as a text-only checkpoint (Gemma 3 4B and up).

Gemma 3 from 4B on (and Mistral Small 3.1) is published as an image-text model: a vision tower and a
projector beside a decoder of a served family, under a config whose `text_config` is the decoder's.
tuneserve serves text, so such a directory is served as its decoder alone, as vLLM and llama.cpp
serve it without images: the decoder's weights are copied once, renamed as the family's causal LM
names them, with its config and the tokenizer's files, into the cache (keyed by the weights'
digest, like a converted GGUF), and loaded from there. The vision weights are never read into
memory: tensors are streamed one by one from the safetensors files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from common.durable import build_directory_once
from common.errors import FailedPrecondition
from common.model_families import FAMILIES, served_families

log = logging.getLogger(__name__)

# Where image-text checkpoints keep their decoder, as saved by the original releases and by
# transformers since it moved the language model under `model`; the head is usually tied (absent).
_DECODER_PREFIXES = ("language_model.model.", "model.language_model.")
_HEAD_NAMES = ("language_model.lm_head.weight", "lm_head.weight")
# What is not copied beside the weights: the image-text model's own config and weight index.
_NOT_COPIED = {"config.json", "model.safetensors.index.json"}
MARKER = "tuneserve-text-only.json"
SHARD_BYTES = 2 << 30  # safetensors shards of the copy, about this large


def is_image_text(config: dict[str, Any]) -> bool:
    """Whether a model directory's `config.json` (as a dict) is an image-text model's: a decoder's
    config inside it, under a model type that is not a served family's."""
    return isinstance(config.get("text_config"), dict) and config.get("model_type") not in FAMILIES


def decoder_config(directory: Path) -> dict[str, Any]:
    """The config of the decoder inside the image-text model at `directory`, whole (transformers
    fills in what the file leaves to defaults), as its causal LM's; a decoder of a family tuneserve
    does not serve is refused, naming the served ones."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    text = config.text_config
    if text.model_type not in FAMILIES:
        raise FailedPrecondition(
            f"model type {config.model_type!r} is an image-text model whose decoder ({text.model_type!r}) tuneserve does "
            f"not serve; tuneserve serves {served_families()}"
        )
    return text.to_dict() | {"architectures": [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[text.model_type]]}


def text_only_dir(directory: Path, digest: str, cache_dir: Path) -> Path:
    """The text-only copy of the image-text model at `directory`, made on first use."""
    target = cache_dir / "text-only" / digest
    if (target / MARKER).is_file():
        return target
    text_config = decoder_config(directory)
    log.info("copying the image-text model's decoder once", extra={"model": str(directory), "cache": str(target)})
    started = time.monotonic()

    def copy(tmp: Path) -> None:
        copied, head = _copy_decoder(directory, tmp)
        if not copied:
            raise FailedPrecondition(
                f"{directory} is an image-text model, but none of its weights is named as a decoder's ({', '.join(_DECODER_PREFIXES)})"
            )
        text_config["tie_word_embeddings"] = text_config.get("tie_word_embeddings", True) or not head  # no head: the embeddings'
        (tmp / "config.json").write_text(json.dumps(text_config, indent=2, sort_keys=True))
        for f in directory.iterdir():
            if f.is_file() and f.suffix != ".safetensors" and f.name not in _NOT_COPIED:
                shutil.copyfile(f, tmp / f.name)
        (tmp / MARKER).write_text(json.dumps({"model": str(directory), "sha256": digest, "tensors": copied}))

    build_directory_once(target, digest[:12], copy)
    log.info("decoder copied", extra={"seconds": round(time.monotonic() - started, 1)})
    return target


def _decoder_name(name: str) -> str | None:
    """A tensor's name in the text-only model, or None where it is not the decoder's."""
    for prefix in _DECODER_PREFIXES:
        if name.startswith(prefix):
            return "model." + name[len(prefix) :]
    return "lm_head.weight" if name in _HEAD_NAMES else None


def _copy_decoder(directory: Path, target: Path) -> tuple[int, bool]:
    """Streams the decoder's tensors into safetensors shards under `target`: how many it copied,
    and whether a head was among them."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    shard: dict[str, Any] = {}
    size, shards, index = 0, 0, {}

    def flush() -> None:
        nonlocal shard, size, shards
        if shard:
            name = f"model-{shards:05d}.safetensors"
            save_file(shard, str(target / name), metadata={"format": "pt"})
            index.update(dict.fromkeys(shard, name))
            shard, size, shards = {}, 0, shards + 1

    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                renamed = _decoder_name(key)
                if renamed is None:
                    continue
                tensor = f.get_tensor(key)
                shard[renamed] = tensor
                size += tensor.numel() * tensor.element_size()
                if size >= SHARD_BYTES:
                    flush()
    flush()
    if shards > 1:
        (target / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}, indent=2))
    elif shards == 1:
        os.rename(target / "model-00000.safetensors", target / "model.safetensors")
    return len(index), "lm_head.weight" in index
