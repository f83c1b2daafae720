"""Assembling and running the gRPC server: services, health, reflection, metrics, start-up order.

The gRPC port opens first and reports NOT_SERVING through the standard health service; the model
loads and warms up in the background; then health turns SERVING. Orchestrators can therefore
probe the pod from its first second, and callers get UNAVAILABLE (retryable) until it is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tuneserve.v1 import adapters_pb2, adapters_pb2_grpc, inference_pb2, inference_pb2_grpc

from server import __version__
from server.adapter_loader import BaseSpec
from server.adapter_manager import AdapterManager, NoAdapters
from server.adapter_store import AdapterStore
from server.adapters_service import AdaptersService
from server.admission import Admission, Limits
from server.base_model import BaseModel, load_base_model
from server.config import ServerSettings
from server.engine import Engine, EngineConfig
from server.event_stream import stream_generation
from server.grpc_status import StatusInterceptor
from server.inference_service import InferenceService
from server.metrics import ServerMetrics, serve_metrics
from server.request import GenerationRequest
from server.sampling import SamplingParams
from server.serving_state import Serving, ServingState
from server.store_watcher import watch_store
from server.threads import arun_on_fresh_thread

log = logging.getLogger(__name__)

INFERENCE_SERVICE = inference_pb2.DESCRIPTOR.services_by_name["Inference"].full_name
ADAPTERS_SERVICE = adapters_pb2.DESCRIPTOR.services_by_name["Adapters"].full_name


class TuneserveServer:
    """One inference server: gRPC services on `port`, Prometheus metrics on `metrics_port`."""

    def __init__(self, settings: ServerSettings, base: BaseModel | None = None) -> None:
        self.settings = settings
        self.state = ServingState()
        self.metrics = ServerMetrics()
        self.health = health.aio.HealthServicer()
        self._preloaded = base
        self._grpc: grpc.aio.Server | None = None
        self._metrics_httpd: Any = None
        self._bring_up: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stop_watching = asyncio.Event()
        self.port = 0
        self.metrics_port = 0
        self.service_names = [INFERENCE_SERVICE, ADAPTERS_SERVICE]

    def _build_grpc(self) -> grpc.aio.Server:
        size = self.settings.max_message_bytes
        server = grpc.aio.server(
            interceptors=[StatusInterceptor(self.metrics)],
            options=[("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)],
        )
        inference_pb2_grpc.add_InferenceServicer_to_server(InferenceService(self.state), server)
        adapters_pb2_grpc.add_AdaptersServicer_to_server(AdaptersService(self.state), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection([*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        return server

    async def start(self) -> None:
        """Opens the ports and starts loading the model; returns before the model is ready."""
        metrics_host = self.settings.metrics_host or self.settings.host
        try:
            self._metrics_httpd, self.metrics_port = serve_metrics(self.metrics.registry, metrics_host, self.settings.metrics_port)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {metrics_host}:{self.settings.metrics_port}: {exc.strerror}") from None
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._grpc = self._build_grpc()
        address = f"{self.settings.host}:{self.settings.port}"
        try:
            self.port = self._grpc.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
            raise OSError(f"cannot listen for gRPC on {address}: the address is in use or not local")
        await self._grpc.start()
        log.info("listening", extra={"grpc": f"{self.settings.host}:{self.port}", "metrics": f"{metrics_host}:{self.metrics_port}", "version": __version__})
        self._bring_up = asyncio.create_task(self._start_serving())

    async def wait_ready(self) -> None:
        """Returns once SERVING; raises what stopped the model from loading."""
        assert self._bring_up is not None, "start() first"
        await asyncio.shield(self._bring_up)

    async def _start_serving(self) -> None:
        try:
            base = await self._load_base()
            engine = Engine(base, EngineConfig.from_settings(self.settings, base), self.metrics)
            await arun_on_fresh_thread(engine.start, "tuneserve-engine-start")
            limits = Limits.from_settings(self.settings, engine.config.max_model_len)
            serving = Serving(base=base, engine=engine, admission=Admission(base, limits), adapters=self._adapter_manager(base, engine))
            self.metrics.bind_engine(lambda: engine.num_running, lambda: engine.num_waiting, engine.config.num_blocks)
            self.metrics.describe_model(_model_labels(base), base.load_seconds)
            if self.settings.warmup:
                await _warm_up(serving)
        except Exception as exc:
            self.state.failure = str(exc)
            log.exception("the server could not start serving")
            raise
        self.state.set(serving)
        if isinstance(serving.adapters, AdapterManager):
            watch = watch_store(serving.adapters, serving.adapters.store.root, self.settings.adapter_watch, self.settings.adapter_poll_interval_s, self._stop_watching)
            self._watcher = asyncio.create_task(watch)
        self.metrics.ready.set(1)
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"model": base.name, "quantization": base.quantization, "device": str(base.device)})

    def _adapter_manager(self, base: BaseModel, engine: Engine) -> AdapterManager | NoAdapters:
        if self.settings.adapter_store is None:
            return NoAdapters()
        manager = AdapterManager(
            AdapterStore(self.settings.adapter_store),
            BaseSpec.from_base(base),
            engine,
            max_lora_rank=self.settings.max_lora_rank,
            host_budget_bytes=self.settings.max_host_adapter_mb * 2**20,
            load_timeout_s=self.settings.adapter_load_timeout_s,
            metrics=self.metrics,
        )
        self.metrics.bind_adapters(manager.tier_counts, self.settings.adapter_metric_labels)
        return manager

    async def _load_base(self) -> BaseModel:
        if self._preloaded is not None:
            return self._preloaded
        return await arun_on_fresh_thread(lambda: load_base_model(self.settings), "tuneserve-model-loader")

    async def stop(self, grace: float | None = None) -> None:
        """Stops taking requests, lets running ones finish for `grace` seconds, then cancels the rest."""
        grace = self.settings.shutdown_grace_s if grace is None else grace
        log.info("stopping", extra={"grace_s": grace})
        await self.health.enter_graceful_shutdown()
        serving = self.state.require() if self.state.ready else None
        if serving:
            serving.engine.stop_accepting()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        if self._bring_up is not None and not self._bring_up.done():
            self._bring_up.cancel()
        self._stop_watching.set()
        if self._watcher is not None:
            await self._watcher
        if serving:
            await serving.adapters.close()
            await arun_on_fresh_thread(serving.engine.stop, "tuneserve-engine-stop")
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
        self.metrics.ready.set(0)
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        assert self._grpc is not None
        await self._grpc.wait_for_termination()


def _model_labels(base: BaseModel) -> dict[str, str]:
    return {
        "model": base.name,
        "source": base.source.describe(),
        "architecture": base.architecture,
        "fingerprint": base.fingerprint,
        "quantization": base.quantization,
        "dtype": str(base.dtype).removeprefix("torch."),
        "device": str(base.device),
        "version": __version__,
    }


async def _warm_up(serving: Serving) -> None:
    started = time.monotonic()
    ids = serving.admission.prompt("Hello", []).token_ids
    request = GenerationRequest("warmup", tuple(ids), SamplingParams(max_new_tokens=4), arrival=time.monotonic())
    async for _ in stream_generation(serving.engine, request):
        pass
    log.info("warmed up", extra={"seconds": round(time.monotonic() - started, 2)})
