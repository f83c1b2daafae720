"""Jobs' data, checkpoints and reports in object storage (a real S3-compatible server, moto's): a
run on another machine gets the data and the newest complete checkpoint, never a damaged or
half-uploaded one."""

from __future__ import annotations

import json

import pytest

from trainer.jobs.storage import ObjectJobStorage, WorkDirStorage, open_job_storage
from trainer.jobs.workdir import JobFiles


def checkpoint(root, step: int, payload: bytes):
    path = root / f"step-{step:07d}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(payload)
    (path / "trainer_state.pt").write_bytes(b"state-" + payload)
    return path


def test_data_checkpoints_and_reports_reach_a_run_on_another_disk(object_store, tmp_path):
    storage = open_job_storage(object_store.bucket("training"), tmp_path)
    assert isinstance(storage, ObjectJobStorage)
    here, there = JobFiles.of(tmp_path / "api", "job-1"), JobFiles.of(tmp_path / "pod", "job-1")
    here.create(b'{"text": "a", "label": "x"}\n', b'{"text": "b", "label": "y"}\n')
    storage.save_inputs("job-1", here)
    storage.restore_inputs("job-1", there)
    assert there.train.read_bytes() == here.train.read_bytes() and there.validation.read_bytes() == here.validation.read_bytes()
    assert there.train.stat().st_mode & 0o777 == 0o600, "private data stays private"

    storage.restore_checkpoint("job-1", there)
    assert not there.checkpoints.exists(), "no checkpoint yet: training starts from the beginning"
    storage.save_checkpoint("job-1", checkpoint(here.checkpoints, 2, b"two"))
    storage.save_checkpoint("job-1", checkpoint(here.checkpoints, 4, b"four"))
    storage.restore_checkpoint("job-1", there)
    assert sorted(p.name for p in there.checkpoints.iterdir()) == ["step-0000004"], "only the newest comes back"
    assert (there.checkpoints / "step-0000004" / "adapter_model.safetensors").read_bytes() == b"four"
    keys = {o["Key"] for o in storage.client.list_objects_v2(Bucket=storage.where.bucket)["Contents"]}
    assert not any("step-0000002" in key for key in keys), "the older checkpoint is deleted once the newer one is complete"

    (here.root / "report.html").write_text("<html>report</html>")
    storage.save_outputs("job-1", here)
    assert storage.read_output("job-1", there, "report.html") == b"<html>report</html>"
    assert storage.read_output("job-1", there, "loss_curve.png") is None
    storage.delete_checkpoints("job-1")
    keys = {o["Key"] for o in storage.client.list_objects_v2(Bucket=storage.where.bucket)["Contents"]}
    assert not any("/checkpoints/" in key for key in keys) and any(key.endswith("report.html") for key in keys)


def test_a_checkpoint_changed_in_the_bucket_is_refused_and_a_half_uploaded_one_is_never_seen(object_store, tmp_path):
    storage = ObjectJobStorage(object_store.bucket("training"))
    here = JobFiles.of(tmp_path / "api", "job-2")
    saved = checkpoint(here.checkpoints, 2, b"two")
    for name in ("adapter_model.safetensors", "trainer_state.pt"):  # files uploaded, pointer not yet written
        storage.client.upload_file(str(saved / name), storage.where.bucket, storage._key("job-2", f"checkpoints/step-0000002/{name}"))
    storage.restore_checkpoint("job-2", JobFiles.of(tmp_path / "pod", "job-2"))
    assert not (tmp_path / "pod" / "jobs" / "job-2" / "checkpoints").exists(), "no pointer: no checkpoint"
    storage.save_checkpoint("job-2", saved)
    key = storage._key("job-2", "checkpoints/step-0000002/adapter_model.safetensors")
    storage.client.put_object(Bucket=storage.where.bucket, Key=key, Body=b"tampered")
    there = JobFiles.of(tmp_path / "other", "job-2")
    with pytest.raises(ValueError, match="does not match its sha256"):
        storage.restore_checkpoint("job-2", there)
    assert not any(there.checkpoints.iterdir()), "nothing half-restored is left to resume from"
    pointer = storage._key("job-2", "checkpoints/latest.json")
    storage.client.put_object(Bucket=storage.where.bucket, Key=pointer, Body=json.dumps({"checkpoint": "../x", "files": {}}).encode())
    storage.restore_checkpoint("job-2", there)  # a pointer out of the job's checkpoints is ignored
    assert not any(there.checkpoints.iterdir())


def test_without_a_job_store_the_work_dir_is_the_record(tmp_path):
    storage = open_job_storage(None, tmp_path)
    files = JobFiles.of(tmp_path, "job-3")
    files.create(b"x\n", None)
    assert isinstance(storage, WorkDirStorage) and storage.read_output("job-3", files, "report.html") is None
    (files.root / "report.html").write_text("r")
    assert storage.read_output("job-3", files, "report.html") == b"r"
