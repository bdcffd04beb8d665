"""The composition root: reads settings once, opens resources in the lifespan, returns the app.

`create_app()` is the ASGI factory (`uvicorn --factory graphql_api.app:create_app`); the module
attribute `app` builds one instance on first access for `uvicorn graphql_api.app:app`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from graphql_api import health
from graphql_api.context import RequestContext, Services
from graphql_api.executor import GraphQLExecutor, GraphQLLimits
from graphql_api.http import GraphQLHTTPEndpoint
from graphql_api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, new_request_id
from graphql_api.observability import configure_logging, init_sentry
from graphql_api.schema import build_schema
from graphql_api.settings import Settings, load_settings
from integrations.duffel import DuffelClient
from integrations.flights import FlightProvider
from integrations.fx import OpenErApiClient, RatesProvider, SandboxRates
from integrations.sandbox_flights import SandboxFlights
from integrations.shared_state import open_shared_state
from integrations.store import open_store
from resolvers.access import Caller
from resolvers.flights import FlightService
from resolvers.rates import RatesService

log = logging.getLogger("sureflights")

USER_AGENT = "SureFlights/0.1"


def _upstream_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    """One pooled client per upstream, kept for the life of the process."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT},
    )


def _caller_for(connection: HTTPConnection) -> Caller:
    client = connection.client.host if connection.client else "unknown"
    return Caller(identity=f"ip:{client}")


class GraphQLWebSocket(GraphQL[RequestContext, None]):
    """Strawberry's ASGI app, used for WebSocket subscriptions on `/graphql` only."""

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        assert isinstance(request, WebSocket)
        return RequestContext(
            services=request.app.state.services,
            request_id=request.scope.get("state", {}).get("request_id") or new_request_id(),
            caller=_caller_for(request),
            headers=request.headers,
        )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    configure_logging(settings)
    init_sentry(settings)
    limits = GraphQLLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
    )
    schema = build_schema(limits)
    executor = GraphQLExecutor(
        schema,
        limits=limits,
        cache_size=settings.graphql_document_cache_size,
        hide_suggestions=settings.is_production,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            clients = {
                "duffel": _upstream_client(
                    settings.duffel_api_url, settings.upstream_timeout_seconds
                ),
                "paystack": _upstream_client(
                    settings.paystack_api_url, settings.upstream_timeout_seconds
                ),
                "fx": _upstream_client(settings.fx_api_url or "http://fx.invalid", 5.0),
                "whatsapp": _upstream_client(
                    settings.whatsapp_api_url, settings.upstream_timeout_seconds
                ),
            }
            for client in clients.values():
                stack.push_async_callback(client.aclose)
            store = await open_store(settings.database_url)
            stack.push_async_callback(store.close)
            shared = await open_shared_state(settings.redis_url)
            stack.push_async_callback(shared.close)
            provider: RatesProvider = (
                OpenErApiClient(clients["fx"], settings.fx_api_url)
                if settings.fx_api_url
                else SandboxRates()
            )
            rates = RatesService(
                provider,
                shared.cache,
                markup_percent=Decimal(settings.fx_markup_percent),
                # The bundled sandbox table is old by design; only live rates can be too old.
                max_charge_age=(
                    settings.fx_max_charge_age if settings.fx_api_url else timedelta.max
                ),
            )
            flight_provider: FlightProvider = (
                DuffelClient(
                    clients["duffel"],
                    base_url=settings.duffel_api_url,
                    access_token=settings.duffel_access_token,
                    supplier_timeout_ms=settings.duffel_supplier_timeout_ms,
                )
                if settings.duffel_access_token
                else SandboxFlights()
            )
            flights = FlightService(
                flight_provider, shared.cache, rates, default_currency=settings.payment_currency
            )
            app.state.services = Services(
                settings=settings,
                store=store,
                shared=shared,
                rates=rates,
                flights=flights,
                http_clients=clients,
            )
            log.info(
                "gateway started",
                extra={"modes": settings.upstream_modes(), "database": store.kind},
            )
            yield
            log.info("gateway stopping")

    async def context_for(request: Request) -> RequestContext:
        return RequestContext(
            services=request.app.state.services,
            request_id=request.scope["state"]["request_id"],
            caller=_caller_for(request),
            headers=request.headers,
        )

    graphql_http = GraphQLHTTPEndpoint(executor, context_for)
    graphql_ws = GraphQLWebSocket(schema, graphql_ide=None)
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origin_list:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "x-api-key",
                    "idempotency-key",
                    "x-request-id",
                ],
                expose_headers=["x-request-id"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Route("/graphql", graphql_http.endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_ws),
            Route("/health/live", health.live, methods=["GET"]),
            Route("/health/ready", health.ready, methods=["GET"]),
            Route("/health", health.ready, methods=["GET"]),
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
