"""The tuneserve.v1.Trainer service: create, get, list, cancel and watch training jobs, and keep
the training files jobs name by id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import json_format, timestamp_pb2
from pydantic import ValidationError
from tuneserve.v1 import trainer_pb2, trainer_pb2_grpc

from common.adapter_manifest import check_name
from common.errors import FailedPrecondition, InvalidRequest, NotFound, Unavailable
from common.model_families import Family
from common.rpc.enums import enum_choice
from common.safe_files import UnsafePath, inside, read_confined
from trainer.api.files_db import FileRecord, FileStore
from trainer.config import FORGETTING_PROBE_QUESTIONS, Hyperparameters, JobConfig
from trainer.evaluation import html_report
from trainer.evaluation.human_review import check_reviews, summarize
from trainer.execution.runner import JobRunner
from trainer.jobs.records import EventRecord, JobRecord, JobState, JobStore
from trainer.jobs.storage import WorkDirStorage
from trainer.jobs.workdir import LOSS_CURVE, JobFiles

_HYPERPARAMETER_FIELDS = [
    f.name for f in trainer_pb2.Hyperparameters.DESCRIPTOR.fields if f.name not in ("target_modules", "learning_rate_multiplier")
]
MAX_EVENTS = 1000
_EVALUATION_FIELDS = [f.name for f in trainer_pb2.EvaluationConfig.DESCRIPTOR.fields]


def _set_fields(message: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(message, name) for name in names if message.HasField(name)}


def job_config(request: trainer_pb2.CreateJobRequest, forgetting_probe: int) -> JobConfig:
    """The job's configuration from the request; unset fields keep the documented defaults, but for
    the forgetting probe's size, which the operator chooses (`forgetting_probe`, TrainerSettings)."""
    check_name(request.adapter_name, "adapter_name")
    hyperparameters = _set_fields(request.hyperparameters, _HYPERPARAMETER_FIELDS)
    if request.hyperparameters.target_modules:
        hyperparameters["target_modules"] = list(request.hyperparameters.target_modules)
    if request.hyperparameters.HasField("learning_rate_multiplier"):
        multiplier = request.hyperparameters.learning_rate_multiplier
        if "learning_rate" in hyperparameters:
            raise InvalidRequest("hyperparameters.learning_rate_multiplier", "give either learning_rate or learning_rate_multiplier")
        if not 0 < multiplier <= 100:
            raise InvalidRequest("hyperparameters.learning_rate_multiplier", f"must be in (0, 100], got {multiplier:g}")
        hyperparameters["learning_rate"] = Hyperparameters.model_fields["learning_rate"].default * multiplier
        hyperparameters["learning_rate_multiplier"] = multiplier
    task = {k: v for k, v in json_format.MessageToDict(request.task, preserving_proto_field_name=True).items() if v}
    evaluation = {"forgetting_probe": forgetting_probe, **_set_fields(request.evaluation, _EVALUATION_FIELDS)}
    values: dict[str, Any] = {
        "adapter_name": request.adapter_name,
        "task": task,
        "hyperparameters": hyperparameters,
        "evaluation": evaluation,
        **_set_fields(request, ["validation_split", "checkpoint_every", "gpus"]),
        "training_file_id": request.training_file_id,
        "validation_file_id": request.validation_file_id,
    }
    for field, enum, prefix in (
        ("publish", trainer_pb2.PublishPolicy, "PUBLISH_POLICY_"),
        ("over_length", trainer_pb2.OverLength, "OVER_LENGTH_"),
        ("duplicates", trainer_pb2.Duplicates, "DUPLICATES_"),
    ):
        choice = enum_choice(enum, getattr(request, field), prefix, field)
        if choice != "unspecified":
            values[field] = choice
    try:
        return JobConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidRequest(".".join(str(p) for p in error["loc"]), error["msg"]) from None


def _timestamp(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    if seconds is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nones(v) for k, v in value.items() if v is not None}
    return value


def report_proto(report: dict[str, Any]) -> trainer_pb2.EvalReport:
    return json_format.ParseDict(_without_nones(report), trainer_pb2.EvalReport(), ignore_unknown_fields=True)


def job_proto(job: JobRecord) -> trainer_pb2.Job:
    result = job.result
    message = trainer_pb2.Job(
        id=job.id,
        adapter_name=job.adapter_name,
        state=f"JOB_STATE_{job.state.name}",
        error_code=job.error_code,
        error_message=job.error_message,
        created=_timestamp(job.created),
        started=_timestamp(job.started),
        finished=_timestamp(job.finished),
        step=job.step,
        total_steps=job.total_steps,
        train_loss=job.train_loss,
        validation_loss=job.validation_loss,
        train_examples=result.get("train_examples", 0),
        holdout_examples=result.get("holdout_examples", 0),
        dropped_lines=result.get("dropped_lines", []),
        published_adapter=result.get("published_adapter", ""),
        publish_note=result.get("publish_note", ""),
        config_json=JobConfig.model_validate(job.config).model_dump_json(),
        invalid_lines=[trainer_pb2.InvalidLine(**line) for line in result.get("invalid_lines", [])],
        invalid_line_count=result.get("invalid_line_count", 0),
        executor=job.executor,
        placement=job.placement,
        attempts=job.attempts,
    )
    if "report" in result:
        message.report.CopyFrom(
            report_proto({**result["report"], "margin": result["margin"], "adapter_beats_icl": result["adapter_beats_icl"]})
        )
    return message


def file_proto(record: FileRecord) -> trainer_pb2.TrainingFile:
    return trainer_pb2.TrainingFile(
        id=record.id,
        filename=record.filename,
        purpose=record.purpose,
        bytes=record.bytes,
        created=_timestamp(record.created),
        lines=record.lines,
        sha256=record.sha256,
    )


def event_proto(event: EventRecord, job: JobRecord) -> trainer_pb2.JobEvent:
    message = trainer_pb2.JobEvent(sequence=event.sequence, job_id=event.job_id, time=_timestamp(event.time))
    payload = event.payload
    if event.kind == "state":
        state = job_proto(job)
        state.state = cast(trainer_pb2.JobState, trainer_pb2.JobState.Value(f"JOB_STATE_{JobState(payload['state']).name}"))
        state.error_code, state.error_message = payload.get("error_code", ""), payload.get("error_message", "")
        message.state_change.CopyFrom(state)
    elif event.kind == "progress":
        message.progress.CopyFrom(
            json_format.ParseDict(_without_nones(payload), trainer_pb2.TrainingProgress(), ignore_unknown_fields=True)
        )
    elif event.kind == "evaluation":
        message.evaluation.CopyFrom(report_proto(payload))
    else:
        message.message = payload["text"]
    return message


class TrainerService(trainer_pb2_grpc.TrainerServicer):
    def __init__(
        self,
        jobs: JobStore,
        runner: JobRunner | None,
        max_data_bytes: int,
        data_dirs: list[Path] | None = None,
        work_dir: Path | None = None,
        files: FileStore | None = None,
        forgetting_probe: int = FORGETTING_PROBE_QUESTIONS,
    ) -> None:
        self.jobs = jobs
        self.forgetting_probe = forgetting_probe
        self.files = files or FileStore(jobs.engine, max_data_bytes)
        self.work_dir = work_dir
        self.runner = runner
        self.max_data_bytes = max_data_bytes
        self.data_dirs = list(data_dirs or [])
        self.family: Family | None = None  # the base model's, once loaded: which modules a job may target

    def _runner(self) -> JobRunner:
        if self.runner is None:
            raise Unavailable("the trainer is starting; retry once the health check reports SERVING")
        return self.runner

    def _data(self, inline: bytes, path: str, field: str, required: bool, file_id: str = "") -> bytes | None:
        inline_field = field.replace("_file", "_data")
        if sum(map(bool, (inline, path, file_id))) > 1:
            raise InvalidRequest(field, f"give one of {inline_field}, {field} and {field}_id")
        if file_id:
            try:
                return self.files.content(file_id)
            except NotFound as exc:
                raise InvalidRequest(f"{field}_id", exc.message) from None
        if path:
            return self._read_named(path, field)
        if not inline and required:
            raise InvalidRequest(inline_field, "no training data: send it inline or name a file in one of the trainer's data directories")
        if len(inline) > self.max_data_bytes:
            raise InvalidRequest(inline_field, f"is larger than the trainer's max_data_bytes ({self.max_data_bytes})")
        return inline or None

    def _read_named(self, path: str, field: str) -> bytes:
        """A file inside the configured data directories. Whether a path outside them exists, and
        anything about its contents, is never revealed: every such path gets the same answer."""
        if not self.data_dirs:
            raise InvalidRequest(field, "this trainer reads no files by path (no data_dirs are configured); send the data inline")
        source = inside(path, self.data_dirs)
        if source is None:
            where = ", ".join(str(d) for d in self.data_dirs)
            raise InvalidRequest(
                field, f"{path[:256]!r} is not a file inside the trainer's data directories ({where}); send the data inline"
            )
        try:
            return read_confined(source, self.max_data_bytes)
        except (UnsafePath, IsADirectoryError):
            raise InvalidRequest(field, f"{path[:256]!r} is not a regular file") from None
        except ValueError:
            raise InvalidRequest(field, f"{path[:256]!r} is larger than the trainer's max_data_bytes ({self.max_data_bytes})") from None

    async def CreateJob(self, request: trainer_pb2.CreateJobRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.Job:
        runner = self._runner()
        config = job_config(request, self.forgetting_probe)
        if self.family is not None:
            self.family.lora_targets(config.hyperparameters.target_modules, "hyperparameters.target_modules")
        training = self._data(request.training_data, request.training_file, "training_file", True, request.training_file_id)
        validation = self._data(request.validation_data, request.validation_file, "validation_file", False, request.validation_file_id)
        assert training is not None
        return job_proto(await asyncio.to_thread(runner.submit, config, training, validation))

    async def GetJob(self, request: trainer_pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.Job:
        return job_proto(self.jobs.get(request.id))

    def _evaluated(self, job_id: str) -> tuple[JobRecord, dict[str, Any]]:
        job = self.jobs.get(job_id)  # NotFound for an unknown id
        result = job.result
        if "report" not in result:
            raise FailedPrecondition(f"job {job.id} has no report yet ({job.state.value}); reports are written once a job is evaluated")
        return job, {**result["report"], "margin": result["margin"], "adapter_beats_icl": result["adapter_beats_icl"]}

    async def GetJobReport(self, request: trainer_pb2.GetJobReportRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.JobReport:
        job, report = self._evaluated(request.id)
        reviews = self.jobs.reviews(job.id)

        def render() -> str:
            # the job's own directory (its id comes from the database, not from the caller)
            loss = None
            if self.work_dir is not None:
                files = JobFiles.of(self.work_dir, job.id)
                storage = self.runner.storage if self.runner is not None else WorkDirStorage(self.work_dir)
                loss = storage.read_output(job.id, files, LOSS_CURVE)
            names = ("published_adapter", "publish_note")
            info = {"id": job.id, "adapter_name": job.adapter_name, **{k: job.result.get(k, "") for k in names}}
            return html_report.render(report, info, loss, reviews)

        summary = json_format.ParseDict(summarize(reviews), trainer_pb2.ReviewSummary())
        return trainer_pb2.JobReport(job_id=job.id, html=await asyncio.to_thread(render), human_review=summary)

    async def ReviewJob(self, request: trainer_pb2.ReviewJobRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.ReviewSummary:
        job, report = self._evaluated(request.id)
        given = [
            json_format.MessageToDict(r, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
            for r in request.reviews
        ]
        reviews = check_reviews(given, [example["line"] for example in report.get("examples", [])])
        await asyncio.to_thread(self.jobs.add_reviews, job.id, reviews)
        return json_format.ParseDict(summarize(self.jobs.reviews(job.id)), trainer_pb2.ReviewSummary())

    async def ListJobs(self, request: trainer_pb2.ListJobsRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.ListJobsResponse:
        names = [enum_choice(trainer_pb2.JobState, s, "JOB_STATE_", f"states[{i}]") for i, s in enumerate(request.states)]
        states = [JobState(name) for name in names if name != "unspecified"]
        return trainer_pb2.ListJobsResponse(jobs=[job_proto(j) for j in self.jobs.list(states, request.limit or 100)])

    async def CancelJob(self, request: trainer_pb2.CancelJobRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.Job:
        return job_proto(await asyncio.to_thread(self._runner().cancel, request.id))

    async def ListJobEvents(
        self, request: trainer_pb2.ListJobEventsRequest, context: grpc.aio.ServicerContext
    ) -> trainer_pb2.ListJobEventsResponse:
        job = self.jobs.get(request.id)
        limit = min(request.limit or MAX_EVENTS, MAX_EVENTS)
        events = await asyncio.to_thread(self.jobs.events, request.id, request.after_sequence)
        shown = [event_proto(event, job) for event in events[:limit]]
        return trainer_pb2.ListJobEventsResponse(events=shown, has_more=len(events) > limit)

    async def UploadFile(self, request: trainer_pb2.UploadFileRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.TrainingFile:
        return file_proto(await asyncio.to_thread(self.files.add, request.filename, request.purpose, request.content))

    async def ListFiles(self, request: trainer_pb2.ListFilesRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.ListFilesResponse:
        files, more = await asyncio.to_thread(self.files.list, request.purpose, request.limit or 100, request.after)
        return trainer_pb2.ListFilesResponse(files=[file_proto(f) for f in files], has_more=more)

    async def GetFile(self, request: trainer_pb2.GetFileRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.TrainingFile:
        return file_proto(await asyncio.to_thread(self.files.get, request.id))

    async def GetFileContent(self, request: trainer_pb2.GetFileRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.FileContent:
        return trainer_pb2.FileContent(content=await asyncio.to_thread(self.files.content, request.id))

    async def DeleteFile(self, request: trainer_pb2.GetFileRequest, context: grpc.aio.ServicerContext) -> trainer_pb2.TrainingFile:
        return file_proto(await asyncio.to_thread(self.files.delete, request.id))

    async def WatchJob(
        self, request: trainer_pb2.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[trainer_pb2.JobEvent]:
        self.jobs.get(request.id)  # NotFound before the stream starts
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def listener(event: EventRecord) -> None:
            if event.job_id == request.id:
                loop.call_soon_threadsafe(changed.set)

        self.jobs.listeners.append(listener)
        after = request.after_sequence
        try:
            while True:
                changed.clear()
                job = self.jobs.get(request.id)
                events = self.jobs.events(request.id, after)
                for event in events:
                    yield event_proto(event, job)
                    after = event.sequence
                if job.state.terminal and not events:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), timeout=1.0)
                except TimeoutError:
                    pass
        finally:
            self.jobs.listeners.remove(listener)
