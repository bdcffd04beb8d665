"""What the gateway adds to Strawberry's WebSocket transport on `/graphql`.

- Queries and mutations over the legacy `graphql-ws` subprotocol (Apollo's
  subscriptions-transport-ws, whose clients send every operation over the socket) are answered
  as that protocol does: a `data` message, then `complete`. Strawberry's handler runs
  subscriptions only, and took a query for an internal error.
- Messages larger than `WS_MAX_MESSAGE_BYTES` close the connection with 1009 (Message Too Big)
  before the app reads them, whatever server runs the app (`sureflights serve` also tells
  uvicorn the same limit).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import CompleteMessage, ErrorMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError

# RFC 6455: "a message that is too big for it to process".
MESSAGE_TOO_BIG = 1009


class LegacyGraphQLWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """`graphql-ws` (subscriptions-transport-ws) with every operation type, as Apollo served it."""

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        try:
            # `stream` runs any operation (a query or mutation gives one result), with the same
            # extensions (limits, introspection rule, masking) as subscriptions.
            result_source = await self.schema.stream(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation_name,
            )
            self.subscriptions[operation_id] = result_source
            is_first_result = True
            async for result in result_source:
                if is_first_result and isinstance(result, PreExecutionError):
                    assert result.errors
                    await self.send_message(
                        ErrorMessage(
                            type="error", id=operation_id, payload=result.errors[0].formatted
                        )
                    )
                    return
                if not isinstance(result, ExecutionResult):
                    # Incremental delivery: the schema has no @defer or @stream.
                    continue
                await self.send_data_message(result, operation_id)
                is_first_result = False
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        except asyncio.CancelledError:
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)


class WebSocketMessageLimit:
    """Closes a WebSocket with 1009 when a client sends a message over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_big(self, message: Message) -> bool:
        data = message.get("bytes")
        if data is not None:
            return len(data) > self.max_bytes
        text = message.get("text")
        if text is None or len(text) * 4 <= self.max_bytes:
            return False
        return len(text) > self.max_bytes or len(text.encode()) > self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False

        async def guarded_send(message: Message) -> None:
            # Once closed here, what the app still sends has nowhere to go.
            if not closed:
                await send(message)

        async def limited_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and self._too_big(message):
                closed = True
                await send(
                    {
                        "type": "websocket.close",
                        "code": MESSAGE_TOO_BIG,
                        "reason": f"message larger than {self.max_bytes} bytes",
                    }
                )
                # The app sees the connection end, as if the client had closed it.
                return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
            return message

        await self.app(scope, limited_receive, guarded_send)
