"""The Starlette assembly: routes, middleware and the GraphQL endpoints over the services that
`graphql_api.bootstrap.open_services` opens in the lifespan.

`create_app()` is the ASGI factory (`uvicorn --factory graphql_api.app:create_app`); the module
attribute `app` builds one instance on first access for `uvicorn graphql_api.app:app`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sentry_sdk.transport import Transport
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from graphql_api import metrics
from graphql_api.bootstrap import build_executor, open_services
from graphql_api.context import RequestContext, Services
from graphql_api.cost import Budgets, CostAnalysis
from graphql_api.documents import PersistedQueries, TrustedDocuments
from graphql_api.graphiql import ASSETS_PATH, graphiql_asset
from graphql_api.http import CredentialsRejected, EdgeFeatures, GraphQLHTTPEndpoint
from graphql_api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, new_request_id
from graphql_api.observability import configure_logging, init_sentry
from graphql_api.response_cache import ResponseCache
from graphql_api.routes import (
    duffel_webhook,
    health,
    ops_page,
    paystack_webhook,
    sandbox_checkout,
    trip_page,
    whatsapp_webhook,
)
from graphql_api.settings import Settings, load_settings
from graphql_api.sse import SubscriptionStreams
from graphql_api.websocket import LegacyGraphQLWSHandler, WebSocketMessageLimit
from integrations.state.ratelimit import RatePolicy
from resolvers.access import Caller, may_introspect
from resolvers.auth import caller_from_credentials
from resolvers.errors import Unauthenticated
from resolvers.rates import rate_tag
from resolvers.saga import SagaHooks

log = logging.getLogger("sureflights")


def _client_address(connection: HTTPConnection) -> str:
    # uvicorn has already replaced it with X-Forwarded-For when the proxy is trusted.
    return connection.client.host if connection.client else "unknown"


async def _caller_for(
    services: Services,
    client: str,
    *,
    authorization: str | None,
    api_key: str | None,
) -> Caller:
    """The caller named by a request's credentials; `Unauthenticated` when they are wrong."""
    return await caller_from_credentials(
        authorization=authorization,
        api_key=api_key,
        secret=services.secrets.secret_key,
        api_keys=services.api_keys,
        client=client,
        now=datetime.now(UTC),
    )


def _drop_answers(cache: ResponseCache, tag: str) -> None:
    cache.invalidate(tag)


def _may_introspect(context: RequestContext) -> bool:
    return may_introspect(context.caller)


def _connection_param(params: Mapping[str, Any], *names: str) -> str | None:
    """The first of `names` in a `connection_init` payload; a value that is not text is refused."""
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Unauthenticated(f"{name} in the connection_init payload must be a string")
        return value
    return None


class GraphQLWebSocket(GraphQL[RequestContext, None]):
    """Strawberry's ASGI app, used for WebSocket subscriptions on `/graphql` only."""

    graphql_ws_handler_class = LegacyGraphQLWSHandler

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        assert isinstance(request, WebSocket)
        client = _client_address(request)
        # Anonymous until `connection_init` brings credentials (see `on_ws_connect`).
        return RequestContext(
            services=request.app.state.services,
            request_id=request.scope.get("state", {}).get("request_id") or new_request_id(),
            caller=Caller(identity=f"ip:{client}"),
            headers=request.headers,
            client=client,
        )

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        """Authenticate from the `connection_init` payload, `{"authorization": "Bearer …"}` or
        `{"X-API-Key": "…"}`, falling back to the headers of the upgrade request. Wrong
        credentials close the connection; none at all connect an anonymous caller."""
        params = context.connection_params or {}
        try:
            authorization = _connection_param(params, "authorization", "Authorization")
            api_key = _connection_param(params, "X-API-Key", "x-api-key", "apiKey")
            if authorization is None and api_key is None:
                authorization = context.headers.get("authorization")
                api_key = context.headers.get("x-api-key")
            context.caller = await _caller_for(
                context.services, context.client, authorization=authorization, api_key=api_key
            )
        except Unauthenticated as error:
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": {"code": error.code}}
            ) from error
        return UnsetType()  # the singleton UNSET: a plain `connection_ack`


def create_app(
    settings: Settings | None = None,
    *,
    saga_hooks: SagaHooks | None = None,
    clock: Callable[[], datetime] | None = None,
    sentry_transport: Transport | None = None,
) -> Starlette:
    """The gateway. `saga_hooks` lets a test pause the booking saga at its named points,
    `clock` sets the saga's time (deadlines, expiry, the reconciler's waits), and
    `sentry_transport` takes what Sentry would send (with SENTRY_DSN set)."""
    settings = settings or load_settings()
    configure_logging(settings)
    init_sentry(settings, sentry_transport)
    executor = build_executor(settings)
    schema = executor.schema

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(
            settings, executor=executor, saga_hooks=saga_hooks, clock=clock
        ) as services:
            app.state.services = services
            response_cache = ResponseCache(
                settings.response_cache_max_bytes,
                redis=services.shared.redis if settings.response_cache_shared else None,
            )
            # Answers built on a rate table go the moment this replica sees it replaced.
            services.rates.on_change(lambda base: _drop_answers(response_cache, rate_tag(base)))
            graphql_http.use(
                EdgeFeatures(
                    response_cache=response_cache,
                    persisted_queries=PersistedQueries(services.shared.cache),
                    trusted_documents=TrustedDocuments(services.store.trusted_documents),
                    trusted_only=settings.graphql_trusted_documents_only,
                    costs=costs,
                    max_cost=settings.graphql_max_cost,
                    budgets=Budgets(
                        services.limiter,
                        anonymous=RatePolicy.parse(settings.graphql_cost_budget_anonymous),
                        partner=RatePolicy.parse(settings.graphql_cost_budget_partner),
                        overrides=settings.cost_budget_overrides,
                    ),
                )
            )
            app.state.response_cache = response_cache
            app.state.subscription_streams = streams
            with streams.stopped_by_signals():
                # What start-up built lives as long as the process: keep it out of every
                # collection.
                gc.freeze()
                log.info(
                    "gateway started",
                    extra={"modes": dict(services.modes), "database": services.store.kind},
                )
                yield
                log.info("gateway stopping")

    async def context_for(request: Request) -> RequestContext:
        services: Services = request.app.state.services
        headers = request.headers
        client = _client_address(request)
        try:
            caller = await _caller_for(
                services,
                client,
                authorization=headers.get("authorization"),
                api_key=headers.get("x-api-key"),
            )
        except Unauthenticated as error:
            raise CredentialsRejected(error.message) from error
        return RequestContext(
            services=services,
            request_id=request.scope["state"]["request_id"],
            caller=caller,
            headers=headers,
            client=client,
            idempotency_key=headers.get("idempotency-key"),
        )

    costs = CostAnalysis(schema._schema)
    streams = SubscriptionStreams(schema)
    graphql_http = GraphQLHTTPEndpoint(
        executor,
        context_for,
        introspection_allowed=_may_introspect if settings.is_production else None,
        subscriptions=streams,
    )
    graphql_ws = GraphQLWebSocket(schema, graphql_ide=None, max_subscriptions_per_connection=5)
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(
            BodySizeLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            timeout_seconds=settings.request_body_timeout_seconds,
        ),
        Middleware(WebSocketMessageLimit, max_bytes=settings.ws_max_message_bytes),
    ]
    if settings.cors_origin_list:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=settings.cors_allow_header_list,
                expose_headers=[
                    "x-request-id",
                    "etag",
                    "ratelimit-limit",
                    "ratelimit-remaining",
                    "ratelimit-reset",
                    "retry-after",
                ],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Route("/graphql", graphql_http.endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_ws),
            Route(ASSETS_PATH + "/{name}", graphiql_asset, methods=["GET"]),
            Route("/health/live", health.live, methods=["GET"]),
            Route("/health/ready", health.ready, methods=["GET"]),
            Route("/health", health.ready, methods=["GET"]),
            Route("/metrics", metrics.metrics, methods=["GET"]),
            Route("/webhooks/paystack", paystack_webhook.paystack_webhook, methods=["POST"]),
            Route("/webhooks/duffel", duffel_webhook.duffel_webhook, methods=["POST"]),
            Route("/webhooks/whatsapp", whatsapp_webhook.verify_subscription, methods=["GET"]),
            Route("/webhooks/whatsapp", whatsapp_webhook.receive_events, methods=["POST"]),
            Route(
                "/sandbox/checkout/{reference}", sandbox_checkout.sandbox_checkout, methods=["GET"]
            ),
            Route("/trip/{reference}", trip_page.trip_page, methods=["GET", "POST"]),
            Route("/ops", ops_page.ops_page, methods=["GET"]),
            Route("/ops/assets/{name:str}", ops_page.ops_asset, methods=["GET"]),
            Route(
                "/sandbox/checkout/{reference}/{action:str}",
                sandbox_checkout.sandbox_settle,
                methods=["POST"],
            ),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.executor = executor
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return create_app()
    raise AttributeError(name)
