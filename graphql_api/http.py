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
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult, GraphQLError, OperationType
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from graphql_api.cost import Budgets, CostAnalysis
from graphql_api.documents import (
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_FOUND_MESSAGE,
    PersistedQueries,
    PersistedQuery,
    PersistedQueryError,
    PersistedQueryNotFound,
    TrustedDocuments,
    document_hash,
)
from graphql_api.errors import format_error
from graphql_api.executor import GraphQLExecutor, PreparedDocument
from graphql_api.graphiql import PAGE_HEADERS, PAGE_HTML
from graphql_api.introspection import INTROSPECTION_FORBIDDEN
from graphql_api.middleware import new_request_id, request_id_var
from graphql_api.operations import OUTCOME, count_outcome, observe_operation
from graphql_api.response_cache import CachePolicy, Entry, ResponseCache, cache_key, cache_policy
from integrations.state.ratelimit import RateDecision
from resolvers.access import CallerKind
from resolvers.errors import RateLimited
from resolvers.validity import Validity, collecting

if TYPE_CHECKING:
    from graphql_api.sse import SubscriptionStreams

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


@dataclass(slots=True)
class _Headers:
    """What the endpoint reads of a request's headers, found in one pass over the raw list."""

    accept: str | None = None
    content_type: str | None = None
    if_none_match: bytes | None = None
    # Authorization or X-API-Key is present: the caller must be authenticated first.
    credentials: bool = False


def _request_headers(scope: Scope) -> _Headers:
    found = _Headers()
    for name, value in scope["headers"]:
        if name == b"accept":
            found.accept = value.decode("latin-1")
        elif name == b"content-type":
            found.content_type = value.decode("latin-1")
        elif name == b"if-none-match":
            found.if_none_match = value
        elif name in (b"authorization", b"x-api-key") and value.strip():
            found.credentials = True
    return found


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
    formatted["extensions"] = {"code": code, **(error.extensions or {})}
    return formatted


def _parse_json_param(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(f"The '{name}' parameter is not valid JSON.") from error


def _get_params(query_string: bytes) -> dict[str, Any]:
    query_params = QueryParams(query_string)
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


def _post_params(body: bytes) -> dict[str, Any]:
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


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    """A request's parameters once checked: the document may come as a persisted query hash."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    persisted: PersistedQuery | None


def _check_params(params: dict[str, Any]) -> GraphQLParams:
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError("The 'extensions' parameter must be a map.")
    try:
        persisted = PersistedQuery.of(extensions)
    except PersistedQueryError as error:
        raise RequestError(error.message) from error
    query = params.get("query")
    if (query is None and persisted is None) or (
        query is not None and (not isinstance(query, str) or not query.strip())
    ):
        raise RequestError("The 'query' parameter must be a non-empty string.")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError("The 'variables' parameter must be a map.")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError("The 'operationName' parameter must be a string.")
    return GraphQLParams(query, variables, operation_name, persisted)


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
    # Less a hair, so float noise on a whole window (900.0000000001 s) does not add a second.
    reset = b"%d" % max(0, math.ceil(tightest.reset_seconds - 1e-6))
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


@dataclass(slots=True)
class EdgeFeatures:
    """What the endpoint does besides executing: each is off when left out."""

    response_cache: ResponseCache | None = None
    persisted_queries: PersistedQueries | None = None
    trusted_documents: TrustedDocuments | None = None
    # Anonymous callers and travellers run trusted documents only.
    trusted_only: bool = False
    costs: CostAnalysis | None = None
    max_cost: int | None = None
    budgets: Budgets | None = None


@dataclass(slots=True)
class Plan:
    """What a request asks for, worked out once for every identical request (same body or
    query string): its document, prepared, and how its answers are cached."""

    text: str
    text_hash: str
    variables: dict[str, Any] | None
    operation_name: str | None
    prepared: PreparedDocument
    operation: OperationType | None
    policy: CachePolicy | None
    key: str | None
    # The persisted query hash it was sent with, registered once its document proved valid.
    persisted: PersistedQuery | None = None
    cost: int | None = None


# Identical requests (the same body or query string) share a plan; bodies longer than this
# are planned afresh each time rather than kept.
_PLAN_BODY_LIMIT = 32_768
_PLANS = 2_048
_NO_STORE: RawHeaders = [(b"cache-control", b"no-store")]
_VARY: tuple[bytes, bytes] = (b"vary", b"Accept, Authorization, X-API-Key")


class GraphQLHTTPEndpoint:
    """GET and POST `/graphql`; `endpoint` is the ASGI app to route there."""

    def __init__(
        self,
        executor: GraphQLExecutor,
        context_factory: ContextFactory,
        *,
        introspection_allowed: Callable[[Any], bool] | None = None,
        features: EdgeFeatures | None = None,
        subscriptions: SubscriptionStreams | None = None,
    ) -> None:
        """`introspection_allowed(context)` decides who may introspect; None lets everyone."""
        self.executor = executor
        self.context_factory = context_factory
        self.introspection_allowed = introspection_allowed
        self.features = features or EdgeFeatures()
        self.subscriptions = subscriptions
        self._plans: OrderedDict[tuple[bool, bytes], Plan] = OrderedDict()
        self._cache: ResponseCache | None = None
        self.use(self.features)

    def use(self, features: EdgeFeatures) -> None:
        """Serve with `features` from now on (the app sets them once its resources are open)."""
        self.features = features
        cache = features.response_cache
        self._cache = cache if cache is not None and cache.enabled else None
        self._plans.clear()

    @property
    def endpoint(self) -> GraphQLHTTPEndpoint:
        # An instance (not a function) is mounted by Starlette as an ASGI app.
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _request_headers(scope)
        accept = headers.accept
        method = scope["method"]
        if (
            method == "GET"
            and accept
            and _accepts_html(accept)
            and "query" not in QueryParams(scope["query_string"])
        ):
            await _send(send, 200, _HTML, PAGE_HTML, PAGE_HEADERS)
            return
        if self.subscriptions is not None and accept and _wants_event_stream(accept):
            await self.subscriptions.serve(self, scope, receive, send, headers)
            return
        media_type = negotiate(accept)
        if media_type is None:
            await _send(send, 406, _CONTENT_TYPES[APPLICATION_JSON], _error_body(_NOT_ACCEPTABLE))
            return
        response_headers: RawHeaders | None = None
        try:
            status, body, response_headers = await self._respond(
                scope, receive, method, headers, media_type
            )
        except RequestError as error:
            status, body, response_headers = error.status, _error_body(error.message), error.headers
        except CredentialsRejected as error:
            status, body = 401, _error_body(error.message, "UNAUTHENTICATED")
            response_headers = _CHALLENGE
        except ClientDisconnected:
            return
        except Exception as error:
            # Whatever escaped is answered in the contract's shape with the request id; the
            # detail goes to the log and Sentry only.
            unexpected = GraphQLError(str(error), original_error=error)
            status = 500
            body = orjson.dumps({"errors": [format_error(unexpected, _request_id(scope))]})
        count_outcome(scope, status)
        if status == 304:
            await _send_not_modified(send, response_headers or [])
            return
        await _send(send, status, _CONTENT_TYPES[media_type], body, response_headers)

    # --- planning ---------------------------------------------------------------------------

    async def plan(self, scope: Scope, receive: Receive, method: str, headers: _Headers) -> Plan:
        """The request's plan; `RequestError` (or `PersistedQueryNotFound`) when it has none."""
        if method == "POST":
            if headers.content_type is None or not _is_json_body(headers.content_type):
                raise RequestError(_UNSUPPORTED_BODY, status=415)
            raw = await _read_body(receive)
        elif method == "GET":
            raw = scope["query_string"]
        else:
            raise RequestError("Use GET or POST on /graphql.", 405, _ALLOW_GET_POST)
        memo_key = (method == "GET", raw)
        plan = self._plans.get(memo_key)
        if plan is not None:
            self._plans.move_to_end(memo_key)
            return plan
        params = _check_params(_post_params(raw) if method == "POST" else _get_params(raw))
        plan = await self._plan(params)
        if len(raw) <= _PLAN_BODY_LIMIT and plan.persisted is None:
            self._plans[memo_key] = plan
            if len(self._plans) > _PLANS:
                self._plans.popitem(last=False)
        return plan

    async def _plan(self, params: GraphQLParams) -> Plan:
        text = params.query
        persisted = params.persisted
        if persisted is not None:
            if text is None:
                text = await self._persisted_text(persisted.sha256_hash)
                if text is None:
                    raise PersistedQueryNotFound
                persisted = None  # found, nothing to register
            elif document_hash(text) != persisted.sha256_hash:
                raise RequestError("provided sha does not match query")
        assert text is not None
        prepared = self.executor.prepare(text)
        operation = prepared.operation_type(params.operation_name) if prepared.parsed else None
        text_hash = persisted.sha256_hash if persisted is not None else document_hash(text)
        policy = None
        key = None
        if self._cache is not None and prepared.document is not None and not prepared.errors:
            memo_key = ("cache", params.operation_name)
            if memo_key not in prepared.memo:
                prepared.memo[memo_key] = cache_policy(
                    self.executor.schema._schema, prepared.document, params.operation_name
                )
            policy = prepared.memo[memo_key]
            if policy is not None:
                key = cache_key(text_hash, params.operation_name, params.variables)
        return Plan(
            text=text,
            text_hash=text_hash,
            variables=params.variables,
            operation_name=params.operation_name,
            prepared=prepared,
            operation=operation,
            policy=policy,
            key=key,
            persisted=persisted,
        )

    async def _persisted_text(self, sha256_hash: str) -> str | None:
        trusted = self.features.trusted_documents
        if trusted is not None:
            text = await trusted.get(sha256_hash)
            if text is not None:
                return text
        persisted = self.features.persisted_queries
        return await persisted.get(sha256_hash) if persisted is not None else None

    # --- admission: everything checked before a document runs ------------------------------

    async def admit(
        self, scope: Scope, receive: Receive, plan: Plan, headers: _Headers, media_type: str
    ) -> tuple[Any | None, Refusal | None]:
        """The request context (None while it is not needed yet) or why the plan may not run."""
        prepared = plan.prepared
        if prepared.errors:
            return None, Refusal(prepared.errors)
        if plan.operation is None:
            message = _unselected_operation(prepared, plan.operation_name)
            return None, Refusal([GraphQLError(message)])
        context = None
        if headers.credentials or (self.introspection_allowed is not None and prepared.introspects):
            context = await self.context_factory(Request(scope, receive))
        features = self.features
        trusted = features.trusted_documents if features.trusted_only else None
        if (
            trusted is not None
            and _restricted(context)
            and not await trusted.trusts(plan.text_hash, prepared.canonical_hash)
        ):
            return context, Refusal([GraphQLError(_UNTRUSTED)], code="FORBIDDEN", status=403)
        if (
            prepared.introspects
            and self.introspection_allowed is not None
            and not self.introspection_allowed(context)
        ):
            return context, Refusal([GraphQLError(INTROSPECTION_FORBIDDEN)], code="FORBIDDEN")
        if plan.persisted is not None and features.persisted_queries is not None:
            await features.persisted_queries.register(plan.persisted.sha256_hash, plan.text)
        return context, None

    def cost_of(self, plan: Plan) -> int | None:
        costs = self.features.costs
        if costs is None or plan.prepared.document is None:
            return None
        if plan.cost is None:
            plan.cost = costs.cost(plan.prepared.document, plan.operation_name, plan.variables)
        return plan.cost

    async def charge(self, plan: Plan, context: Any) -> Refusal | None:
        """Refuse an operation above the maximum cost, then spend its cost from the budget."""
        cost = self.cost_of(plan)
        if cost is None:
            return None
        features = self.features
        if features.max_cost is not None and cost > features.max_cost:
            message = (
                f"This operation costs {cost}; the most one may cost is {features.max_cost}. "
                "Ask for fewer items (smaller `first` arguments) or fewer fields."
            )
            return Refusal([GraphQLError(message, extensions={"cost": cost})])
        if features.budgets is not None:
            try:
                await features.budgets.charge(
                    context.caller, context.client, cost, context.rate_limits.append
                )
            except RateLimited as error:
                return Refusal.rate_limited(error, context.request_id)
        return None

    # --- answering --------------------------------------------------------------------------

    async def _respond(
        self, scope: Scope, receive: Receive, method: str, headers: _Headers, media_type: str
    ) -> tuple[int, bytes, RawHeaders | None]:
        """The status, JSON body and extra headers for a GraphQL request; `RequestError` when
        there is none."""
        try:
            plan = await self.plan(scope, receive, method, headers)
        except PersistedQueryNotFound:
            status = 404 if media_type == GRAPHQL_RESPONSE_JSON else 200
            return status, _PERSISTED_QUERY_NOT_FOUND_BODY, None
        # Checked before validation errors, so a GET mutation is refused whatever else is wrong.
        observe_operation(scope, plan.operation, plan.operation_name, plan.prepared)
        if method != "POST" and plan.operation not in (None, OperationType.QUERY):
            raise RequestError("GET runs queries only; send mutations with POST.", 405, _ALLOW_POST)
        context, refusal = await self.admit(scope, receive, plan, headers, media_type)
        if refusal is not None:
            return _refused(scope, refusal, media_type)
        cache = self._cache
        key = plan.key
        if key is not None and plan.policy is not None and plan.policy.per_caller_class:
            key = f"{key}:{_caller_class(context)}"
        if cache is not None and key is not None:
            entry = await cache.get(key)
            if entry is not None:
                return _cached_answer(method, headers, entry, time.time())
        if context is None:
            context = await self.context_factory(Request(scope, receive))
        refusal = await self.charge(plan, context)
        if refusal is not None:
            return _refused(scope, refusal, media_type)
        with collecting() as validity:
            result = await self.executor.execute(
                plan.prepared,
                context=context,
                variables=plan.variables,
                operation_name=plan.operation_name,
            )
        if _is_request_error(result):
            # Variables that do not coerce also stop the request before execution.
            return _refused(scope, Refusal(result.errors or []), media_type)
        response_headers = rate_limit_headers(_decisions(context, result))
        if result.errors:
            request_id = context.request_id
            errors = [format_error(e, request_id) for e in result.errors]
            code = errors[0].get("extensions", {}).get("code", "INTERNAL")
            scope.setdefault("state", {})[OUTCOME] = code
            body = orjson.dumps({"errors": errors, "data": result.data})
            if method == "GET":
                response_headers = [*response_headers, *_NO_STORE]
            return 200, body, response_headers
        body = orjson.dumps({"data": result.data})
        if cache is not None and key is not None and plan.policy is not None:
            expires_at = _expires_at(plan.policy, validity)
            if expires_at is not None:
                entry = await cache.put(key, body, expires_at, tuple(sorted(validity.tags)))
                if method == "GET":
                    status, _, cache_headers = _cached_answer(method, headers, entry, time.time())
                    return status, body, [*response_headers, *(cache_headers or [])]
        if method == "GET":
            response_headers = [*response_headers, *_NO_STORE]
        return 200, body, response_headers


def _refused(
    scope: Scope, refusal: Refusal, media_type: str
) -> tuple[int, bytes, RawHeaders | None]:
    scope.setdefault("state", {})[OUTCOME] = refusal.code
    return refusal.response(media_type)


def _expires_at(policy: CachePolicy, validity: Validity) -> float | None:
    """When a fresh answer stops holding, None when it may not be cached at all."""
    if not validity.reusable:
        return None
    if policy.needs_dependency and validity.until is None:
        return None
    now = time.time()
    expires_at = now + policy.ceiling_seconds
    if validity.until is not None:
        expires_at = min(expires_at, validity.until.timestamp())
    # An answer about to stop holding is not worth keeping.
    return expires_at if expires_at - now >= 1 else None


def _cached_answer(
    method: str, headers: _Headers, entry: Entry, now: float
) -> tuple[int, bytes, RawHeaders | None]:
    if method != "GET":
        return 200, entry.body, None
    cache_headers: RawHeaders = [
        (b"cache-control", b"public, max-age=%d" % entry.max_age(now)),
        (b"etag", entry.etag),
        _VARY,
    ]
    if headers.if_none_match is not None and _etag_matches(headers.if_none_match, entry.etag):
        return 304, b"", cache_headers
    return 200, entry.body, cache_headers


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    candidates = [c.strip() for c in if_none_match.split(b",")]
    return b"*" in candidates or any(c.removeprefix(b"W/") == etag for c in candidates)


async def _send_not_modified(send: Send, headers: RawHeaders) -> None:
    await send({"type": "http.response.start", "status": 304, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _caller_class(context: Any) -> str:
    caller = getattr(context, "caller", None)
    return str(caller.kind) if caller is not None else "anonymous"


def _restricted(context: Any) -> bool:
    """Anonymous callers and travellers: the callers trusted-documents-only mode restricts."""
    caller = getattr(context, "caller", None)
    return caller is None or caller.kind in (CallerKind.ANONYMOUS, CallerKind.TRAVELLER)


def _wants_event_stream(accept: str) -> bool:
    """The client asks for `text/event-stream` above the JSON media types (GraphQL over SSE)."""
    stream = json = 0.0
    for media, quality in _media_ranges(accept):
        if media == "text/event-stream":
            stream = max(stream, quality)
        elif media in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
            json = max(json, quality)
    return stream > 0 and stream >= json


_UNTRUSTED = (
    "Only trusted documents are accepted from anonymous callers: send a trusted document "
    "(or its extensions.persistedQuery.sha256Hash), or a partner key."
)
_PERSISTED_QUERY_NOT_FOUND_BODY = orjson.dumps(
    {
        "errors": [
            {
                "message": PERSISTED_QUERY_NOT_FOUND_MESSAGE,
                "extensions": {"code": PERSISTED_QUERY_NOT_FOUND},
            }
        ]
    }
)


@dataclass(slots=True)
class Refusal:
    """Why a request was not executed: errors of the client's to fix, with their code."""

    errors: list[GraphQLError]
    code: str = "BAD_USER_INPUT"
    # The status for `application/graphql-response+json`; legacy JSON answers 200 unless
    # `legacy_status` says otherwise (a refused budget is 429 for both).
    status: int = 400
    legacy_status: int = 200
    headers: RawHeaders | None = None
    formatted: list[dict[str, Any]] | None = None

    @classmethod
    def rate_limited(cls, error: RateLimited, request_id: str) -> Refusal:
        formatted = format_error(GraphQLError(error.message, original_error=error), request_id)
        decisions = [error.decision] if error.decision is not None else []
        return cls(
            [],
            code="RATE_LIMITED",
            status=429,
            legacy_status=429,
            headers=rate_limit_headers(decisions),
            formatted=[formatted],
        )

    def payload(self) -> list[dict[str, Any]]:
        if self.formatted is not None:
            return self.formatted
        return [_client_error(e, self.code) for e in self.errors]

    def response(self, media_type: str) -> tuple[int, bytes, RawHeaders | None]:
        """No `data` entry, and the spec's 4xx for its own media type."""
        status = self.status if media_type == GRAPHQL_RESPONSE_JSON else self.legacy_status
        return status, orjson.dumps({"errors": self.payload()}), self.headers
