"""The OpenAI-compatible HTTP API: request bodies and their translation (schemas), the routes, and
the uvicorn listener that serves them in the server's process and event loop. Imports `common`,
`server.api` (admission, event stream, serving state), `server.engine` and `server.adapters`."""
