"""Turns GraphQL errors into what clients see: the contract's code, and nothing internal.

Domain errors keep their code and message; upstream failures that escape a resolver become
`UPSTREAM_UNAVAILABLE` / `UPSTREAM_ERROR`; anything else becomes `INTERNAL` with the request id,
its detail going to the log and Sentry only.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from graphql import GraphQLError
from redis.exceptions import RedisError

from integrations.ports.errors import UpstreamFailure, UpstreamRejected, UpstreamUnavailable
from resolvers.errors import DomainError

log = logging.getLogger("sureflights.graphql")

INTERNAL_MESSAGE = "Internal server error. Quote the requestId when reporting it."


def _located(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path is not None:
        formatted["path"] = error.path
    return formatted


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """One error of a response, in the contract's shape."""
    original = error.original_error
    if original is None:
        # Syntax, validation and variable-coercion errors: the client's document is at fault.
        formatted = _located(error)
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
        return formatted
    if isinstance(original, DomainError):
        formatted = _located(error)
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code, **original.extensions}
        return formatted
    if isinstance(original, UpstreamFailure):
        log.warning(
            "upstream failure",
            extra={
                "upstream": original.upstream,
                "upstream_request_id": original.request_id,
                "detail": original.detail,
            },
        )
        formatted = _located(error)
        if isinstance(original, UpstreamRejected):
            code = "BAD_USER_INPUT"
            formatted["message"] = f"{original.upstream} refused the input: {original.detail}"
        elif isinstance(original, UpstreamUnavailable):
            code = "UPSTREAM_UNAVAILABLE"
            formatted["message"] = f"{original.upstream} is unavailable; try again shortly."
        else:
            code = "UPSTREAM_ERROR"
            formatted["message"] = f"{original.upstream} answered with an error."
        formatted["extensions"] = {"code": code, "requestId": request_id}
        return formatted
    if isinstance(original, RedisError):
        # Redis down: what needed it is unavailable for now, and nothing is wrong in the code.
        log.warning("shared state unavailable", extra={"detail": type(original).__name__})
        formatted = _located(error)
        formatted["message"] = "A service the gateway needs is unavailable; try again shortly."
        formatted["extensions"] = {"code": "UPSTREAM_UNAVAILABLE", "requestId": request_id}
        return formatted
    log.error(
        "unexpected error in %s",
        ".".join(str(p) for p in error.path or ()) or "operation",
        exc_info=(type(original), original, original.__traceback__),
        extra={"request_id": request_id},
    )
    sentry_sdk.capture_exception(original)
    formatted = _located(error)
    formatted["message"] = INTERNAL_MESSAGE
    formatted["extensions"] = {"code": "INTERNAL", "requestId": request_id}
    return formatted


def masked_graphql_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """The same masking as a `GraphQLError`, for Strawberry's WebSocket path."""
    shown = format_error(error, request_id)
    return GraphQLError(
        shown["message"],
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=shown["extensions"],
    )
