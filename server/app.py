"""Assembling the inference server: its services, and what `bring_up` builds in the background
(base model, engine, warm-up, adapters, tasks) while the ports already answer NOT_SERVING.

The start-up and shutdown order is common.rpc.app's, shared with the trainer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import sqlalchemy as sa
from tuneserve.v1 import adapters_pb2, adapters_pb2_grpc, inference_pb2, inference_pb2_grpc, tasks_pb2, tasks_pb2_grpc

from common.base_model import BaseModel, load_base_model
from common.database.connect import database_url, describe, open_database
from common.prompting import longest_token_chars
from common.rpc.app import RpcApp
from common.threads import arun_on_fresh_thread
from server import __version__
from server.adapters.loader import BaseSpec
from server.adapters.manager import AdapterManager, NoAdapters
from server.adapters.watcher import watch
from server.api.adapters import AdaptersService
from server.api.admission import Admission, Limits
from server.api.event_stream import stream_generation
from server.api.inference import InferenceService
from server.api.openai.fine_tuning import FineTuning
from server.api.openai.listener import HttpListener
from server.api.openai.routes import OpenAIRoutes
from server.api.openai.stored_responses import ResponseStore
from server.api.rollouts import Shadows
from server.api.serving_state import Serving, ServingState
from server.api.tasks import TasksService
from server.compile_cache_child import CompileCacheChild
from server.config import ServerSettings
from server.engine.engine import Engine, EngineConfig
from server.engine.kv_cache import PagedKVCache
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams
from server.engine.structured_output import ConstraintSpec
from server.experiments.recorder import Experiments
from server.experiments.store import ExperimentStore
from server.metrics import EngineView, ServerMetrics
from server.tasks.registry import TaskRegistry

log = logging.getLogger(__name__)

INFERENCE_SERVICE = inference_pb2.DESCRIPTOR.services_by_name["Inference"].full_name
ADAPTERS_SERVICE = adapters_pb2.DESCRIPTOR.services_by_name["Adapters"].full_name
TASKS_SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["Tasks"].full_name


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Runs `callback` on `loop` from another thread (a store's notification listener)."""
    loop.call_soon_threadsafe(callback)


class TuneserveServer(RpcApp):
    """One inference server: gRPC services on `port`, Prometheus metrics on `metrics_port`."""

    what = "server"
    settings: ServerSettings
    metrics: ServerMetrics

    def __init__(self, settings: ServerSettings, base: BaseModel | None = None) -> None:
        super().__init__(settings, ServerMetrics(), settings.max_message_bytes, [INFERENCE_SERVICE, ADAPTERS_SERVICE, TASKS_SERVICE])
        self.state = ServingState()
        self._preloaded = base
        self._watcher: asyncio.Task[None] | None = None
        self._guard: asyncio.Task[None] | None = None
        self._stop_watching = asyncio.Event()
        self.http: HttpListener | None = None
        self._fine_tuning: FineTuning | None = None  # the OpenAI API's files and fine-tuning routes
        self._responses: ResponseStore | None = None  # the Responses API's stored responses (responses_store)
        self._engine: sa.Engine | None = None  # the database of the experiment record and stored responses, once open
        self._engine_lock = threading.Lock()
        self._http_closing: asyncio.Task[None] | None = None

    @property
    def http_port(self) -> int:
        return self.http.port if self.http is not None else 0

    async def start(self) -> None:
        """Opens the gRPC, metrics and health ports, then the HTTP API port when it is on."""
        await super().start()
        if self.settings.http_port:
            assert self.endpoints is not None
            tokens = self.endpoints.security.tokens
            if self.settings.responses_store:
                self._responses = await asyncio.to_thread(self._response_store)
            self._fine_tuning = FineTuning(
                self.settings.trainer_address,
                lambda: self.state.require().model_names,
                self.settings.max_upload_bytes,
                self.settings.trainer_ca_file,
            )
            routes = OpenAIRoutes(
                self.state,
                self.metrics,
                tokens,
                self.settings.max_message_bytes,
                self.settings.http_body_timeout_s,
                self.settings.http_cors_origins,
                self._fine_tuning,
                self._responses,
            )
            self.http = HttpListener(routes.app(), self.settings, self.settings.host, self.settings.http_port, tokens is not None)
            await self.http.open()

    def add_services(self, server: grpc.aio.Server) -> None:
        inference_pb2_grpc.add_InferenceServicer_to_server(InferenceService(self.state), server)
        adapters_pb2_grpc.add_AdaptersServicer_to_server(AdaptersService(self.state), server)
        tasks_pb2_grpc.add_TasksServicer_to_server(TasksService(self.state), server)

    def log_fields(self) -> dict[str, Any]:
        return {"version": __version__}

    def default_grace(self) -> float:
        return self.settings.shutdown_grace_s

    async def bring_up(self) -> None:
        """Loads and warms up the model, then the adapters and tasks; SERVING follows."""
        try:
            base = await self._load_base()
            engine = Engine(base, EngineConfig.from_settings(self.settings, base), self.metrics)
            if self._preloaded is None and self.settings.compile_in_child and self.settings.compile_decode == "auto":
                engine.compile_prelude = CompileCacheChild(self.settings)  # a background compile's head start
            # described at start, and again when a decode step compiled in the background takes over
            engine.on_decode_step = lambda step: self.metrics.describe_model(
                {**_model_labels(base), "decode_step": step}, base.load_seconds
            )
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
                experiments=self._experiments() if store is not None else None,
                shadows=Shadows(self.settings.max_shadow_requests),
            )
            block_bytes = engine.config.block_size * PagedKVCache.bytes_per_token(
                base.shape.layers, base.shape.kv_heads, base.shape.head_dim, base.precision.kv_cache_dtype
            )
            config = engine.config
            self.metrics.bind_engine(
                lambda: engine.num_running,
                lambda: engine.num_waiting,
                config.num_blocks,
                block_bytes,
                kv_blocks_used=lambda: config.num_blocks - engine.allocator.num_free,
                view=EngineView(engine.adapters_in_use, config.max_loras, config.block_size, config.num_blocks),
            )
            if self.settings.warmup:
                await _warm_up(serving)
        except Exception as exc:
            self.state.failure = str(exc)
            log.exception("the server could not start serving")
            raise
        self.state.set(serving)
        self._watcher = asyncio.create_task(self._watch(serving))
        if isinstance(serving.adapters, AdapterManager) and serving.experiments is not None:
            self._guard = asyncio.create_task(self._guard_rollouts(serving.adapters, serving.experiments))
        self.metrics.ready.set(1)
        log.info(
            "serving",
            extra={
                "model": base.name,
                "dtype": base.precision.dtype_name,
                "quantization": base.quantization,
                "device": str(base.device),
                "precision_reason": base.precision.reason,
            },
        )

    async def _watch(self, serving: Serving) -> None:
        """Keeps adapters and tasks current with the store and the task directory."""
        paths = [self.settings.task_dir] if self.settings.task_dir is not None else []
        mode, interval = self.settings.adapter_watch, self.settings.adapter_poll_interval_s
        wake: asyncio.Event | None = None
        stop_listening = None
        if isinstance(serving.adapters, AdapterManager):
            store = serving.adapters.store
            paths += store.watch_paths()
            if mode != "off" and not store.watch_paths():  # a store that notifies (and is polled slowly)
                loop, wake = asyncio.get_running_loop(), asyncio.Event()
                stop_listening = store.listen(lambda: _call_soon(loop, wake.set))
                mode, interval = "poll", min(interval, self.settings.adapter_catalog_poll_s)

        async def refresh() -> None:
            if isinstance(serving.adapters, AdapterManager):
                await serving.adapters.refresh()
            await asyncio.to_thread(serving.tasks.refresh)

        try:
            await watch(refresh, paths, mode, interval, self._stop_watching, wake)
        finally:
            if stop_listening is not None:
                await asyncio.to_thread(stop_listening)

    def _experiments(self) -> Experiments | None:
        """The experiment record (None where its own SQLite file cannot be opened)."""
        engine = self._database("experiment record", "feedback and experiment reports are off")
        if engine is None:
            return None
        return Experiments(ExperimentStore(engine, self.settings.experiment_retention_h * 3600), self.metrics)

    def _response_store(self) -> ResponseStore | None:
        """The Responses API's stored responses (None where the SQLite file cannot be opened:
        `store: true` is then refused)."""
        engine = self._database("response store", "responses are not stored")
        return ResponseStore(engine, self.settings.responses_retention_h * 3600) if engine is not None else None

    def _database(self, record: str, without: str) -> sa.Engine | None:
        """The shared database, opened (and migrated) once for the records kept in it (`record`;
        `without`: what is off without it). A server that cannot open its own SQLite file serves on
        without it (and says so); one told to share a database (database_url) does not start
        without it, since it would answer differently from its peers."""
        with self._engine_lock:  # the record opens while the model loads, the store as the HTTP port opens
            if self._engine is not None:
                return self._engine
            url = self.settings.experiment_database()
            try:
                self._engine = open_database(url, self.settings.database_password_file)
            except (OSError, sa.exc.SQLAlchemyError) as exc:
                if self.settings.database_url is not None:
                    raise RuntimeError(f"cannot open the database {describe(database_url(url))}: {str(exc).splitlines()[0]}") from None
                log.error(f"cannot open the {record}; {without}", extra={"database": url, "error": str(exc)})
                return None
            log.info(f"{record} open", extra={"database": describe(self._engine.url)})
            return self._engine

    async def _guard_rollouts(self, manager: AdapterManager, experiments: Experiments) -> None:
        """Ends splits whose guard rule finds a canary doing worse; keeps the split gauges current."""
        split: set[str] = set()  # names whose split gauges are set
        while not self._stop_watching.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop_watching.wait(), self.settings.guard_interval_s)
            policies = manager.rollouts.all()
            for name in split - set(policies):
                self.metrics.rollout_weights(name, {})
            split = set(policies)
            for name, policy in policies.items():
                self.metrics.rollout_weights(name, policy.weights)
            # one replica judges for all, so a split ends once, with one event
            if not policies or not await asyncio.to_thread(experiments.leads):
                continue
            for name, policy in policies.items():
                try:
                    reason = await experiments.guard_check(name, policy, manager.status(name).serving_version)
                    if reason is not None and manager.rollouts.get(name) == policy:
                        await manager.rollouts.end_split(name, reason)
                        await experiments.rolled_back(name, reason)
                except Exception:  # one name's trouble must not stop the guard for the others
                    log.exception("guard check failed", extra={"adapter": name})

    def _adapter_manager(self, base: BaseModel, engine: Engine) -> AdapterManager | NoAdapters:
        if self.settings.adapter_store is None or engine.slots is None:
            return NoAdapters()
        store = self.settings.open_adapter_store(self.settings.adapter_store, self.settings.cache_dir)
        store.clean_stale_imports()
        log.info("adapter store open", extra={"store": store.location})
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

    def stop_accepting(self) -> None:
        if self.http is not None:
            self._http_closing = asyncio.create_task(self.http.close(self.settings.shutdown_grace_s))
        if self.state.ready:
            self.state.require().engine.stop_accepting()

    async def shut_down(self) -> None:
        if self._http_closing is not None:
            await self._http_closing
        if self._fine_tuning is not None:
            await self._fine_tuning.close()
        self._stop_watching.set()
        if self._watcher is not None:
            await self._watcher
        if self._guard is not None:
            await self._guard
        if self.state.ready:
            serving = self.state.require()
            await serving.shadows.close()
            await serving.adapters.close()
            if serving.experiments is not None:
                await asyncio.to_thread(serving.experiments.close)
            await arun_on_fresh_thread(serving.engine.stop, "tuneserve-engine-stop")
        if self._engine is not None:  # after the experiment record's last writes
            await asyncio.to_thread(self._engine.dispose)
        self.metrics.ready.set(0)


def _model_labels(base: BaseModel) -> dict[str, str]:
    return {
        "model": base.name,
        "source": base.source.describe(),
        "architecture": base.architecture,
        "fingerprint": base.fingerprint,
        "quantization": base.quantization,
        "dtype": base.precision.dtype_name,
        "kv_cache_dtype": str(base.precision.kv_cache_dtype).removeprefix("torch."),
        "precision_reason": base.precision.reason,
        "device": str(base.device),
        "version": __version__,
    }


async def _warm_up(serving: Serving) -> None:
    started = time.monotonic()
    ids = serving.admission.prompt("Hello", []).token_ids
    request = GenerationRequest("warmup", tuple(ids), SamplingParams(max_new_tokens=4), arrival=time.monotonic())
    async for _ in stream_generation(serving.engine, request):
        pass
    # the first structured-output request would otherwise wait for llguidance's token trie (~0.5 s)
    await asyncio.to_thread(serving.admission.grammars.compile, ConstraintSpec("regex", "a"), "warmup")
    log.info("warmed up", extra={"seconds": round(time.monotonic() - started, 2)})
