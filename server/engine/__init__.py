"""The serving engine: one thread that batches requests continuously and runs the model.

Scheduling policy, sequences, the paged KV cache, the model step (eager; for decode-only steps
compiled on the CPU, with tuneserve's C++ kernels in server.engine.kernels where they build, and
replayed as CUDA graphs on a GPU), sampling, scoring and streaming text out. Imports `common` and
`server.adapters` (the LoRA tables and slots it applies); nothing here knows about gRPC.
"""
