"""GraphQL over Server-Sent Events on `/graphql`, distinct connections mode (graphql-sse).

A request that accepts `text/event-stream` gets its operation's results as `next` events, then
a `complete` event; a subscription streams until the client closes the connection. Errors found
before execution (the document, the variables, trusted documents, the operation's cost) come as
a `next` event with `errors`, as the protocol asks; a request that is not GraphQL at all (bad
JSON, wrong method), wrong credentials and a spent budget are answered as on plain HTTP. The
same credentials, limits and error masking apply as on HTTP and WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson
import strawberry
from graphql import GraphQLError, OperationType
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from graphql_api.documents import PersistedQueryNotFound
from graphql_api.errors import format_error
from graphql_api.http import (
    _ALLOW_POST,
    _CHALLENGE,
    _CONTENT_TYPES,
    _PERSISTED_QUERY_NOT_FOUND_BODY,
    APPLICATION_JSON,
    ClientDisconnected,
    CredentialsRejected,
    Refusal,
    RequestError,
    _error_body,
    _Headers,
    _send,
)

if TYPE_CHECKING:
    from graphql_api.http import GraphQLHTTPEndpoint

log = logging.getLogger("sureflights.sse")

# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0
_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # nginx and similar proxies would otherwise buffer the stream.
    (b"x-accel-buffering", b"no"),
]
_COMPLETE = b"event: complete\ndata:\n\n"
_KEEPALIVE = b":\n\n"


def _next_event(payload: dict[str, Any]) -> bytes:
    return b"event: next\ndata: " + orjson.dumps(payload) + b"\n\n"


class SubscriptionStreams:
    """Serves event-stream requests for the HTTP endpoint; ends every stream when the process
    is asked to stop, so a graceful shutdown does not wait for clients that never leave."""

    def __init__(
        self, schema: strawberry.Schema, *, keepalive_seconds: float = KEEPALIVE_SECONDS
    ) -> None:
        self.schema = schema
        self.keepalive_seconds = keepalive_seconds
        self._stopping = asyncio.Event()
        self._open = 0

    @property
    def open_streams(self) -> int:
        return self._open

    def stop_all(self) -> None:
        """End every open stream (with `complete`) and refuse none: new ones end at once."""
        self._stopping.set()

    @contextlib.contextmanager
    def stopped_by_signals(self) -> Any:
        """While inside, SIGINT and SIGTERM end the open streams before the server's own
        handling of them (uvicorn waits for open responses to finish before it shuts down)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        previous: dict[signal.Signals, Any] = {}

        def handler(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self.stop_all)
            chained = previous.get(signal.Signals(signum))
            if callable(chained):
                chained(signum, frame)

        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(signum)
            # Only uvicorn's own handler is chained: the default action, and handlers of
            # whatever else runs the app in process (an asyncio runner, a test), stay as they are.
            if _is_uvicorn_handler(current):
                previous[signum] = current
                signal.signal(signum, handler)
        try:
            yield
        finally:
            for signum, chained in previous.items():
                if signal.getsignal(signum) is handler:
                    signal.signal(signum, chained)

    async def serve(
        self,
        endpoint: GraphQLHTTPEndpoint,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: _Headers,
    ) -> None:
        json_type = _CONTENT_TYPES[APPLICATION_JSON]
        method = scope["method"]
        try:
            await self._serve(endpoint, scope, receive, send, headers, method)
        except RequestError as error:
            await _send(send, error.status, json_type, _error_body(error.message), error.headers)
        except CredentialsRejected as error:
            body = _error_body(error.message, "UNAUTHENTICATED")
            await _send(send, 401, json_type, body, _CHALLENGE)
        except ClientDisconnected:
            return

    async def _serve(
        self,
        endpoint: GraphQLHTTPEndpoint,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: _Headers,
        method: str,
    ) -> None:
        try:
            plan = await endpoint.plan(scope, receive, method, headers)
        except PersistedQueryNotFound:
            await self._events(send, [_PERSISTED_QUERY_NOT_FOUND_BODY])
            return
        if method != "POST" and plan.operation not in (None, OperationType.QUERY):
            raise RequestError("GET runs queries only; send the rest with POST.", 405, _ALLOW_POST)
        context, refusal = await endpoint.admit(scope, receive, plan, headers, APPLICATION_JSON)
        if refusal is None:
            if context is None:
                context = await endpoint.context_factory(Request(scope, receive))
            refusal = await endpoint.charge(plan, context)
        if refusal is not None:
            await self._refuse(send, refusal)
            return
        assert context is not None
        if plan.operation is not OperationType.SUBSCRIPTION:
            result = await endpoint.executor.execute(
                plan.prepared,
                context=context,
                variables=plan.variables,
                operation_name=plan.operation_name,
            )
            await self._events(send, [_next_event(_payload(result, context.request_id))])
            return
        source = await self.schema.subscribe(
            plan.text,
            variable_values=plan.variables,
            context_value=context,
            operation_name=plan.operation_name,
        )
        if not isinstance(source, AsyncIterator):
            # Refused before it started (Strawberry's PreExecutionError).
            await self._events(send, [_next_event(_payload(source, context.request_id, True))])
            return
        await self._stream(source, receive, send, context.request_id)

    async def _refuse(self, send: Send, refusal: Refusal) -> None:
        if refusal.code == "RATE_LIMITED":
            status, body, headers = refusal.response(APPLICATION_JSON)
            await _send(send, status, _CONTENT_TYPES[APPLICATION_JSON], body, headers)
            return
        await self._events(send, [_next_event({"errors": refusal.payload()})])

    async def _events(self, send: Send, events: list[bytes]) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
        body = b"".join([*events, _COMPLETE])
        await send({"type": "http.response.body", "body": body})

    async def _stream(
        self,
        source: AsyncIterator[Any],
        receive: Receive,
        send: Send,
        request_id: str,
    ) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
        self._open += 1
        gone = asyncio.ensure_future(_disconnected(receive))
        stopping = asyncio.ensure_future(self._stopping.wait())
        following: asyncio.Future[Any] | None = None
        try:
            while True:
                if following is None:
                    following = asyncio.ensure_future(_anext(source))
                waiting: set[asyncio.Future[Any]] = {following, gone, stopping}
                done, _ = await asyncio.wait(
                    waiting,
                    timeout=self.keepalive_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if gone in done:
                    return
                if following in done:
                    try:
                        result = following.result()
                    except StopAsyncIteration:
                        break
                    except Exception as error:
                        # The stream broke: say so in the contract's shape, then end it.
                        failure = GraphQLError(str(error), original_error=error)
                        errors = {"errors": [format_error(failure, request_id)]}
                        await _chunk(send, _next_event(errors))
                        break
                    following = None
                    await _chunk(send, _next_event(_payload(result, request_id, True)))
                elif stopping in done:
                    break
                else:
                    await _chunk(send, _KEEPALIVE)
            await send({"type": "http.response.body", "body": _COMPLETE})
        finally:
            self._open -= 1
            for pending in (following, gone, stopping):
                if pending is not None:
                    pending.cancel()
            aclose: Callable[[], Any] | None = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


def _is_uvicorn_handler(handler: Any) -> bool:
    owner = getattr(handler, "__self__", None)
    return owner is not None and type(owner).__module__.startswith("uvicorn.")


async def _anext(source: AsyncIterator[Any]) -> Any:
    return await source.__anext__()


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _payload(result: Any, request_id: str, masked: bool = False) -> dict[str, Any]:
    """An execution result as JSON: errors in the contract's shape (already masked when
    Strawberry ran the operation, as it does for subscriptions)."""
    payload: dict[str, Any] = {}
    if result.errors:
        payload["errors"] = [
            _formatted(e) if masked else format_error(e, request_id) for e in result.errors
        ]
    if result.data is not None or not result.errors:
        payload["data"] = result.data
    return payload


def _formatted(error: GraphQLError) -> dict[str, Any]:
    return dict(error.formatted)
