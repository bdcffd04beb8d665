"""What a resolver is handed: the services of the composition root and who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import strawberry

from resolvers.access import ANONYMOUS, Caller

if TYPE_CHECKING:
    from graphql_api.settings import Settings
    from integrations.shared_state import SharedState
    from integrations.store import Store
    from resolvers.flights import FlightService
    from resolvers.rates import RatesService


@dataclass(slots=True)
class Services:
    """Everything opened in the lifespan; built once by `graphql_api.app`."""

    settings: Settings
    store: Store
    shared: SharedState
    rates: RatesService
    flights: FlightService
    http_clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)


@dataclass(slots=True)
class RequestContext:
    services: Services
    request_id: str
    caller: Caller = ANONYMOUS
    headers: Mapping[str, str] = field(default_factory=dict)


Info = strawberry.Info[RequestContext, None]
