"""OpenAI's files and fine-tuning API, backed by the trainer service (`trainer_address`).

`/v1/files` keeps JSONL training files in the trainer (UploadFile ...); `/v1/fine_tuning/jobs`
creates, lists, reads and cancels trainer jobs made from them, with their events and checkpoints,
in OpenAI's shapes, so a program written for OpenAI fine-tunes here by changing `base_url`. A
finished job's `fine_tuned_model` is the published `name@version`, which chat and text
completions take at once. The caller's `authorization` header is passed on to the trainer, whose
tokens and scopes decide; the trainer's own report stays reachable at
`/v1/fine_tuning/jobs/{id}/report` and its evaluation summary is in the job's `evaluation`.

Translation only: what a job is, and every check of its data, is the trainer's.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import grpc
from google.protobuf import json_format
from pydantic import Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from tuneserve.v1 import trainer_pb2, trainer_pb2_grpc

from common import errors
from common.adapter_manifest import check_name
from common.rpc.status import FIELD_METADATA_KEY
from common.security.auth import AUTHORIZATION_KEY
from server.api.openai.schemas import Body

TRAINER_TIMEOUT_S = 60.0
MAX_LISTED = 1000
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
STATUS = {
    "JOB_STATE_VALIDATING": "validating_files",
    "JOB_STATE_QUEUED": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
}
ERROR_CODES = {"invalid_data": "invalid_training_file", "invalid_config": "invalid_hyperparameters"}
# the trainer's field names, as an OpenAI caller knows them
PARAMS = {
    "training_file_id": "training_file",
    "validation_file_id": "validation_file",
    "adapter_name": "suffix",
    "hyperparameters.epochs": "hyperparameters.n_epochs",
    "content": "file",
    "filename": "file",
}
ERRORS_BY_CODE: dict[grpc.StatusCode, type[errors.TuneserveError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
}


class Host(Protocol):
    """What the OpenAI routes lend these: body parsing and error answers."""

    async def parse(self, request: Request, body_type: Any) -> Any: ...

    def authorize(self, request: Request, method: str) -> str: ...

    async def answered(self, route: str, work: Awaitable[Response]) -> Response: ...


class JobHyperparameters(Body):
    n_epochs: int | Literal["auto"] = "auto"
    batch_size: int | Literal["auto"] = "auto"
    learning_rate_multiplier: float | Literal["auto"] = "auto"


class Supervised(Body):
    hyperparameters: JobHyperparameters | None = None


class Method(Body):
    type: Literal["supervised"]  # "dpo" and "reinforcement" are refused by name
    supervised: Supervised | None = None


class CreateFineTuningJob(Body):
    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = None
    hyperparameters: JobHyperparameters | None = None
    method: Method | None = None
    metadata: dict[str, str] | None = None
    integrations: list[Any] | None = None

    def job_request(self, base_names: tuple[str, ...]) -> trainer_pb2.CreateJobRequest:
        """The trainer's job; `base_names`: the names the base model is served under."""
        self.refuse_unknown()
        if self.model not in ("", *base_names):
            raise errors.InvalidRequest(
                "model", f"fine-tuning starts from this server's base model {base_names[0]!r}, got {self.model[:64]!r}"
            )
        for name in ("metadata", "integrations"):
            if getattr(self, name):
                raise errors.InvalidRequest(name, "is not supported by this server", errors.UNSUPPORTED_PARAMETER)
        given = self.hyperparameters
        if self.method is not None and self.method.supervised is not None and self.method.supervised.hyperparameters is not None:
            if given is not None:
                raise errors.InvalidRequest("method.supervised.hyperparameters", "give hyperparameters here or at the top level, not both")
            given = self.method.supervised.hyperparameters
        name = self.suffix or f"ft-{uuid.uuid4().hex[:8]}"
        check_name(name, "suffix")
        hyper = trainer_pb2.Hyperparameters()
        if given is not None:
            if given.n_epochs != "auto":
                hyper.epochs = given.n_epochs
            if given.batch_size != "auto":
                hyper.batch_size = given.batch_size
            if given.learning_rate_multiplier != "auto":
                hyper.learning_rate_multiplier = given.learning_rate_multiplier
        if self.seed is not None:
            hyper.seed = self.seed
        return trainer_pb2.CreateJobRequest(
            adapter_name=name,
            training_file_id=self.training_file,
            validation_file_id=self.validation_file or "",
            hyperparameters=hyper,
            publish=trainer_pb2.PUBLISH_POLICY_ALWAYS,  # an OpenAI job always ends in a model
        )


class FineTuning:
    """The files and fine-tuning routes, calling the trainer at `address`."""

    def __init__(self, address: str, base_names: Callable[[], tuple[str, ...]], max_upload_bytes: int, ca_file: Path | None = None) -> None:
        self._address = address
        self._base_names = base_names  # the served base model's names, the shown one first (once it is loaded)
        self._max_upload_bytes = max_upload_bytes
        self._ca_file = ca_file
        self._channel: grpc.aio.Channel | None = None

    def routes(self, host: Host) -> list[Route]:
        self._host = host
        return [
            Route("/v1/files", self._files, methods=["GET", "POST"]),
            Route("/v1/files/{file_id}", self._file, methods=["GET", "DELETE"]),
            Route("/v1/files/{file_id}/content", self._file_content, methods=["GET"]),
            Route("/v1/fine_tuning/jobs", self._jobs, methods=["GET", "POST"]),
            Route("/v1/fine_tuning/jobs/{job_id}", self._job, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel, methods=["POST"]),
            Route("/v1/fine_tuning/jobs/{job_id}/events", self._events, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/checkpoints", self._checkpoints, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/report", self._report, methods=["GET"]),
        ]

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)

    # -- the trainer ------------------------------------------------------------------------------

    def _stub(self) -> trainer_pb2_grpc.TrainerStub:
        if not self._address:
            raise errors.NotFound("fine-tuning is off on this server: it has no trainer_address")
        if self._channel is None:
            limit = self._max_upload_bytes + (1 << 20)
            options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
            if self._ca_file is not None:
                credentials = grpc.ssl_channel_credentials(root_certificates=self._ca_file.read_bytes())
                self._channel = grpc.aio.secure_channel(self._address, credentials, options=options)
            else:
                self._channel = grpc.aio.insecure_channel(self._address, options=options)
        return trainer_pb2_grpc.TrainerStub(self._channel)

    async def _call(self, request: Request, method: str, message: Any) -> Any:
        """The trainer's answer to `method`, with the caller's token, which this server checks
        first where it has tokens of its own (the `train` scope) and the trainer checks again."""
        self._host.authorize(request, f"/tuneserve.v1.Trainer/{method}")
        header = request.headers.get(AUTHORIZATION_KEY)
        metadata = ((AUTHORIZATION_KEY, header),) if header else ()
        try:
            return await getattr(self._stub(), method)(message, timeout=TRAINER_TIMEOUT_S, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise trainer_error(exc) from None

    # -- files ------------------------------------------------------------------------------------

    async def _files(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._host.answered("/v1/files", self._upload(request))
        return await self._host.answered("/v1/files", self._list_files(request))

    async def _upload(self, request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "multipart/form-data":
            raise errors.InvalidRequest("file", f"upload the file as multipart/form-data (file and purpose), got {media_type or 'none'}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_upload_bytes + 65536:
            raise errors.InvalidRequest(
                "file", f"the upload has {declared} bytes, over the server's max_upload_bytes ({self._max_upload_bytes})"
            )
        form = await request.form(max_files=1, max_fields=8, max_part_size=self._max_upload_bytes)
        try:
            upload, purpose = form.get("file"), form.get("purpose")
            if upload is None or isinstance(upload, str):
                raise errors.InvalidRequest("file", "is missing: send the JSONL file as the form field 'file'")
            if not isinstance(purpose, str) or not purpose:
                raise errors.InvalidRequest("purpose", "is missing: send purpose=fine-tune")
            content = await upload.read(self._max_upload_bytes + 1)
            if len(content) > self._max_upload_bytes:
                raise errors.InvalidRequest("file", f"is larger than the server's max_upload_bytes ({self._max_upload_bytes})")
            filename = (upload.filename or "upload.jsonl").replace("\\", "/").rsplit("/", 1)[-1]  # a name to show, never a path
        finally:
            await form.close()
        kept = await self._call(request, "UploadFile", trainer_pb2.UploadFileRequest(filename=filename, purpose=purpose, content=content))
        return JSONResponse(file_object(kept))

    async def _list_files(self, request: Request) -> Response:
        query = request.query_params
        if query.get("order", "desc") != "desc":
            raise errors.InvalidRequest("order", "only 'desc' (newest first) is supported")
        limit = _limit(query.get("limit"), 10_000)
        listed = await self._call(
            request, "ListFiles", trainer_pb2.ListFilesRequest(purpose=query.get("purpose", ""), limit=limit, after=query.get("after", ""))
        )
        data = [file_object(f) for f in listed.files]
        return JSONResponse(page(data, listed.has_more))

    async def _file(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]

        async def work() -> Response:
            if request.method == "DELETE":
                gone = await self._call(request, "DeleteFile", trainer_pb2.GetFileRequest(id=file_id))
                return JSONResponse({"id": gone.id, "object": "file", "deleted": True})
            return JSONResponse(file_object(await self._call(request, "GetFile", trainer_pb2.GetFileRequest(id=file_id))))

        return await self._host.answered("/v1/files/{file_id}", work())

    async def _file_content(self, request: Request) -> Response:
        async def work() -> Response:
            found = await self._call(request, "GetFileContent", trainer_pb2.GetFileRequest(id=request.path_params["file_id"]))
            return Response(found.content, media_type="application/octet-stream")

        return await self._host.answered("/v1/files/{file_id}/content", work())

    # -- jobs -------------------------------------------------------------------------------------

    async def _jobs(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._host.answered("/v1/fine_tuning/jobs", self._create(request))
        return await self._host.answered("/v1/fine_tuning/jobs", self._list_jobs(request))

    async def _create(self, request: Request) -> Response:
        body = await self._host.parse(request, CreateFineTuningJob)
        job = await self._call(request, "CreateJob", body.job_request(self._base_names()))
        return JSONResponse(self.job_object(job))

    async def _list_jobs(self, request: Request) -> Response:
        _limit(request.query_params.get("limit"), MAX_LISTED)  # refused before the trainer is asked
        jobs = (await self._call(request, "ListJobs", trainer_pb2.ListJobsRequest(limit=MAX_LISTED))).jobs
        return JSONResponse(cursor_page([self.job_object(j) for j in jobs], request.query_params, "listed job", default=100))

    async def _job(self, request: Request) -> Response:
        async def work() -> Response:
            return JSONResponse(self.job_object(await self._get_job(request)))

        return await self._host.answered("/v1/fine_tuning/jobs/{job_id}", work())

    async def _get_job(self, request: Request) -> trainer_pb2.Job:
        return await self._call(request, "GetJob", trainer_pb2.GetJobRequest(id=request.path_params["job_id"]))

    async def _cancel(self, request: Request) -> Response:
        async def work() -> Response:
            job = await self._call(request, "CancelJob", trainer_pb2.CancelJobRequest(id=request.path_params["job_id"]))
            return JSONResponse(self.job_object(job))

        return await self._host.answered("/v1/fine_tuning/jobs/{job_id}/cancel", work())

    async def _events(self, request: Request) -> Response:
        async def work() -> Response:
            job_id = request.path_params["job_id"]
            events, after = [], 0
            while True:  # every event, oldest first, then shown newest first as OpenAI lists them
                listed = await self._call(request, "ListJobEvents", trainer_pb2.ListJobEventsRequest(id=job_id, after_sequence=after))
                events += listed.events
                if not listed.has_more or not listed.events:
                    break
                after = listed.events[-1].sequence
            shown = [event_object(e) for e in reversed(events)]
            return JSONResponse(cursor_page(shown, request.query_params, "event of this job", default=20))

        return await self._host.answered("/v1/fine_tuning/jobs/{job_id}/events", work())

    async def _checkpoints(self, request: Request) -> Response:
        async def work() -> Response:
            job = await self._get_job(request)
            data = []
            if job.published_adapter:  # the one model a job leaves: its published version
                metrics = {"step": job.step, "train_loss": job.train_loss if job.HasField("train_loss") else None}
                if job.HasField("validation_loss"):
                    metrics["valid_loss"] = job.validation_loss
                data.append(
                    {
                        "object": "fine_tuning.job.checkpoint",
                        "id": f"ftckpt-{job.id}",
                        "created_at": job.finished.seconds,
                        "fine_tuned_model_checkpoint": job.published_adapter,
                        "step_number": job.step,
                        "metrics": metrics,
                        "fine_tuning_job_id": job.id,
                    }
                )
            # the cursor is honoured although there is one checkpoint: a client that pages on until
            # it reads an empty page, as the openai SDK did before it read has_more, would otherwise
            # be handed the same checkpoint for ever
            return JSONResponse(cursor_page(data, request.query_params, "checkpoint of this job", default=10))

        return await self._host.answered("/v1/fine_tuning/jobs/{job_id}/checkpoints", work())

    async def _report(self, request: Request) -> Response:
        async def work() -> Response:
            report = await self._call(request, "GetJobReport", trainer_pb2.GetJobReportRequest(id=request.path_params["job_id"]))
            return HTMLResponse(report.html)

        return await self._host.answered("/v1/fine_tuning/jobs/{job_id}/report", work())

    def job_object(self, job: trainer_pb2.Job) -> dict[str, Any]:
        config = json.loads(job.config_json) if job.config_json else {}
        hyper = config.get("hyperparameters", {})
        failed = job.state == trainer_pb2.JOB_STATE_FAILED
        error = None
        if failed:
            param = "training_file" if job.error_code == "invalid_data" else None
            error = {"code": ERROR_CODES.get(job.error_code, job.error_code or "internal"), "message": job.error_message, "param": param}
        shown_hyper = {
            "n_epochs": hyper.get("epochs"),
            "batch_size": hyper.get("batch_size"),
            "learning_rate_multiplier": hyper.get("learning_rate_multiplier") or 1.0,
        }
        state = trainer_pb2.JobState.Name(job.state)
        return {
            "object": "fine_tuning.job",
            "id": job.id,
            "model": self._base_names()[0],
            "created_at": job.created.seconds,
            "finished_at": job.finished.seconds if job.HasField("finished") else None,
            "fine_tuned_model": job.published_adapter or None,
            "organization_id": "tuneserve",
            "result_files": [],
            "status": STATUS.get(state, "failed"),
            "training_file": config.get("training_file_id") or None,
            "validation_file": config.get("validation_file_id") or None,
            "hyperparameters": shown_hyper,
            "method": {"type": "supervised", "supervised": {"hyperparameters": shown_hyper}},
            "trained_tokens": None,
            "error": error,
            "seed": hyper.get("seed"),
            "estimated_finish": None,
            "user_provided_suffix": job.adapter_name,
            "metadata": None,
            "integrations": [],
            # tuneserve's own: where training stands, the evaluation and the trainer's report
            "progress": {"step": job.step, "total_steps": job.total_steps},
            "evaluation": _evaluation(job),
            "publish_note": job.publish_note or None,
            "report_url": f"/v1/fine_tuning/jobs/{job.id}/report",
        }


def _evaluation(job: trainer_pb2.Job) -> dict[str, Any] | None:
    if not job.HasField("report"):
        return None
    report = json_format.MessageToDict(job.report, preserving_proto_field_name=True)
    return {key: report[key] for key in ("metric", "holdout_examples", "adapter_beats_icl", "margin", "validation_loss") if key in report}


def file_object(found: trainer_pb2.TrainingFile) -> dict[str, Any]:
    return {
        "id": found.id,
        "object": "file",
        "bytes": found.bytes,
        "created_at": found.created.seconds,
        "filename": found.filename,
        "purpose": found.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def event_object(event: trainer_pb2.JobEvent) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{event.job_id}-{event.sequence}",
        "created_at": event.time.seconds,
        "level": "info",
        "type": "message",
        "data": {},
    }
    kind = event.WhichOneof("event")
    if kind == "progress":
        progress = event.progress
        data = {"step": progress.step, "total_steps": progress.total_steps, "train_loss": progress.train_loss}
        if progress.HasField("validation_loss"):
            data["valid_loss"] = progress.validation_loss
        message = f"Step {progress.step}/{progress.total_steps}: training loss={progress.train_loss:.4f}"
        return {**shown, "type": "metrics", "message": message, "data": data}
    if kind == "state_change":
        state = STATUS.get(trainer_pb2.JobState.Name(event.state_change.state), "failed")
        failed = event.state_change.state == trainer_pb2.JOB_STATE_FAILED
        message = f"Job {state}" + (f": {event.state_change.error_message}" if failed else "")
        return {**shown, "level": "error" if failed else "info", "message": message, "data": {"status": state}}
    if kind == "evaluation":
        report = event.evaluation
        beats = "beats" if report.adapter_beats_icl else "does not beat"
        message = f"Evaluated on {report.holdout_examples} held-out examples ({report.metric}): the adapter {beats} k-shot prompting"
        return {**shown, "message": message}
    return {**shown, "message": event.message}


def page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"object": "list", "data": data, "has_more": has_more, "first_id": first, "last_id": last}


def cursor_page(listed: list[dict[str, Any]], query: Mapping[str, str], noun: str, *, default: int) -> dict[str, Any]:
    """OpenAI's cursor page of `listed` (in listing order): at most `limit` of the objects after the
    one whose id `after` names."""
    limit = _limit(query.get("limit"), MAX_LISTED, default)
    after = query.get("after")
    if after:
        ids = [item["id"] for item in listed]
        if after not in ids:
            raise errors.InvalidRequest("after", f"names no {noun}, got {after[:64]!r}")
        listed = listed[ids.index(after) + 1 :]
    return page(listed[:limit], len(listed) > limit)


def _limit(given: str | None, most: int, default: int = 100) -> int:
    if given is None:
        return default
    # ASCII digits only: str.isdigit() takes '²', which int() then refuses, and int() refuses a
    # number of more than 4300 digits; either would answer 500
    if not _WHOLE_NUMBER.fullmatch(given) or not 1 <= int(given) <= most:
        raise errors.InvalidRequest("limit", f"must be a whole number from 1 to {most}, got {given[:20]!r}")
    return int(given)


def trainer_error(exc: grpc.aio.AioRpcError) -> errors.TuneserveError:
    """The trainer's refusal as the domain error it was, fields in OpenAI's names."""
    code, message = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        trailing: Any = exc.trailing_metadata() or ()
        field = next((str(value) for key, value in trailing if key == FIELD_METADATA_KEY), "")
        shown = _openai_field(field)
        return errors.InvalidRequest(shown, message.removeprefix(f"{field}: ") if field else message)
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in message.lower():
        return errors.Unavailable("the trainer cannot be reached now; retry later")
    return ERRORS_BY_CODE.get(code, errors.TuneserveError)(message)


def _openai_field(field: str) -> str:
    for trainer_name, name in PARAMS.items():
        if field == trainer_name or field.startswith(trainer_name + "."):
            return name + field[len(trainer_name) :]
    return re.sub(r"^hyperparameters\.epochs", "hyperparameters.n_epochs", field)
