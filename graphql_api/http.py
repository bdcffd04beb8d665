"""GraphQL over HTTP on `/graphql`: request parsing, content negotiation and status codes.

Follows the GraphQL-over-HTTP specification: `application/graphql-response+json` answers carry
4xx statuses for requests that never executed (bad JSON, bad parameters, documents that do not
parse or validate, variables that do not coerce), while legacy `application/json` answers keep
200 for well-formed requests. GET runs queries only; GET with `Accept: text/html` serves GraphiQL.

The endpoint is a plain ASGI app rather than a Starlette request handler: every GraphQL request
passes through it, and it needs only the raw headers, the body and one response message.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError, OperationType
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from strawberry.http.ides import get_graphql_ide_html

from graphql_api.errors import format_error
from graphql_api.executor import GraphQLExecutor, PreparedDocument
from graphql_api.introspection import INTROSPECTION_FORBIDDEN
from graphql_api.middleware import new_request_id, request_id_var
from integrations.ratelimit import RateDecision
from resolvers.errors import RateLimited

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"

ContextFactory = Callable[[Request], Awaitable[Any]]
RawHeaders = list[tuple[bytes, bytes]]

_CONTENT_TYPES = {
    GRAPHQL_RESPONSE_JSON: b"application/graphql-response+json; charset=utf-8",
    APPLICATION_JSON: b"application/json; charset=utf-8",
}
_HTML = b"text/html; charset=utf-8"
_NOT_ACCEPTABLE = f"Accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON} to use this endpoint."
_UNSUPPORTED_BODY = "POST /graphql takes a JSON body with Content-Type: application/json."
_ALLOW_POST: RawHeaders = [(b"allow", b"POST")]
_ALLOW_GET_POST: RawHeaders = [(b"allow", b"GET, POST")]
_CHALLENGE: RawHeaders = [(b"www-authenticate", b'Bearer realm="sureflights"')]


class RequestError(Exception):
    """The request itself is unusable; nothing was executed."""

    def __init__(self, message: str, status: int = 400, headers: RawHeaders | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or []


class CredentialsRejected(Exception):
    """Raised by the context factory for credentials that are present but wrong: a 401."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientDisconnected(Exception):
    """The client went away before its body arrived; there is no one to answer."""


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    """`(media type, quality)` for each range of an Accept header, media types lower-cased."""
    ranges = []
    for part in accept.split(","):
        fields = part.split(";")
        media = fields[0].strip().lower()
        if not media:
            continue
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality))
    return ranges


# Clients send a handful of distinct Accept and Content-Type headers, so each is parsed once.
@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, None when nothing we serve is acceptable."""
    if not accept:
        return APPLICATION_JSON
    best: tuple[float, int, str] | None = None
    # Prefer the spec's media type when both are equally acceptable.
    for media, quality in _media_ranges(accept):
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE_JSON:
            candidate = (quality, 2, GRAPHQL_RESPONSE_JSON)
        elif media in (APPLICATION_JSON, "application/*", "*/*"):
            candidate = (quality, 1, APPLICATION_JSON)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else None


@lru_cache(maxsize=256)
def _accepts_html(accept: str) -> bool:
    return any(media == "text/html" and q > 0 for media, q in _media_ranges(accept))


@lru_cache(maxsize=64)
def _is_json_body(content_type: str) -> bool:
    """True for `application/json`, with no charset or a UTF-8 one (the only encoding JSON has)."""
    media, *params = content_type.split(";")
    if media.strip().lower() != APPLICATION_JSON:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def _request_headers(scope: Scope) -> tuple[str | None, str | None]:
    """`Accept` and `Content-Type`, found in one pass over the raw headers."""
    accept = content_type = None
    for name, value in scope["headers"]:
        if name == b"accept":
            accept = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return accept, content_type


def _request_id(scope: Scope) -> str:
    state = scope.get("state")
    request_id = state.get("request_id") if state else None
    return request_id or request_id_var.get() or new_request_id()


async def _send(
    send: Send, status: int, content_type: bytes, body: bytes, headers: RawHeaders | None = None
) -> None:
    raw_headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    if headers:
        raw_headers.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _error_body(message: str, code: str = "BAD_USER_INPUT") -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


def _client_error(error: GraphQLError, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
    """An error raised before execution (document or variables): the client's to fix."""
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    formatted["extensions"] = {"code": code}
    return formatted


def _parse_json_param(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(f"The '{name}' parameter is not valid JSON.") from error


def _get_params(scope: Scope) -> dict[str, Any]:
    query_params = QueryParams(scope["query_string"])
    return {
        "query": query_params.get("query"),
        "variables": _parse_json_param(query_params.get("variables"), "variables"),
        "operationName": query_params.get("operationName"),
        "extensions": _parse_json_param(query_params.get("extensions"), "extensions"),
    }


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _post_params(receive: Receive, content_type: str | None) -> dict[str, Any]:
    if content_type is None or not _is_json_body(content_type):
        raise RequestError(_UNSUPPORTED_BODY, status=415)
    body = await _read_body(receive)
    if not body:
        raise RequestError('The request body is empty; send {"query": "..."}.')
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError("The request body is not valid JSON.") from error
    if isinstance(params, list):
        raise RequestError("Batched requests are not supported; send one operation per request.")
    if not isinstance(params, dict):
        raise RequestError("The request body must be a JSON object.")
    return params


def _check_params(params: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestError("The 'query' parameter must be a non-empty string.")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError("The 'variables' parameter must be a map.")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("The 'operationName' parameter must be a string.")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError("The 'extensions' parameter must be a map.")
    return query, variables, operation_name


def _is_request_error(result: ExecutionResult) -> bool:
    """Errors with no data and no field path were raised before execution (variable coercion)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(e.path is None for e in result.errors or ())
    )


def rate_limit_headers(decisions: Iterable[RateDecision]) -> RawHeaders:
    """`RateLimit-Limit`, `-Remaining` and `-Reset` of the tightest limit a request met, and
    `Retry-After` when one refused it (the IETF RateLimit header fields draft)."""
    tightest: RateDecision | None = None
    for decision in decisions:
        if tightest is None or (decision.remaining, -decision.reset_seconds) < (
            tightest.remaining,
            -tightest.reset_seconds,
        ):
            tightest = decision
    if tightest is None:
        return []
    reset = b"%d" % max(0, math.ceil(tightest.reset_seconds))
    headers: RawHeaders = [
        (b"ratelimit-limit", b"%d" % tightest.limit),
        (b"ratelimit-remaining", b"%d" % tightest.remaining),
        (b"ratelimit-reset", reset),
    ]
    if not tightest.allowed:
        headers.append((b"retry-after", b"%d" % max(1, math.ceil(tightest.retry_after_seconds))))
    return headers


def _decisions(context: Any, result: ExecutionResult) -> list[RateDecision]:
    decisions: list[RateDecision] = list(getattr(context, "rate_limits", None) or ())
    for error in result.errors or ():
        original = error.original_error
        if isinstance(original, RateLimited) and original.decision is not None:
            decisions.append(original.decision)
    return decisions


def _unselected_operation(prepared: PreparedDocument, operation_name: str | None) -> str:
    if operation_name:
        return f"No operation named '{operation_name}' in the document."
    if prepared.operations:
        return "The document holds several operations; name one with 'operationName'."
    return "The document holds no operation to run."


class GraphQLHTTPEndpoint:
    """GET and POST `/graphql`; `endpoint` is the ASGI app to route there."""

    def __init__(
        self,
        executor: GraphQLExecutor,
        context_factory: ContextFactory,
        *,
        introspection_allowed: Callable[[Any], bool] | None = None,
    ) -> None:
        """`introspection_allowed(context)` decides who may introspect; None lets everyone."""
        self.executor = executor
        self.context_factory = context_factory
        self.introspection_allowed = introspection_allowed
        self._ide_html = get_graphql_ide_html(graphql_ide="graphiql").encode()

    @property
    def endpoint(self) -> GraphQLHTTPEndpoint:
        # An instance (not a function) is mounted by Starlette as an ASGI app.
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept, content_type = _request_headers(scope)
        method = scope["method"]
        if (
            method == "GET"
            and accept
            and _accepts_html(accept)
            and "query" not in QueryParams(scope["query_string"])
        ):
            await _send(send, 200, _HTML, self._ide_html)
            return
        media_type = negotiate(accept)
        if media_type is None:
            await _send(send, 406, _CONTENT_TYPES[APPLICATION_JSON], _error_body(_NOT_ACCEPTABLE))
            return
        headers: RawHeaders | None = None
        try:
            status, body, headers = await self._respond(
                scope, receive, method, content_type, media_type
            )
        except RequestError as error:
            status, body, headers = error.status, _error_body(error.message), error.headers
        except CredentialsRejected as error:
            status, body = 401, _error_body(error.message, "UNAUTHENTICATED")
            headers = _CHALLENGE
        except ClientDisconnected:
            return
        except Exception as error:
            # Whatever escaped is answered in the contract's shape with the request id; the
            # detail goes to the log and Sentry only.
            unexpected = GraphQLError(str(error), original_error=error)
            status = 500
            body = orjson.dumps({"errors": [format_error(unexpected, _request_id(scope))]})
        await _send(send, status, _CONTENT_TYPES[media_type], body, headers)

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        method: str,
        content_type: str | None,
        media_type: str,
    ) -> tuple[int, bytes, RawHeaders | None]:
        """The status, JSON body and extra headers for a GraphQL request; `RequestError` when
        there is none."""
        if method == "POST":
            params = await _post_params(receive, content_type)
        elif method == "GET":
            params = _get_params(scope)
        else:
            raise RequestError("Use GET or POST on /graphql.", 405, _ALLOW_GET_POST)
        query, variables, operation_name = _check_params(params)
        prepared = self.executor.prepare(query)
        operation = prepared.operation_type(operation_name) if prepared.parsed else None
        # Checked before validation errors, so a GET mutation is refused whatever else is wrong.
        if method != "POST" and operation not in (None, OperationType.QUERY):
            raise RequestError("GET runs queries only; send mutations with POST.", 405, _ALLOW_POST)
        if prepared.errors:
            return *self._not_executed(prepared.errors, media_type), None
        if operation is None:
            message = _unselected_operation(prepared, operation_name)
            return *self._not_executed([GraphQLError(message)], media_type), None
        context = await self.context_factory(Request(scope, receive))
        if (
            prepared.introspects
            and self.introspection_allowed is not None
            and not self.introspection_allowed(context)
        ):
            forbidden = GraphQLError(INTROSPECTION_FORBIDDEN)
            return *self._not_executed([forbidden], media_type, code="FORBIDDEN"), None
        result = await self.executor.execute(
            prepared, context=context, variables=variables, operation_name=operation_name
        )
        if _is_request_error(result):
            # Variables that do not coerce also stop the request before execution.
            return *self._not_executed(result.errors or [], media_type), None
        headers = rate_limit_headers(_decisions(context, result))
        if not result.errors:
            return 200, orjson.dumps({"data": result.data}), headers
        request_id = context.request_id
        errors = [format_error(e, request_id) for e in result.errors]
        return 200, orjson.dumps({"errors": errors, "data": result.data}), headers

    @staticmethod
    def _not_executed(
        errors: list[GraphQLError], media_type: str, code: str = "BAD_USER_INPUT"
    ) -> tuple[int, bytes]:
        """A request error: no `data` entry, and the spec's 400 for its own media type."""
        status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
        return status, orjson.dumps({"errors": [_client_error(e, code) for e in errors]})
