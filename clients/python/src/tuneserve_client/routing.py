"""How a channel spreads calls over a deployment's replicas, and retries on one that went away.

A target may be a plain `host:port`, or name several replicas: `dns:///tuneserve-headless:50051`
(a headless Service: one address per ready pod), `ipv4:10.0.0.1:50051,10.0.0.2:50051`. A target
with a resolver scheme balances per call with round robin over the addresses the name resolves to,
and checks each replica with the standard gRPC health service, so a replica that is loading,
draining or dead gets no calls. A plain `host:port` keeps talking to its one server as before (a
loading server answers for itself: UNAVAILABLE "still loading"). The server ages connections out
(`max_connection_age_s`), so channels re-resolve and find pods that came up since.

Calls that change nothing, or change it the same way twice, are retried by gRPC itself on
UNAVAILABLE (a replica killed mid-call, a connection refused), before any reply arrived: the
inference and task calls (a generation that never started has no effect), reads, and the
idempotent admin calls. Not CreateJob or ImportAdapter, which would make a second job or version.
"""

from __future__ import annotations

import json
from typing import Any

_RETRY = {
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
_RETRIED = [
    {"service": "tuneserve.v1.Inference"},
    {"service": "tuneserve.v1.Tasks"},
    *(
        {"service": "tuneserve.v1.Adapters", "method": method}
        for method in (
            "ListAdapters",
            "GetAdapter",
            "LoadAdapter",
            "UnloadAdapter",
            "SetCurrentVersion",
            "SetRollout",
            "ClearRollout",
            "GetExperiment",
        )
    ),
    *(
        {"service": "tuneserve.v1.Trainer", "method": method}
        for method in ("GetJob", "ListJobs", "CancelJob", "WatchJob", "GetJobReport", "ReviewJob")
    ),
    {"service": "grpc.health.v1.Health", "method": "Check"},
]
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": ""},
    "methodConfig": [{"name": _RETRIED, "retryPolicy": _RETRY}],
}
# Header naming the adapter a generation is for, so a mesh or gateway can hash on it and send one
# adapter's traffic to the replicas that hold it (the body is opaque to them)
ADAPTER_HEADER = "x-tuneserve-adapter"


RETRY_ONLY = {"methodConfig": SERVICE_CONFIG["methodConfig"]}


def names_several(target: str) -> bool:
    """Whether `target` goes through a resolver that may give several addresses."""
    return target.startswith(("dns:", "ipv4:", "ipv6:"))


def routing_options(target: str) -> list[tuple[str, Any]]:
    config = SERVICE_CONFIG if names_several(target) else RETRY_ONLY
    return [
        ("grpc.service_config", json.dumps(config)),
        ("grpc.enable_retries", 1),
        # a replica back from a restart is tried again within seconds, not minutes
        ("grpc.initial_reconnect_backoff_ms", 500),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.dns_min_time_between_resolutions_ms", 5000),
    ]
