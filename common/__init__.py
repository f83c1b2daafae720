"""What both tuneserve processes (the inference server and the trainer) use.

Errors, shared settings, logging, threads, the base model, the adapter store and its manifest,
task specs and prompt rendering, plus `security` (tokens, TLS, file changes) and `rpc` (the gRPC
process: runtime, status mapping, endpoints, metrics, life-cycle). Imports nothing from `server`
or `trainer`.
"""

import os

# No tuneserve process may reach a hub: models and data come from packages. transformers, peft and
# bitsandbytes read these when imported, so they are set here, which any module of the project
# imports first (`server` and `trainer` import this package before anything else).
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")
