"""Rates as travellers see them: cached per base, stale but labelled in outages, safe to charge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal

import httpx
import pytest
import respx

from integrations.fx import OpenErApiClient
from integrations.ports.errors import UpstreamError, UpstreamUnavailable
from integrations.ports.rates import RateTable, UnknownBaseCurrency
from integrations.sandbox.rates import SandboxRates
from integrations.state.cache import MemoryCache
from resolvers.errors import BadUserInput, UpstreamFailedError, UpstreamUnavailableError
from resolvers.money import Money
from resolvers.rates import ExchangeRate, RatesService
from tests.support.helpers import FIXTURES

FX_URL = "https://open.er-api.com/v6"
PUBLISHED = datetime(2024, 8, 19, 0, 2, 31, tzinfo=UTC)
NEXT_PUBLICATION = datetime(2024, 8, 20, 0, 6, 21, tzinfo=UTC)
NGN_PER_USD = Decimal("1589.504939")
USD_TABLE = RateTable(
    base="USD",
    rates={"USD": Decimal(1), "NGN": NGN_PER_USD, "EUR": Decimal("0.907539")},
    as_of=PUBLISHED,
    next_update=NEXT_PUBLICATION,
    source="open.er-api.com",
)
MAX_CHARGE_AGE = timedelta(hours=48)


class Clock:
    """A settable clock, so expiry is tested without waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class ScriptedProvider:
    """Answers each call with the next outcome (a table or an exception); the last one repeats."""

    def __init__(self, *outcomes: RateTable | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None

    async def latest(self, base: str) -> RateTable:
        self.calls.append(base)
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class CountingCache(MemoryCache):
    """The in-process cache, counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await super().get(key)


@pytest.fixture
def clock() -> Clock:
    return Clock(PUBLISHED + timedelta(hours=1))


@pytest.fixture
def cache() -> CountingCache:
    return CountingCache()


def service(
    provider: ScriptedProvider | OpenErApiClient | SandboxRates,
    cache: MemoryCache,
    clock: Clock,
    markup_percent: str = "0",
) -> RatesService:
    return RatesService(
        provider,
        cache,
        markup_percent=Decimal(markup_percent),
        max_charge_age=MAX_CHARGE_AGE,
        clock=clock,
    )


@pytest.fixture
def provider_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=FX_URL) as router:
        yield router


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_two_lookups_make_one_provider_call(
    provider_api: respx.MockRouter, http: httpx.AsyncClient, cache: MemoryCache, clock: Clock
) -> None:
    recorded = (FIXTURES / "fx_open_er_api_latest.json").read_bytes()
    route = provider_api.get("/latest/USD").respond(200, content=recorded)
    rates = service(OpenErApiClient(http, FX_URL, backoff_seconds=0), cache, clock)

    naira = await rates.exchange_rate("USD", "NGN")
    euro = await rates.exchange_rate("usd", "eur")

    assert naira == ExchangeRate(
        "USD", "NGN", NGN_PER_USD, PUBLISHED, "open.er-api.com", stale=False
    )
    assert euro.rate == Decimal("0.907539")
    assert route.call_count == 1


async def test_another_replica_is_served_by_the_shared_cache(
    cache: MemoryCache, clock: Clock
) -> None:
    first, second = ScriptedProvider(USD_TABLE), ScriptedProvider(USD_TABLE)
    await service(first, cache, clock).exchange_rate("USD", "NGN")

    rate = await service(second, cache, clock).exchange_rate("USD", "NGN")

    assert rate.rate == NGN_PER_USD
    assert rate.as_of == PUBLISHED
    assert (first.calls, second.calls) == (["USD"], [])


async def test_hot_lookups_are_answered_from_memory(cache: CountingCache, clock: Clock) -> None:
    rates = service(ScriptedProvider(USD_TABLE), cache, clock)
    await rates.exchange_rate("USD", "NGN")
    reads = cache.reads

    for _ in range(50):
        await rates.exchange_rate("USD", "NGN")

    assert cache.reads == reads


async def test_rates_are_refreshed_at_the_providers_next_update(
    cache: MemoryCache, clock: Clock
) -> None:
    newer = replace(USD_TABLE, rates={**USD_TABLE.rates, "NGN": Decimal("1600")})
    provider = ScriptedProvider(USD_TABLE, newer)
    rates = service(provider, cache, clock)
    await rates.exchange_rate("USD", "NGN")

    clock.now = NEXT_PUBLICATION - timedelta(seconds=1)
    before = await rates.exchange_rate("USD", "NGN")
    clock.now = NEXT_PUBLICATION + timedelta(seconds=1)
    after = await rates.exchange_rate("USD", "NGN")

    assert (before.rate, after.rate) == (NGN_PER_USD, Decimal("1600"))
    assert len(provider.calls) == 2


async def test_without_a_next_update_rates_are_kept_an_hour(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(replace(USD_TABLE, next_update=None))
    rates = service(provider, cache, clock)
    await rates.exchange_rate("USD", "NGN")

    clock.advance(timedelta(minutes=59))
    await rates.exchange_rate("USD", "NGN")
    assert len(provider.calls) == 1
    clock.advance(timedelta(minutes=2))
    await rates.exchange_rate("USD", "NGN")
    assert len(provider.calls) == 2


async def test_a_late_provider_is_asked_again_after_a_minute_not_per_request(
    cache: MemoryCache, clock: Clock
) -> None:
    clock.now = NEXT_PUBLICATION + timedelta(hours=2)
    provider = ScriptedProvider(USD_TABLE)
    rates = service(provider, cache, clock)

    for _ in range(5):
        await rates.exchange_rate("USD", "NGN")
    assert len(provider.calls) == 1
    clock.advance(timedelta(seconds=61))
    await rates.exchange_rate("USD", "NGN")
    assert len(provider.calls) == 2


@pytest.mark.parametrize(
    ("failure", "label"),
    [
        (UpstreamUnavailable("open.er-api.com", "timed out"), "provider unavailable"),
        (UpstreamError("open.er-api.com", "malformed body"), "provider error"),
    ],
)
async def test_outage_serves_last_good_rates_marked_stale_with_their_real_date(
    cache: MemoryCache, clock: Clock, failure: Exception, label: str
) -> None:
    rates = service(ScriptedProvider(USD_TABLE, failure), cache, clock)
    await rates.exchange_rate("USD", "NGN")
    clock.now = NEXT_PUBLICATION + timedelta(hours=3)

    rate = await rates.exchange_rate("USD", "NGN")

    assert rate.stale is True
    assert rate.as_of == PUBLISHED
    assert rate.rate == NGN_PER_USD
    assert rate.source == f"open.er-api.com (stale: {label})"


async def test_during_an_outage_the_provider_is_retried_each_minute_and_recovery_is_fresh(
    cache: MemoryCache, clock: Clock
) -> None:
    recovered = replace(USD_TABLE, as_of=NEXT_PUBLICATION, next_update=None)
    down = UpstreamUnavailable("open.er-api.com", "timed out")
    provider = ScriptedProvider(USD_TABLE, down, recovered)
    rates = service(provider, cache, clock)
    await rates.exchange_rate("USD", "NGN")
    clock.now = NEXT_PUBLICATION + timedelta(minutes=1)

    assert (await rates.exchange_rate("USD", "NGN")).stale
    assert (await rates.exchange_rate("USD", "NGN")).stale
    assert len(provider.calls) == 2
    clock.advance(timedelta(seconds=61))
    rate = await rates.exchange_rate("USD", "NGN")

    assert (rate.stale, rate.as_of, rate.source) == (False, NEXT_PUBLICATION, "open.er-api.com")
    assert len(provider.calls) == 3


@pytest.mark.parametrize(
    ("failure", "error", "message"),
    [
        (
            UpstreamUnavailable("open.er-api.com", "timed out"),
            UpstreamUnavailableError,
            "unavailable right now",
        ),
        (
            UpstreamError("open.er-api.com", "malformed body"),
            UpstreamFailedError,
            "unusable answer",
        ),
    ],
)
async def test_outage_without_last_good_rates_is_an_upstream_error(
    cache: MemoryCache,
    clock: Clock,
    failure: Exception,
    error: type[Exception],
    message: str,
) -> None:
    rates = service(ScriptedProvider(failure), cache, clock)

    with pytest.raises(error, match=message) as raised:
        await rates.exchange_rate("USD", "NGN")

    assert "USD" in str(raised.value)
    assert "timed out" not in str(raised.value)


async def test_unreadable_cache_entry_is_fetched_again(cache: MemoryCache, clock: Clock) -> None:
    await cache.set("fx:table:USD", b"{not json")
    provider = ScriptedProvider(USD_TABLE)

    rate = await service(provider, cache, clock).exchange_rate("USD", "NGN")

    assert rate.rate == NGN_PER_USD
    assert provider.calls == ["USD"]


async def test_ten_concurrent_lookups_make_one_provider_call(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(USD_TABLE)
    provider.gate = asyncio.Event()
    rates = service(provider, cache, clock)

    lookups = [asyncio.create_task(rates.exchange_rate("USD", "NGN")) for _ in range(10)]
    await asyncio.sleep(0.01)
    provider.gate.set()
    answers = await asyncio.gather(*lookups)

    assert {answer.rate for answer in answers} == {NGN_PER_USD}
    assert provider.calls == ["USD"]


async def test_a_caller_giving_up_does_not_cancel_the_others_lookup(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(USD_TABLE)
    provider.gate = asyncio.Event()
    rates = service(provider, cache, clock)
    impatient = asyncio.create_task(rates.exchange_rate("USD", "NGN"))
    patient = asyncio.create_task(rates.exchange_rate("USD", "EUR"))
    await asyncio.sleep(0.01)

    impatient.cancel()
    provider.gate.set()

    assert (await patient).rate == Decimal("0.907539")
    assert impatient.cancelled()
    assert provider.calls == ["USD"]


async def test_unknown_codes_are_bad_user_input_before_any_provider_call(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(USD_TABLE)
    rates = service(provider, cache, clock)

    with pytest.raises(BadUserInput, match='"XYZ"') as raised:
        await rates.exchange_rate("USD", "XYZ")

    assert raised.value.extensions["field"] == "quote"
    assert provider.calls == []


async def test_a_quote_the_provider_does_not_publish_is_bad_user_input(
    cache: MemoryCache, clock: Clock
) -> None:
    rates = service(ScriptedProvider(USD_TABLE), cache, clock)

    with pytest.raises(BadUserInput, match='"GHS"') as raised:
        await rates.convert(Decimal(10), "USD", "GHS")

    assert raised.value.extensions == {"field": "to", "currency": "GHS"}


async def test_a_base_the_provider_does_not_publish_is_bad_user_input(
    cache: MemoryCache, clock: Clock
) -> None:
    rates = service(
        ScriptedProvider(UnknownBaseCurrency("XCG", upstream="open.er-api.com")), cache, clock
    )

    with pytest.raises(BadUserInput, match='"XCG"') as raised:
        await rates.convert(Decimal(10), "XCG", "USD")

    assert raised.value.extensions["field"] == "from"


async def test_conversion_rounds_to_the_target_minor_unit(cache: MemoryCache, clock: Clock) -> None:
    rates = service(ScriptedProvider(USD_TABLE), cache, clock, markup_percent="2.5")

    money = await rates.convert(Decimal(250), "USD", "NGN")

    # 250 × 1589.504939 = 397376.23475: published rate, no markup for display.
    assert money == Money(Decimal("397376.23"), "NGN")
    assert money.formatted == "₦397,376.23"


async def test_markup_is_added_only_when_charging(cache: MemoryCache, clock: Clock) -> None:
    rates = service(ScriptedProvider(USD_TABLE), cache, clock, markup_percent="2.5")

    shown = await rates.convert(Decimal(250), "USD", "NGN")
    charged = await rates.convert(Decimal(250), "USD", "NGN", for_charging=True)

    # 397376.23475 × 1.025 = 407310.64061875
    assert (shown.amount, charged.amount) == (Decimal("397376.23"), Decimal("407310.64"))


async def test_same_currency_is_only_rounded_without_a_provider_call_or_markup(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(USD_TABLE)
    rates = service(provider, cache, clock, markup_percent="2.5")

    money = await rates.convert(Decimal("250.005"), "usd", "USD", for_charging=True)

    assert money == Money(Decimal("250.01"), "USD")
    assert provider.calls == []


async def test_rates_older_than_the_charge_bound_are_shown_but_never_charged(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(USD_TABLE, UpstreamUnavailable("open.er-api.com", "down"))
    rates = service(provider, cache, clock)
    await rates.exchange_rate("USD", "NGN")
    clock.now = PUBLISHED + MAX_CHARGE_AGE + timedelta(minutes=1)

    shown = await rates.convert(Decimal(250), "USD", "NGN")
    with pytest.raises(UpstreamUnavailableError, match="2024-08-19 00:02 UTC"):
        await rates.convert(Decimal(250), "USD", "NGN", for_charging=True)

    assert shown.amount == Decimal("397376.23")


async def test_rates_within_the_charge_bound_can_be_charged_even_when_stale(
    cache: MemoryCache, clock: Clock
) -> None:
    provider = ScriptedProvider(USD_TABLE, UpstreamUnavailable("open.er-api.com", "down"))
    rates = service(provider, cache, clock)
    await rates.exchange_rate("USD", "NGN")
    clock.now = PUBLISHED + MAX_CHARGE_AGE - timedelta(minutes=1)

    charged = await rates.convert(Decimal(250), "USD", "NGN", for_charging=True)

    assert charged.amount == Decimal("397376.23")


@pytest.mark.parametrize("amount", ["-0.01", "NaN", "sNaN", "Infinity", "-Infinity", "1e15"])
async def test_negative_non_finite_or_absurd_amounts_are_bad_user_input(
    cache: MemoryCache, clock: Clock, amount: str
) -> None:
    provider = ScriptedProvider(USD_TABLE)
    rates = service(provider, cache, clock)

    with pytest.raises(BadUserInput) as raised:
        await rates.convert(Decimal(amount), "USD", "NGN")

    assert raised.value.extensions == {"field": "amount"}
    assert provider.calls == []


async def test_sandbox_cross_rate_is_consistent_with_the_usd_table(
    cache: MemoryCache, clock: Clock
) -> None:
    rates = service(SandboxRates(), cache, clock)
    usd = await SandboxRates().latest("USD")

    rate = await rates.exchange_rate("EUR", "NGN")
    money = await rates.convert(Decimal(100), "EUR", "NGN")

    assert rate.rate == Context(prec=10).divide(usd.rates["NGN"], usd.rates["EUR"])
    assert abs(rate.rate * usd.rates["EUR"] - usd.rates["NGN"]) < Decimal("0.00001")
    assert money.amount == (100 * rate.rate).quantize(Decimal("0.01"))
    assert rate.as_of == usd.as_of
    assert rate.source == "sandbox: bundled reference rates of 2024-08-19"
    assert rate.stale is False
