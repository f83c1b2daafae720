"""Assembling and running the gRPC server: services, health, reflection, metrics, start-up order.

The gRPC port opens first and reports NOT_SERVING through the standard health service; the model
loads and warms up in the background; then health turns SERVING. Orchestrators can therefore
probe the pod from its first second, and callers get UNAVAILABLE (retryable) until it is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tuneserve.v1 import adapters_pb2, adapters_pb2_grpc, inference_pb2, inference_pb2_grpc, tasks_pb2, tasks_pb2_grpc

from common.adapter_store import AdapterStore
from common.base_model import BaseModel, load_base_model
from common.prompting import longest_token_chars
from common.rpc.endpoints import Endpoints
from common.threads import arun_on_fresh_thread
from server import __version__
from server.adapters.loader import BaseSpec
from server.adapters.manager import AdapterManager, NoAdapters
from server.adapters.watcher import watch
from server.api.adapters import AdaptersService
from server.api.admission import Admission, Limits
from server.api.event_stream import stream_generation
from server.api.inference import InferenceService
from server.api.serving_state import Serving, ServingState
from server.api.tasks import TasksService
from server.config import ServerSettings
from server.engine.engine import Engine, EngineConfig
from server.engine.kv_cache import PagedKVCache
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams
from server.metrics import ServerMetrics
from server.tasks.registry import TaskRegistry

log = logging.getLogger(__name__)

INFERENCE_SERVICE = inference_pb2.DESCRIPTOR.services_by_name["Inference"].full_name
ADAPTERS_SERVICE = adapters_pb2.DESCRIPTOR.services_by_name["Adapters"].full_name
TASKS_SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["Tasks"].full_name


class TuneserveServer:
    """One inference server: gRPC services on `port`, Prometheus metrics on `metrics_port`."""

    def __init__(self, settings: ServerSettings, base: BaseModel | None = None) -> None:
        self.settings = settings
        self.state = ServingState()
        self.metrics = ServerMetrics()
        self._preloaded = base
        self.endpoints: Endpoints | None = None
        self._bring_up: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stop_watching = asyncio.Event()
        self.service_names = [INFERENCE_SERVICE, ADAPTERS_SERVICE, TASKS_SERVICE]

    @property
    def port(self) -> int:
        return self.endpoints.port if self.endpoints else 0

    @property
    def metrics_port(self) -> int:
        return self.endpoints.metrics_port if self.endpoints else 0

    @property
    def health_port(self) -> int:
        return self.endpoints.health_port if self.endpoints else 0

    async def start(self) -> None:
        """Opens the ports and starts loading the model; returns before the model is ready."""
        endpoints = Endpoints(self.settings, self.metrics, self.settings.max_message_bytes, self.service_names)
        inference_pb2_grpc.add_InferenceServicer_to_server(InferenceService(self.state), endpoints.grpc)
        adapters_pb2_grpc.add_AdaptersServicer_to_server(AdaptersService(self.state), endpoints.grpc)
        tasks_pb2_grpc.add_TasksServicer_to_server(TasksService(self.state), endpoints.grpc)
        self.endpoints = endpoints
        await endpoints.open("server", version=__version__)
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
            limits = Limits.from_settings(self.settings, engine.config.max_model_len, longest_token_chars(base.tokenizer))
            adapters = self._adapter_manager(base, engine)
            store = adapters.store if isinstance(adapters, AdapterManager) else None
            tasks = TaskRegistry(self.settings.task_dir, store)
            tasks.refresh()
            serving = Serving(
                base=base,
                engine=engine,
                admission=Admission(base, limits),
                adapters=adapters,
                tasks=tasks,
                settings=self.settings,
                metrics=self.metrics,
            )
            block_bytes = engine.config.block_size * PagedKVCache.bytes_per_token(
                base.config.num_hidden_layers, base.config.num_key_value_heads, engine.runner.head_dim, base.dtype
            )
            self.metrics.bind_engine(lambda: engine.num_running, lambda: engine.num_waiting, engine.config.num_blocks, block_bytes)
            self.metrics.describe_model(_model_labels(base), base.load_seconds)
            if self.settings.warmup:
                await _warm_up(serving)
        except Exception as exc:
            self.state.failure = str(exc)
            log.exception("the server could not start serving")
            raise
        self.state.set(serving)
        self._watcher = asyncio.create_task(self._watch(serving))
        self.metrics.ready.set(1)
        assert self.endpoints is not None
        await self.endpoints.set_serving(True)
        log.info("serving", extra={"model": base.name, "quantization": base.quantization, "device": str(base.device)})

    async def _watch(self, serving: Serving) -> None:
        """Keeps adapters and tasks current with the store and the task directory."""
        paths = [p for p in (self.settings.adapter_store, self.settings.task_dir) if p is not None]

        async def refresh() -> None:
            if isinstance(serving.adapters, AdapterManager):
                await serving.adapters.refresh()
            await asyncio.to_thread(serving.tasks.refresh)

        await watch(refresh, paths, self.settings.adapter_watch, self.settings.adapter_poll_interval_s, self._stop_watching)

    def _adapter_manager(self, base: BaseModel, engine: Engine) -> AdapterManager | NoAdapters:
        if self.settings.adapter_store is None or engine.slots is None:
            return NoAdapters()
        store = AdapterStore(self.settings.adapter_store)
        store.clean_stale_imports()
        manager = AdapterManager(
            store,
            BaseSpec.from_base(base),
            engine.slots,
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
        endpoints = self.endpoints
        if endpoints is not None:
            await endpoints.health.enter_graceful_shutdown()
        serving = self.state.require() if self.state.ready else None
        if serving:
            serving.engine.stop_accepting()
        if endpoints is not None:
            await endpoints.stop_grpc(grace)
        if self._bring_up is not None and not self._bring_up.done():
            self._bring_up.cancel()
        self._stop_watching.set()
        if self._watcher is not None:
            await self._watcher
        if serving:
            await serving.adapters.close()
            await arun_on_fresh_thread(serving.engine.stop, "tuneserve-engine-stop")
        if endpoints is not None:
            endpoints.close_metrics()
        self.metrics.ready.set(0)
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        assert self.endpoints is not None
        await self.endpoints.grpc.wait_for_termination()


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
