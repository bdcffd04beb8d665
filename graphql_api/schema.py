"""The Strawberry schema: root types assembled from thin field functions over `resolvers/`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache

from graphql_api.context import Info
from graphql_api.executor import GraphQLLimits
from graphql_api.masking import MaskDomainErrors
from graphql_api.types.flights import FlightOffer, FlightSearch, FlightSearchInput, Place
from graphql_api.types.money import ExchangeRate, Money
from resolvers.money import normalize_currency


@strawberry.type
class Query:
    @strawberry.field(description="Search flights; offers are cached until the earliest expires.")
    async def search_flights(self, info: Info, input: FlightSearchInput) -> FlightSearch:
        search = await info.context.services.flights.search(input.to_query())
        return FlightSearch.from_domain(search)

    @strawberry.field(description="A search again by id, without asking the airline, while valid.")
    async def flight_search(
        self, info: Info, id: strawberry.ID, currency: str | None = None
    ) -> FlightSearch | None:
        search = await info.context.services.flights.get_search(str(id), currency=currency)
        return FlightSearch.from_domain(search) if search else None

    @strawberry.field(description="An offer with its current price, asked of the airline now.")
    async def offer(
        self, info: Info, id: strawberry.ID, currency: str | None = None
    ) -> FlightOffer | None:
        services = info.context.services
        found = await services.flights.get_offer(str(id))
        display = normalize_currency(currency or services.settings.payment_currency)
        return FlightOffer.from_domain(found, display)

    @strawberry.field(description='Airports and cities matching a name or code, e.g. "lag".')
    async def places(self, info: Info, query: str, first: int = 10) -> list[Place]:
        found = await info.context.services.flights.suggest_places(query, first=first)
        return [Place.from_domain(p) for p in found]

    @strawberry.field(description="The current rate from `base` to `quote` (ISO 4217 codes).")
    async def exchange_rate(self, info: Info, base: str, quote: str) -> ExchangeRate:
        rate = await info.context.services.rates.exchange_rate(base, quote)
        return ExchangeRate.from_domain(rate)

    @strawberry.field(
        description="`amount` of `from` in `to`, rounded to the currency's minor unit."
    )
    async def convert(
        self,
        info: Info,
        amount: Decimal,
        from_: Annotated[str, strawberry.argument(name="from")],
        to: str,
    ) -> Money:
        converted = await info.context.services.rates.convert(amount, from_, to)
        return Money.from_domain(converted)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "The current rate at once, then the rate again whenever the provider publishes a new "
            "one (checked every `intervalSeconds`)."
        )
    )
    async def exchange_rate_updates(
        self, info: Info, base: str, quote: str, interval_seconds: int = 60
    ) -> AsyncGenerator[ExchangeRate, None]:
        interval = max(1, interval_seconds)
        last = None
        while True:
            rate = await info.context.services.rates.exchange_rate(base, quote)
            seen = (rate.rate, rate.as_of, rate.stale)
            if seen != last:
                last = seen
                yield ExchangeRate.from_domain(rate)
            await asyncio.sleep(interval)


def build_schema(limits: GraphQLLimits | None = None) -> strawberry.Schema:
    """The schema, with the same limits and masking on the WebSocket path as on HTTP."""
    limits = limits or GraphQLLimits()
    rules = list(limits.rules())
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        # Factories: Strawberry builds fresh extensions per operation; both caches are shared.
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=256),
            MaskDomainErrors,
        ],
    )
