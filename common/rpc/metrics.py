"""The metrics every tuneserve process exports: each RPC's outcome and duration, and the HTTP
endpoint Prometheus scrapes.

Each process (and each test server) has its own registry, so several can run in one process.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class RpcMetrics:
    """Outcome and duration of every RPC; counted by common.rpc.status for any of our services."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "tuneserve_requests",
            "Calls handled, by API (grpc, http), method and gRPC status code.",
            ["api", "rpc", "code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "tuneserve_rpc_duration_seconds",
            "Wall time of unary and streaming calls, by API (grpc, http) and method.",
            ["api", "rpc"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> tuple[Any, int]:
    """Starts the /metrics HTTP server on a daemon thread; returns it and its bound port."""
    httpd, _thread = start_http_server(port, addr=host, registry=registry)
    return httpd, httpd.server_port
