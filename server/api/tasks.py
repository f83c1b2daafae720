"""The tuneserve.v1.Tasks service: ListTasks, GetTask, Classify(Batch), RunTask(Stream)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from tuneserve.v1 import common_pb2, inference_pb2, tasks_pb2, tasks_pb2_grpc

from common.adapter_manifest import check_name
from common.errors import Cancelled, DeadlineExceeded, InvalidRequest, NotFound, TuneserveError
from common.logs import request_id_var
from common.task_spec import TaskSpec, completion_ids, prompt_ids, render_prompt
from server.adapters.loader import LoadedAdapter
from server.adapters.manager import Route
from server.api.admission import Prompt
from server.api.event_stream import finish_all
from server.api.inference import (
    PromptNote,
    adapter_label,
    answer_recorded,
    request_id_header,
    request_id_trailer,
    stream_recorded,
    timings_proto,
    usage_proto,
)
from server.api.rollouts import failures_recorded, record
from server.api.serving_state import Serving, ServingState
from server.engine.request import Finished, GenerationRequest
from server.engine.sampling import SamplingParams
from server.tasks.few_shot import build
from server.tasks.registry import Task, adapter_ref, spec_for_call


@dataclass
class TaskCall:
    serving: Serving
    spec: TaskSpec  # the spec this call renders with (the adapter version's own, when it has one)
    route: Route  # the adapter (None for the base model, or a split's prompting arm) and the arm

    @property
    def adapter(self) -> LoadedAdapter | None:
        return self.route.adapter


def render_input(call: TaskCall, text: str, budget: int, field: str) -> tuple[Prompt, PromptNote]:
    """The prompt a task call answers for `text`, in `budget` tokens (blocking: run it off the event loop)."""
    serving, spec = call.serving, call.spec
    if not text.strip():
        raise InvalidRequest(field, "is empty")
    serving.admission.check_chars(field, len(text))
    tokenizer = serving.base.tokenizer
    if call.adapter is None and spec.demonstrations:
        built = build(tokenizer, spec, text, spec.demonstrations, budget, strategy=spec.selection, query_field=field)
        return Prompt(built.text, built.token_ids), PromptNote(tuple(built.used), "demonstrations")
    rendered = render_prompt(tokenizer, spec, text)
    prompt = Prompt(rendered, prompt_ids(tokenizer, rendered))
    if len(prompt.token_ids) > budget:
        raise InvalidRequest(field, f"the prompt has {len(prompt.token_ids)} tokens; at most {budget} fit, shorten the input")
    return prompt, PromptNote((), "adapter" if call.adapter else "base")


def ended_early(finished: Finished, remaining: float | None) -> TuneserveError:
    """Why a classification has no scores: the caller's deadline passed, or the call was cancelled."""
    if remaining is not None and finished.total_s >= remaining:
        return DeadlineExceeded("the deadline passed before the labels were scored")
    return Cancelled("the request was cancelled before its labels were scored")


def parameters_proto(values: dict[str, Any]) -> common_pb2.GenerationParameters:
    return json_format.ParseDict(values, common_pb2.GenerationParameters())


def task_info(task: Task, serving: Serving) -> tasks_pb2.TaskInfo:
    spec = task.spec
    adapter = ""
    if task.adapter:
        name, _, pinned = task.adapter.partition("@")
        try:
            status = serving.adapters.status(name)
            adapter = f"{name}@{pinned or status.serving_version or status.current_version}"
        except NotFound:
            adapter = f"{task.adapter} (not in the store)"
    return tasks_pb2.TaskInfo(
        name=spec.name,
        kind=spec.kind,
        labels=spec.labels,
        instruction=spec.instruction,
        template=spec.template,
        input_format=spec.format,
        backing=f"TASK_BACKING_{task.backing.upper()}",
        adapter=adapter,
        demonstrations=len(spec.demonstrations),
        source=task.source,
        default_parameters=parameters_proto(spec.parameters),
        output_schema=spec.schema_text() if spec.output_schema is not None else "",
    )


class TasksService(tasks_pb2_grpc.TasksServicer):
    def __init__(self, state: ServingState) -> None:
        self._state = state

    def _task(self, name: str) -> tuple[Serving, Task]:
        serving = self._state.require()
        return serving, serving.tasks.get(check_name(name, "task"))

    @contextlib.asynccontextmanager
    async def _call(self, task: Task, context: grpc.aio.ServicerContext, routing_key: str) -> AsyncIterator[TaskCall]:
        """Holds the task's adapter (if any) for the call, on the arm of its split that `routing_key`
        lands on; the call renders with that version's spec."""
        serving = self._state.require()
        route = await serving.adapters.acquire_routed(adapter_ref(task), context.time_remaining(), routing_key)
        try:
            yield TaskCall(serving, spec_for_call(task, route.adapter), route)
        finally:
            serving.adapters.release(route.adapter)

    # -- listing ------------------------------------------------------------------------------

    async def ListTasks(self, request: tasks_pb2.ListTasksRequest, context: grpc.aio.ServicerContext) -> tasks_pb2.ListTasksResponse:
        serving = self._state.require()
        problems = [tasks_pb2.TaskProblem(source=source, error=error) for source, error in serving.tasks.problems().items()]
        return tasks_pb2.ListTasksResponse(tasks=[task_info(t, serving) for t in serving.tasks.all()], problems=problems)

    async def GetTask(self, request: tasks_pb2.GetTaskRequest, context: grpc.aio.ServicerContext) -> tasks_pb2.TaskInfo:
        serving, task = self._task(request.name)
        return task_info(task, serving)

    # -- classification -----------------------------------------------------------------------

    async def _classify(
        self, task: Task, inputs: list[tuple[str, str]], request_ids: list[str], context: grpc.aio.ServicerContext, routing_key: str
    ) -> list[tasks_pb2.ClassifyResponse]:
        """Scores every label after each input's prompt; the inputs go to the engine as one unit.

        `inputs` are (text, field) pairs; one bad input fails the call and cancels the rest."""
        serving = self._state.require()
        if task.spec.kind != "classification":
            raise InvalidRequest("task", f"{task.spec.name!r} is a generation task; call RunTask")
        arrival, remaining = time.monotonic(), context.time_remaining()
        async with self._call(task, context, routing_key) as call:
            labels = call.spec.labels  # the adapter version's own, when it has a task spec
            if len(labels) > serving.settings.max_labels:
                raise InvalidRequest(
                    "task", f"{task.spec.name!r} has {len(labels)} labels; the server accepts at most {serving.settings.max_labels}"
                )

            def prepare() -> tuple[tuple[tuple[int, ...], ...], list[tuple[Prompt, PromptNote]]]:
                tokenizer, eos = serving.base.tokenizer, serving.base.tokenizer.eos_token_id
                branches = tuple(tuple(completion_ids(tokenizer, call.spec, label, eos)) for label in labels)
                limits = serving.admission.limits
                budget = min(limits.max_prompt_tokens, limits.context_window - sum(len(b) for b in branches))
                return branches, [render_input(call, text, budget, field) for text, field in inputs]

            branches, prompts = await asyncio.to_thread(prepare)
            deadline = arrival + remaining if remaining is not None else None
            requests = [
                GenerationRequest(
                    request_id=request_id,
                    prompt_ids=tuple(prompt.token_ids),
                    params=SamplingParams(max_new_tokens=sum(len(b) for b in branches)),
                    arrival=arrival,
                    deadline_at=deadline,
                    adapter=call.adapter,
                    branches=branches,
                )
                for request_id, (prompt, _) in zip(request_ids, prompts, strict=True)
            ]
            for request in requests:
                serving.shadows.copy(serving, call.route, request, labels)
            with failures_recorded(serving, call.route, request_ids[0], arrival):
                results = await finish_all(serving.engine, requests)
        responses = []
        for request_id, (_, note), finished in zip(request_ids, prompts, results, strict=True):
            if len(finished.scores) != len(labels):
                raise ended_early(finished, remaining)
            top = max(finished.scores)
            weights = [math.exp(s - top) for s in finished.scores]
            total = sum(weights)
            scores = sorted(
                (
                    tasks_pb2.LabelScore(label=label, probability=w / total, logprob=s)
                    for label, w, s in zip(labels, weights, finished.scores, strict=True)
                ),
                key=lambda x: -x.probability,
            )
            serving.metrics.classified.labels(note.backing).inc()
            record(serving, call.route, request_id, scores[0].label, finished.total_s)
            responses.append(
                tasks_pb2.ClassifyResponse(
                    label=scores[0].label,
                    scores=scores,
                    adapter=adapter_label(call.adapter),
                    prompt_info=note.proto(finished),
                    usage=usage_proto(finished),
                    timings=timings_proto(finished),
                    request_id=request_id,
                    rollout_arm=call.route.arm,
                )
            )
        return responses

    def _request_id(self, given: str) -> str:
        serving = self._state.require()
        request_id = serving.admission.request_id(given or request_id_var.get())
        request_id_var.set(request_id)
        return request_id

    async def Classify(self, request: tasks_pb2.ClassifyRequest, context: grpc.aio.ServicerContext) -> tasks_pb2.ClassifyResponse:
        _, task = self._task(request.task)
        request_id = self._request_id(request.request_id)
        answer = (await self._classify(task, [(request.input, "input")], [request_id], context, request.routing_key))[0]
        request_id_trailer(context, request_id)
        return answer

    async def ClassifyBatch(
        self, request: tasks_pb2.ClassifyBatchRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ClassifyBatchResponse:
        serving, task = self._task(request.task)
        if not request.inputs:
            raise InvalidRequest("inputs", "is empty")
        if len(request.inputs) > serving.settings.max_classify_batch:
            raise InvalidRequest("inputs", f"has {len(request.inputs)} inputs; at most {serving.settings.max_classify_batch} per call")
        base_id = self._request_id("")
        inputs = [(text, f"inputs[{i}]") for i, text in enumerate(request.inputs)]
        results = await self._classify(task, inputs, [f"{base_id}-{i}" for i in range(len(inputs))], context, request.routing_key)
        return tasks_pb2.ClassifyBatchResponse(results=results)

    # -- generation ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _run(
        self, request: tasks_pb2.RunTaskRequest, context: grpc.aio.ServicerContext, stream: bool
    ) -> AsyncIterator[tuple[Serving, GenerationRequest, PromptNote, Route]]:
        serving, task = self._task(request.task)
        if task.spec.kind != "generation":
            raise InvalidRequest("task", f"{task.spec.name!r} is a classification task; call Classify")
        params = request.parameters if request.HasField("parameters") else None
        request_id = self._request_id(request.request_id)
        remaining = context.time_remaining()
        async with self._call(task, context, request.routing_key) as call:
            defaults = parameters_proto(call.spec.parameters)
            if call.spec.output_schema is not None:
                if params is not None and params.HasField("structured_output"):
                    raise InvalidRequest(
                        "parameters.structured_output", f"task {task.spec.name!r} answers by its own output_schema; leave this unset"
                    )
                defaults.structured_output.json_schema = call.spec.schema_text()

            def prepare() -> tuple[GenerationRequest, PromptNote]:
                prompt, note = render_input(call, request.input, serving.admission.budget(params, defaults), "input")
                generate = inference_pb2.GenerateRequest(parameters=params, request_id=request_id)
                return serving.admission.generation(generate, time_remaining=remaining, defaults=defaults, prompt=prompt), note

            generation, note = await asyncio.to_thread(prepare)
            generation = dataclasses.replace(generation, adapter=call.adapter)
            note = dataclasses.replace(note, arm=call.route.arm)
            with failures_recorded(serving, call.route, request_id, generation.arrival):
                if stream:  # a unary call gives it with its reply (server.api.inference.request_id_trailer)
                    await request_id_header(context, request_id)
                serving.shadows.copy(serving, call.route, generation)
                yield serving, generation, note, call.route

    async def RunTask(self, request: tasks_pb2.RunTaskRequest, context: grpc.aio.ServicerContext) -> inference_pb2.GenerateResponse:
        async with self._run(request, context, stream=False) as (serving, generation, note, route):
            response = await answer_recorded(serving, generation, note, route)
            request_id_trailer(context, generation.request_id)
            return response

    async def RunTaskStream(
        self, request: tasks_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
        async with self._run(request, context, stream=True) as (serving, generation, note, route):
            async for chunk in stream_recorded(serving, generation, note, route):
                yield chunk
