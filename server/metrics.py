"""Prometheus metrics of the inference server, served on their own HTTP port.

Each server instance has its own registry, so several can run in one process (tests, benchmarks).
Gauges of live state read the engine at scrape time instead of being pushed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.rpc.metrics import DURATION_BUCKETS, RpcMetrics
from server.engine.request import Finished

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60)
_TOKEN_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2)
_QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_STEP_TOKEN_BUCKETS = (1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


def _count_of(counts: Callable[[], dict[str, int]], key: str) -> int:
    return counts()[key]


@dataclass(frozen=True)
class EngineView:
    """What a scrape reads from the engine (see ModelServerCollector)."""

    adapters_in_use: Callable[[], tuple[set[str], set[str]]]  # running, waiting (name@version)
    max_loras: int
    block_size: int
    num_blocks: int


class ModelServerCollector(Collector):
    """The gauges the Gateway API Inference Extension's endpoint picker reads from a model server
    (its model-server protocol), under tuneserve's names, computed at scrape time:

    - tuneserve_lora_requests_info{max_lora, running_lora_adapters, waiting_lora_adapters}: the
      adapters of the running batch and of the requests waiting for it, as comma-separated
      name@version lists; the value is the time of this reading (the picker takes the newest);
    - tuneserve_cache_config_info{block_size, num_gpu_blocks}: 1, the KV cache's shape (the label
      names the picker reads by default, whatever the device).
    """

    def __init__(self, view: EngineView) -> None:
        self.view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        running, waiting = self.view.adapters_in_use()
        lora = GaugeMetricFamily(
            "tuneserve_lora_requests_info",
            "Adapters of running and waiting requests (comma-separated name@version), with the LoRA slots; value: when read.",
            labels=["max_lora", "running_lora_adapters", "waiting_lora_adapters"],
        )
        lora.add_metric([str(self.view.max_loras), ",".join(sorted(running)), ",".join(sorted(waiting))], time.time())
        yield lora
        cache = GaugeMetricFamily(
            "tuneserve_cache_config_info",
            "Shape of the paged KV cache: tokens per block and blocks.",
            labels=["block_size", "num_gpu_blocks"],
        )
        cache.add_metric([str(self.view.block_size), str(self.view.num_blocks)], 1.0)
        yield cache


class ServerMetrics(RpcMetrics):
    """Every metric the inference server exports; also the engine's sink (server.engine.config.EngineMetrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.time_to_first_token = Histogram(
            "tuneserve_time_to_first_token_seconds",
            "From a generation request's arrival to its first token.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inter_token_latency = Histogram(
            "tuneserve_inter_token_latency_seconds",
            "Gap between consecutive tokens of one generation.",
            buckets=_TOKEN_GAP_BUCKETS,
            registry=r,
        )
        self.e2e_latency = Histogram(
            "tuneserve_generation_duration_seconds", "From a generation request's arrival to its end.", buckets=DURATION_BUCKETS, registry=r
        )
        self.queue_time = Histogram(
            "tuneserve_queue_time_seconds",
            "From a generation request's arrival to joining the running batch.",
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter("tuneserve_prompt_tokens", "Prompt tokens of finished generations.", registry=r)
        self.generated_tokens = Counter("tuneserve_generated_tokens", "Tokens generated.", registry=r)
        self.generations = Counter("tuneserve_generations", "Finished generations, by stop reason.", ["reason"], registry=r)
        self.batch_size = Histogram("tuneserve_batch_size", "Sequences computed per engine step.", buckets=_BATCH_BUCKETS, registry=r)
        self.batch_tokens = Histogram("tuneserve_batch_tokens", "Tokens computed per engine step.", buckets=_STEP_TOKEN_BUCKETS, registry=r)
        self.running = Gauge("tuneserve_running_requests", "Generations in the running batch.", registry=r)
        self.waiting = Gauge("tuneserve_waiting_requests", "Generations waiting to join the batch.", registry=r)
        self.kv_usage = Gauge("tuneserve_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.", registry=r)
        self.ready = Gauge("tuneserve_ready", "1 once the model is loaded and warmed up.", registry=r)
        self.model = Info("tuneserve_model", "The loaded base model.", registry=r)
        self.load_seconds = Gauge("tuneserve_model_load_seconds", "Time the base model took to load.", registry=r)
        self.adapters_loaded = Gauge(
            "tuneserve_adapters_loaded", "Adapter versions loaded, by tier (host memory or a device LoRA slot).", ["tier"], registry=r
        )
        self.adapter_loads = Counter("tuneserve_adapter_loads", "Adapter versions loaded and checked.", registry=r)
        self.adapter_load_failures = Counter(
            "tuneserve_adapter_load_failures", "Adapter versions refused, by reason.", ["reason"], registry=r
        )
        self.adapter_load_seconds = Histogram(
            "tuneserve_adapter_load_seconds", "Time to read and check an adapter version.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.adapter_evictions = Counter("tuneserve_adapter_evictions", "Adapters dropped from a tier.", ["tier"], registry=r)
        self.adapter_slot_loads = Counter("tuneserve_adapter_slot_loads", "Adapters copied into a device LoRA slot.", registry=r)
        self.adapter_swaps = Counter("tuneserve_adapter_swaps", "Times a name started serving a new version.", registry=r)
        self.adapter_requests = Counter(
            "tuneserve_adapter_requests",
            "Generation requests by adapter name (bounded label set; the rest are 'other').",
            ["adapter"],
            registry=r,
        )
        self.prefix_cache_hits = Counter(
            "tuneserve_prefix_cache_hit_tokens", "Prompt tokens whose KV came from the prefix cache.", registry=r
        )
        self.prefix_cache_misses = Counter(
            "tuneserve_prefix_cache_miss_tokens", "Prompt tokens computed (not found in the prefix cache).", registry=r
        )
        self.prefix_cache_blocks = Gauge("tuneserve_prefix_cache_blocks", "KV blocks registered in the prefix cache.", registry=r)
        self.prefix_cache_bytes = Gauge("tuneserve_prefix_cache_bytes", "KV memory registered in the prefix cache.", registry=r)
        self.classified = Counter("tuneserve_classified_inputs", "Inputs classified, by how the task was backed.", ["backing"], registry=r)
        self.experiment_answers = Counter(
            "tuneserve_experiment_answers",
            "Answers to adapter names recorded for experiments, by version, role (serve or shadow) and outcome (ok, error, "
            "dropped: the queue to the database was full; lost: queued, then given up on at shutdown or by a bad write).",
            ["adapter", "version", "role", "outcome"],
            registry=r,
        )
        self.feedback = Counter(
            "tuneserve_feedback",
            "Feedback on answers, by adapter version and kind (correct, incorrect, thumbs_up, thumbs_down, rating_1 to rating_5).",
            ["adapter", "version", "kind"],
            registry=r,
        )
        self.rollout_weight = Gauge(
            "tuneserve_rollout_weight_percent",
            "Percent of an adapter name's traffic each version gets under a split.",
            ["adapter", "version"],
            registry=r,
        )
        self.rollout_rollbacks = Counter(
            "tuneserve_rollout_rollbacks", "Splits ended by their guard rule because a canary did worse.", ["adapter"], registry=r
        )
        self._kv_blocks = 1
        self._block_bytes = 0
        self._adapter_labels: set[str] = set()
        self._adapter_label_limit = 0

    def bind_engine(
        self,
        num_running: Callable[[], int],
        num_waiting: Callable[[], int],
        kv_blocks: int,
        block_bytes: int,
        kv_blocks_used: Callable[[], int] | None = None,
        view: EngineView | None = None,
    ) -> None:
        """Live gauges read at scrape time; `view` adds the endpoint picker's gauges (ModelServerCollector)."""
        self.running.set_function(num_running)
        self.waiting.set_function(num_waiting)
        self._kv_blocks = max(1, kv_blocks)
        self._block_bytes = block_bytes
        if kv_blocks_used is not None:  # a finished request frees its blocks after the last step
            self.kv_usage.set_function(lambda: kv_blocks_used() / self._kv_blocks)
        if view is not None:
            self.registry.register(ModelServerCollector(view))

    def bind_adapters(self, tier_counts: Callable[[], dict[str, int]], label_limit: int) -> None:
        for tier in ("host", "device"):
            self.adapters_loaded.labels(tier).set_function(functools.partial(_count_of, tier_counts, tier))
        self._adapter_label_limit = label_limit

    def describe_model(self, labels: dict[str, str], load_seconds: float) -> None:
        self.model.info(labels)
        self.load_seconds.set(load_seconds)

    # -- adapters -----------------------------------------------------------------------------

    def adapter_label(self, name: str) -> str:
        # Names are unbounded; only the first `label_limit` get a label of their own.
        if name not in self._adapter_labels and len(self._adapter_labels) < self._adapter_label_limit:
            self._adapter_labels.add(name)
        return name if name in self._adapter_labels else "other"

    def adapter_request(self, name: str) -> None:
        self.adapter_requests.labels(self.adapter_label(name)).inc()

    # -- experiments --------------------------------------------------------------------------

    def experiment_answer(self, name: str, version: int, role: str, outcome: str) -> None:
        self.experiment_answers.labels(self.adapter_label(name), str(version), role, outcome).inc()

    def feedback_given(self, name: str, version: int, kind: str) -> None:
        self.feedback.labels(self.adapter_label(name), str(version), kind).inc()

    def rollout_weights(self, name: str, weights: dict[int, int]) -> None:
        """Sets the split's gauges; versions that left the split read 0."""
        label = self.adapter_label(name)
        for labels in list(self.rollout_weight._metrics):  # noqa: SLF001 - prometheus_client has no public listing
            if labels[0] == label and int(labels[1]) not in weights:
                self.rollout_weight.labels(*labels).set(0)
        for version, weight in weights.items():
            self.rollout_weight.labels(label, str(version)).set(weight)

    def rollout_rolled_back(self, name: str) -> None:
        self.rollout_rollbacks.labels(self.adapter_label(name)).inc()

    def adapter_loaded(self, seconds: float) -> None:
        self.adapter_loads.inc()
        self.adapter_load_seconds.observe(seconds)

    def adapter_load_failed(self, reason: str) -> None:
        self.adapter_load_failures.labels(reason).inc()

    def adapter_evicted(self, tier: str) -> None:
        self.adapter_evictions.labels(tier).inc()

    def adapter_swapped(self) -> None:
        self.adapter_swaps.inc()

    # -- server.engine.engine.EngineMetrics ----------------------------------------------------------

    def prefix_cache(self, hit_tokens: int, miss_tokens: int, cached_blocks: int) -> None:
        self.prefix_cache_hits.inc(hit_tokens)
        self.prefix_cache_misses.inc(miss_tokens)
        self.prefix_cache_blocks.set(cached_blocks)
        self.prefix_cache_bytes.set(cached_blocks * self._block_bytes)

    def slots_filled(self, loads: int, evictions: int) -> None:
        self.adapter_slot_loads.inc(loads)
        if evictions:
            self.adapter_evictions.labels("device").inc(evictions)

    def admitted(self, queue_s: float) -> None:
        self.queue_time.observe(queue_s)

    def token_latency(self, first: bool, seconds: float) -> None:
        (self.time_to_first_token if first else self.inter_token_latency).observe(seconds)

    def finished(self, finished: Finished) -> None:
        self.generations.labels(finished.reason.name.lower()).inc()
        self.prompt_tokens.inc(finished.prompt_tokens)
        self.generated_tokens.inc(finished.generated_tokens)
        self.e2e_latency.observe(finished.total_s)

    def step(self, sequences: int, tokens: int) -> None:
        self.batch_size.observe(sequences)
        self.batch_tokens.observe(tokens)
