"""Synchronous client of a tuneserve server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tuneserve.v1 import (
    adapters_pb2,
    adapters_pb2_grpc,
    inference_pb2,
    inference_pb2_grpc,
    tasks_pb2,
    tasks_pb2_grpc,
    trainer_pb2,
    trainer_pb2_grpc,
)

from tuneserve_client._requests import (
    Message,
    create_job_request,
    feedback_request,
    generate_request,
    import_messages,
    review_job_request,
    rollout_request,
    run_task_request,
    tokenize_request,
    upload_file_request,
)
from tuneserve_client.errors import TuneserveError, UnavailableError, from_rpc_error
from tuneserve_client.routing import ADAPTER_HEADER, routing_options

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 120.0
T = TypeVar("T")


def channel_options(max_message_bytes: int, target: str = "", retries: int = 3, backoff: float = 0.05) -> list[tuple[str, Any]]:
    """Message limits, balancing over every replica a target names and gRPC's retries
    (tuneserve_client.routing)."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        *routing_options(target, retries, backoff),
    ]


def channel_credentials(
    tls: bool | None,
    ca_file: str | os.PathLike[str] | None,
    cert_file: str | os.PathLike[str] | None,
    key_file: str | os.PathLike[str] | None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials, or None for plaintext; ValueError for a half-given client certificate."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both cert_file and key_file")
    if tls is None:
        tls = ca_file is not None or cert_file is not None
    if not tls:
        if ca_file is not None or cert_file is not None:
            raise ValueError("ca_file, cert_file and key_file need TLS; drop tls=False")
        return None

    def read(path: str | os.PathLike[str] | None) -> bytes | None:
        return Path(path).read_bytes() if path is not None else None

    return grpc.ssl_channel_credentials(root_certificates=read(ca_file), private_key=read(key_file), certificate_chain=read(cert_file))


class ClientBase:
    """What the sync and asyncio clients share: settings, stubs and the per-call timeout."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.05,
        metadata: Sequence[tuple[str, str]] = (),
        max_message_bytes: int = 4 * 1024 * 1024,
        token: str | None = None,
        tls: bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """`token` is sent as `authorization: Bearer <token>`. `tls` (on by default when a CA or
        client certificate is given) uses the system roots or `ca_file`; `cert_file` and `key_file`
        are the client certificate for servers that require mutual TLS."""
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.metadata = tuple(metadata) + ((("authorization", f"Bearer {token}"),) if token else ())
        credentials = channel_credentials(tls, ca_file, cert_file, key_file)
        self._channel = self._open_channel(target, channel_options(max_message_bytes, target, retries, backoff), credentials)
        self.inference = inference_pb2_grpc.InferenceStub(self._channel)
        self.adapters = adapters_pb2_grpc.AdaptersStub(self._channel)
        self.trainer = trainer_pb2_grpc.TrainerStub(self._channel)
        self.tasks = tasks_pb2_grpc.TasksStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _open_channel(self, target: str, options: list[tuple[str, Any]], credentials: grpc.ChannelCredentials | None) -> Any:
        raise NotImplementedError

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def _metadata(self, adapter: str) -> tuple[tuple[str, str], ...]:
        """The call's metadata: the client's, and the adapter's name for routers that hash on it."""
        routable = adapter.isascii() and adapter.isprintable()  # metadata is ASCII: the server refuses the rest
        return self.metadata + (((ADAPTER_HEADER, adapter),) if adapter and routable else ())


class Client(ClientBase):
    """Calls a tuneserve server; failures raise `tuneserve_client.errors` exceptions.

    Calls that fail with UNAVAILABLE (server starting, restarting or unreachable) are retried by
    gRPC's retry policy, `retries` times (at most 4) with exponential backoff from `backoff`
    seconds, within the call's deadline; calls that would act twice (CreateJob, ImportAdapter) and
    streams that already received a message are not retried.
    """

    def _open_channel(self, target: str, options: list[tuple[str, Any]], credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
        if credentials is None:
            return grpc.insecure_channel(target, options=options)
        return grpc.secure_channel(target, credentials, options=options)

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], request: Any, timeout: float | None, adapter: str = "") -> T:
        try:
            return fn(request, timeout=timeout, metadata=self._metadata(adapter))
        except grpc.RpcError as exc:  # retries, where safe, were gRPC's own (tuneserve_client.routing)
            raise from_rpc_error(exc) from None

    def _stream(self, fn: Callable[..., Iterator[T]], request: Any, timeout: float | None, adapter: str = "") -> Iterator[T]:
        try:
            yield from fn(request, timeout=timeout, metadata=self._metadata(adapter))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    # -- inference ----------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | Sequence[int] | None = None,
        *,
        messages: Iterable[Message] | None = None,
        few_shot: Any = None,
        adapter: str = "",
        request_id: str = "",
        timeout: float | None = None,
        **params: Any,
    ) -> inference_pb2.GenerateResponse:
        """Generates a completion of `prompt` (a text, or the base model's token ids), of chat
        `messages`, or of a `few_shot` prompt (a dict of few_shot_prompt's arguments: query, demos,
        instruction, selection...). `timeout` overrides the client's.

        `params` are GenerationParameters fields: max_new_tokens, min_new_tokens, temperature,
        top_p, top_k, seed, repetition_penalty, frequency_penalty, presence_penalty, logit_bias (a
        dict of token id to bias), ignore_eos, stop, stop_token_ids, time_limit_ms, structured_output (a
        StructuredOutput or the keyword arguments of `structured_output`, e.g. {"json_schema": {...}}).
        """
        request = generate_request(prompt, messages=messages, few_shot=few_shot, adapter=adapter, request_id=request_id, **params)
        return self._call(self.inference.Generate, request, self._timeout(timeout), adapter)

    def generate_stream(
        self,
        prompt: str | Sequence[int] | None = None,
        *,
        messages: Iterable[Message] | None = None,
        few_shot: Any = None,
        adapter: str = "",
        request_id: str = "",
        timeout: float | None = None,
        **params: Any,
    ) -> Iterator[inference_pb2.GenerateStreamResponse]:
        """Like `generate`, yielding text deltas; the last message has the stop reason and usage."""
        request = generate_request(prompt, messages=messages, few_shot=few_shot, adapter=adapter, request_id=request_id, **params)
        return self._stream(self.inference.GenerateStream, request, self._timeout(timeout), adapter)

    def tokenize(
        self, text: str | None = None, *, messages: Iterable[Message] | None = None, chat_template_kwargs: Mapping[str, Any] | None = None
    ) -> inference_pb2.TokenizeResponse:
        return self._call(
            self.inference.Tokenize, tokenize_request(text, messages=messages, chat_template_kwargs=chat_template_kwargs), self.timeout
        )

    def model_info(self) -> inference_pb2.ModelInfoResponse:
        return self._call(self.inference.ModelInfo, inference_pb2.ModelInfoRequest(), self.timeout)

    # -- tasks --------------------------------------------------------------------------------

    def list_tasks(self) -> tasks_pb2.ListTasksResponse:
        return self._call(self.tasks.ListTasks, tasks_pb2.ListTasksRequest(), self.timeout)

    def get_task(self, name: str) -> tasks_pb2.TaskInfo:
        return self._call(self.tasks.GetTask, tasks_pb2.GetTaskRequest(name=name), self.timeout)

    def classify(self, task: str, text: str, request_id: str = "", routing_key: str = "") -> tasks_pb2.ClassifyResponse:
        """The most likely label of `text` for a classification task, with every label's probability."""
        return self._call(
            self.tasks.Classify,
            tasks_pb2.ClassifyRequest(task=task, input=text, request_id=request_id, routing_key=routing_key),
            self.timeout,
        )

    def classify_batch(self, task: str, texts: Iterable[str], routing_key: str = "") -> list[tasks_pb2.ClassifyResponse]:
        return list(
            self._call(
                self.tasks.ClassifyBatch,
                tasks_pb2.ClassifyBatchRequest(task=task, inputs=list(texts), routing_key=routing_key),
                self.timeout,
            ).results
        )

    def run_task(self, task: str, text: str, request_id: str = "", **params: Any) -> inference_pb2.GenerateResponse:
        """Runs a generation task; `params` override the task's default decoding parameters."""
        return self._call(self.tasks.RunTask, run_task_request(task, text, request_id, **params), self.timeout)

    def run_task_stream(self, task: str, text: str, request_id: str = "", **params: Any) -> Iterator[inference_pb2.GenerateStreamResponse]:
        return self._stream(self.tasks.RunTaskStream, run_task_request(task, text, request_id, **params), self.timeout)

    # -- adapters -----------------------------------------------------------------------------

    def list_adapters(self) -> list[adapters_pb2.AdapterInfo]:
        return list(self._call(self.adapters.ListAdapters, adapters_pb2.ListAdaptersRequest(), self.timeout).adapters)

    def get_adapter(self, name: str) -> adapters_pb2.AdapterInfo:
        return self._call(self.adapters.GetAdapter, adapters_pb2.GetAdapterRequest(name=name), self.timeout)

    def load_adapter(self, adapter: str) -> adapters_pb2.AdapterInfo:
        """Loads `name` (its current version) or `name@N` now; refused versions raise FailedPreconditionError."""
        return self._call(self.adapters.LoadAdapter, adapters_pb2.LoadAdapterRequest(adapter=adapter), self.timeout)

    def unload_adapter(self, adapter: str) -> adapters_pb2.AdapterInfo:
        return self._call(self.adapters.UnloadAdapter, adapters_pb2.UnloadAdapterRequest(adapter=adapter), self.timeout)

    def set_rollout(
        self, name: str, weights: dict[int, int] | None = None, shadow: int = 0, guard: dict[str, Any] | bool | None = None
    ) -> adapters_pb2.AdapterInfo:
        """Splits `name`'s traffic between versions by percent, e.g. {3: 90, 4: 10} (0: the prompting
        arm), and/or sends version `shadow` copies; `guard` (True, or GuardRule fields) rolls back a bad canary."""
        return self._call(self.adapters.SetRollout, rollout_request(name, weights, shadow, guard), self.timeout)

    def get_experiment(self, name: str) -> adapters_pb2.Experiment:
        """Per arm of `name`'s rollout: requests, errors, latency, answers, feedback, accuracy and its significance."""
        return self._call(self.adapters.GetExperiment, adapters_pb2.GetExperimentRequest(name=name), self.timeout)

    def feedback(
        self, request_id: str, label: str | None = None, rating: int | None = None, thumb: str | None = None
    ) -> inference_pb2.FeedbackResponse:
        """Judges the answer to `request_id`: the correct `label`, a 1-5 `rating`, `thumb` "up" or "down"."""
        return self._call(self.inference.Feedback, feedback_request(request_id, label, rating, thumb), self.timeout)

    def clear_rollout(self, name: str) -> adapters_pb2.AdapterInfo:
        return self._call(self.adapters.ClearRollout, adapters_pb2.ClearRolloutRequest(name=name), self.timeout)

    def set_current_version(self, name: str, version: int) -> adapters_pb2.AdapterInfo:
        """Rolls `name` forward or back to `version` (checked and loaded before it becomes current)."""
        request = adapters_pb2.SetCurrentVersionRequest(name=name, version=version)
        return self._call(self.adapters.SetCurrentVersion, request, self.timeout)

    def import_adapter(
        self, directory: str, name: str, *, make_current: bool = True, source: str = ""
    ) -> adapters_pb2.ImportAdapterResponse:
        """Publishes a plain PEFT adapter directory as the next version of `name`."""
        messages = list(import_messages(directory, name, make_current, source))
        return self._call(lambda reqs, **kw: self.adapters.ImportAdapter(iter(reqs), **kw), messages, self.timeout)

    # -- trainer (point the client at the trainer's address) -----------------------------------

    def create_job(self, data: str | bytes, name: str, **options: Any) -> trainer_pb2.Job:
        """Submits a training job for JSONL `data` (a path or bytes); `options` as in create_job_request."""
        return self._call(self.trainer.CreateJob, create_job_request(data, name, **options), self.timeout)

    def get_job(self, job_id: str) -> trainer_pb2.Job:
        return self._call(self.trainer.GetJob, trainer_pb2.GetJobRequest(id=job_id), self.timeout)

    def get_job_report(self, job_id: str) -> trainer_pb2.JobReport:
        """The job's self-contained HTML report (once it has been evaluated)."""
        return self._call(self.trainer.GetJobReport, trainer_pb2.GetJobReportRequest(id=job_id), self.timeout)

    def review_job(
        self, job_id: str, reviews: Iterable[dict[str, Any] | trainer_pb2.Review], reviewer: str = ""
    ) -> trainer_pb2.ReviewSummary:
        """Records judgements of the job's sampled answers (see review_job_request)."""
        return self._call(self.trainer.ReviewJob, review_job_request(job_id, reviews, reviewer), self.timeout)

    def list_jobs(self, limit: int = 100) -> list[trainer_pb2.Job]:
        return list(self._call(self.trainer.ListJobs, trainer_pb2.ListJobsRequest(limit=limit), self.timeout).jobs)

    def cancel_job(self, job_id: str) -> trainer_pb2.Job:
        return self._call(self.trainer.CancelJob, trainer_pb2.CancelJobRequest(id=job_id), self.timeout)

    def watch_job(self, job_id: str, after_sequence: int = 0) -> Iterator[trainer_pb2.JobEvent]:
        """The job's events so far, then live ones until it ends (no deadline)."""
        return self._stream(self.trainer.WatchJob, trainer_pb2.WatchJobRequest(id=job_id, after_sequence=after_sequence), None)

    def list_job_events(self, job_id: str, after_sequence: int = 0, limit: int = 0) -> trainer_pb2.ListJobEventsResponse:
        """The job's events after `after_sequence` (at most `limit`, 0: the trainer's 1000), without waiting."""
        request = trainer_pb2.ListJobEventsRequest(id=job_id, after_sequence=after_sequence, limit=limit)
        return self._call(self.trainer.ListJobEvents, request, self.timeout)

    def upload_file(self, data: str | bytes, filename: str = "", purpose: str = "fine-tune") -> trainer_pb2.TrainingFile:
        """Keeps a JSONL file (a path or bytes) in the trainer for jobs to name (training_file_id)."""
        return self._call(self.trainer.UploadFile, upload_file_request(data, filename, purpose), self.timeout)

    def list_files(self, purpose: str = "", limit: int = 100, after: str = "") -> trainer_pb2.ListFilesResponse:
        return self._call(self.trainer.ListFiles, trainer_pb2.ListFilesRequest(purpose=purpose, limit=limit, after=after), self.timeout)

    def get_file(self, file_id: str) -> trainer_pb2.TrainingFile:
        return self._call(self.trainer.GetFile, trainer_pb2.GetFileRequest(id=file_id), self.timeout)

    def get_file_content(self, file_id: str) -> bytes:
        return self._call(self.trainer.GetFileContent, trainer_pb2.GetFileRequest(id=file_id), self.timeout).content

    def delete_file(self, file_id: str) -> trainer_pb2.TrainingFile:
        return self._call(self.trainer.DeleteFile, trainer_pb2.GetFileRequest(id=file_id), self.timeout)

    # -- health -------------------------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The standard gRPC health status of `service` ("" = the whole server): SERVING, NOT_SERVING..."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), self.timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_until_ready(self, timeout: float = 300.0, interval: float = 0.5) -> None:
        """Blocks until the server reports SERVING; raises UnavailableError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self._health.Check(health_pb2.HealthCheckRequest(), timeout=interval * 4, metadata=self.metadata).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise UnavailableError(f"{self.target} did not report SERVING within {timeout:g} s")
            time.sleep(interval)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Client", "ClientBase", "TuneserveError", "DEFAULT_TARGET"]
