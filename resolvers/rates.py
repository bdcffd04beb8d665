"""Exchange rates and conversions, cached per base currency; labelled stale rates in outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from types import MappingProxyType
from typing import Final

import orjson

from integrations.ports.errors import UpstreamError, UpstreamUnavailable
from integrations.ports.rates import RatesProvider, RateTable, UnknownBaseCurrency
from integrations.state.cache import Cache
from resolvers.errors import BadUserInput, UpstreamFailedError, UpstreamUnavailableError
from resolvers.money import Money, normalize_currency, quantize
from resolvers.validity import depends_on

logger = logging.getLogger(__name__)

# Used when the provider does not say when it publishes next (the sandbox table).
DEFAULT_TABLE_TTL: Final = timedelta(hours=1)
# A `next_update` already past (the provider is late) must not turn into a refetch per request.
MIN_TABLE_TTL: Final = timedelta(seconds=60)
# The provider publishes daily; a bogus far-future `next_update` must not pin old rates.
MAX_TABLE_TTL: Final = timedelta(days=1)
# While the provider is failing, last good rates are served from memory this long before
# asking it again, so an outage is not answered with a slow retried call on every request.
RETRY_AFTER_FAILURE: Final = timedelta(seconds=60)
# Keeps every product and rounding below exact within the arithmetic context; a quadrillion
# of any currency is beyond any fare.
MAX_AMOUNT: Final = Decimal("1e15")
_ARITHMETIC_PRECISION: Final = 60


@dataclass(frozen=True, slots=True)
class ExchangeRate:
    """One `base` buys `rate` of `quote`; `stale` when old rates stand in for a failed provider."""

    base: str
    quote: str
    rate: Decimal
    as_of: datetime
    source: str
    stale: bool


@dataclass(frozen=True, slots=True)
class _Rates:
    table: RateTable
    source: str
    stale: bool
    expires_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _table_key(base: str) -> str:
    return f"fx:table:{base}"


def _last_good_key(base: str) -> str:
    return f"fx:lastgood:{base}"


def _encode(table: RateTable, expires_at: datetime) -> bytes:
    # Rates as strings: a JSON number would come back as a float and lose exactness.
    return orjson.dumps(
        {
            "base": table.base,
            "rates": {code: str(rate) for code, rate in table.rates.items()},
            "as_of": table.as_of.isoformat(),
            "next_update": table.next_update.isoformat() if table.next_update else None,
            "source": table.source,
            "expires_at": expires_at.isoformat(),
        }
    )


def _decode(raw: bytes) -> tuple[RateTable, datetime]:
    data = orjson.loads(raw)
    next_update = data["next_update"]
    table = RateTable(
        base=data["base"],
        rates=MappingProxyType({code: Decimal(rate) for code, rate in data["rates"].items()}),
        as_of=datetime.fromisoformat(data["as_of"]),
        next_update=datetime.fromisoformat(next_update) if next_update else None,
        source=data["source"],
    )
    return table, datetime.fromisoformat(data["expires_at"])


def rate_tag(base: str) -> str:
    """The name answers built on `base`'s rate table depend on (see resolvers.validity)."""
    return f"fx:{base}"


def _shown(rates: _Rates) -> tuple[object, ...]:
    """What an answer shows of a table: a table that differs here changes answers."""
    return rates.table.rates, rates.table.as_of, rates.source, rates.stale


def _check_amount(amount: Decimal) -> None:
    if not amount.is_finite():
        raise BadUserInput("Amount must be a finite number", field="amount")
    if amount < 0:
        raise BadUserInput("Amount must not be negative", field="amount")
    if amount >= MAX_AMOUNT:
        raise BadUserInput(f"Amount must be less than {MAX_AMOUNT:,f}", field="amount")


class RatesService:
    """Exchange rates for display and for charging, over one provider and the shared cache."""

    def __init__(
        self,
        provider: RatesProvider,
        cache: Cache,
        *,
        markup_percent: Decimal,
        max_charge_age: timedelta,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not markup_percent.is_finite() or markup_percent < 0:
            raise ValueError(f"markup_percent must be a non-negative number, got {markup_percent}")
        self._provider = provider
        self._cache = cache
        self.markup_percent = markup_percent
        self._markup_factor = 1 + markup_percent / 100
        self._max_charge_age = max_charge_age
        self._clock = clock
        # Decoded tables until they expire, so a hot lookup costs no cache round trip or JSON
        # decoding; the cache stays the copy shared by replicas.
        self._memo: dict[str, _Rates] = {}
        self._refreshing: dict[str, asyncio.Task[_Rates]] = {}
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(base)` whenever the table of a base currency is replaced by another."""
        self._listeners.append(listener)

    async def exchange_rate(self, base: str, quote: str) -> ExchangeRate:
        """The current rate from `base` to `quote`, e.g. 1 USD = 1589.504939 NGN."""
        return await self._rate(
            normalize_currency(base, field="base"),
            normalize_currency(quote, field="quote"),
            fields=("base", "quote"),
        )

    async def convert(
        self, amount: Decimal, from_: str, to: str, *, for_charging: bool = False
    ) -> Money:
        """`amount` of `from_` in `to`, rounded half-up to the minor unit of `to`.

        `for_charging` is for the amount a traveller pays: it adds the configured markup (the
        margin that covers the spread and the rate moving before settlement, so displayed
        prices stay at the published rate) and refuses rates older than `max_charge_age`.
        A same-currency amount is only rounded: no rate, no markup.
        """
        _check_amount(amount)
        source = normalize_currency(from_, field="from")
        target = normalize_currency(to, field="to")
        if source == target:
            return Money(quantize(amount, target), target)
        rate = await self._rate(source, target, fields=("from", "to"))
        if for_charging:
            self._check_chargeable(rate)
        with localcontext() as exact:
            exact.prec = _ARITHMETIC_PRECISION
            factor = rate.rate * self._markup_factor if for_charging else rate.rate
            converted = quantize(amount * factor, target)
        return Money(converted, target)

    def _check_chargeable(self, rate: ExchangeRate) -> None:
        if self._clock() - rate.as_of <= self._max_charge_age:
            return
        raise UpstreamUnavailableError(
            f"Current exchange rates for {rate.base} to {rate.quote} are unavailable "
            f"(the latest are from {rate.as_of:%Y-%m-%d %H:%M} UTC), so no payment can be "
            "taken in this currency right now; please try again later",
            asOf=rate.as_of.isoformat(),
        )

    async def _rate(self, base: str, quote: str, *, fields: tuple[str, str]) -> ExchangeRate:
        try:
            rates = await self._rates(base)
        except UnknownBaseCurrency as exc:
            raise BadUserInput(
                f'No exchange rates are published for "{base}"', field=fields[0], currency=base
            ) from exc
        rate = rates.table.rates.get(quote)
        if rate is None:
            raise BadUserInput(
                f'No exchange rate is published for "{quote}"', field=fields[1], currency=quote
            )
        # An answer built on this table holds until the table is due to be replaced.
        depends_on(rate_tag(base), rates.expires_at)
        return ExchangeRate(base, quote, rate, rates.table.as_of, rates.source, rates.stale)

    async def _rates(self, base: str) -> _Rates:
        memo = self._memo.get(base)
        if memo is not None and self._clock() < memo.expires_at:
            return memo
        # Single flight: concurrent misses for one base share one cache read and provider call.
        task = self._refreshing.get(base)
        if task is None:
            task = asyncio.create_task(self._refresh(base))
            self._refreshing[base] = task
            task.add_done_callback(lambda done: self._refresh_done(base, done))
        # Shielded: a caller that gives up must not cancel the refresh the others wait for.
        return await asyncio.shield(task)

    def _refresh_done(self, base: str, task: asyncio.Task[_Rates]) -> None:
        if self._refreshing.get(base) is task:
            del self._refreshing[base]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter was cancelled

    async def _refresh(self, base: str) -> _Rates:
        cached = await self._read(_table_key(base))
        if cached is not None and self._clock() < cached[1]:
            table, expires_at = cached
            return self._remember(
                base, _Rates(table, table.source, stale=False, expires_at=expires_at)
            )
        try:
            table = await self._provider.latest(base)
        except UnknownBaseCurrency:
            raise  # the traveller's input, not an outage: no stale fallback
        except (UpstreamUnavailable, UpstreamError) as exc:
            return await self._fall_back(base, exc)
        now = self._clock()
        ttl = self._table_ttl(table, now)
        payload = _encode(table, now + ttl)
        await self._write(_table_key(base), payload, ttl.total_seconds())
        await self._write(_last_good_key(base), payload, None)
        return self._remember(base, _Rates(table, table.source, stale=False, expires_at=now + ttl))

    async def _fall_back(self, base: str, failure: UpstreamUnavailable | UpstreamError) -> _Rates:
        last_good = await self._read(_last_good_key(base))
        unavailable = isinstance(failure, UpstreamUnavailable)
        if last_good is None:
            if unavailable:
                raise UpstreamUnavailableError(
                    f"Exchange rates for {base} are unavailable right now; please try again shortly"
                ) from failure
            raise UpstreamFailedError(
                f"The exchange-rate provider sent an unusable answer for {base}; "
                "please try again later"
            ) from failure
        table, _ = last_good
        reason = "provider unavailable" if unavailable else "provider error"
        logger.warning(
            "serving stale exchange rates",
            extra={"base": base, "as_of": table.as_of.isoformat(), "failure": str(failure)},
        )
        stale = _Rates(
            table,
            f"{table.source} (stale: {reason})",
            stale=True,
            expires_at=self._clock() + RETRY_AFTER_FAILURE,
        )
        return self._remember(base, stale)

    def _remember(self, base: str, rates: _Rates) -> _Rates:
        previous = self._memo.get(base)
        self._memo[base] = rates
        if previous is not None and _shown(previous) != _shown(rates):
            for listener in self._listeners:
                try:
                    listener(base)
                except Exception:
                    logger.exception("exchange-rate change listener failed", extra={"base": base})
        return rates

    @staticmethod
    def _table_ttl(table: RateTable, now: datetime) -> timedelta:
        if table.next_update is None:
            return DEFAULT_TABLE_TTL
        return min(max(table.next_update - now, MIN_TABLE_TTL), MAX_TABLE_TTL)

    # The cache only saves provider calls and carries the last good copy: when it fails or holds
    # something unreadable, rates are still answered from the provider.
    async def _read(self, key: str) -> tuple[RateTable, datetime] | None:
        try:
            raw = await self._cache.get(key)
            return None if raw is None else _decode(raw)
        except Exception:
            logger.warning("exchange-rate cache read failed", extra={"key": key}, exc_info=True)
            return None

    async def _write(self, key: str, payload: bytes, ttl_seconds: float | None) -> None:
        try:
            await self._cache.set(key, payload, ttl_seconds)
        except Exception:
            logger.warning("exchange-rate cache write failed", extra={"key": key}, exc_info=True)
