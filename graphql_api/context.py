"""What a resolver is handed: the services of the composition root and who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.access import ANONYMOUS, Caller
from resolvers.operations import ReconcilerWatch

if TYPE_CHECKING:
    from conversation.handler import ConversationHandler
    from integrations.ports.messaging import WhatsAppSender
    from integrations.ports.payments import PaymentProvider
    from integrations.state.ratelimit import RateDecision, RateLimiter
    from integrations.state.shared import SharedState
    from integrations.state.store import ApiKeyRepository, Store
    from resolvers.bookings import Bookings
    from resolvers.flights import FlightService
    from resolvers.notifications.dispatch import Dispatcher
    from resolvers.payments import Payments
    from resolvers.rates import RatesService


@dataclass(frozen=True, slots=True)
class Secrets:
    """What callers and webhooks are checked with; never logged."""

    secret_key: str
    """Signs admin and traveller tokens."""
    admin_pass: str
    paystack_secret_key: str
    duffel_webhook_secret: str
    whatsapp_app_secret: str
    whatsapp_verify_token: str


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a process runs on; opened once by `graphql_api.bootstrap.open_services`."""

    store: Store
    shared: SharedState
    rates: RatesService
    flights: FlightService
    limiter: RateLimiter
    # `store.api_keys` behind a short cache (resolvers.auth.CachedApiKeys), for authentication.
    api_keys: ApiKeyRepository
    bookings: Bookings
    payments: Payments
    payment_provider: PaymentProvider
    # The Cloud API client when WhatsApp is configured, else the recording sandbox sender.
    whatsapp: WhatsAppSender
    # The WhatsApp assistant, and what sends travellers their notifications.
    conversation: ConversationHandler
    dispatcher: Dispatcher
    secrets: Secrets
    # Each upstream's mode, `live` or `sandbox`, for readiness and the logs.
    modes: Mapping[str, str]
    # The currency travellers pay in, and prices show in unless a caller asks for another.
    payment_currency: str
    # `APP_ENV=production`: introspection is for partners and admins only.
    production: bool
    # This process's reconciler, as the ops dashboard shows it.
    reconcile_interval_seconds: float = 0.0
    reconciler_watch: ReconcilerWatch = field(default_factory=ReconcilerWatch)


@dataclass(slots=True)
class RequestContext:
    services: Services
    request_id: str
    # Assigned once more on WebSocket, when `connection_init` brings the credentials.
    caller: Caller = ANONYMOUS
    headers: Mapping[str, str] = field(default_factory=dict)
    # The client's address (already resolved from X-Forwarded-For of trusted proxies).
    client: str = "unknown"
    # The `connection_init` payload of a WebSocket connection; Strawberry sets it.
    connection_params: dict[str, Any] | None = None
    # Rate-limit decisions made while answering; HTTP renders them as `RateLimit-*` headers.
    rate_limits: list[RateDecision] = field(default_factory=list)
    # The `Idempotency-Key` of an HTTP request, or the key the assistant sends with its own.
    idempotency_key: str | None = None


Info = strawberry.Info[RequestContext, None]
