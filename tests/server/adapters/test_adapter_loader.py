"""Every check an adapter version must pass before it is served, on a real trained adapter."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from common.adapter_manifest import AdapterManifest
from common.file_adapter_store import FileAdapterStore
from common.model_families import LORA_BLOCKS
from server.adapters.loader import AdapterRefused, RefusalReason, load_adapter, load_stored, manifest_for_peft_dir
from tests.adapter_training import publish


@pytest.fixture(scope="module")
def good_version(trained_adapters, base_spec, tmp_path_factory) -> Path:
    store = FileAdapterStore(tmp_path_factory.mktemp("store"))
    version = publish(store, trained_adapters["banana"], "banana", base_spec)
    return store.path("banana", version)


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy(good: Path, tmp_path: Path) -> Path:
    target = tmp_path / "version"
    shutil.copytree(good, target)
    return target


def reseal(directory: Path) -> None:
    """Recomputes the manifest's checksums after an edit, so that a later check is the one to fail."""
    manifest = AdapterManifest.model_validate_json((directory / "tuneserve.json").read_text())
    files = {name: sha256_hex(directory / name) for name in manifest.files}
    (directory / "tuneserve.json").write_text(manifest.model_copy(update={"files": files}).model_dump_json())


def edit_config(directory: Path, **changes) -> None:
    config = json.loads((directory / "adapter_config.json").read_text())
    config.update(changes)
    (directory / "adapter_config.json").write_text(json.dumps(config))
    reseal(directory)


def edit_manifest(directory: Path, **changes) -> None:
    data = json.loads((directory / "tuneserve.json").read_text())
    data.update(changes)
    (directory / "tuneserve.json").write_text(json.dumps(data))


def refusal(directory: Path, spec, max_rank: int = 64) -> AdapterRefused:
    with pytest.raises(AdapterRefused) as info:
        load_adapter(directory, spec, max_rank)
    return info.value


def test_a_good_version_loads(good_version, base_spec):
    adapter = load_adapter(good_version, base_spec, 16)
    assert adapter.rank == 8 and adapter.scale == 2.0 and len(adapter.weights) == 30 * 7
    assert adapter.modules == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_wrong_base_fingerprint(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    edit_manifest(d, base_fingerprint="0" * 32, base_model="Llama-3-8B")
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.WRONG_BASE and "Llama-3-8B" in error.message


def test_wrong_architecture(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    edit_manifest(d, architecture="GPT2LMHeadModel")
    assert refusal(d, base_spec).reason is RefusalReason.WRONG_BASE


def test_checksum_mismatch(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    tensors = load_file(d / "adapter_model.safetensors")
    key = next(iter(tensors))
    tensors[key] = tensors[key] + 1
    save_file(tensors, d / "adapter_model.safetensors")
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.CHECKSUM and "adapter_model.safetensors" in error.message


def test_truncated_weights(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    data = (d / "adapter_model.safetensors").read_bytes()
    (d / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])
    reseal(d)
    assert refusal(d, base_spec).reason is RefusalReason.WEIGHTS


def test_not_safetensors_at_all(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    (d / "adapter_model.safetensors").write_bytes(b"\x80\x04\x95 this is a pickle")
    reseal(d)
    assert refusal(d, base_spec).reason is RefusalReason.WEIGHTS


def test_pickle_weights_are_never_opened(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    (d / "adapter_model.bin").write_bytes(b"\x80\x04 not even read")
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.PICKLE and "adapter_model.bin" in error.message


def test_target_modules_written_as_full_paths_load_as_their_names(good_version, base_spec, tmp_path):
    """What PEFT saves for target_modules="all-linear": every targeted module's full path."""
    d = copy(good_version, tmp_path)
    modules = json.loads((d / "adapter_config.json").read_text())["target_modules"]
    paths = [f"model.layers.{i}.{LORA_BLOCKS[m]}.{m}" for i in range(base_spec.num_layers) for m in modules]
    edit_config(d, target_modules=paths)
    adapter, expected = load_adapter(d, base_spec, 16), load_adapter(good_version, base_spec, 16)
    assert adapter.weights.keys() == expected.weights.keys()
    assert manifest_for_peft_dir(d, base_spec, 16, "paths", "import").target_modules == sorted(modules)


def test_rank_above_the_limit(good_version, base_spec):
    error = refusal(good_version, base_spec, max_rank=4)
    assert error.reason is RefusalReason.RANK and "max_lora_rank 4" in error.message


@pytest.mark.parametrize(
    "changes,reason,words",
    [
        ({"modules_to_save": ["lm_head"]}, RefusalReason.UNSUPPORTED, "modules_to_save"),
        ({"use_dora": True}, RefusalReason.UNSUPPORTED, "DoRA"),
        ({"peft_type": "IA3"}, RefusalReason.UNSUPPORTED, "only LoRA"),
        ({"bias": "all"}, RefusalReason.UNSUPPORTED, "biases"),
        ({"target_modules": ["c_attn", "q_proj"]}, RefusalReason.TARGET_MODULES, "c_attn"),
        ({"target_modules": ["model.layers.0.self_attn.q_proj", "model.embed_tokens"]}, RefusalReason.TARGET_MODULES, "embed_tokens"),
        ({"r": 0}, RefusalReason.CONFIG, "positive"),
    ],
)
def test_unsupported_configs(good_version, base_spec, tmp_path, changes, reason, words):
    d = copy(good_version, tmp_path)
    edit_config(d, **changes)
    error = refusal(d, base_spec)
    assert error.reason is reason and words in error.message


def test_extra_trained_modules_in_the_weights(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    tensors = load_file(d / "adapter_model.safetensors")
    tensors["base_model.model.lm_head.weight"] = tensors[next(iter(tensors))].clone()
    save_file(tensors, d / "adapter_model.safetensors")
    reseal(d)
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.UNSUPPORTED and "lm_head" in error.message


@pytest.mark.parametrize("spelling", ["0{}", "٣", "+1"])
def test_a_layer_number_peft_would_not_write_is_refused(good_version, base_spec, tmp_path, spelling):
    # 'layers.03' or 'layers.٣' read as a number would name a layer another key already names
    d = copy(good_version, tmp_path)
    tensors = load_file(d / "adapter_model.safetensors")
    key = next(k for k in tensors if ".layers.3." in k)
    tensors[key.replace(".layers.3.", f".layers.{spelling.format(3)}.")] = tensors.pop(key)
    save_file(tensors, d / "adapter_model.safetensors")
    reseal(d)
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.UNSUPPORTED and "is not a LoRA A/B matrix" in error.message


def test_weights_of_the_wrong_shape(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    tensors = load_file(d / "adapter_model.safetensors")
    key = next(k for k in tensors if k.endswith("lora_A.weight"))
    tensors[key] = tensors[key][:, :10].contiguous()
    save_file(tensors, d / "adapter_model.safetensors")
    reseal(d)
    assert refusal(d, base_spec).reason is RefusalReason.WEIGHTS


def test_broken_manifest(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    (d / "tuneserve.json").write_text('{"name": "banana"}')
    assert refusal(d, base_spec).reason is RefusalReason.MANIFEST


def test_importing_a_plain_peft_directory_fills_in_the_manifest(trained_adapters, base_spec):
    manifest = manifest_for_peft_dir(trained_adapters["cherry"], base_spec, 16, "cherry", "import")
    assert manifest.rank == 4 and manifest.alpha == 8 and manifest.target_modules == ["q_proj", "v_proj"]
    assert manifest.base_fingerprint == base_spec.fingerprint and manifest.architecture == "LlamaForCausalLM"


def test_finite_but_overflowing_weights_are_refused(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    tensors = load_file(d / "adapter_model.safetensors")
    key = next(k for k in tensors if k.endswith("lora_B.weight"))
    tensors[key] = torch.full_like(tensors[key], 1e18)
    save_file(tensors, d / "adapter_model.safetensors")
    reseal(d)
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.WEIGHTS and "would overflow the model" in error.message


@pytest.mark.parametrize("listed", ["../../../../etc/passwd", "/etc/passwd", "sub/file", "..", ".hidden"])
def test_a_manifest_naming_a_path_outside_the_version_is_refused_unopened(good_version, base_spec, tmp_path, listed):
    d = copy(good_version, tmp_path)
    manifest = json.loads((d / "tuneserve.json").read_text())
    manifest["files"][listed] = "0" * 64
    (d / "tuneserve.json").write_text(json.dumps(manifest))
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.MANIFEST and "not a plain file name" in error.message


def test_a_weights_file_that_is_a_link_is_refused_even_with_the_right_checksum(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    elsewhere = tmp_path / "elsewhere.safetensors"
    (d / "adapter_model.safetensors").rename(elsewhere)
    (d / "adapter_model.safetensors").symlink_to(elsewhere)
    error = refusal(d, base_spec)
    assert error.reason is RefusalReason.PATH and "symbolic link" in error.message


def test_a_version_directory_that_is_a_link_is_refused(good_version, base_spec, tmp_path):
    store = FileAdapterStore(tmp_path / "store")
    (store.root / "linked").mkdir()
    shutil.copytree(good_version, tmp_path / "outside")
    edit_manifest(tmp_path / "outside", name="linked", version=1)
    (store.root / "linked" / "1").symlink_to(tmp_path / "outside")
    assert store.versions("linked") == [1], "listed, so that the refusal is visible"
    with pytest.raises(AdapterRefused) as info:
        load_stored(store.root, "linked", 1, base_spec, 64)
    assert info.value.reason is RefusalReason.PATH
    (tmp_path / "store" / "aliased").symlink_to(tmp_path / "store" / "linked")
    assert "aliased" not in store.names(), "a name that is a link is not part of the store"


def test_a_copied_version_directory_is_refused_instead_of_mislabelled(good_version, base_spec, tmp_path):
    store = FileAdapterStore(tmp_path / "store")
    (store.root / "banana").mkdir()
    shutil.copytree(good_version, store.root / "banana" / "1")
    shutil.copytree(good_version, store.root / "banana" / "23")
    assert load_stored(store.root, "banana", 1, base_spec, 64).label == "banana@1"
    with pytest.raises(AdapterRefused) as info:
        load_stored(store.root, "banana", 23, base_spec, 64)
    assert info.value.reason is RefusalReason.MANIFEST and "describes banana@1 but lies in banana/23" in info.value.message


def test_a_pickle_only_version_is_refused_as_pickle(good_version, base_spec, tmp_path):
    d = copy(good_version, tmp_path)
    (d / "adapter_model.safetensors").unlink()
    (d / "adapter_model.bin").write_bytes(b"\x80\x04 never read")
    manifest = json.loads((d / "tuneserve.json").read_text())
    manifest["files"] = {"adapter_config.json": manifest["files"]["adapter_config.json"], "adapter_model.bin": "0" * 64}
    (d / "tuneserve.json").write_text(json.dumps(manifest))
    assert refusal(d, base_spec).reason is RefusalReason.PICKLE


# -- the store scan: a hostile entry is refused alone --------------------------------------------


def _hostile(kind: str, root: Path, good: Path, outside: Path) -> None:
    """Puts one hostile entry of `kind` under the store at `root`, beside the good adapter."""
    evil = root / "evil"
    if kind == "name-link":
        evil.symlink_to(root / "good")
        return
    if kind == "name-file":
        evil.write_text("not a directory")
        return
    evil.mkdir()
    version = evil / "1"
    if kind == "version-link":  # the probe's case: the pointer names a version that is a link
        version.symlink_to(outside)
    elif kind == "version-file":
        version.write_text("not a directory")
    else:
        shutil.copytree(good, version)
        edit_manifest(version, name="evil", version=1)
    pointer = evil / "current"
    if kind == "pointer-link":
        pointer.symlink_to(root / "good" / "current")
    elif kind == "pointer-dir":
        pointer.mkdir()
    elif kind == "pointer-fifo":
        os.mkfifo(pointer)
    elif kind == "pointer-garbage":
        pointer.write_bytes(b"\xff\xfe\x00 1")
    elif kind == "pointer-huge":
        pointer.write_bytes(b"1" * 10**6)
    else:
        pointer.write_text("1")
    if kind == "manifest-garbage":
        (version / "tuneserve.json").write_bytes(b"{\xff")
    elif kind == "manifest-link":
        (version / "tuneserve.json").unlink()
        (version / "tuneserve.json").symlink_to(good / "tuneserve.json")
    elif kind == "manifest-fifo":
        (version / "tuneserve.json").unlink()
        os.mkfifo(version / "tuneserve.json")
    elif kind == "rollout-link":
        (evil / "rollout.json").symlink_to(outside / "tuneserve.json")
    elif kind == "rollout-garbage":
        (evil / "rollout.json").write_bytes(b"\x00\x01")
    elif kind == "rollout-fifo":
        os.mkfifo(evil / "rollout.json")


HOSTILE = [
    "name-link", "name-file", "version-link", "version-file", "pointer-link", "pointer-dir", "pointer-fifo",
    "pointer-garbage", "pointer-huge", "manifest-garbage", "manifest-link", "manifest-fifo", "rollout-link",
    "rollout-garbage", "rollout-fifo",
]  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_every_scan_step_refuses_a_hostile_entry_alone_and_goes_on(good_version, tmp_path, kind):
    """Each step the server's refresh takes (names, pointers, versions, splits, the task specs of
    current versions) meets one hostile entry: it skips or refuses that entry, never raises, and
    the good adapter's pointer and task come through."""
    from types import SimpleNamespace

    from server.adapters.manager import AdapterManager
    from server.adapters.rollouts import Rollouts
    from server.tasks.registry import TaskRegistry

    store = FileAdapterStore(tmp_path / "store")
    good = store.root / "good" / "1"
    shutil.copytree(good_version, good)
    edit_manifest(good, name="good", version=1, task={"name": "good", "kind": "generation", "adapter": "good"})
    (store.root / "good" / "current").write_text("1")
    outside = tmp_path / "outside"
    shutil.copytree(good_version, outside)
    _hostile(kind, store.root, good_version, outside)

    names = store.names()
    assert "good" in names
    for name in names:
        store.current(name)
        store.versions(name)
        try:
            store.rollout(name)
        except ValueError:
            pass  # an unusable split file is reported as such, and the split before it stays
    scan = SimpleNamespace(store=store)  # the manager's scan of pointers reads only the store
    pointers = AdapterManager._pointers(scan)  # type: ignore[arg-type]
    assert pointers["good"] == 1
    Rollouts(store).read(list(pointers))
    registry = TaskRegistry(None, store)
    registry.refresh()
    assert "good" in registry._adapter_tasks, "the task published with the good adapter is served"
