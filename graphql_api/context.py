"""What a resolver is handed: the services of the composition root and who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.access import ANONYMOUS, Caller

if TYPE_CHECKING:
    from conversation.handler import ConversationHandler
    from graphql_api.settings import Settings
    from integrations.ports.messaging import WhatsAppSender
    from integrations.ports.payments import PaymentProvider
    from integrations.state.ratelimit import RateDecision, RateLimiter
    from integrations.state.shared import SharedState
    from integrations.state.store import ApiKeyRepository, Store
    from resolvers.bookings import Bookings
    from resolvers.flights import FlightService
    from resolvers.payments import Payments
    from resolvers.rates import RatesService


@dataclass(slots=True)
class Services:
    """Everything opened in the lifespan; built once by `graphql_api.app`."""

    settings: Settings
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
    # The WhatsApp assistant; built from the services above, so set just after them.
    conversation: ConversationHandler | None = None


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


Info = strawberry.Info[RequestContext, None]
