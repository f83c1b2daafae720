"""tuneserve inference server.

`app` assembles it from `engine` (continuous batching and the model step), `adapters` (LoRA
versions, hot-swaps, slots), `tasks` (task endpoints, few-shot prompts), `experiments` (the
record of answers and feedback under rollouts, reports, the guard rule) and `api` (the gRPC
services); `config` and `metrics` are the server's settings and Prometheus metrics. What the
trainer shares with the server lives in the top-level `common` package.
"""

import common  # noqa: F401  # first: it turns the hub off before any module here loads a library

__version__ = "0.1.0"
