"""asyncio client of a tuneserve server; the same calls as `tuneserve_client.Client`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2
from tuneserve.v1 import adapters_pb2, inference_pb2, tasks_pb2, trainer_pb2

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
from tuneserve_client.client import ClientBase
from tuneserve_client.errors import UnavailableError, from_rpc_error

T = TypeVar("T")


class AsyncClient(ClientBase):
    """asyncio twin of `Client`: UNAVAILABLE retried by gRPC's policy, typed errors raised."""

    def _open_channel(self, target: str, options: list[tuple[str, Any]], credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(target, options=options)
        return grpc.aio.secure_channel(target, credentials, options=options)

    async def _call(self, fn: Callable[..., Awaitable[T]], request: Any, timeout: float | None, adapter: str = "") -> T:
        try:
            return await fn(request, timeout=timeout, metadata=self._metadata(adapter))
        except grpc.RpcError as exc:  # retries, where safe, were gRPC's own (tuneserve_client.routing)
            raise from_rpc_error(exc) from None

    async def _stream(self, fn: Callable[..., Any], request: Any, timeout: float | None, adapter: str = "") -> AsyncIterator[Any]:
        try:
            async for item in fn(request, timeout=timeout, metadata=self._metadata(adapter)):
                yield item
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def generate(
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
        request = generate_request(prompt, messages=messages, few_shot=few_shot, adapter=adapter, request_id=request_id, **params)
        return await self._call(self.inference.Generate, request, self._timeout(timeout), adapter)

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
    ) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
        request = generate_request(prompt, messages=messages, few_shot=few_shot, adapter=adapter, request_id=request_id, **params)
        return self._stream(self.inference.GenerateStream, request, self._timeout(timeout), adapter)

    async def tokenize(
        self, text: str | None = None, *, messages: Iterable[Message] | None = None, chat_template_kwargs: Mapping[str, Any] | None = None
    ) -> inference_pb2.TokenizeResponse:
        return await self._call(
            self.inference.Tokenize, tokenize_request(text, messages=messages, chat_template_kwargs=chat_template_kwargs), self.timeout
        )

    async def model_info(self) -> inference_pb2.ModelInfoResponse:
        return await self._call(self.inference.ModelInfo, inference_pb2.ModelInfoRequest(), self.timeout)

    async def list_adapters(self) -> list[adapters_pb2.AdapterInfo]:
        return list((await self._call(self.adapters.ListAdapters, adapters_pb2.ListAdaptersRequest(), self.timeout)).adapters)

    async def list_tasks(self) -> tasks_pb2.ListTasksResponse:
        return await self._call(self.tasks.ListTasks, tasks_pb2.ListTasksRequest(), self.timeout)

    async def get_task(self, name: str) -> tasks_pb2.TaskInfo:
        return await self._call(self.tasks.GetTask, tasks_pb2.GetTaskRequest(name=name), self.timeout)

    async def classify(self, task: str, text: str, request_id: str = "", routing_key: str = "") -> tasks_pb2.ClassifyResponse:
        return await self._call(
            self.tasks.Classify,
            tasks_pb2.ClassifyRequest(task=task, input=text, request_id=request_id, routing_key=routing_key),
            self.timeout,
        )

    async def classify_batch(self, task: str, texts: Iterable[str], routing_key: str = "") -> list[tasks_pb2.ClassifyResponse]:
        response = await self._call(
            self.tasks.ClassifyBatch, tasks_pb2.ClassifyBatchRequest(task=task, inputs=list(texts), routing_key=routing_key), self.timeout
        )
        return list(response.results)

    async def run_task(self, task: str, text: str, request_id: str = "", **params: Any) -> inference_pb2.GenerateResponse:
        return await self._call(self.tasks.RunTask, run_task_request(task, text, request_id, **params), self.timeout)

    def run_task_stream(
        self, task: str, text: str, request_id: str = "", **params: Any
    ) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
        return self._stream(self.tasks.RunTaskStream, run_task_request(task, text, request_id, **params), self.timeout)

    async def get_adapter(self, name: str) -> adapters_pb2.AdapterInfo:
        return await self._call(self.adapters.GetAdapter, adapters_pb2.GetAdapterRequest(name=name), self.timeout)

    async def import_adapter(
        self, directory: str, name: str, *, make_current: bool = True, source: str = ""
    ) -> adapters_pb2.ImportAdapterResponse:
        messages = list(import_messages(directory, name, make_current, source))
        return await self._call(lambda reqs, **kw: self.adapters.ImportAdapter(iter(reqs), **kw), messages, self.timeout)

    async def load_adapter(self, adapter: str) -> adapters_pb2.AdapterInfo:
        return await self._call(self.adapters.LoadAdapter, adapters_pb2.LoadAdapterRequest(adapter=adapter), self.timeout)

    async def unload_adapter(self, adapter: str) -> adapters_pb2.AdapterInfo:
        return await self._call(self.adapters.UnloadAdapter, adapters_pb2.UnloadAdapterRequest(adapter=adapter), self.timeout)

    async def set_rollout(
        self, name: str, weights: dict[int, int] | None = None, shadow: int = 0, guard: dict[str, Any] | bool | None = None
    ) -> adapters_pb2.AdapterInfo:
        """Splits `name`'s traffic between versions by percent, e.g. {3: 90, 4: 10} (0: the prompting
        arm), and/or sends version `shadow` copies; `guard` (True, or GuardRule fields) rolls back a bad canary."""
        return await self._call(self.adapters.SetRollout, rollout_request(name, weights, shadow, guard), self.timeout)

    async def get_experiment(self, name: str) -> adapters_pb2.Experiment:
        """Per arm of `name`'s rollout: requests, errors, latency, answers, feedback, accuracy and its significance."""
        return await self._call(self.adapters.GetExperiment, adapters_pb2.GetExperimentRequest(name=name), self.timeout)

    async def feedback(
        self, request_id: str, label: str | None = None, rating: int | None = None, thumb: str | None = None
    ) -> inference_pb2.FeedbackResponse:
        """Judges the answer to `request_id`: the correct `label`, a 1-5 `rating`, `thumb` "up" or "down"."""
        return await self._call(self.inference.Feedback, feedback_request(request_id, label, rating, thumb), self.timeout)

    async def clear_rollout(self, name: str) -> adapters_pb2.AdapterInfo:
        return await self._call(self.adapters.ClearRollout, adapters_pb2.ClearRolloutRequest(name=name), self.timeout)

    async def set_current_version(self, name: str, version: int) -> adapters_pb2.AdapterInfo:
        request = adapters_pb2.SetCurrentVersionRequest(name=name, version=version)
        return await self._call(self.adapters.SetCurrentVersion, request, self.timeout)

    async def create_job(self, data: str | bytes, name: str, **options: Any) -> trainer_pb2.Job:
        return await self._call(self.trainer.CreateJob, create_job_request(data, name, **options), self.timeout)

    async def get_job(self, job_id: str) -> trainer_pb2.Job:
        return await self._call(self.trainer.GetJob, trainer_pb2.GetJobRequest(id=job_id), self.timeout)

    async def get_job_report(self, job_id: str) -> trainer_pb2.JobReport:
        return await self._call(self.trainer.GetJobReport, trainer_pb2.GetJobReportRequest(id=job_id), self.timeout)

    async def review_job(
        self, job_id: str, reviews: Iterable[dict[str, Any] | trainer_pb2.Review], reviewer: str = ""
    ) -> trainer_pb2.ReviewSummary:
        return await self._call(self.trainer.ReviewJob, review_job_request(job_id, reviews, reviewer), self.timeout)

    async def list_jobs(self, limit: int = 100) -> list[trainer_pb2.Job]:
        return list((await self._call(self.trainer.ListJobs, trainer_pb2.ListJobsRequest(limit=limit), self.timeout)).jobs)

    async def cancel_job(self, job_id: str) -> trainer_pb2.Job:
        return await self._call(self.trainer.CancelJob, trainer_pb2.CancelJobRequest(id=job_id), self.timeout)

    def watch_job(self, job_id: str, after_sequence: int = 0) -> AsyncIterator[trainer_pb2.JobEvent]:
        return self._stream(self.trainer.WatchJob, trainer_pb2.WatchJobRequest(id=job_id, after_sequence=after_sequence), None)

    async def list_job_events(self, job_id: str, after_sequence: int = 0, limit: int = 0) -> trainer_pb2.ListJobEventsResponse:
        request = trainer_pb2.ListJobEventsRequest(id=job_id, after_sequence=after_sequence, limit=limit)
        return await self._call(self.trainer.ListJobEvents, request, self.timeout)

    async def upload_file(self, data: str | bytes, filename: str = "", purpose: str = "fine-tune") -> trainer_pb2.TrainingFile:
        return await self._call(self.trainer.UploadFile, upload_file_request(data, filename, purpose), self.timeout)

    async def list_files(self, purpose: str = "", limit: int = 100, after: str = "") -> trainer_pb2.ListFilesResponse:
        request = trainer_pb2.ListFilesRequest(purpose=purpose, limit=limit, after=after)
        return await self._call(self.trainer.ListFiles, request, self.timeout)

    async def get_file(self, file_id: str) -> trainer_pb2.TrainingFile:
        return await self._call(self.trainer.GetFile, trainer_pb2.GetFileRequest(id=file_id), self.timeout)

    async def get_file_content(self, file_id: str) -> bytes:
        return (await self._call(self.trainer.GetFileContent, trainer_pb2.GetFileRequest(id=file_id), self.timeout)).content

    async def delete_file(self, file_id: str) -> trainer_pb2.TrainingFile:
        return await self._call(self.trainer.DeleteFile, trainer_pb2.GetFileRequest(id=file_id), self.timeout)

    async def health(self, service: str = "") -> str:
        response = await self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), self.timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    async def wait_until_ready(self, timeout: float = 300.0, interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=interval * 4, metadata=self.metadata)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise UnavailableError(f"{self.target} did not report SERVING within {timeout:g} s")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
