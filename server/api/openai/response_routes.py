"""The Responses API's routes: POST /v1/responses (a chat completion underneath, worded by
responses.ResponseWording), and, where the server keeps responses (stored_responses), the
conversation a `previous_response_id` continues and GET, DELETE, input_items and cancel of a
stored response. Admission, answering and refusals are the OpenAI routes' (routes.OpenAIRoutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from common import errors
from server.api.openai.answers import CHAT
from server.api.openai.http_errors import CallerNamed, error_body
from server.api.openai.responses import ROUTE, ResponseRequest, ResponseWording, input_items_page, oldest_turn_dropped, responses_param
from server.api.openai.schemas import ChatCompletionRequest, openai_param
from server.api.openai.stored_responses import ResponseStore, StoredResponse

if TYPE_CHECKING:
    from server.api.openai.routes import Admitted, OpenAIRoutes
    from server.api.serving_state import Serving

log = logging.getLogger(__name__)


def _no_response(response_id: str) -> errors.NotFound:
    return errors.NotFound(f"no response {response_id[:80]!r} is stored here for this caller (never stored, expired or deleted)")


@dataclasses.dataclass(frozen=True)
class StoredInput:
    """What a response is stored with besides itself: its owner, its own input, the conversation before it."""

    owner: str
    input: list[dict[str, Any]]
    history: list[dict[str, Any]]


class ResponseRoutes:
    """The Responses API on the OpenAI routes `host`; `store`: the kept responses (None: none are kept)."""

    def __init__(self, host: OpenAIRoutes, store: ResponseStore | None) -> None:
        self._host = host
        self._store_or_none = store

    def routes(self) -> list[Route]:
        return [
            Route(ROUTE, self.respond, methods=["POST"]),
            Route(ROUTE + "/{response_id}", self.stored_response, methods=["GET", "DELETE"]),
            Route(ROUTE + "/{response_id}/input_items", self.stored_input_items, methods=["GET"]),
            Route(ROUTE + "/{response_id}/cancel", self.cancel, methods=["POST"]),
        ]

    async def respond(self, request: Request) -> Response:
        """OpenAI's Responses API: a chat completion underneath, worded as a response (and kept,
        where the server keeps responses and the request does not say otherwise)."""
        started, request_id = self._host.opened(request)
        places: list[str] = []
        try:
            owner = self._host.authorize(request)
            serving = self._host.state.require()
            body = await self._host.parse(request, ResponseRequest)
            stored = body.stored(self._store_or_none is not None)
            history = await self._history(body, owner)
            chat, places = body.chat_request(history)
            admitted = await self._fitted(serving, body, chat, places, request_id)
        except errors.InvalidRequest as exc:  # named as the caller wrote it, not as the chat path calls it
            field = responses_param(openai_param(exc.field), places)
            renamed = CallerNamed(field, exc.reason, exc.code)
            return self._host.refusal(renamed, ROUTE, started, request_id, model_named=True)
        except Exception as exc:
            return self._host.refusal(exc, ROUTE, started, request_id, model_named=True)
        answer = admitted.parts[0].answer
        wording = ResponseWording(body, request_id, answer.model, answer.speller, answer.tools, stored)
        kept = StoredInput(owner, body.input_items(request_id), history) if stored else None
        if body.stream:
            stream = self._host.sse(serving, admitted, wording, started, ROUTE)
            if kept is not None:
                stream = self._kept_stream(stream, wording, kept)
            return StreamingResponse(stream, media_type="text/event-stream", headers=admitted.headers)
        try:
            ended = await self._host.ended(serving, admitted, started, request, ROUTE)
            if isinstance(ended, Response):
                return ended
            ((events, finished),) = ended
            response = wording.whole(events, finished, answer.usage(finished))
            if kept is not None:
                await self._keep(kept, response)
            return JSONResponse(response, headers=admitted.headers)
        except errors.Unavailable as exc:  # answered, but not kept as the caller asked
            return self._host.refusal(exc, ROUTE, started, request_id)
        finally:
            admitted.release()

    async def _fitted(
        self, serving: Serving, body: ResponseRequest, chat: ChatCompletionRequest, places: list[str], request_id: str
    ) -> Admitted:
        """The chat admitted; with `truncation: auto`, once its oldest turns are dropped until it fits
        the context window with its output, as OpenAI truncates (a refusal then names the field
        among the turns kept)."""
        while True:
            try:
                return await self._host.admit(serving, chat, CHAT, request_id)
            except errors.InvalidRequest as exc:
                shorter = oldest_turn_dropped(chat.messages, places)
                if body.truncation != "auto" or exc.code != errors.CONTEXT_LENGTH_EXCEEDED or shorter is None:
                    # named here, where `places` are those of the turns kept
                    raise CallerNamed(responses_param(openai_param(exc.field), places), exc.reason, exc.code) from None
                messages, places = shorter
                chat = chat.model_copy(update={"messages": messages})

    async def _history(self, body: ResponseRequest, owner: str) -> list[dict[str, Any]]:
        """The conversation of the response this one continues (none without previous_response_id)."""
        previous = body.previous_response_id
        if previous is None or self._store_or_none is None:
            return []
        found = await asyncio.to_thread(self._store_or_none.get, previous, owner)
        if found is None:
            raise CallerNamed(
                "previous_response_id", f"no response {previous[:80]!r} is stored here for this caller (never stored, expired or deleted)"
            )
        return found.conversation

    async def _keep(self, kept: StoredInput, response: dict[str, Any]) -> None:
        """Stores an answered response with the conversation it ends; Unavailable where the database fails."""
        assert self._store_or_none is not None
        stored = StoredResponse(response, kept.input, kept.history + kept.input + response["output"])
        try:
            await asyncio.to_thread(self._store_or_none.put, kept.owner, stored)
        except sa.exc.SQLAlchemyError as exc:
            log.error("response not stored", extra={"response_id": response["id"], "error": str(exc).splitlines()[0]})
            raise errors.Unavailable("the response was answered but could not be stored (the database failed); retry the request") from None

    async def _kept_stream(self, lines: AsyncIterator[str], wording: ResponseWording, kept: StoredInput) -> AsyncIterator[str]:
        """A response's stream, stored before its last events go out (so that a caller who read
        `response.completed` finds it stored); a store that fails ends the stream as failed."""
        stored = False
        async with contextlib.aclosing(lines):  # type: ignore[type-var]
            async for line in lines:
                if wording.final is not None and not stored:
                    stored = True
                    try:
                        await self._keep(kept, wording.final)
                    except errors.Unavailable as exc:
                        for failed in wording.failure(error_body(503, exc.message, None, "unavailable")):
                            yield failed
                        return
                yield line

    async def stored_response(self, request: Request) -> Response:
        """GET (the SDK's responses.retrieve) or DELETE a stored response."""
        return await self._host.answered(ROUTE + "/{response_id}", self._fetched_or_deleted(request))

    async def _fetched_or_deleted(self, request: Request) -> Response:
        response_id, owner = request.path_params["response_id"], self._host.authorize(request)
        store = self._store()
        if request.method == "DELETE":
            if not await asyncio.to_thread(store.delete, response_id, owner):
                raise _no_response(response_id)
            return JSONResponse({"id": response_id, "object": "response", "deleted": True})
        return JSONResponse((await self._stored(store, response_id, owner)).response)

    async def stored_input_items(self, request: Request) -> Response:
        """A stored response's own input items (the SDK's responses.input_items.list), paged as
        OpenAI pages them: `order` (desc by default), `after` an item id, `limit` (1 to 100, 20)."""
        return await self._host.answered(ROUTE + "/{response_id}/input_items", self._input_items(request))

    async def _input_items(self, request: Request) -> Response:
        response_id, owner = request.path_params["response_id"], self._host.authorize(request)
        items = (await self._stored(self._store(), response_id, owner)).input
        return JSONResponse(input_items_page(items, request.query_params))

    async def cancel(self, request: Request) -> Response:
        """The SDK's responses.cancel: only a background response can be, and there are none here."""
        return await self._host.answered(ROUTE + "/{response_id}/cancel", self._cancelled(request))

    async def _cancelled(self, request: Request) -> Response:
        response_id, owner = request.path_params["response_id"], self._host.authorize(request)
        await self._stored(self._store(), response_id, owner)
        raise errors.InvalidRequest(
            "response_id", "is not a background response: it was answered while its request waited, so nothing is left to cancel"
        )

    def _store(self) -> ResponseStore:
        if self._store_or_none is None:
            raise errors.NotFound(
                "responses are not stored here (the server's responses_store setting is off), so none can be fetched or changed;"
                " send the whole conversation in input"
            )
        return self._store_or_none

    @staticmethod
    async def _stored(store: ResponseStore, response_id: str, owner: str) -> StoredResponse:
        found = await asyncio.to_thread(store.get, response_id, owner)
        if found is None:
            raise _no_response(response_id)
        return found
