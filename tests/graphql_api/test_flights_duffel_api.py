"""Flight search through GraphQL against Duffel, served by respx with Duffel's recorded bodies."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import respx

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import REDIS_TEST_URL, graphql, upstream_fixture

DUFFEL = "https://api.duffel.com"
TOKEN = "duffel_test_placeholder_token"

SEARCH = """
query($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    id cached totalOffers
    offers(first: 50) {
      id mode passengerCount expiresAt requiresInstantPayment
      totalAmount { amount currency formatted }
      owner { iataCode name logoUrl }
      conditions { refundable changeable refundPenalty { amount currency } }
      slices {
        durationMinutes stops origin { iataCode } destination { iataCode }
        segments {
          departingAt arrivingAt durationMinutes flightNumber aircraft
          origin { iataCode timeZone } destination { iataCode timeZone }
          marketingCarrier { iataCode name } operatingCarrier { iataCode name }
        }
      }
    }
  }
}
"""
OFFER = "query($id: ID!) { offer(id: $id) { id totalAmount { amount currency } expiresAt } }"


def in_days(n: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=n)).isoformat()


SEARCH_INPUT = {"slices": [{"origin": "LHR", "destination": "STR", "departureDate": in_days(30)}]}


def fresh(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body with its offers expiring 30 minutes from now, as a live search would."""
    body = copy.deepcopy(body)
    expiry = (datetime.now(UTC) + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    data = body["data"]
    for offer in data.get("offers", [data]):
        offer["expires_at"] = expiry
    return body


OFFER_REQUEST = fresh(upstream_fixture("duffel_offer_request_response.json"))
ONE_OFFER = fresh(upstream_fixture("duffel_offer_response.json"))


def duffel_error(
    status: int, code: str, title: str, type_: str = "airline_error"
) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "errors": [{"type": type_, "code": code, "title": title, "message": title}],
            "meta": {"request_id": "FZW0H3HdJwKk5HMAAKxB", "status": status},
        },
    )


async def _open(stack: contextlib.AsyncExitStack, settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    transport = httpx.ASGITransport(app=app)
    return await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://test")
    )


@pytest.fixture
async def duffel_client(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(duffel_access_token=TOKEN))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def _search(http: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await graphql(http, SEARCH, {"input": SEARCH_INPUT})).json()
    return body


@respx.mock
async def test_live_search_maps_duffel_offers_field_by_field(
    duffel_client: httpx.AsyncClient,
) -> None:
    route = respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=OFFER_REQUEST)
    body = await _search(duffel_client)
    assert "errors" not in body, body
    result = body["data"]["searchFlights"]
    assert result["id"] == "orq_0000AJySzYPHklwQdNrTPY"
    assert result["cached"] is False
    assert result["totalOffers"] == 11
    cheapest = result["offers"][0]
    recorded = OFFER_REQUEST["data"]["offers"][0]
    assert cheapest["id"] == recorded["id"]
    assert cheapest["mode"] == "LIVE"
    assert cheapest["totalAmount"] == {"amount": "80.99", "currency": "GBP", "formatted": "£80.99"}
    assert cheapest["owner"]["iataCode"] == "BA"
    assert cheapest["requiresInstantPayment"] is True
    assert cheapest["conditions"] == {
        "refundable": False,
        "changeable": False,
        "refundPenalty": None,
    }
    segment = cheapest["slices"][0]["segments"][0]
    assert segment["departingAt"] == "2022-06-15T17:40:00+01:00"
    assert segment["arrivingAt"] == "2022-06-15T20:20:00+02:00"
    assert segment["durationMinutes"] == 100
    assert segment["flightNumber"] == "BA0920"
    assert segment["aircraft"] == "Airbus A319"
    assert segment["origin"] == {"iataCode": "LHR", "timeZone": "Europe/London"}
    # What was sent: Duffel's headers and the search in Duffel's shape.
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["duffel-version"] == "v2"
    assert "gzip" in sent.headers["accept-encoding"]
    assert sent.url.params["return_offers"] == "true"
    assert sent.url.params["supplier_timeout"] == "20000"


@respx.mock
async def test_ten_identical_searches_at_once_make_one_duffel_call(
    duffel_client: httpx.AsyncClient,
) -> None:
    async def slow_answer(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return httpx.Response(201, json=OFFER_REQUEST)

    route = respx.post(f"{DUFFEL}/air/offer_requests").mock(side_effect=slow_answer)
    bodies = await asyncio.gather(*(_search(duffel_client) for _ in range(10)))
    assert route.call_count == 1
    ids = {b["data"]["searchFlights"]["id"] for b in bodies}
    assert ids == {"orq_0000AJySzYPHklwQdNrTPY"}
    # Within the TTL the same search is served from the cache.
    again = await _search(duffel_client)
    assert again["data"]["searchFlights"]["cached"] is True
    assert route.call_count == 1


@respx.mock
async def test_a_search_cached_by_one_replica_is_served_by_another(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    async for key in connection.scan_iter(match="sf:cache:flights:*"):
        await connection.delete(key)
    await connection.aclose()
    route = respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=OFFER_REQUEST)
    async with contextlib.AsyncExitStack() as stack:
        http_a, http_b = [
            await _open(
                stack,
                make_settings(
                    duffel_access_token=TOKEN,
                    redis_url=REDIS_TEST_URL,
                    database_url=f"sqlite:///{tmp_path}/{name}.db",
                ),
            )
            for name in ("a", "b")
        ]
        first = (await _search(http_a))["data"]["searchFlights"]
        assert first["cached"] is False
        second = (await _search(http_b))["data"]["searchFlights"]
        assert second["cached"] is True
        assert second["id"] == first["id"]
        by_id = await graphql(
            http_b, "query($id: ID!) { flightSearch(id: $id) { totalOffers } }", {"id": first["id"]}
        )
        assert by_id.json()["data"]["flightSearch"]["totalOffers"] == 11
    assert route.call_count == 1


@respx.mock
@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (duffel_error(422, "invalid_airport", "Field 'origin' is invalid", "validation_error"),
         "BAD_USER_INPUT"),
        (httpx.Response(500, json=upstream_fixture("duffel_error_offer_expired.json")),
         "UPSTREAM_UNAVAILABLE"),
        (httpx.ReadTimeout("timed out"), "UPSTREAM_UNAVAILABLE"),
        (httpx.Response(401, json={"errors": [{"type": "authentication_error"}]}),
         "UPSTREAM_ERROR"),
        (httpx.Response(201, json={"data": {"unexpected": True}}), "UPSTREAM_ERROR"),
    ],
)  # fmt: skip
async def test_duffel_failures_have_contract_codes_and_change_nothing(
    duffel_client: httpx.AsyncClient, answer: httpx.Response | Exception, code: str
) -> None:
    route = respx.post(f"{DUFFEL}/air/offer_requests")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer
    body = await _search(duffel_client)
    assert body.get("data") is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == code
    assert TOKEN not in str(body)
    assert "Traceback" not in str(body)
    # Nothing was cached: once Duffel answers, the search reaches it.
    route.side_effect = None
    route.return_value = httpx.Response(201, json=OFFER_REQUEST)
    recovered = (await _search(duffel_client))["data"]["searchFlights"]
    assert recovered["cached"] is False


@respx.mock
async def test_rate_limited_search_is_retried_after_the_reset(
    duffel_client: httpx.AsyncClient,
) -> None:
    route = respx.post(f"{DUFFEL}/air/offer_requests").mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"ratelimit-limit": "60", "ratelimit-remaining": "0", "retry-after": "0"},
                json={"errors": [{"type": "rate_limit_error", "code": "rate_limit_exceeded"}]},
            ),
            httpx.Response(201, json=OFFER_REQUEST),
        ]
    )
    body = await _search(duffel_client)
    assert body["data"]["searchFlights"]["totalOffers"] == 11
    assert route.call_count == 2


@respx.mock
async def test_offer_reports_the_current_price(duffel_client: httpx.AsyncClient) -> None:
    offer_id = ONE_OFFER["data"]["id"]
    changed = copy.deepcopy(ONE_OFFER)
    changed["data"]["total_amount"] = "599.10"
    respx.get(f"{DUFFEL}/air/offers/{offer_id}").mock(
        side_effect=[httpx.Response(200, json=ONE_OFFER), httpx.Response(200, json=changed)]
    )
    before = (await graphql(duffel_client, OFFER, {"id": offer_id})).json()["data"]["offer"]
    after = (await graphql(duffel_client, OFFER, {"id": offer_id})).json()["data"]["offer"]
    assert before["totalAmount"]["amount"] == "524.30"
    assert after["totalAmount"]["amount"] == "599.10"


@respx.mock
@pytest.mark.parametrize(
    "answer",
    [
        duffel_error(422, "offer_no_longer_available", "Requested offer is no longer available"),
        duffel_error(404, "not_found", "Not found", "invalid_request_error"),
    ],
)
async def test_gone_offer_is_offer_expired(
    duffel_client: httpx.AsyncClient, answer: httpx.Response
) -> None:
    respx.get(f"{DUFFEL}/air/offers/off_0000AJjwEHhflaMRlEm9NA").mock(return_value=answer)
    body = (await graphql(duffel_client, OFFER, {"id": "off_0000AJjwEHhflaMRlEm9NA"})).json()
    assert body["errors"][0]["extensions"]["code"] == "OFFER_EXPIRED"


@respx.mock
async def test_places_come_from_duffel_suggestions_when_live(
    duffel_client: httpx.AsyncClient,
) -> None:
    route = respx.get(f"{DUFFEL}/places/suggestions").respond(
        200, json=upstream_fixture("duffel_places_suggestions_response.json")
    )
    query = '{ places(query: "heathrow") { iataCode name cityName countryCode timeZone } }'
    places = (await graphql(duffel_client, query)).json()["data"]["places"]
    assert places[0] == {
        "iataCode": "LHR",
        "name": "Heathrow",
        "cityName": "London",
        "countryCode": "GB",
        "timeZone": "Europe/London",
    }
    assert route.calls.last.request.url.params["query"] == "heathrow"


@respx.mock
async def test_live_search_checks_a_code_the_place_table_lacks_with_duffel_places(
    duffel_client: httpx.AsyncClient,
) -> None:
    suggestions = copy.deepcopy(upstream_fixture("duffel_places_suggestions_response.json"))
    suggestions["data"][0]["iata_code"] = "XQZ"  # a new airport Duffel knows and we do not list
    places = respx.get(f"{DUFFEL}/places/suggestions").respond(200, json=suggestions)
    respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=OFFER_REQUEST)
    unlisted = {"slices": [{"origin": "LHR", "destination": "XQZ", "departureDate": in_days(30)}]}

    first = (await graphql(duffel_client, SEARCH, {"input": unlisted})).json()
    again = (await graphql(duffel_client, SEARCH, {"input": unlisted})).json()

    assert "errors" not in first and first["data"]["searchFlights"]["offers"]
    assert "errors" not in again
    assert places.call_count == 1  # Duffel's answer is remembered
    assert places.calls.last.request.url.params["query"] == "XQZ"


@respx.mock
async def test_live_search_refuses_a_code_duffel_places_does_not_know(
    duffel_client: httpx.AsyncClient,
) -> None:
    respx.get(f"{DUFFEL}/places/suggestions").respond(
        200, json=upstream_fixture("duffel_places_suggestions_response.json")
    )
    searched = respx.post(f"{DUFFEL}/air/offer_requests").respond(201, json=OFFER_REQUEST)
    unknown = {"slices": [{"origin": "LHR", "destination": "XQZ", "departureDate": in_days(30)}]}

    body = (await graphql(duffel_client, SEARCH, {"input": unknown})).json()

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "slices[0].destination"
    assert not searched.called
