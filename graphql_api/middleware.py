"""Pure ASGI middleware for every request: request ids and the request body limit.

Written against the raw ASGI interface rather than `BaseHTTPMiddleware` because they sit on the
hot path of every GraphQL request.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from contextvars import ContextVar

import orjson
import sentry_sdk
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# Accept a client's id only when it is short and plain, so it is safe to log and echo.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

# The most of a refused (too large) body read and dropped so that its client sees the 413.
DRAIN_BYTES = 16 * 1_048_576


def new_request_id() -> str:
    return secrets.token_hex(12)


class RequestIdMiddleware:
    """Honours an incoming `X-Request-ID` (or makes one), exposes it to the app and returns it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                candidate = value.decode("latin-1")
                if _VALID_REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        if sentry_sdk.is_initialized():
            # Sentry's per-request scope: its events and transaction carry the id.
            sentry_sdk.set_tag("request_id", request_id)
        encoded = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, encoded)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Answers 413 when a request body exceeds `max_bytes`, by header or by what actually arrives,
    and 408 when it takes longer than `timeout_seconds` to arrive.

    The body is read up front (bounded by the limit) and replayed to the app, so an oversized
    body is refused before any handler sees a byte of it. A client still sending when the
    server closes would see its connection reset instead of the 413, so the connection is kept
    and the rest of the body read and dropped (up to `drain_bytes`, within the time limit);
    only a body longer than that closes it.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_seconds: float | None = None,
        drain_bytes: int = DRAIN_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.drain_bytes = drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "Content-Length is not a number.")
                    return
                break
        loop = asyncio.get_running_loop()
        ends_at = None if self.timeout_seconds is None else loop.time() + self.timeout_seconds
        if declared is not None and declared > self.max_bytes:
            # Answered at once, before the body is sent (a client may wait for the answer to its
            # headers). The server reads and drops what the client still sends of a body this
            # long, and the connection stays usable; a longer one is closed.
            await self._reject_too_large(send, close=declared > self.drain_bytes)
            return

        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout_at(ends_at):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away before sending its body
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > self.max_bytes:
                        break
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._reject(
                send,
                408,
                f"The request body did not arrive within {self.timeout_seconds:g} seconds.",
            )
            return
        if received > self.max_bytes:
            drained = not message.get("more_body", False) or await self._drain(
                receive, received, ends_at
            )
            await self._reject_too_large(send, close=not drained)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, received: int, ends_at: float | None) -> bool:
        """Read and drop the rest of a refused body; False when it is too long or too slow."""
        try:
            async with asyncio.timeout_at(ends_at):
                while received <= self.drain_bytes:
                    message = await receive()
                    if message["type"] != "http.request":
                        return False
                    received += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return True
        except TimeoutError:
            return False
        return False

    async def _reject_too_large(self, send: Send, *, close: bool = True) -> None:
        await self._reject(
            send,
            413,
            f"The request body is larger than the limit of {self.max_bytes} bytes.",
            close=close,
        )

    @staticmethod
    async def _reject(send: Send, status: int, message: str, *, close: bool = True) -> None:
        body = orjson.dumps(
            {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}
        )
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
