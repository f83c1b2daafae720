"""The gRPC services of the inference server (and, in `openai`, its HTTP API) and what they share: admission (validation,
rendering, tokenizing), the bridge from engine events to RPC streams, and proto conversion.
Imports `common`, `server.engine`, `server.adapters`, `server.tasks` and `server.experiments`."""
