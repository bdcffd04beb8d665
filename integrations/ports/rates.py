"""Exchange rates as the gateway uses them: the rate table, the provider interface and the
rules every provider applies to a table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal
from types import MappingProxyType
from typing import Protocol

from integrations.ports.errors import UpstreamError

# The provider publishes at most ten significant digits; cross rates keep the same precision
# rather than Decimal's 28 digits of arithmetic noise.
CROSS_RATE_CONTEXT = Context(prec=10)


@dataclass(frozen=True, slots=True)
class RateTable:
    """How many units of each currency one unit of `base` buys, as published at `as_of`."""

    base: str
    rates: Mapping[str, Decimal]
    as_of: datetime
    next_update: datetime | None
    source: str


class RatesProvider(Protocol):
    async def latest(self, base: str) -> RateTable: ...


class UnknownBaseCurrency(UpstreamError):
    """The provider publishes no rates for this base currency."""

    def __init__(self, currency: str, *, upstream: str) -> None:
        super().__init__(upstream, f"no rates published for base currency {currency!r}")
        self.currency = currency


def clean_base(base: str, *, upstream: str) -> str:
    """`base` as a currency code, or `UnknownBaseCurrency` when it cannot be one."""
    code = base.strip().upper()
    # Also keeps anything but a plain code out of the request path.
    if len(code) != 3 or not (code.isascii() and code.isalpha()):
        raise UnknownBaseCurrency(code[:16], upstream=upstream)
    return code


def with_base(rates: Mapping[str, Decimal], base: str) -> Mapping[str, Decimal]:
    return MappingProxyType({**rates, base: Decimal(1)})
