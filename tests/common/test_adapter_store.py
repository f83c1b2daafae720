"""The filesystem adapter store: layout, atomic publish, pointers, names."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from common.adapter_manifest import AdapterManifest, AdapterRef, check_name
from common.errors import FailedPrecondition, InvalidRequest, NotFound
from common.file_adapter_store import FileAdapterStore


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def draft(name: str = "sentiment") -> AdapterManifest:
    return AdapterManifest(name=name, base_fingerprint="f" * 32, rank=4, alpha=8, target_modules=["q_proj"], files={})


def source(tmp_path: Path, payload: bytes = b"weights") -> Path:
    d = tmp_path / f"src-{payload.hex()[:8]}"
    d.mkdir(exist_ok=True)
    (d / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (d / "adapter_model.safetensors").write_bytes(payload)
    return d


def test_publish_writes_a_complete_version_and_moves_the_pointer(tmp_path):
    store = FileAdapterStore(tmp_path / "store")
    assert store.publish(source(tmp_path), draft()) == 1
    assert store.publish(source(tmp_path, b"other"), draft()) == 2
    root = tmp_path / "store" / "sentiment"
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["1", "2", "current"]
    assert store.versions("sentiment") == [1, 2] and store.current("sentiment") == 2
    manifest = store.manifest("sentiment", 2)
    assert manifest.version == 2 and manifest.files["adapter_model.safetensors"] == sha256_hex(root / "2" / "adapter_model.safetensors")
    assert json.loads((root / "2" / "tuneserve.json").read_text())["name"] == "sentiment"
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")], "no staging directory is left"


def test_publish_without_making_current_keeps_the_pointer(tmp_path):
    store = FileAdapterStore(tmp_path)
    store.publish(source(tmp_path), draft())
    store.publish(source(tmp_path), draft(), make_current=False)
    assert store.versions("sentiment") == [1, 2] and store.current("sentiment") == 1


def test_resolve_names_and_pinned_versions(tmp_path):
    store = FileAdapterStore(tmp_path)
    store.publish(source(tmp_path), draft())
    store.publish(source(tmp_path), draft())
    assert store.resolve(AdapterRef("sentiment")).version == 2
    assert store.resolve(AdapterRef("sentiment", 1)).version == 1
    with pytest.raises(NotFound, match="has no version 7; it has \\[1, 2\\]"):
        store.resolve(AdapterRef("sentiment", 7))
    with pytest.raises(NotFound, match="'missing' is not in the adapter store"):
        store.resolve(AdapterRef("missing"))


def test_set_current_and_delete(tmp_path):
    store = FileAdapterStore(tmp_path)
    for _ in range(3):
        store.publish(source(tmp_path), draft())
    store.set_current("sentiment", 1)
    assert store.current("sentiment") == 1
    with pytest.raises(NotFound):
        store.set_current("sentiment", 9)
    with pytest.raises(FailedPrecondition, match="is the current version"):
        store.delete("sentiment", 1)
    store.delete("sentiment", 2)
    assert store.versions("sentiment") == [1, 3]
    assert store.publish(source(tmp_path), draft()) == 4, "version numbers are never reused"


def test_pickle_files_are_refused_at_publish(tmp_path):
    d = source(tmp_path)
    (d / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(InvalidRequest, match="pickle files are never stored"):
        FileAdapterStore(tmp_path / "store").publish(d, draft())


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "a..b", ".hidden", "x" * 129, "a b", "name@1", "-x"])
def test_unsafe_names_are_refused(bad):
    with pytest.raises(InvalidRequest):
        check_name(bad)


@pytest.mark.parametrize(
    "text,ref", [("a", AdapterRef("a")), ("a@3", AdapterRef("a", 3)), ("my.task-v2_x@10", AdapterRef("my.task-v2_x", 10))]
)
def test_references_parse(text, ref):
    assert AdapterRef.parse(text) == ref and str(ref) == text


@pytest.mark.parametrize("bad", ["a@", "a@0", "a@-1", "a@x", "@3", "a@1@2"])
def test_bad_references_are_refused(bad):
    with pytest.raises(InvalidRequest):
        AdapterRef.parse(bad)


def test_concurrent_publishers_get_distinct_versions(tmp_path):
    store = FileAdapterStore(tmp_path / "store")
    src = source(tmp_path)
    versions: list[int] = []
    threads = [
        threading.Thread(target=lambda: versions.append(FileAdapterStore(tmp_path / "store").publish(src, draft()))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == list(range(1, 9)) and store.versions("sentiment") == list(range(1, 9))


@pytest.mark.parametrize("pointer", ["4294967296", "12345678901234567890", "²", "١", "7" * 5000, "-1", "0", " 1 2", "1e3"])
def test_a_pointer_that_is_not_a_plain_version_is_no_pointer(tmp_path, pointer):
    store = FileAdapterStore(tmp_path)
    store.publish(source(tmp_path), draft())
    (tmp_path / "sentiment" / "current").write_text(pointer)
    assert store.current("sentiment") is None
    with pytest.raises(NotFound, match="no current version"):
        store.resolve(AdapterRef("sentiment"))
    (tmp_path / "sentiment" / "current").write_text("1\n")
    assert store.current("sentiment") == 1, "fixing the pointer is all it takes"


def test_odd_entries_affect_nothing_but_themselves(tmp_path):
    store = FileAdapterStore(tmp_path)
    store.publish(source(tmp_path), draft())
    for odd in ["²", "١", "4294967296", "0", "007", "x1"]:
        (tmp_path / "sentiment" / odd).mkdir()
        (tmp_path / "sentiment" / odd / "tuneserve.json").write_text("{}")
    for odd_name in ["a b", "..x", "é", "-lead"]:
        (tmp_path / odd_name).mkdir()
        (tmp_path / odd_name / "1").mkdir()
    assert store.versions("sentiment") == [1] and store.names() == ["sentiment"]


@pytest.mark.parametrize("text", ["a@²", "a@١", "a@4294967296", "a@" + "9" * 5000])
def test_references_with_odd_versions_are_refused(text):
    with pytest.raises(InvalidRequest, match="whole number from 1 to"):
        AdapterRef.parse(text)


def test_publishing_refuses_links_and_copies_only_regular_files(tmp_path):
    d = source(tmp_path)
    (d / "README.md").symlink_to("/etc/passwd")
    with pytest.raises(InvalidRequest, match="symbolic link"):
        FileAdapterStore(tmp_path / "store").publish(d, draft())
    (d / "README.md").unlink()
    (d / "checkpoints").mkdir()
    (d / ".DS_Store").write_bytes(b"x")
    store = FileAdapterStore(tmp_path / "store")
    store.publish(d, draft())
    assert sorted(store.manifest("sentiment", 1).files) == ["adapter_config.json", "adapter_model.safetensors"]


def test_what_interrupted_publishes_left_is_cleaned_and_jobs_find_their_versions(tmp_path):
    store = FileAdapterStore(tmp_path)
    store.publish(source(tmp_path), draft().model_copy(update={"job_id": "job-1"}), make_current=False)
    store.publish(source(tmp_path, b"w2"), draft().model_copy(update={"job_id": "job-2"}))
    leftovers = [tmp_path / "sentiment" / ".current.abc", tmp_path / "sentiment" / ".tmp-123", tmp_path / "sentiment" / ".trash-9"]
    leftovers[0].write_text("2\n")
    leftovers[1].mkdir()
    leftovers[2].mkdir()
    assert sorted(store.clean_temporaries()) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers) and store.versions("sentiment") == [1, 2] and store.current("sentiment") == 2
    assert store.published_by("sentiment", "job-1") == 1 and store.published_by("sentiment", "job-3") is None
