"""Flight search through GraphQL on the sandbox provider: what a frontend sees with no accounts."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.helpers import graphql

LAGOS = ZoneInfo("Africa/Lagos")

OFFER_FIELDS = """
  id mode passengerCount expiresAt requiresInstantPayment
  totalAmount { amount currency formatted }
  price { amount currency formatted }
  usd: price(currency: "USD") { amount currency }
  owner { iataCode name logoUrl }
  conditions {
    refundable changeable
    refundPenalty { amount currency } changePenalty { amount currency }
  }
  slices {
    durationMinutes stops
    origin { iataCode name cityName countryCode timeZone }
    destination { iataCode name cityName countryCode timeZone }
    segments {
      id departingAt arrivingAt durationMinutes flightNumber aircraft
      origin { iataCode timeZone } destination { iataCode timeZone }
      marketingCarrier { iataCode name } operatingCarrier { iataCode name }
    }
  }
"""

SEARCH = """
query Search($input: FlightSearchInput!, $first: Int, $sort: OfferSort, $maxStops: Int,
             $airline: String) {
  searchFlights(input: $input) {
    id createdAt cached totalOffers
    offers(first: $first, sortBy: $sort, maxStops: $maxStops, airline: $airline) { OFFER }
  }
}
""".replace("OFFER", OFFER_FIELDS)


def days_ahead(n: int) -> str:
    return (datetime.now(LAGOS).date() + timedelta(days=n)).isoformat()


def one_way(origin: str, destination: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "slices": [{"origin": origin, "destination": destination, "departureDate": when}],
        **extra,
    }


async def search(
    client: httpx.AsyncClient, input_: dict[str, Any], **variables: Any
) -> dict[str, Any]:
    response = await graphql(client, SEARCH, {"input": input_, **variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]["searchFlights"]
    return result


async def search_error(client: httpx.AsyncClient, input_: dict[str, Any]) -> dict[str, Any]:
    body = (await graphql(client, SEARCH, {"input": input_})).json()
    assert body.get("data") is None
    error: dict[str, Any] = body["errors"][0]
    return error


async def test_domestic_search_is_priced_in_naira_with_lagos_local_times(
    client: httpx.AsyncClient,
) -> None:
    result = await search(client, one_way("LOS", "ABV", days_ahead(7)))
    assert result["cached"] is False
    assert result["totalOffers"] >= 3
    offers = result["offers"]
    for offer in offers:
        assert offer["mode"] == "SANDBOX"
        assert offer["passengerCount"] == 1
        assert offer["totalAmount"]["currency"] == "NGN"
        assert offer["totalAmount"]["formatted"].startswith("₦")
        assert offer["price"]["currency"] == "NGN"
        assert offer["usd"]["currency"] == "USD"
        segment = offer["slices"][0]["segments"][0]
        assert segment["origin"]["iataCode"] == "LOS"
        assert segment["departingAt"].endswith("+01:00")
        assert datetime.fromisoformat(segment["arrivingAt"]) > datetime.fromisoformat(
            segment["departingAt"]
        )
        assert offer["slices"][0]["origin"]["timeZone"] == "Africa/Lagos"
    # Sorted by price by default, cheapest first.
    amounts = [Decimal(o["price"]["amount"]) for o in offers]
    assert amounts == sorted(amounts)


async def test_return_search_has_two_slices_and_a_searchable_id(client: httpx.AsyncClient) -> None:
    input_ = {
        "slices": [
            {"origin": "LOS", "destination": "LHR", "departureDate": days_ahead(20)},
            {"origin": "LHR", "destination": "LOS", "departureDate": days_ahead(34)},
        ],
        "passengers": {"adults": 2, "children": 1, "infants": 1},
        "cabinClass": "BUSINESS",
    }
    first = await search(client, input_, first=50)
    assert first["offers"]
    for offer in first["offers"]:
        assert [s["origin"]["iataCode"] for s in offer["slices"]] == ["LOS", "LHR"]
        assert offer["passengerCount"] == 4
    again = await search(client, input_, first=50)
    assert again["cached"] is True
    assert again["id"] == first["id"]
    assert [o["id"] for o in again["offers"]] == [o["id"] for o in first["offers"]]

    query = "query($id: ID!) { flightSearch(id: $id) { id cached totalOffers } }"
    by_id = (await graphql(client, query, {"id": first["id"]})).json()["data"]["flightSearch"]
    assert by_id == {"id": first["id"], "cached": True, "totalOffers": first["totalOffers"]}


async def test_unknown_search_id_is_null(client: httpx.AsyncClient) -> None:
    query = '{ flightSearch(id: "orq_nothing_here") { id } }'
    assert (await graphql(client, query)).json() == {"data": {"flightSearch": None}}


async def test_sorting_and_filters(client: httpx.AsyncClient) -> None:
    input_ = one_way("LOS", "JFK", days_ahead(40))
    by_duration = await search(client, input_, first=100, sort="DURATION")
    durations = [sum(s["durationMinutes"] for s in o["slices"]) for o in by_duration["offers"]]
    assert durations == sorted(durations)
    by_departure = await search(client, input_, first=100, sort="DEPARTURE")
    departures = [
        datetime.fromisoformat(o["slices"][0]["segments"][0]["departingAt"])
        for o in by_departure["offers"]
    ]
    assert departures == sorted(departures)
    direct = await search(client, input_, first=100, maxStops=0)
    assert all(s["stops"] == 0 for o in direct["offers"] for s in o["slices"])
    assert len(direct["offers"]) < len(by_duration["offers"])
    carrier = by_duration["offers"][0]["owner"]["iataCode"]
    mine = await search(client, input_, first=100, airline=carrier.lower())
    assert mine["offers"]
    for offer in mine["offers"]:
        carriers = {offer["owner"]["iataCode"]} | {
            seg[k]["iataCode"]
            for s in offer["slices"]
            for seg in s["segments"]
            for k in ("marketingCarrier", "operatingCarrier")
        }
        assert carrier in carriers


@pytest.mark.parametrize(
    ("input_", "field", "phrase"),
    [
        (one_way("LOS", "XQZ", days_ahead(5)), "slices[0].destination", "XQZ"),
        (one_way("LOS", "LAGOS", days_ahead(5)), "slices[0].destination", "IATA"),
        (one_way("LOS", "LOS", days_ahead(5)), "slices[0].destination", "LOS"),
        (one_way("LOS", "ABV", days_ahead(-1)), "slices[0].departureDate", "past"),
        (one_way("LOS", "ABV", days_ahead(362)), "slices[0].departureDate", "361"),
        (
            {
                "slices": [
                    {"origin": "LOS", "destination": "ABV", "departureDate": days_ahead(10)},
                    {"origin": "ABV", "destination": "LOS", "departureDate": days_ahead(9)},
                ]
            },
            "slices[1].departureDate",
            "before",
        ),
        (
            one_way("LOS", "ABV", days_ahead(5), passengers={"adults": 1, "infants": 2}),
            "passengers.infants",
            "infants",
        ),
        (
            one_way("LOS", "ABV", days_ahead(5), passengers={"adults": 8, "children": 2}),
            "passengers",
            "9",
        ),
        (
            one_way("LOS", "ABV", days_ahead(5), passengers={"adults": 0, "children": 1}),
            "passengers.adults",
            "adult",
        ),
        (one_way("LOS", "ABV", days_ahead(5), maxConnections=3), "maxConnections", "0, 1 or 2"),
        (one_way("LOS", "ABV", days_ahead(5), currency="NAIRA"), "currency", "NAIRA"),
        (
            {
                "slices": [
                    {"origin": "LOS", "destination": "ABV", "departureDate": days_ahead(i + 1)}
                    for i in range(5)
                ]
            },
            "slices",
            "1 to 4",
        ),
    ],
)
async def test_bad_searches_say_what_to_fix(
    client: httpx.AsyncClient, input_: dict[str, Any], field: str, phrase: str
) -> None:
    error = await search_error(client, input_)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert phrase in error["message"]


async def test_wrongly_typed_search_is_bad_user_input(client: httpx.AsyncClient) -> None:
    error = await search_error(client, one_way("LOS", "ABV", "next tuesday"))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_offer_is_read_again_by_id(client: httpx.AsyncClient) -> None:
    found = await search(client, one_way("LOS", "ABV", days_ahead(3)), first=1)
    wanted = found["offers"][0]
    query = "query($id: ID!) { offer(id: $id) { id totalAmount { amount currency } expiresAt } }"
    offer = (await graphql(client, query, {"id": wanted["id"]})).json()["data"]["offer"]
    assert offer["id"] == wanted["id"]
    assert offer["totalAmount"] == {
        "amount": wanted["totalAmount"]["amount"],
        "currency": wanted["totalAmount"]["currency"],
    }


async def test_garbled_offer_id_is_offer_expired(client: httpx.AsyncClient) -> None:
    body = (await graphql(client, '{ offer(id: "off_sandbox_garbled") { id } }')).json()
    assert body["errors"][0]["extensions"]["code"] == "OFFER_EXPIRED"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lag", "LOS"), ("LOS", "LOS"), ("abuja", "ABV"), ("port harcourt", "PHC"), ("Kano", "KAN")],
)
async def test_places_resolve_how_travellers_write(
    client: httpx.AsyncClient, text: str, expected: str
) -> None:
    query = "query($q: String!) { places(query: $q) { iataCode name cityName countryCode } }"
    places = (await graphql(client, query, {"q": text})).json()["data"]["places"]
    assert places[0]["iataCode"] == expected


async def test_london_suggests_the_city_and_its_airports(client: httpx.AsyncClient) -> None:
    query = '{ places(query: "London", first: 10) { iataCode cityName } }'
    codes = {p["iataCode"] for p in (await graphql(client, query)).json()["data"]["places"]}
    assert {"LHR", "LGW"} <= codes


async def test_empty_place_query_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body = (await graphql(client, '{ places(query: "  ") { iataCode } }')).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_prices_in_several_currencies_through_aliases_and_fragments(
    client: httpx.AsyncClient,
) -> None:
    query = """
    query($input: FlightSearchInput!, $cur: String) {
      searchFlights(input: $input) {
        cheap: offers(first: 3) { id ...Prices eur: price(currency: "EUR") { currency } }
        again: offers(first: 3, sortBy: DURATION) { id v: price(currency: $cur) { currency } }
      }
    }
    fragment Prices on FlightOffer { usd: price(currency: "USD") { amount currency } }
    """
    variables = {"input": one_way("LOS", "ACC", days_ahead(15)), "cur": "GBP"}
    body = (await graphql(client, query, variables)).json()
    assert "errors" not in body, body
    result = body["data"]["searchFlights"]
    assert {o["usd"]["currency"] for o in result["cheap"]} == {"USD"}
    assert {o["eur"]["currency"] for o in result["cheap"]} == {"EUR"}
    assert {o["v"]["currency"] for o in result["again"]} == {"GBP"}


async def test_unknown_price_currency_is_bad_user_input_on_that_price_only(
    client: httpx.AsyncClient,
) -> None:
    query = """
    query($input: FlightSearchInput!) {
      searchFlights(input: $input) {
        offers(first: 2) { id bad: price(currency: "XQQ") { amount } }
      }
    }
    """
    body = (await graphql(client, query, {"input": one_way("LOS", "ABV", days_ahead(6))})).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "XQQ" in body["errors"][0]["message"]
