"""The response cache as clients see it: repeats of public reads are answered from it byte for
byte, nothing a token or key unlocks is ever kept, entries live no longer than their data, and
GET answers carry Cache-Control and ETag for a CDN in front."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from redis.asyncio import Redis
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.response_cache import (
    PUBLIC_FIELDS,
    PUBLIC_ROOT_FIELDS,
    PublicRoot,
    ResponseCache,
    cache_policy,
)
from graphql_api.schema import build_schema
from graphql_api.settings import Settings
from integrations.fx import OpenErApiClient
from integrations.state.cache import MemoryCache
from resolvers.rates import RatesService, rate_tag
from tests.graphql_api.edge.conftest import response_cache
from tests.support.helpers import REDIS_TEST_URL, graphql, upstream_fixture
from tests.support.live import SandboxTrips

FX_URL = "https://open.er-api.com/v6"
DUFFEL = "https://api.duffel.com"
RATE = '{ exchangeRate(base: "USD", quote: "NGN") { base quote rate asOf source } }'
CONVERT = '{ convert(amount: "250", from: "USD", to: "NGN") { amount currency formatted } }'
PLACES = '{ places(query: "lag", first: 5) { iataCode name cityName type } }'
SEARCH = """
query Search($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    id cached totalOffers
    offers(first: 5, sortBy: PRICE) {
      id expiresAt totalAmount { amount currency } price { formatted } usd: price(currency: "USD") {
        amount
      }
      owner { iataCode name } slices { stops segments { flightNumber departingAt } }
    }
  }
}
"""
FLIGHT_SEARCH = """
query Again($id: ID!) { flightSearch(id: $id) { id totalOffers offers(first: 3) { id } } }
"""


def in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


SEARCH_VARIABLES = {
    "input": {"slices": [{"origin": "LOS", "destination": "ABV", "departureDate": in_days(12)}]}
}


async def post(http: httpx.AsyncClient, query: str, variables: Any = None, **headers: str) -> bytes:
    response = await graphql(http, query, variables, headers or None)
    assert response.status_code == 200, response.text
    assert b'"errors"' not in response.content, response.text
    return response.content


async def answered_from_cache(
    app: Starlette, http: httpx.AsyncClient, query: str, variables: Any = None
) -> tuple[bytes, bytes, bytes]:
    """The answer executed and kept, the same answer from the cache, and a fresh execution
    once the cache is emptied."""
    cache = response_cache(app)
    executed = await post(http, query, variables)
    hits = cache.hits
    cached = await post(http, query, variables)
    assert cache.hits == hits + 1, "the repeat was not served from the cache"
    cache.clear()
    fresh = await post(http, query, variables)
    return executed, cached, fresh


# --- answers served again -----------------------------------------------------------------------


@pytest.mark.parametrize("query", [RATE, CONVERT, PLACES])
async def test_a_cached_public_read_is_byte_for_byte_a_fresh_execution(
    app: Starlette, client: httpx.AsyncClient, query: str
) -> None:
    executed, cached, fresh = await answered_from_cache(app, client, query)
    assert cached == executed == fresh


async def test_pages_of_a_cached_search_are_served_byte_for_byte(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    cache = response_cache(app)
    # The search that asks the airline says `cached: false`, which no repeat would: not kept.
    first = await post(client, SEARCH, SEARCH_VARIABLES)
    assert b'"cached":false' in first
    assert len(cache) == 0

    executed, cached, fresh = await answered_from_cache(app, client, SEARCH, SEARCH_VARIABLES)
    assert b'"cached":true' in cached
    assert cached == executed == fresh

    search_id = httpx.Response(200, content=cached).json()["data"]["searchFlights"]["id"]
    again = await answered_from_cache(app, client, FLIGHT_SEARCH, {"id": search_id})
    assert again[0] == again[1] == again[2]


async def test_variables_and_operation_tell_answers_apart(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    query = 'query($to: String!) { exchangeRate(base: "USD", quote: $to) { quote rate } }'
    naira = await post(client, query, {"to": "NGN"})
    cedi = await post(client, query, {"to": "GHS"})
    assert naira != cedi
    assert await post(client, query, {"to": "NGN"}) == naira
    assert await post(client, query, {"to": "GHS"}) == cedi
    assert len(response_cache(app)) == 2


async def test_answers_with_errors_are_not_kept(app: Starlette, client: httpx.AsyncClient) -> None:
    query = '{ exchangeRate(base: "USD", quote: "XXX") { rate } }'
    for _ in range(2):
        response = await graphql(client, query)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert len(response_cache(app)) == 0


# --- what is never kept ---------------------------------------------------------------------


async def test_a_booking_is_never_served_from_cache_to_another_caller(live_server: str) -> None:
    query = """
    query($ref: ID!) {
      exchangeRate(base: "USD", quote: "NGN") { rate }
      booking(reference: $ref) { reference passengers { familyName email } }
    }
    """
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as http:
        trips = SandboxTrips(http)
        booked = await trips.book(start_payment=False)
        variables = {"ref": booked.reference}
        mine = (await graphql(http, query, variables, booked.headers)).json()
        assert mine["data"]["booking"]["passengers"][0]["familyName"] == booked.family_name
        again = (await graphql(http, query, variables, booked.headers)).json()
        assert again == mine
        # The same document from someone else: never the traveller's booking.
        other = await graphql(http, query, variables)
    assert other.json()["data"]["booking"] is None
    for secret in booked.secrets():
        assert secret not in other.text


@pytest.mark.parametrize(
    "query",
    [
        '{ booking(reference: "SF7K2QXM") { reference } }',
        '{ payment(reference: "SF7K2QXM-1") { reference status } }',
        "{ bookings { totalCount } }",
        '{ exchangeRate(base: "USD", quote: "NGN") { rate } bookings { totalCount } }',
        '{ offer(id: "off_1") { id } }',
        "{ __schema { queryType { name } } }",
        '{ exchangeRate(base: "USD", quote: "NGN") { rate } __type(name: "Booking") { name } }',
        'mutation { adminLogin(password: "x") { token } }',
        "subscription { paymentUpdates { reference } }",
    ],
)
def test_only_operations_made_of_public_fields_are_cacheable(query: str) -> None:
    from graphql import parse

    schema = build_schema()._schema
    assert cache_policy(schema, parse(query), None) is None


def test_a_field_nobody_listed_makes_the_operation_uncacheable() -> None:
    from graphql import parse

    schema = build_schema()._schema
    document = parse('{ exchangeRate(base: "USD", quote: "NGN") { rate asOf } }')
    assert cache_policy(schema, document, None) is not None
    # Take one field off the list, as a field added to ExchangeRate later would be.
    fields = {**PUBLIC_FIELDS, "ExchangeRate": PUBLIC_FIELDS["ExchangeRate"] - {"asOf"}}
    assert cache_policy(schema, document, None, fields=fields) is None


def test_every_listed_field_is_in_the_schema() -> None:
    schema = build_schema()._schema
    assert schema.query_type is not None
    for name in PUBLIC_ROOT_FIELDS:
        assert name in schema.query_type.fields, name
    for type_name, names in PUBLIC_FIELDS.items():
        kind = schema.get_type(type_name)
        assert kind is not None, type_name
        assert names <= set(kind.fields), (type_name, names - set(kind.fields))  # type: ignore[union-attr]


def test_answers_that_differ_by_caller_are_kept_per_kind_of_caller() -> None:
    from graphql import parse

    schema = build_schema()._schema
    roots = {**PUBLIC_ROOT_FIELDS, "places": PublicRoot(60, per_caller_class=True)}
    policy = cache_policy(schema, parse(PLACES), None, roots=roots)
    assert policy is not None and policy.per_caller_class
    assert not cache_policy(schema, parse(RATE), None, roots=roots).per_caller_class  # type: ignore[union-attr]


# --- how long an entry lives ----------------------------------------------------------------


def _rates_until(seconds: int) -> dict[str, Any]:
    body = copy.deepcopy(upstream_fixture("fx_open_er_api_latest.json"))
    now = int(time.time())
    body["time_last_update_unix"] = now - 60
    body["time_next_update_unix"] = now + seconds
    return body


@pytest.fixture
async def live_fx(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(make_settings(fx_api_url=FX_URL))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@respx.mock
async def test_a_rate_is_cached_until_the_provider_publishes_the_next(
    live_fx: httpx.AsyncClient,
) -> None:
    route = respx.get(f"{FX_URL}/latest/USD").respond(json=_rates_until(600))
    first = await live_fx.get("/graphql", params={"query": RATE})
    second = await live_fx.get("/graphql", params={"query": RATE})
    assert first.content == second.content
    for response in (first, second):
        max_age = int(response.headers["cache-control"].removeprefix("public, max-age="))
        assert 590 <= max_age <= 600, response.headers["cache-control"]
    assert route.call_count == 1


async def test_a_changed_rate_table_drops_the_answers_built_on_it() -> None:
    now = datetime.now(UTC)
    clock = [now]
    cache = ResponseCache(1_000_000)
    async with httpx.AsyncClient(base_url=FX_URL) as http:
        rates = RatesService(
            OpenErApiClient(http, FX_URL),
            MemoryCache(),
            markup_percent=Decimal(0),
            max_charge_age=timedelta(days=2),
            clock=lambda: clock[0],
        )
        rates.on_change(lambda base: cache.invalidate(rate_tag(base)))
        first = _rates_until(120)
        second = copy.deepcopy(first)
        second["rates"]["NGN"] = 1612.25
        second["time_last_update_unix"] += 3_600
        with respx.mock:
            respx.get(f"{FX_URL}/latest/USD").mock(
                side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
            )
            await rates.exchange_rate("USD", "NGN")
            await cache.put("usd-answer", b"{}", time.time() + 3_600, (rate_tag("USD"),))
            await cache.put("gbp-answer", b"{}", time.time() + 3_600, (rate_tag("GBP"),))
            # The table is due again: the provider has published another.
            clock[0] = now + timedelta(minutes=3)
            rate = await rates.exchange_rate("USD", "NGN")
    assert rate.rate == Decimal("1612.25")
    assert cache.get_local("usd-answer", time.time()) is None
    assert cache.get_local("gbp-answer", time.time()) is not None


def _offers_expiring_in(seconds: float) -> dict[str, Any]:
    body = copy.deepcopy(upstream_fixture("duffel_offer_request_response.json"))
    expiry = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    for offer in body["data"]["offers"]:
        offer["expires_at"] = expiry
    return body


@respx.mock
async def test_search_pages_go_when_the_search_expires(
    make_settings: Callable[..., Settings],
) -> None:
    route = respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=_offers_expiring_in(7))
    variables = {
        "input": {"slices": [{"origin": "LHR", "destination": "STR", "departureDate": in_days(30)}]}
    }
    application = create_app(make_settings(duffel_access_token="duffel_test_placeholder"))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            cache = response_cache(application)
            assert b'"cached":false' in await post(http, SEARCH, variables)
            kept = await post(http, SEARCH, variables)
            assert await post(http, SEARCH, variables) == kept
            assert cache.hits == 1
            assert route.call_count == 1
            await asyncio.sleep(7.5)
            # Every offer has expired: the page is not served again, the airline is asked.
            after = await post(http, SEARCH, variables)
    assert b'"cached":false' in after
    assert route.call_count == 2
    assert cache.hits == 1


# --- GET, for a CDN in front ----------------------------------------------------------------


async def test_get_answers_carry_cache_control_and_an_etag_that_revalidates(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/graphql", params={"query": RATE})
    assert first.status_code == 200
    assert first.headers["cache-control"].startswith("public, max-age=")
    etag = first.headers["etag"]
    second = await client.get("/graphql", params={"query": RATE})
    assert second.headers["etag"] == etag
    assert second.content == first.content

    unchanged = await client.get(
        "/graphql", params={"query": RATE}, headers={"If-None-Match": etag}
    )
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    other = await client.get(
        "/graphql", params={"query": RATE}, headers={"If-None-Match": '"something-else"'}
    )
    assert other.status_code == 200
    assert other.content == first.content


async def test_get_answers_that_are_not_cacheable_say_no_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ bookings { totalCount } }"})
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


async def test_post_answers_carry_no_cache_headers(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await graphql(client, RATE)
        assert "cache-control" not in response.headers
        assert "etag" not in response.headers


# --- bounded, and shared --------------------------------------------------------------------


async def test_the_cache_stays_within_its_memory_bound() -> None:
    cache = ResponseCache(10_000)
    for n in range(50):
        await cache.put(f"k{n}", b"x" * 900, time.time() + 60, ("t",))
    assert cache.size_bytes <= 10_000
    assert cache.get_local("k49", time.time()) is not None
    assert cache.get_local("k0", time.time()) is None
    kept = len(cache)
    assert cache.invalidate("t") == kept
    assert len(cache) == 0
    assert cache.size_bytes == 0


@pytest.fixture
async def shared_redis() -> AsyncIterator[Redis]:
    redis = Redis.from_url(REDIS_TEST_URL)
    prefix = f"sf-test:rc:{uuid.uuid4().hex}:"
    redis.test_prefix = prefix  # type: ignore[attr-defined]
    try:
        yield redis
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_replicas_share_answers_and_invalidations_through_redis(shared_redis: Redis) -> None:
    prefix: str = shared_redis.test_prefix  # type: ignore[attr-defined]
    replica_a = ResponseCache(1_000_000, redis=shared_redis, prefix=prefix)
    replica_b = ResponseCache(1_000_000, redis=shared_redis, prefix=prefix)
    body = b'{"data":{"exchangeRate":{"rate":"1589.504939"}}}'
    kept = await replica_a.put("rate", body, time.time() + 60, (rate_tag("USD"),))

    served = await replica_b.get("rate")
    assert served is not None
    assert (served.body, served.etag) == (body, kept.etag)
    assert 59 < served.expires_at - time.time() <= 60
    assert 0 < await shared_redis.pttl(f"{prefix}rate") <= 60_000

    # The rates changed: gone from the replica that saw it, and from Redis for the others.
    replica_a.invalidate(rate_tag("USD"))
    for _ in range(50):
        if not await shared_redis.exists(f"{prefix}rate"):
            break
        await asyncio.sleep(0.02)
    assert await ResponseCache(1_000_000, redis=shared_redis, prefix=prefix).get("rate") is None
