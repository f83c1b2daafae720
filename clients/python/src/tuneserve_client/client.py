"""Synchronous client of a tuneserve server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tuneserve.v1 import adapters_pb2, adapters_pb2_grpc, inference_pb2, inference_pb2_grpc

from tuneserve_client._requests import Message, generate_request, import_messages, tokenize_request
from tuneserve_client.errors import TuneserveError, UnavailableError, from_rpc_error

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 120.0
T = TypeVar("T")


def channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [("grpc.max_receive_message_length", max_message_bytes), ("grpc.max_send_message_length", max_message_bytes)]


def backoff_delays(retries: int, base: float) -> Iterator[float]:
    """Exponential backoff between attempts: base, 2*base, 4*base ... (`retries` of them)."""
    for attempt in range(retries):
        yield base * (2**attempt)


class ClientBase:
    """What the sync and asyncio clients share: settings, stubs and the per-call timeout."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.25,
        metadata: Sequence[tuple[str, str]] = (),
        max_message_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.metadata = tuple(metadata)
        self._channel = self._open_channel(target, channel_options(max_message_bytes))
        self.inference = inference_pb2_grpc.InferenceStub(self._channel)
        self.adapters = adapters_pb2_grpc.AdaptersStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _open_channel(self, target: str, options: list[tuple[str, Any]]) -> Any:
        raise NotImplementedError

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout


class Client(ClientBase):
    """Calls a tuneserve server; failures raise `tuneserve_client.errors` exceptions.

    Calls that fail with UNAVAILABLE (server starting, restarting or unreachable) are retried
    `retries` times with exponential backoff; nothing else is retried.
    """

    def _open_channel(self, target: str, options: list[tuple[str, Any]]) -> grpc.Channel:
        return grpc.insecure_channel(target, options=options)

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], request: Any, timeout: float | None) -> T:
        delays = backoff_delays(self.retries, self.backoff)
        while True:
            try:
                return fn(request, timeout=timeout, metadata=self.metadata)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = next(delays, None) if error.retryable else None
                if delay is None:
                    raise error from None
                time.sleep(delay)

    def _stream(self, fn: Callable[..., Iterator[T]], request: Any, timeout: float | None) -> Iterator[T]:
        delays = backoff_delays(self.retries, self.backoff)
        while True:
            received = False
            try:
                for item in fn(request, timeout=timeout, metadata=self.metadata):
                    received = True
                    yield item
                return
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                delay = next(delays, None) if error.retryable and not received else None
                if delay is None:
                    raise error from None
                time.sleep(delay)

    # -- inference ----------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | None = None,
        *,
        messages: Iterable[Message] | None = None,
        adapter: str = "",
        request_id: str = "",
        timeout: float | None = None,
        **params: Any,
    ) -> inference_pb2.GenerateResponse:
        """Generates a completion of `prompt` or of chat `messages` (`timeout` overrides the client's).

        `params` are GenerationParameters fields: max_new_tokens, min_new_tokens, temperature,
        top_p, top_k, seed, repetition_penalty, stop, time_limit_ms.
        """
        request = generate_request(prompt, messages=messages, adapter=adapter, request_id=request_id, **params)
        return self._call(self.inference.Generate, request, self._timeout(timeout))

    def generate_stream(
        self,
        prompt: str | None = None,
        *,
        messages: Iterable[Message] | None = None,
        adapter: str = "",
        request_id: str = "",
        timeout: float | None = None,
        **params: Any,
    ) -> Iterator[inference_pb2.GenerateStreamResponse]:
        """Like `generate`, yielding text deltas; the last message has the stop reason and usage."""
        request = generate_request(prompt, messages=messages, adapter=adapter, request_id=request_id, **params)
        return self._stream(self.inference.GenerateStream, request, self._timeout(timeout))

    def tokenize(self, text: str | None = None, *, messages: Iterable[Message] | None = None) -> inference_pb2.TokenizeResponse:
        return self._call(self.inference.Tokenize, tokenize_request(text, messages=messages), self.timeout)

    def model_info(self) -> inference_pb2.ModelInfoResponse:
        return self._call(self.inference.ModelInfo, inference_pb2.ModelInfoRequest(), self.timeout)

    # -- adapters -----------------------------------------------------------------------------

    def list_adapters(self) -> list[adapters_pb2.AdapterInfo]:
        return list(self._call(self.adapters.ListAdapters, adapters_pb2.ListAdaptersRequest(), self.timeout).adapters)

    def get_adapter(self, name: str) -> adapters_pb2.AdapterInfo:
        return self._call(self.adapters.GetAdapter, adapters_pb2.GetAdapterRequest(name=name), self.timeout)

    def load_adapter(self, adapter: str) -> adapters_pb2.AdapterInfo:
        """Loads `name` (its current version) or `name@N` now; refused versions raise FailedPreconditionError."""
        return self._call(self.adapters.LoadAdapter, adapters_pb2.LoadAdapterRequest(adapter=adapter), self.timeout)

    def unload_adapter(self, adapter: str) -> adapters_pb2.AdapterInfo:
        return self._call(self.adapters.UnloadAdapter, adapters_pb2.UnloadAdapterRequest(adapter=adapter), self.timeout)

    def set_current_version(self, name: str, version: int) -> adapters_pb2.AdapterInfo:
        """Rolls `name` forward or back to `version` (checked and loaded before it becomes current)."""
        request = adapters_pb2.SetCurrentVersionRequest(name=name, version=version)
        return self._call(self.adapters.SetCurrentVersion, request, self.timeout)

    def import_adapter(self, directory: str, name: str, *, make_current: bool = True, source: str = "") -> adapters_pb2.ImportAdapterResponse:
        """Publishes a plain PEFT adapter directory as the next version of `name`."""
        messages = list(import_messages(directory, name, make_current, source))
        return self._call(lambda reqs, **kw: self.adapters.ImportAdapter(iter(reqs), **kw), messages, self.timeout)

    # -- health -------------------------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The standard gRPC health status of `service` ("" = the whole server): SERVING, NOT_SERVING..."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), self.timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_until_ready(self, timeout: float = 300.0, interval: float = 0.5) -> None:
        """Blocks until the server reports SERVING; raises UnavailableError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self._health.Check(health_pb2.HealthCheckRequest(), timeout=interval * 4, metadata=self.metadata).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise UnavailableError(f"{self.target} did not report SERVING within {timeout:g} s")
            time.sleep(interval)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Client", "ClientBase", "TuneserveError", "DEFAULT_TARGET"]
