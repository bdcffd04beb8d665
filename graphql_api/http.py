"""GraphQL over HTTP on `/graphql`: request parsing, content negotiation and status codes.

Follows the GraphQL-over-HTTP specification: `application/graphql-response+json` answers carry
4xx statuses for requests that never executed (bad JSON, bad parameters, documents that do not
parse or validate, variables that do not coerce), while legacy `application/json` answers keep
200 for well-formed requests. GET runs queries only; GET with `Accept: text/html` serves GraphiQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError, OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from graphql_api.errors import format_error
from graphql_api.executor import GraphQLExecutor, PreparedDocument
from graphql_api.middleware import new_request_id, request_id_var

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"

ContextFactory = Callable[[Request], Awaitable[Any]]

_CONTENT_TYPES = {
    GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8",
    APPLICATION_JSON: f"{APPLICATION_JSON}; charset=utf-8",
}
_NOT_ACCEPTABLE = f"Accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON} to use this endpoint."
_UNSUPPORTED_BODY = "POST /graphql takes a JSON body with Content-Type: application/json."


class RequestError(Exception):
    """The request itself is unusable; nothing was executed."""

    def __init__(
        self, message: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers


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


# Clients send a handful of distinct Accept headers, so each is parsed once.
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


def _json_response(
    body: Any, status: int, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        headers=headers,
        media_type=_CONTENT_TYPES[media_type],
    )


def _error_body(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}


def _client_error(error: GraphQLError) -> dict[str, Any]:
    """An error raised before execution (document or variables): the client's to fix."""
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    return formatted


def _parse_json_param(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(f"The '{name}' parameter is not valid JSON.") from error


def _get_params(request: Request) -> dict[str, Any]:
    query_params = request.query_params
    return {
        "query": query_params.get("query"),
        "variables": _parse_json_param(query_params.get("variables"), "variables"),
        "operationName": query_params.get("operationName"),
        "extensions": _parse_json_param(query_params.get("extensions"), "extensions"),
    }


async def _post_params(request: Request, content_type: str | None) -> dict[str, Any]:
    if content_type is None or not _is_json_body(content_type):
        raise RequestError(_UNSUPPORTED_BODY, status=415)
    body = await request.body()
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


def _negotiation_headers(
    raw_headers: Iterable[tuple[bytes, bytes]],
) -> tuple[str | None, str | None]:
    """`Accept` and `Content-Type`, found in one pass over the raw headers."""
    accept = content_type = None
    for name, value in raw_headers:
        if name == b"accept":
            accept = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return accept, content_type


def _request_id(request: Request) -> str:
    state = request.scope.get("state")
    request_id = state.get("request_id") if state else None
    return request_id or request_id_var.get() or new_request_id()


def _is_request_error(result: ExecutionResult) -> bool:
    """Errors with no data and no field path were raised before execution (variable coercion)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(e.path is None for e in result.errors or ())
    )


class GraphQLHTTPEndpoint:
    """GET and POST `/graphql`; `endpoint` is the Starlette request handler."""

    def __init__(self, executor: GraphQLExecutor, context_factory: ContextFactory) -> None:
        self.executor = executor
        self.context_factory = context_factory
        self._ide_html = get_graphql_ide_html(graphql_ide="graphiql")

    async def endpoint(self, request: Request) -> Response:
        accept, content_type = _negotiation_headers(request.scope["headers"])
        method = request.method
        if (
            method == "GET"
            and accept
            and _accepts_html(accept)
            and "query" not in request.query_params
        ):
            return HTMLResponse(self._ide_html)
        media_type = negotiate(accept)
        if media_type is None:
            return _json_response(_error_body(_NOT_ACCEPTABLE), 406, APPLICATION_JSON)
        try:
            return await self._handle(request, method, content_type, media_type)
        except RequestError as error:
            return _json_response(
                _error_body(error.message), error.status, media_type, error.headers
            )
        except Exception as error:
            # Whatever escaped is answered in the contract's shape with the request id; the
            # detail goes to the log and Sentry only.
            unexpected = GraphQLError(str(error), original_error=error)
            body = {"errors": [format_error(unexpected, _request_id(request))]}
            return _json_response(body, 500, media_type)

    async def _handle(
        self, request: Request, method: str, content_type: str | None, media_type: str
    ) -> Response:
        if method == "POST":
            params = await _post_params(request, content_type)
        elif method == "GET":
            params = _get_params(request)
        else:
            raise RequestError(
                "Use GET or POST on /graphql.", status=405, headers={"Allow": "GET, POST"}
            )
        query, variables, operation_name = _check_params(params)
        prepared = self.executor.prepare(query)
        operation = prepared.operation_type(operation_name) if prepared.parsed else None
        # Checked before validation errors, so a GET mutation is refused whatever else is wrong.
        if method != "POST" and operation not in (None, OperationType.QUERY):
            raise RequestError(
                "GET runs queries only; send mutations with POST.",
                status=405,
                headers={"Allow": "POST"},
            )
        if prepared.errors:
            return self._not_executed(prepared.errors, media_type)
        if operation is None:
            return self._not_executed(
                [GraphQLError(self._unselected_operation(prepared, operation_name))], media_type
            )
        context = await self.context_factory(request)
        result = await self.executor.execute(
            prepared, context=context, variables=variables, operation_name=operation_name
        )
        if _is_request_error(result):
            # Variables that do not coerce also stop the request before execution.
            return self._not_executed(result.errors or [], media_type)
        body: dict[str, Any] = {}
        if result.errors:
            request_id = context.request_id
            body["errors"] = [format_error(e, request_id) for e in result.errors]
        body["data"] = result.data
        return _json_response(body, 200, media_type)

    @staticmethod
    def _unselected_operation(prepared: PreparedDocument, operation_name: str | None) -> str:
        if operation_name:
            return f"No operation named '{operation_name}' in the document."
        if prepared.operations:
            return "The document holds several operations; name one with 'operationName'."
        return "The document holds no operation to run."

    @staticmethod
    def _not_executed(errors: list[GraphQLError], media_type: str) -> Response:
        """A request error: no `data` entry, and the spec's 400 for its own media type."""
        status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
        return _json_response({"errors": [_client_error(e) for e in errors]}, status, media_type)
