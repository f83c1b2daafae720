"""Where a job's data, checkpoints and reports outlive the run that made them.

A run always works in the job's directory under its own work dir (trainer.jobs.workdir.JobFiles). Without a
`job_store` that directory is the record: one machine, or a volume the trainer and every job pod
mount. With `job_store = s3://BUCKET/PREFIX` the record is in object storage, under
`PREFIX/jobs/<job id>/`, so a job's pod on any node reads the data the API received, and a pod
retried on another node resumes from the last checkpoint the previous one finished:

- `train.jsonl`, `validation.jsonl`: written by the trainer API when the job is created;
- `checkpoints/step-N/<file>` and then `checkpoints/latest.json`, which names the newest complete
  checkpoint with each file's sha256; a checkpoint is used only once its pointer is written and its
  files match it, so an upload cut short is never resumed from;
- `report.html`, `loss_curve.png`, `invalid_lines.txt`: what GetJobReport and people read later.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from common.blob_store import MISSING_CODES, BucketPrefix, error_code, s3_client, unavailable
from common.durable import replace_atomically
from trainer.jobs.workdir import HTML_REPORT, INVALID_LINES, LOSS_CURVE, JobFiles

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_LATEST = "checkpoints/latest.json"
# what a job keeps after its run, beside its data
OUTPUTS = (HTML_REPORT, LOSS_CURVE, INVALID_LINES)


class JobStorage(Protocol):
    """The lasting record of jobs' files; every method is a no-op where the work dir is the record."""

    location: str

    def save_inputs(self, job_id: str, files: JobFiles) -> None:
        """Keeps the job's data, just written into `files`."""

    def restore_inputs(self, job_id: str, files: JobFiles) -> None:
        """Brings the job's data into `files` when this machine does not have it."""

    def save_checkpoint(self, job_id: str, checkpoint: Path) -> None:
        """Keeps the complete checkpoint directory `checkpoint` as the job's newest."""

    def restore_checkpoint(self, job_id: str, files: JobFiles) -> None:
        """Brings the job's newest complete checkpoint into `files.checkpoints` if it is not there."""

    def save_outputs(self, job_id: str, files: JobFiles) -> None:
        """Keeps the job's report, loss curve and list of invalid lines, those that exist."""

    def read_output(self, job_id: str, files: JobFiles, name: str) -> bytes | None:
        """One of OUTPUTS, or None when the job has none."""

    def delete_checkpoints(self, job_id: str) -> None:
        """Forgets the job's checkpoints (it finished or was cancelled)."""


class WorkDirStorage:
    """The work dir is the record: nothing to copy."""

    def __init__(self, work_dir: Path) -> None:
        self.location = str(work_dir)

    def save_inputs(self, job_id: str, files: JobFiles) -> None:
        pass

    def restore_inputs(self, job_id: str, files: JobFiles) -> None:
        pass

    def save_checkpoint(self, job_id: str, checkpoint: Path) -> None:
        pass

    def restore_checkpoint(self, job_id: str, files: JobFiles) -> None:
        pass

    def save_outputs(self, job_id: str, files: JobFiles) -> None:
        pass

    def read_output(self, job_id: str, files: JobFiles, name: str) -> bytes | None:
        path = files.root / name
        return path.read_bytes() if path.is_file() else None

    def delete_checkpoints(self, job_id: str) -> None:
        pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectJobStorage:
    """Jobs' files under `s3://BUCKET/PREFIX/jobs/`; boto3 finds endpoint and credentials as the
    adapter store does (common.blob_store)."""

    def __init__(self, location: str, client: S3Client | None = None) -> None:
        self.where = BucketPrefix.parse(location, "job_store")
        self.location = str(self.where)
        self.client = client if client is not None else s3_client()

    def _key(self, job_id: str, name: str) -> str:
        return f"{self.where.prefix}jobs/{job_id}/{name}"

    def _put(self, job_id: str, name: str, path: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.where.bucket, self._key(job_id, name))
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, f"keep {name} of job {job_id}") from None

    def _get(self, job_id: str, name: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.where.bucket, Key=self._key(job_id, name))["Body"].read()
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise unavailable(exc, f"read {name} of job {job_id}") from None
        except BotoCoreError as exc:
            raise unavailable(exc, f"read {name} of job {job_id}") from None

    def _download(self, job_id: str, name: str, destination: Path) -> None:
        data = self._get(job_id, name)
        if data is None:
            raise FileNotFoundError(f"{self._key(job_id, name)} is missing from {self.location}")
        replace_atomically(destination, data, mode=0o600)  # ranks of one pod may fetch it at once

    def save_inputs(self, job_id: str, files: JobFiles) -> None:
        for path in (files.train, files.validation):
            if path.is_file():
                self._put(job_id, path.name, path)

    def restore_inputs(self, job_id: str, files: JobFiles) -> None:
        if files.train.is_file():
            return
        files.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._download(job_id, files.train.name, files.train)
        validation = self._get(job_id, files.validation.name)
        if validation is not None:
            replace_atomically(files.validation, validation, mode=0o600)

    def save_checkpoint(self, job_id: str, checkpoint: Path) -> None:
        previous = self._latest(job_id)
        names = sorted(p.name for p in checkpoint.iterdir() if p.is_file())
        for name in names:
            self._put(job_id, f"checkpoints/{checkpoint.name}/{name}", checkpoint / name)
        latest = {"checkpoint": checkpoint.name, "files": {name: _sha256(checkpoint / name) for name in names}}
        self.client.put_object(Bucket=self.where.bucket, Key=self._key(job_id, _LATEST), Body=json.dumps(latest).encode())
        if previous is not None and previous["checkpoint"] != checkpoint.name:
            self._delete_prefix(self._key(job_id, f"checkpoints/{previous['checkpoint']}/"))

    def _latest(self, job_id: str) -> dict | None:
        data = self._get(job_id, _LATEST)
        return json.loads(data) if data is not None else None

    def restore_checkpoint(self, job_id: str, files: JobFiles) -> None:
        latest = self._latest(job_id)
        if latest is None:
            return
        name = latest["checkpoint"]
        if not name.startswith("step-") or "/" in name or (files.checkpoints / name).is_dir():
            return
        files.checkpoints.mkdir(parents=True, exist_ok=True)
        staging = files.checkpoints / f".{name}.download-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for file, digest in latest["files"].items():
            if "/" in file or file.startswith("."):
                raise ValueError(f"checkpoint {name} of job {job_id} names an odd file {file!r}")
            self._download(job_id, f"checkpoints/{name}/{file}", staging / file)
            if _sha256(staging / file) != digest:
                shutil.rmtree(staging, ignore_errors=True)
                raise ValueError(f"checkpoint {name} of job {job_id}: {file} does not match its sha256 in {self.location}")
        try:
            staging.rename(files.checkpoints / name)
        except OSError:  # another rank of the pod brought it first
            shutil.rmtree(staging, ignore_errors=True)

    def save_outputs(self, job_id: str, files: JobFiles) -> None:
        for name in OUTPUTS:
            if (files.root / name).is_file():
                self._put(job_id, name, files.root / name)

    def read_output(self, job_id: str, files: JobFiles, name: str) -> bytes | None:
        local = files.root / name
        return local.read_bytes() if local.is_file() else self._get(job_id, name)

    def delete_checkpoints(self, job_id: str) -> None:
        self._delete_prefix(self._key(job_id, "checkpoints/"))

    def _delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.where.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.where.bucket, Delete={"Objects": keys})  # type: ignore[typeddict-item]


def open_job_storage(job_store: str | None, work_dir: Path) -> JobStorage:
    """The record the `job_store` setting names."""
    return ObjectJobStorage(job_store) if job_store else WorkDirStorage(work_dir)
