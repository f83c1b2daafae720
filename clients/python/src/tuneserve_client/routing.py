"""How a channel spreads calls over a deployment's replicas, and retries on one that went away.

A target may be a plain `host:port`, or name several replicas: `dns:///tuneserve-headless:50051`
(a headless Service: one address per ready pod), `ipv4:10.0.0.1:50051,10.0.0.2:50051`. A target
with a resolver scheme balances per call with round robin over the addresses the name resolves to,
and checks each replica with the standard gRPC health service, so a replica that is loading,
draining or dead gets no calls. A plain `host:port` keeps talking to its one server as before (a
loading server answers for itself: UNAVAILABLE "still loading"). The server ages connections out
(`max_connection_age_s`), so channels re-resolve and find pods that came up since.

Calls that change nothing, or change it the same way twice, are retried by gRPC itself on
UNAVAILABLE (a replica killed mid-call, a connection refused, a server still loading), before any
reply arrived and within the call's deadline: the
inference and task calls (a generation that never started has no effect), reads, and the
idempotent admin calls. Not CreateJob, UploadFile or ImportAdapter, which would make a second job, file
or version, nor DeleteFile, whose retry would answer NOT_FOUND for a file it deleted.
"""

from __future__ import annotations

import json
from typing import Any

MAX_ATTEMPTS = 5  # gRPC's own cap: a policy asking for more gets 5
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
        for method in (
            "GetJob",
            "ListJobs",
            "CancelJob",
            "WatchJob",
            "GetJobReport",
            "ReviewJob",
            "ListJobEvents",
            "ListFiles",
            "GetFile",
            "GetFileContent",
        )
    ),
    {"service": "grpc.health.v1.Health", "method": "Check"},
]


def names_several(target: str) -> bool:
    """Whether `target` goes through a resolver that may give several addresses."""
    return target.startswith(("dns:", "ipv4:", "ipv6:"))


def retry_policy(retries: int, backoff: float) -> dict[str, Any]:
    """gRPC's retry policy for `retries` retries (at most 4) after `backoff` seconds, doubling up to
    at least 1 s. gRPC waits a random time up to each backoff, and never past the call's deadline."""
    longest = max(1.0, backoff * 2 ** max(retries - 1, 0))
    return {
        "maxAttempts": min(retries + 1, MAX_ATTEMPTS),
        "initialBackoff": f"{backoff:g}s",
        "maxBackoff": f"{longest:g}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }


def service_config(target: str, retries: int = 3, backoff: float = 0.05) -> dict[str, Any]:
    """The channel's service config: round robin and health checks where `target` names several
    replicas, and the retry policy (none for `retries` 0)."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
    if not names_several(target):
        config = {}
    if retries > 0:
        config["methodConfig"] = [{"name": _RETRIED, "retryPolicy": retry_policy(retries, backoff)}]
    return config


# what a client with the default retries uses for a target that names several replicas (the Node
# client's SERVICE_CONFIG is the same, and a test keeps them equal)
SERVICE_CONFIG = service_config("dns:///replicas")
# Header naming the adapter a generation is for, so a mesh or gateway can hash on it and send one
# adapter's traffic to the replicas that hold it (the body is opaque to them)
ADAPTER_HEADER = "x-tuneserve-adapter"


def routing_options(target: str, retries: int = 3, backoff: float = 0.05) -> list[tuple[str, Any]]:
    config = service_config(target, retries, backoff)
    return [
        ("grpc.service_config", json.dumps(config)),
        ("grpc.enable_retries", 1 if retries > 0 else 0),
        # a replica back from a restart is tried again within seconds, not minutes
        ("grpc.initial_reconnect_backoff_ms", 500),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.dns_min_time_between_resolutions_ms", 5000),
    ]
