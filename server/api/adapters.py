"""The tuneserve.v1.Adapters service: list, load, unload, set current (rollback), import."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from pydantic import ValidationError
from tuneserve.v1 import adapters_pb2, adapters_pb2_grpc

from common.adapter_manifest import CONFIG_FILE, MAX_VERSION, WEIGHTS_FILE, check_name
from common.errors import FailedPrecondition, InvalidRequest, NotFound, invalid_request
from common.rollout import GuardRule
from common.threads import arun_on_fresh_thread
from server.adapters.loader import AdapterRefused, BaseSpec, manifest_for_peft_dir
from server.adapters.manager import AdapterManager, AdapterStatus
from server.api.serving_state import ServingState
from server.experiments.report import ArmReport

IMPORTABLE_FILES = (CONFIG_FILE, WEIGHTS_FILE, "README.md")
MAX_IMPORT_BYTES = 4 * 2**30


def adapter_info(status: AdapterStatus) -> adapters_pb2.AdapterInfo:
    return adapters_pb2.AdapterInfo(
        name=status.name,
        current_version=status.current_version,
        serving_version=status.serving_version,
        rollout_weights=status.rollout.weights if status.rollout else {},
        rollout_shadow=status.rollout.shadow if status.rollout else 0,
        rollout_guarded=status.rollout is not None and status.rollout.guard is not None,
        versions=[
            adapters_pb2.AdapterVersion(
                version=v.version,
                state=f"ADAPTER_STATE_{v.state.upper()}",
                tier=f"ADAPTER_TIER_{v.tier.upper()}",
                last_error=v.error,
                refusal_reason=v.reason,
                active_requests=v.refs,
                content_hash=v.content_hash,
                rank=v.rank,
            )
            for v in status.versions
        ],
    )


_GUARD_FIELDS = ("max_error_rate_increase", "max_latency_ratio", "max_accuracy_drop")


def guard_rule(message: adapters_pb2.GuardRule) -> GuardRule:
    """The rule a GuardRule message asks for; unset fields take the defaults."""
    values: dict[str, Any] = {name: getattr(message, name) for name in _GUARD_FIELDS if message.HasField(name)}
    if message.min_samples:
        values["min_samples"] = message.min_samples
    try:
        return GuardRule(**values)
    except ValidationError as exc:
        raise invalid_request(exc, "guard.", "guard") from None


def arm_proto(arm: ArmReport) -> adapters_pb2.ArmReport:
    values = dataclasses.asdict(arm)
    values["answers"] = values.pop("outputs")
    return adapters_pb2.ArmReport(**values)


class AdaptersService(adapters_pb2_grpc.AdaptersServicer):
    def __init__(self, state: ServingState) -> None:
        self._state = state

    def _manager(self) -> AdapterManager:
        manager = self._state.require().adapters
        if not isinstance(manager, AdapterManager):
            raise FailedPrecondition("this server has no adapter store; start it with --adapter-store DIR")
        return manager

    async def ListAdapters(
        self, request: adapters_pb2.ListAdaptersRequest, context: grpc.aio.ServicerContext
    ) -> adapters_pb2.ListAdaptersResponse:
        return adapters_pb2.ListAdaptersResponse(adapters=[adapter_info(s) for s in self._manager().statuses()])

    async def GetAdapter(self, request: adapters_pb2.GetAdapterRequest, context: grpc.aio.ServicerContext) -> adapters_pb2.AdapterInfo:
        return adapter_info(self._manager().status(check_name(request.name, "name")))

    async def LoadAdapter(self, request: adapters_pb2.LoadAdapterRequest, context: grpc.aio.ServicerContext) -> adapters_pb2.AdapterInfo:
        return adapter_info(await self._manager().load(request.adapter))

    async def UnloadAdapter(
        self, request: adapters_pb2.UnloadAdapterRequest, context: grpc.aio.ServicerContext
    ) -> adapters_pb2.AdapterInfo:
        return adapter_info(self._manager().unload(request.adapter))

    async def SetCurrentVersion(
        self, request: adapters_pb2.SetCurrentVersionRequest, context: grpc.aio.ServicerContext
    ) -> adapters_pb2.AdapterInfo:
        if not 1 <= request.version <= MAX_VERSION:
            raise InvalidRequest("version", f"must be a version number from 1 to {MAX_VERSION}, got {request.version}")
        return adapter_info(await self._manager().set_current(check_name(request.name, "name"), request.version))

    async def SetRollout(self, request: adapters_pb2.SetRolloutRequest, context: grpc.aio.ServicerContext) -> adapters_pb2.AdapterInfo:
        name = check_name(request.name, "name")
        for version in request.weights:
            if version > MAX_VERSION:
                raise InvalidRequest("weights", f"version {version} is not a version number from 0 to {MAX_VERSION}")
        if request.shadow > MAX_VERSION:
            raise InvalidRequest("shadow", f"must be a version number from 1 to {MAX_VERSION} (or 0 for none), got {request.shadow}")
        guard = guard_rule(request.guard) if request.HasField("guard") else None
        return adapter_info(await self._manager().set_rollout(name, dict(request.weights), request.shadow, guard))

    async def ClearRollout(self, request: adapters_pb2.ClearRolloutRequest, context: grpc.aio.ServicerContext) -> adapters_pb2.AdapterInfo:
        return adapter_info(await self._manager().clear_rollout(check_name(request.name, "name")))

    async def GetExperiment(self, request: adapters_pb2.GetExperimentRequest, context: grpc.aio.ServicerContext) -> adapters_pb2.Experiment:
        name = check_name(request.name, "name")
        manager = self._manager()
        experiments = self._state.require().experiments
        if experiments is None:
            raise FailedPrecondition("this server could not open its experiment record (see its log), so it has no report")
        status = manager.status(name)
        if not status.versions:
            raise NotFound(f"adapter {name!r} is not in the adapter store")
        policy = status.rollout
        since = policy.started_at if policy else time.time() - experiments.store.retention_s
        arms, events = await experiments.report(name, policy, status.serving_version, since)
        return adapters_pb2.Experiment(
            name=name,
            rollout=policy.describe() if policy else "",
            since_unix_s=since,
            serving_version=status.serving_version,
            arms=[arm_proto(arm) for arm in arms],
            events=[adapters_pb2.ExperimentEvent(time_unix_s=e.created, kind=e.kind, detail=e.detail) for e in events],
        )

    async def ImportAdapter(
        self, requests: AsyncIterator[adapters_pb2.ImportAdapterRequest], context: grpc.aio.ServicerContext
    ) -> adapters_pb2.ImportAdapterResponse:
        manager = self._manager()
        staging = manager.store.import_staging()
        try:
            header = await _receive(requests, staging)
            spec: BaseSpec = manager.spec
            try:
                manifest = await arun_on_fresh_thread(
                    lambda: manifest_for_peft_dir(staging, spec, manager.max_lora_rank, header.name, header.source or "import"),
                    "tuneserve-adapter-import",
                )
            except AdapterRefused as exc:  # the adapter is this request's payload
                manager.count_refusal(f"{header.name} (import)", exc)
                raise InvalidRequest("chunk", f"the adapter is refused ({exc.reason.value}): {exc.message}") from None
            version = await arun_on_fresh_thread(lambda: manager.store.publish(staging, manifest, make_current=header.make_current))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        await manager.refresh()
        return adapters_pb2.ImportAdapterResponse(
            name=header.name,
            version=version,
            base_fingerprint=manifest.base_fingerprint,
            rank=manifest.rank,
            target_modules=manifest.target_modules,
        )


async def _receive(requests: AsyncIterator[adapters_pb2.ImportAdapterRequest], staging: Path) -> adapters_pb2.ImportHeader:
    """Writes the streamed files into `staging`; returns the header after checking it."""
    header: adapters_pb2.ImportHeader | None = None
    total = 0
    async for message in requests:
        if message.HasField("header"):
            if header is not None:
                raise InvalidRequest("header", "send the header once, in the first message")
            header = message.header
            check_name(header.name, "header.name")
            continue
        if header is None:
            raise InvalidRequest("header", "the first message must carry the header")
        chunk = message.chunk
        if chunk.file_name not in IMPORTABLE_FILES:
            raise InvalidRequest(
                "chunk.file_name", f"only {', '.join(IMPORTABLE_FILES)} are imported (pickle weights never are), got {chunk.file_name!r}"
            )
        total += len(chunk.data)
        if total > MAX_IMPORT_BYTES:
            raise InvalidRequest("chunk", f"the import is larger than {MAX_IMPORT_BYTES >> 30} GiB")
        with (staging / chunk.file_name).open("ab") as f:
            f.write(chunk.data)
    if header is None:
        raise InvalidRequest("header", "no header was sent")
    for required in (CONFIG_FILE, WEIGHTS_FILE):
        if not (staging / required).is_file():
            raise InvalidRequest("chunk.file_name", f"{required} was not sent")
    return header
