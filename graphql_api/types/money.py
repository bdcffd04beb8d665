"""Money and exchange-rate types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from resolvers import money, rates


@strawberry.type(description="An exact amount in one currency.")
class Money:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code.")
    formatted: str = strawberry.field(
        description="The amount in the currency's conventional form, e.g. ₦125,000.00."
    )

    @classmethod
    def from_domain(cls, value: money.Money) -> Money:
        return cls(amount=value.amount, currency=value.currency, formatted=value.formatted)


@strawberry.type(description="How many units of `quote` one unit of `base` buys.")
class ExchangeRate:
    base: str
    quote: str
    rate: Decimal
    as_of: datetime = strawberry.field(description="When the provider published this rate.")
    source: str = strawberry.field(
        description="Where the rate comes from; says so when it is a sandbox or stale rate."
    )
    stale: bool = strawberry.field(
        description="True when the provider is unavailable and the last good rate is served."
    )

    @classmethod
    def from_domain(cls, value: rates.ExchangeRate) -> ExchangeRate:
        return cls(
            base=value.base,
            quote=value.quote,
            rate=value.rate,
            as_of=value.as_of,
            source=value.source,
            stale=value.stale,
        )
