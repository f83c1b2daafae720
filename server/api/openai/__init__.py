"""The HTTP API: OpenAI-compatible request bodies and their translation (schemas), the routes, vLLM's
tokenize and TGI's and LoRAX's generate routes beside them, and the uvicorn listener that serves them
in the server's process and event loop. Imports `common`, `server.api` (admission, event stream,
serving state), `server.engine` and `server.adapters`."""
