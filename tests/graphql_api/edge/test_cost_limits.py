"""Demand control: an operation's cost is known before it runs, one above the maximum is refused,
and callers spend a budget per window (anonymous callers by address, partners by key) that
is refused with RATE_LIMITED before the airline is ever asked, across replicas through Redis."""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from graphql import parse
from redis.asyncio import Redis
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.cost import Budgets, CostAnalysis
from graphql_api.schema import build_schema
from graphql_api.settings import Settings
from integrations.state.ratelimit import (
    MemoryRateLimiter,
    RateDecision,
    RateLimiter,
    RatePolicy,
    RedisRateLimiter,
)
from resolvers.access import Caller
from resolvers.errors import RateLimited
from tests.support.helpers import REDIS_TEST_URL, graphql, upstream_fixture
from tests.support.live import admin_headers, partner_headers

DUFFEL = "https://api.duffel.com"
TOKEN = "duffel_test_placeholder_token"
SPEC = {"Accept": "application/graphql-response+json"}
SEARCH = """
query Search($input: FlightSearchInput!, $first: Int) {
  searchFlights(input: $input) {
    id offers(first: $first) { id price { amount } slices { segments { flightNumber } } }
  }
}
"""
# searchFlights 50 + FlightSearch 1 + offers first × (FlightOffer 1 + price 1 + slices 4 × (1 + 3)).
SEARCH_COST_FIRST_3 = 50 + 1 + 3 * (1 + 1 + 4 * (1 + 3))


def in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def search(days: int, first: int = 3) -> dict[str, Any]:
    slices = [{"origin": "LHR", "destination": "STR", "departureDate": in_days(days)}]
    return {"input": {"slices": slices}, "first": first}


def offer_request() -> dict[str, Any]:
    body = copy.deepcopy(upstream_fixture("duffel_offer_request_response.json"))
    expiry = (datetime.now(UTC) + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    for offer in body["data"]["offers"]:
        offer["expires_at"] = expiry
    return body


# --- the cost of an operation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "variables", "cost"),
    [
        ('{ exchangeRate(base: "USD", quote: "NGN") { rate } }', None, 1),
        (
            '{ a: exchangeRate(base: "USD", quote: "NGN") { rate } b: convert(amount: "1", '
            'from: "USD", to: "NGN") { amount } }',
            None,
            2,
        ),
        ('{ places(query: "lag", first: 5) { iataCode } }', None, 2 + 5),
        ('{ places(query: "lag") { iataCode } }', None, 2 + 10),
        (SEARCH, search(30), SEARCH_COST_FIRST_3),
        (SEARCH, search(30, first=10), 50 + 1 + 10 * (1 + 1 + 16)),
        (
            'query { ...Rate } fragment Rate on Query { exchangeRate(base: "USD", quote: "NGN") '
            "{ rate } }",
            None,
            1,
        ),
        ('mutation { adminLogin(password: "x") { token } }', None, 10 + 1),
        ("{ bookings { edges { node { reference } } } }", None, 1 + 10 * (1 + 1)),
        ("{ __schema { types { name fields { name } } } }", None, 0),
    ],
)
def test_an_operation_costs_its_fields_weights_times_its_list_sizes(
    document: str, variables: dict[str, Any] | None, cost: int
) -> None:
    analysis = CostAnalysis(build_schema()._schema)
    assert analysis.cost(parse(document), None, variables) == cost


def test_the_schema_carries_the_cost_directives() -> None:
    sdl = build_schema().as_str()
    assert 'searchFlights(input: FlightSearchInput!): FlightSearch! @cost(weight: "50")' in sdl
    assert '@listSize(assumedSize: 20, slicingArguments: ["first"]' in sdl


# --- the maximum, before anything runs ------------------------------------------------------


@pytest.fixture
def cost_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return make_settings(duffel_access_token=TOKEN, **overrides)

    return make


@contextlib.asynccontextmanager
async def _app(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


@respx.mock
async def test_an_operation_above_the_maximum_cost_is_refused_before_the_airline_is_asked(
    cost_settings: Callable[..., Settings],
) -> None:
    route = respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=offer_request())
    async with _app(cost_settings(graphql_max_cost=200)) as (_, http):
        refused = await graphql(http, SEARCH, search(30, first=10), SPEC)
        assert refused.status_code == 400
        (error,) = refused.json()["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "cost": 231}
        assert "200" in error["message"]
        assert "data" not in refused.json()
        assert route.call_count == 0
        # The same search asking for less fits.
        allowed = await graphql(http, SEARCH, search(30, first=3))
        assert "errors" not in allowed.json(), allowed.text
        assert route.call_count == 1


# --- budgets per caller ---------------------------------------------------------------------


@respx.mock
async def test_a_spent_budget_is_rate_limited_before_the_airline_is_asked(
    cost_settings: Callable[..., Settings],
) -> None:
    route = respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=offer_request())
    budget = 2 * SEARCH_COST_FIRST_3 + 20
    async with _app(cost_settings(graphql_cost_budget_anonymous=f"{budget}/minute")) as (_, http):
        first = await graphql(http, SEARCH, search(30))
        assert first.headers["ratelimit-limit"] == str(budget)
        assert first.headers["ratelimit-remaining"] == str(budget - SEARCH_COST_FIRST_3)
        second = await graphql(http, SEARCH, search(31))
        assert second.headers["ratelimit-remaining"] == "20"
        assert route.call_count == 2

        refused = await graphql(http, SEARCH, search(32), SPEC)
        assert refused.status_code == 429
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert 0 < error["extensions"]["retryAfterSeconds"] <= 60
        assert refused.headers["retry-after"] == str(error["extensions"]["retryAfterSeconds"])
        assert refused.headers["ratelimit-remaining"] == "20"
        # Refused before the search reached the airline.
        assert route.call_count == 2
        legacy = await graphql(http, SEARCH, search(33))
        assert legacy.status_code == 429
        assert route.call_count == 2

        # What is left is still there for cheaper operations.
        rate = await graphql(http, '{ exchangeRate(base: "USD", quote: "NGN") { rate } }')
        assert rate.status_code == 200, rate.text
        assert rate.headers["ratelimit-remaining"] == "19"


async def test_partners_spend_by_key_with_their_own_budgets(
    make_settings: Callable[..., Settings],
) -> None:
    base = make_settings(graphql_cost_budget_anonymous="1/minute")
    big = await partner_headers(base, "Big Partner")
    small = await partner_headers(base, "Small Partner")
    small_id = await _key_id(base, "Small Partner")
    settings = make_settings(
        graphql_cost_budget_anonymous="1/minute",
        graphql_cost_budget_partner="1000/minute",
        graphql_cost_budget_overrides=f"{small_id}=10/minute",
    )
    # Each a different search, so none is answered from the response cache, which spends nothing.
    names = iter(["lag", "abu", "lon", "acc", "nai", "joh", "par", "dub", "kan", "ibad"])

    async def places(headers: dict[str, str] | None = None) -> httpx.Response:
        query = f'{{ places(query: "{next(names)}", first: 5) {{ iataCode }} }}'
        return await graphql(http, query, headers=headers)

    async with _app(settings) as (_, http):
        assert (await places(small)).headers["ratelimit-limit"] == "10"
        refused = await places(small)
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # Another key, and another caller entirely, spend from their own budgets.
        for _ in range(3):
            response = await places(big)
            assert response.status_code == 200
            assert response.headers["ratelimit-limit"] == "1000"
        assert (await places()).status_code == 429
        assert (await places(admin_headers(settings))).status_code == 200


async def _key_id(settings: Settings, name: str) -> str:
    from integrations.state.store import open_store

    store = await open_store(settings.database_url)
    try:
        return next(r.id for r in await store.api_keys.list() if r.name == name)
    finally:
        await store.close()


async def test_two_replicas_spend_one_budget_through_redis() -> None:
    """Each replica's budgets over its own Redis connection, as two gateways have them."""
    prefix = f"sf-test:budget:{uuid.uuid4().hex}:"
    clients = [Redis.from_url(REDIS_TEST_URL), Redis.from_url(REDIS_TEST_URL)]
    policy = RatePolicy.parse("100/minute")
    replicas = [
        Budgets(RedisRateLimiter(client, prefix=prefix), anonymous=policy, partner=policy)
        for client in clients
    ]
    caller = Caller(identity="ip:203.0.113.9")
    try:
        seen: list[RateDecision] = []
        await replicas[0].charge(caller, "203.0.113.9", 60, seen.append)
        with pytest.raises(RateLimited) as refused:
            await replicas[1].charge(caller, "203.0.113.9", 60, seen.append)
        assert refused.value.extensions["retryAfterSeconds"] > 0
        # Another address has a budget of its own, on either replica.
        await replicas[1].charge(caller, "198.51.100.7", 60, seen.append)
        await replicas[1].charge(caller, "203.0.113.9", 40, seen.append)
        assert [(d.allowed, d.remaining) for d in seen] == [
            (True, 40),
            (False, 40),
            (True, 40),
            (True, 0),
        ]
    finally:
        keys = [key async for key in clients[0].scan_iter(match=f"{prefix}*")]
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


# --- the limiter counting costs -------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    redis = Redis.from_url(REDIS_TEST_URL)
    prefix = f"sf-test:cost:{id(request)}:"
    try:
        yield RedisRateLimiter(redis, prefix=prefix)
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_refused_costly_hit_takes_nothing_from_the_budget(limiter: RateLimiter) -> None:
    first = await limiter.hit("k", limit=100, window_seconds=60, cost=70)
    assert (first.allowed, first.remaining) == (True, 30)
    refused = await limiter.hit("k", limit=100, window_seconds=60, cost=40)
    assert (refused.allowed, refused.remaining) == (False, 30)
    assert refused.retry_after_seconds > 0
    fits = await limiter.hit("k", limit=100, window_seconds=60, cost=30)
    assert (fits.allowed, fits.remaining) == (True, 0)
    with pytest.raises(ValueError, match="cost"):
        await limiter.hit("k", limit=100, window_seconds=60, cost=0)
