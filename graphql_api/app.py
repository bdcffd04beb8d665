"""The composition root: reads settings once, opens resources in the lifespan, returns the app.

`create_app()` is the ASGI factory (`uvicorn --factory graphql_api.app:create_app`); the module
attribute `app` builds one instance on first access for `uvicorn graphql_api.app:app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
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
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from graphql_api import health, webhooks, whatsapp_webhook
from graphql_api.assistant import build_assistant
from graphql_api.context import RequestContext, Services
from graphql_api.cost import Budgets, CostAnalysis
from graphql_api.documents import PersistedQueries, TrustedDocuments
from graphql_api.executor import GraphQLExecutor, GraphQLLimits
from graphql_api.http import CredentialsRejected, EdgeFeatures, GraphQLHTTPEndpoint
from graphql_api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, new_request_id
from graphql_api.observability import configure_logging, init_sentry
from graphql_api.response_cache import ResponseCache
from graphql_api.schema import build_schema
from graphql_api.settings import Settings, load_settings
from graphql_api.sse import SubscriptionStreams
from integrations.duffel.client import DuffelClient
from integrations.fx import OpenErApiClient
from integrations.paystack.client import PaystackClient
from integrations.ports.airline import AirlineOrders
from integrations.ports.flights import FlightProvider
from integrations.ports.messaging import WhatsAppSender
from integrations.ports.payments import PaymentProvider
from integrations.ports.rates import RatesProvider
from integrations.sandbox.airline import SandboxAirline
from integrations.sandbox.flights import SandboxFlights
from integrations.sandbox.payments import SandboxPayments
from integrations.sandbox.rates import SandboxRates
from integrations.sandbox.whatsapp import RecordingSender
from integrations.state.ratelimit import RatePolicy, rate_limiter_for
from integrations.state.shared import open_shared_state
from integrations.state.store import open_store
from integrations.whatsapp.client import WhatsAppClient
from resolvers import reconciliation
from resolvers.access import Caller
from resolvers.auth import CachedApiKeys, caller_from_credentials, may_introspect
from resolvers.bookings import BookingLimits, Bookings
from resolvers.errors import Unauthenticated
from resolvers.flights import FlightService
from resolvers.payments import Payments
from resolvers.rates import RatesService, rate_tag
from resolvers.saga import NO_HOOKS, SagaDeps, SagaHooks, SagaTimings, utc_now

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


async def _reconcile_forever(saga: SagaDeps, interval: float) -> None:
    """Every replica reconciles; each step is a compare-and-set, so they never do work twice."""
    while True:
        # Jitter spreads the replicas' passes apart.
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311
        try:
            await reconciliation.reconcile(saga)
        except Exception:
            log.exception("reconciliation pass failed")


def saga_timings(settings: Settings) -> SagaTimings:
    return SagaTimings(
        verify_after=timedelta(seconds=settings.reconcile_verify_after_seconds),
        resume_after=timedelta(seconds=settings.reconcile_resume_after_seconds),
        give_up_after=timedelta(seconds=settings.order_give_up_after_seconds),
        follow_refund_every=timedelta(seconds=settings.refund_follow_every_seconds),
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # shutting down: report it, and keep closing the rest
        log.exception("background task %s failed", task.get_name())


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
        secret=services.settings.secret_key,
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
) -> Starlette:
    """The gateway. `saga_hooks` lets a test pause the booking saga at its named points, and
    `clock` sets the saga's time (deadlines, expiry, the reconciler's waits)."""
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
            store = await open_store(settings.database_url, settings.database_pool())
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
            duffel = (
                DuffelClient(
                    clients["duffel"],
                    base_url=settings.duffel_api_url,
                    access_token=settings.duffel_access_token,
                    supplier_timeout_ms=settings.duffel_supplier_timeout_ms,
                    backoff_seconds=settings.upstream_retry_backoff_seconds,
                )
                if settings.duffel_access_token
                else None
            )
            sandbox_flights = SandboxFlights()
            flight_provider: FlightProvider = duffel or sandbox_flights
            airline: AirlineOrders = duffel or SandboxAirline(shared.shared_store, sandbox_flights)
            payment_provider: PaymentProvider = (
                PaystackClient(
                    clients["paystack"],
                    base_url=settings.paystack_api_url,
                    secret_key=settings.paystack_secret_key,
                    backoff_seconds=settings.upstream_retry_backoff_seconds,
                )
                if settings.paystack_secret_key
                else SandboxPayments(
                    shared.shared_store, checkout_base_url=settings.public_base_url
                )
            )
            flights = FlightService(
                flight_provider,
                shared.cache,
                rates,
                default_currency=settings.payment_currency,
                max_days_ahead=settings.search_max_days_ahead,
            )
            saga = SagaDeps(
                store=store,
                flights=flights,
                airline=airline,
                payments=payment_provider,
                rates=rates,
                bus=shared.bus,
                secret_key=settings.secret_key,
                payment_currency=settings.payment_currency,
                timings=saga_timings(settings),
                hooks=saga_hooks or NO_HOOKS,
                clock=clock or utc_now,
            )
            limiter = rate_limiter_for(shared)
            bookings = Bookings(
                saga,
                BookingLimits(
                    limiter=limiter,
                    anonymous=settings.booking_policy,
                    partner=settings.partner_booking_policy,
                ),
            )
            payments = Payments(saga, bookings)
            whatsapp: WhatsAppSender = (
                WhatsAppClient(
                    clients["whatsapp"],
                    base_url=settings.whatsapp_api_url,
                    phone_number_id=settings.whatsapp_phone_number_id,
                    access_token=settings.whatsapp_access_token,
                )
                if settings.whatsapp_access_token and settings.whatsapp_phone_number_id
                else RecordingSender()
            )
            services = Services(
                settings=settings,
                store=store,
                shared=shared,
                rates=rates,
                flights=flights,
                limiter=limiter,
                api_keys=CachedApiKeys(store.api_keys),
                bookings=bookings,
                payments=payments,
                payment_provider=payment_provider,
                whatsapp=whatsapp,
            )
            services.conversation, notifier = build_assistant(executor, services, whatsapp)
            app.state.services = services
            response_cache = ResponseCache(
                settings.response_cache_max_bytes,
                redis=shared.redis if settings.response_cache_shared else None,
            )
            # Answers built on a rate table go the moment this replica sees it replaced.
            rates.on_change(lambda base: _drop_answers(response_cache, rate_tag(base)))
            graphql_http.use(
                EdgeFeatures(
                    response_cache=response_cache,
                    persisted_queries=PersistedQueries(shared.cache),
                    trusted_documents=TrustedDocuments(store.trusted_documents),
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
            stack.enter_context(streams.stopped_by_signals())
            notifying = asyncio.create_task(notifier.run())
            stack.push_async_callback(_cancel, notifying)
            if settings.reconcile_interval_seconds > 0:
                reconciler = asyncio.create_task(
                    _reconcile_forever(saga, settings.reconcile_interval_seconds)
                )
                stack.push_async_callback(_cancel, reconciler)
            # What start-up built lives as long as the process: keep it out of every collection.
            gc.freeze()
            log.info(
                "gateway started",
                extra={"modes": settings.upstream_modes(), "database": store.kind},
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
            Route("/health/live", health.live, methods=["GET"]),
            Route("/health/ready", health.ready, methods=["GET"]),
            Route("/health", health.ready, methods=["GET"]),
            Route("/webhooks/paystack", webhooks.paystack_webhook, methods=["POST"]),
            Route("/webhooks/duffel", webhooks.duffel_webhook, methods=["POST"]),
            Route("/webhooks/whatsapp", whatsapp_webhook.verify_subscription, methods=["GET"]),
            Route("/webhooks/whatsapp", whatsapp_webhook.receive_events, methods=["POST"]),
            Route("/sandbox/checkout/{reference}", webhooks.sandbox_checkout, methods=["GET"]),
            Route(
                "/sandbox/checkout/{reference}/{action:str}",
                webhooks.sandbox_settle,
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
