"""What both tuneserve processes (the inference server and the trainer) use.

Errors, shared settings, logging, threads, the base model, the adapter store and its manifest,
task specs and prompt rendering, plus `security` (tokens, TLS, file changes) and `rpc` (the gRPC
process: runtime, status mapping, endpoints, metrics, life-cycle). Imports nothing from `server`
or `trainer`.
"""
