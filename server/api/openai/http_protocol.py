"""uvicorn's HTTP/1.1 protocol with the bounds it lacks: a deadline for each request's head and a
cap on open connections.

uvicorn closes a kept-alive connection that stays idle after a response, but a connection that
never sends a request, or sends its headers a byte at a time, stays open for as long as the peer
likes; a few thousand of them hold the process's file descriptors. Here each connection must
send a whole request line and headers within `header_timeout_s` of opening or of starting its
next request, and a connection past `max_connections` is closed as soon as it opens.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


class BoundedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    @classmethod
    def bounded(cls, header_timeout_s: float, max_connections: int) -> type[BoundedH11Protocol]:
        """The protocol class uvicorn instantiates per connection, with these bounds."""
        return type("BoundedH11", (cls,), {"header_timeout_s": header_timeout_s, "max_connections": max_connections})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("HTTP connection refused: too many open", extra={"max_connections": self.max_connections})
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_head():
            self._arm()  # the deadline runs from the first byte of a request, not from each byte
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()
