"""The Duffel client against Duffel's recorded bodies: mapping, requests sent, retries, failures."""

from __future__ import annotations

import copy
import email.utils
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from integrations.duffel.client import DuffelClient
from integrations.duffel.wire import duration_minutes, flight_number
from integrations.ports.airline import CORRELATION_METADATA_KEY, OrderPassengerInput
from integrations.ports.errors import UpstreamError, UpstreamRejected, UpstreamUnavailable
from integrations.ports.flights import (
    OfferPriceChanged,
    OfferUnavailable,
    PassengerRequest,
    SearchRequest,
    SliceRequest,
)
from tests.support.helpers import RecordedSleeps, upstream_fixture

BASE = "https://api.duffel.test"
TOKEN = "duffel_test_0nly-in-this-test"
NOW = 1_700_000_000.0
MAX_RETRIES = 2
MAX_WAIT = 5.0
LONDON_SUMMER = timezone(timedelta(hours=1))
BERLIN_SUMMER = timezone(timedelta(hours=2))
RECORDED_500_REQUEST_ID = "FwcwZMVj9l-NZioABISl"


@pytest.fixture
def duffel_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client(sleeps: RecordedSleeps) -> AsyncIterator[DuffelClient]:
    async with httpx.AsyncClient() as http:
        yield DuffelClient(
            http,
            base_url=BASE,
            access_token=TOKEN,
            max_retries=MAX_RETRIES,
            backoff_seconds=0,
            max_wait_seconds=MAX_WAIT,
            sleep=sleeps,
            clock=lambda: NOW,
        )


def _lhr_to_str() -> SearchRequest:
    return SearchRequest(
        slices=[SliceRequest(origin="LHR", destination="STR", departure_date=date(2022, 6, 15))],
        passengers=[PassengerRequest(type="adult")],
    )


def _offer_request() -> dict[str, Any]:
    body: dict[str, Any] = upstream_fixture("duffel_offer_request_response.json")
    return body


def _error(status: int, code: str, title: str, error_type: str = "airline_error") -> httpx.Response:
    body = {
        "errors": [
            {
                "type": error_type,
                "code": code,
                "title": title,
                "message": title,
                "documentation_url": "https://duffel.com/docs/api/overview/errors",
            }
        ],
        "meta": {"request_id": f"req-{code}", "status": status},
    }
    return httpx.Response(status, json=body)


def _sent_body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def _passenger() -> OrderPassengerInput:
    return OrderPassengerInput(
        id="pas_0000AG87DQEwLRyslZvsCw",
        title="mr",
        given_name="John",
        family_name="Doe",
        gender="m",
        born_on=date(2000, 1, 1),
        email="john.doe@example.com",
        phone_number="+442080160509",
    )


# --- Search -----------------------------------------------------------------------------------


async def test_search_maps_the_recorded_first_offer_field_by_field(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    duffel_api.post("/air/offer_requests").respond(201, json=_offer_request())

    result = await client.search(_lhr_to_str())

    assert result.request_id == "orq_0000AJySzYPHklwQdNrTPY"
    assert result.created_at == datetime(2022, 5, 30, 10, 0, 14, 498018, tzinfo=UTC)
    assert len(result.offers) == 11
    offer = result.offers[0]
    assert offer.id == "off_0000AJySzfAebZOfc24O4e"
    assert offer.mode == "LIVE"
    assert offer.total_amount == Decimal("80.99")
    assert offer.total_currency == "GBP"
    assert offer.base_amount == Decimal("38.83")
    assert offer.tax_amount == Decimal("42.16")
    assert (offer.owner.iata_code, offer.owner.name) == ("BA", "British Airways")
    assert offer.expires_at == datetime(2022, 5, 30, 10, 15, 15, 522963, tzinfo=UTC)
    [journey] = offer.slices
    assert (journey.origin.iata_code, journey.destination.iata_code) == ("LHR", "STR")
    assert journey.duration_minutes == 100
    assert journey.stops == 0
    [segment] = journey.segments
    assert segment.id == "seg_0000AJySzfAebZOfc24O4h"
    assert segment.departing_at == datetime(2022, 6, 15, 17, 40, tzinfo=LONDON_SUMMER)
    assert segment.departing_at.isoformat() == "2022-06-15T17:40:00+01:00"
    assert segment.departing_at.utcoffset() == timedelta(hours=1)
    assert segment.arriving_at.isoformat() == "2022-06-15T20:20:00+02:00"
    assert segment.arriving_at.utcoffset() == timedelta(hours=2)
    assert segment.arriving_at - segment.departing_at == timedelta(minutes=100)
    assert segment.duration_minutes == 100
    assert segment.flight_number == "BA0920"
    assert segment.marketing_carrier.iata_code == "BA"
    assert (segment.operating_carrier.iata_code, segment.operating_carrier.name) == (
        "BA",
        "British Airways",
    )
    assert segment.aircraft == "Airbus A319"
    assert segment.origin.name == "Heathrow Airport"
    assert segment.origin.city_name == "London"
    assert segment.origin.country_code == "GB"
    assert segment.origin.time_zone == "Europe/London"
    assert segment.destination.time_zone == "Europe/Berlin"
    # Duffel wrote null for both: unknown, so not promised to the traveller.
    assert offer.conditions.refundable is False
    assert offer.conditions.changeable is False
    assert offer.conditions.refund_penalty is None
    assert offer.requires_instant_payment is True
    assert offer.payment_required_by is None
    assert offer.price_guarantee_expires_at is None
    [passenger] = offer.passengers
    assert (passenger.id, passenger.type, passenger.age) == (
        "pas_0000AJySzYPdjSE0eU1kxd",
        "adult",
        None,
    )


async def test_search_maps_penalties_and_hold_terms_of_the_duffel_airways_offer(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    duffel_api.post("/air/offer_requests").respond(201, json=_offer_request())

    offer = (await client.search(_lhr_to_str())).offers[-1]

    assert offer.owner.name == "Duffel Airways"
    assert offer.conditions.refundable is False
    assert offer.conditions.changeable is True
    assert offer.conditions.change_penalty is not None
    assert offer.conditions.change_penalty.amount == Decimal("30.00")
    assert offer.conditions.change_penalty.currency == "GBP"
    assert offer.requires_instant_payment is False
    assert offer.payment_required_by == datetime(2022, 6, 2, 10, 0, 14, tzinfo=UTC)
    assert offer.price_guarantee_expires_at == datetime(2022, 6, 1, 10, 0, 14, tzinfo=UTC)
    segment = offer.slices[0].segments[0]
    # An overnight arrival keeps the destination's own date and offset.
    assert segment.arriving_at == datetime(2022, 6, 16, 0, 43, tzinfo=BERLIN_SUMMER)
    assert segment.flight_number == "ZZ5619"
    # Duffel's stated duration is kept as given.
    assert segment.duration_minutes == 103


async def test_search_sends_duffel_headers_body_and_supplier_timeout(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/offer_requests").respond(201, json=_offer_request())
    request = SearchRequest(
        slices=[
            SliceRequest(origin="LHR", destination="STR", departure_date=date(2022, 6, 15)),
            SliceRequest(origin="STR", destination="LHR", departure_date=date(2022, 6, 22)),
        ],
        passengers=[
            PassengerRequest(type="adult"),
            PassengerRequest(type="child", age=5),
            PassengerRequest(type="infant_without_seat", age=1),
        ],
        cabin_class="business",
        max_connections=1,
    )

    await client.search(request)

    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["duffel-version"] == "v2"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["accept-encoding"] == "gzip"
    assert sent.headers["content-type"] == "application/json"
    assert sent.url.params["return_offers"] == "true"
    assert sent.url.params["supplier_timeout"] == "20000"
    assert _sent_body(route) == {
        "data": {
            "slices": [
                {"origin": "LHR", "destination": "STR", "departure_date": "2022-06-15"},
                {"origin": "STR", "destination": "LHR", "departure_date": "2022-06-22"},
            ],
            "passengers": [{"type": "adult"}, {"age": 5}, {"type": "infant_without_seat"}],
            "cabin_class": "business",
            "max_connections": 1,
        }
    }
    # The HTTP timeout outlasts Duffel's supplier timeout by the margin.
    assert sent.extensions["timeout"]["read"] == 30.0


async def test_passengers_searched_by_age_come_back_as_children_and_infants(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = _offer_request()
    body["data"]["offers"][0]["passengers"] = [
        {"id": "pas_adult", "type": "adult", "age": None},
        {"id": "pas_child", "type": None, "age": 5},
        {"id": "pas_infant", "type": None, "age": 1},
    ]
    duffel_api.post("/air/offer_requests").respond(201, json=body)

    offer = (await client.search(_lhr_to_str())).offers[0]

    assert [(p.id, p.type, p.age) for p in offer.passengers] == [
        ("pas_adult", "adult", None),
        ("pas_child", "child", 5),
        ("pas_infant", "infant_without_seat", 1),
    ]


async def test_durations_missing_from_duffel_come_from_the_local_times(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = _offer_request()
    first = body["data"]["offers"][0]["slices"][0]
    first["duration"] = None
    first["segments"][0].pop("duration")
    duffel_api.post("/air/offer_requests").respond(201, json=body)

    journey = (await client.search(_lhr_to_str())).offers[0].slices[0]

    assert journey.segments[0].duration_minutes == 100
    assert journey.duration_minutes == 100


async def test_an_offer_duffel_describes_oddly_is_skipped_not_the_search(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = _offer_request()
    del body["data"]["offers"][0]["total_amount"]
    duffel_api.post("/air/offer_requests").respond(201, json=body)

    result = await client.search(_lhr_to_str())

    assert len(result.offers) == 10
    assert "off_0000AJySzfAebZOfc24O4e" not in {o.id for o in result.offers}


async def test_search_where_no_offer_can_be_read_is_an_upstream_error(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = _offer_request()
    for offer in body["data"]["offers"]:
        offer["slices"] = "not a list"
    duffel_api.post("/air/offer_requests").respond(
        201, json=body, headers={"x-request-id": "req-odd"}
    )

    with pytest.raises(UpstreamError) as caught:
        await client.search(_lhr_to_str())

    assert caught.value.request_id == "req-odd"


# --- Offers and places ------------------------------------------------------------------------


async def test_refreshed_offer_carries_the_price_duffel_answers_now(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = upstream_fixture("duffel_offer_response.json")
    body["data"]["total_amount"] = "612.40"
    body["data"]["expires_at"] = "2031-05-23T10:17:10.783806Z"
    route = duffel_api.get("/air/offers/off_0000AJjwEHhflaMRlEm9NA").respond(200, json=body)

    offer = await client.get_offer("off_0000AJjwEHhflaMRlEm9NA")

    assert (offer.total_amount, offer.total_currency) == (Decimal("612.40"), "GBP")
    assert offer.expires_at == datetime(2031, 5, 23, 10, 17, 10, 783806, tzinfo=UTC)
    assert offer.requires_instant_payment is False
    assert offer.payment_required_by == datetime(2022, 5, 26, 9, 47, 10, tzinfo=UTC)
    assert offer.conditions.refundable is False
    assert offer.slices[0].segments[0].flight_number == "ZZ3394"
    assert offer.slices[0].segments[0].departing_at.utcoffset() == timedelta(hours=1)
    assert route.calls.last.request.extensions["timeout"]["read"] == 15.0


async def test_gone_offer_is_offer_unavailable_without_retrying(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.get("/air/offers/off_gone").mock(
        return_value=_error(
            422, "offer_no_longer_available", "Requested offer is no longer available"
        )
    )

    with pytest.raises(OfferUnavailable) as caught:
        await client.get_offer("off_gone")

    assert caught.value.request_id == "req-offer_no_longer_available"
    assert route.call_count == 1


async def test_unknown_offer_404_is_offer_unavailable(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    duffel_api.get("/air/offers/off_unknown").mock(
        return_value=_error(404, "not_found", "Not found", error_type="invalid_request_error")
    )

    with pytest.raises(OfferUnavailable):
        await client.get_offer("off_unknown")


async def test_an_id_that_could_reshape_the_url_never_reaches_duffel(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    with pytest.raises(OfferUnavailable):
        await client.get_offer("../orders")

    assert len(duffel_api.calls) == 0


async def test_place_suggestions_map_airports_and_cities(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = upstream_fixture("duffel_places_suggestions_response.json")
    body["data"].append(body["data"][0]["city"])
    route = duffel_api.get("/places/suggestions").respond(200, json=body)

    heathrow, london = await client.suggest_places("heathrow")

    assert route.calls.last.request.url.params["query"] == "heathrow"
    assert heathrow.iata_code == "LHR"
    assert heathrow.name == "Heathrow"
    assert heathrow.type == "airport"
    assert heathrow.city_name == "London"
    assert heathrow.country_code == "GB"
    assert heathrow.time_zone == "Europe/London"
    assert (heathrow.latitude, heathrow.longitude) == (64.068865, -141.951519)
    assert (london.iata_code, london.type, london.city_name) == ("LON", "city", "London")


# --- Failures ---------------------------------------------------------------------------------


async def test_validation_error_is_rejected_naming_the_field(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = {
        "errors": [
            {
                "type": "validation_error",
                "code": "validation_required",
                "title": "Required field",
                "message": "Field 'slices' can't be blank",
                "source": {"field": "slices", "pointer": "/slices"},
            }
        ],
        "meta": {"request_id": "FvLtoRUrrHYgW9gAzMvB", "status": 422},
    }
    route = duffel_api.post("/air/offer_requests").respond(422, json=body)

    with pytest.raises(UpstreamRejected) as caught:
        await client.search(_lhr_to_str())

    assert caught.value.field == "slices"
    assert caught.value.detail == "Field 'slices' can't be blank"
    assert caught.value.request_id == "FvLtoRUrrHYgW9gAzMvB"
    assert route.call_count == 1


async def test_validation_error_with_only_a_pointer_names_the_field_path(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = {
        "errors": [
            {
                "type": "validation_error",
                "code": "invalid_value",
                "title": "Invalid value",
                "message": "origin is not a valid IATA code",
                "source": {"pointer": "/slices/0/origin"},
            }
        ],
        "meta": {"request_id": "req-pointer"},
    }
    duffel_api.post("/air/offer_requests").respond(422, json=body)

    with pytest.raises(UpstreamRejected) as caught:
        await client.search(_lhr_to_str())

    assert caught.value.field == "slices.0.origin"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("ratelimit-reset", email.utils.formatdate(NOW + 2, usegmt=True)),
        ("ratelimit-reset", str(int(NOW + 2))),
        ("retry-after", "2"),
    ],
    ids=["http-date", "unix-time", "retry-after"],
)
async def test_rate_limited_search_waits_for_the_reset_then_succeeds(
    duffel_api: respx.MockRouter,
    client: DuffelClient,
    sleeps: RecordedSleeps,
    header: str,
    value: str,
) -> None:
    limited = _error(429, "rate_limit_exceeded", "Rate limit exceeded", "rate_limit_error")
    limited.headers.update({"ratelimit-limit": "60", "ratelimit-remaining": "0", header: value})
    route = duffel_api.post("/air/offer_requests").mock(
        side_effect=[limited, httpx.Response(201, json=_offer_request())]
    )

    result = await client.search(_lhr_to_str())

    assert len(result.offers) == 11
    assert route.call_count == 2
    assert sleeps.waits == [2.0]
    assert all(wait <= MAX_WAIT for wait in sleeps.waits)


async def test_rate_limit_resetting_later_than_the_cap_fails_fast(
    duffel_api: respx.MockRouter, client: DuffelClient, sleeps: RecordedSleeps
) -> None:
    limited = _error(429, "rate_limit_exceeded", "Rate limit exceeded", "rate_limit_error")
    limited.headers["ratelimit-reset"] = email.utils.formatdate(NOW + 60, usegmt=True)
    route = duffel_api.get("/air/offers/off_1").mock(return_value=limited)

    with pytest.raises(UpstreamUnavailable) as caught:
        await client.get_offer("off_1")

    assert caught.value.request_id == "req-rate_limit_exceeded"
    assert route.call_count == 1
    assert sleeps.waits == []


async def test_rate_limit_that_persists_gives_up_after_the_retries(
    duffel_api: respx.MockRouter, client: DuffelClient, sleeps: RecordedSleeps
) -> None:
    route = duffel_api.get("/places/suggestions").mock(
        return_value=_error(429, "rate_limit_exceeded", "Rate limit exceeded", "rate_limit_error")
    )

    with pytest.raises(UpstreamUnavailable):
        await client.suggest_places("lon")

    assert route.call_count == MAX_RETRIES + 1
    assert len(sleeps.waits) == MAX_RETRIES


async def test_timeout_on_a_read_is_retried_then_unavailable(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.get("/air/offers/off_slow").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(UpstreamUnavailable) as caught:
        await client.get_offer("off_slow")

    assert route.call_count == MAX_RETRIES + 1
    assert "timed out" in caught.value.detail


async def test_timeout_creating_an_order_is_not_retried(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/orders").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(UpstreamUnavailable):
        await client.create_order(
            offer_id="off_1",
            passengers=[_passenger()],
            amount=Decimal("140.07"),
            currency="GBP",
            order_type="instant",
            correlation_id="bkg-42",
        )

    assert route.call_count == 1


async def test_server_error_creating_an_order_is_not_retried(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/orders").respond(
        500, json=upstream_fixture("duffel_error_offer_expired.json")
    )

    with pytest.raises(UpstreamUnavailable) as caught:
        await client.create_order(
            offer_id="off_1",
            passengers=[_passenger()],
            amount=Decimal("140.07"),
            currency="GBP",
            order_type="instant",
            correlation_id="bkg-42",
        )

    assert caught.value.request_id == RECORDED_500_REQUEST_ID
    assert route.call_count == 1


async def test_order_whose_connection_never_opened_is_sent_again(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/orders").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(201, json=upstream_fixture("duffel_order_response.json")),
        ]
    )

    order = await client.create_order(
        offer_id="off_1",
        passengers=[_passenger()],
        amount=Decimal("140.07"),
        currency="GBP",
        order_type="instant",
        correlation_id="bkg-42",
    )

    assert order.booking_reference == "VP7ZA6"
    assert route.call_count == 2


async def test_search_timeout_after_sending_is_not_repeated(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/offer_requests").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(UpstreamUnavailable):
        await client.search(_lhr_to_str())

    assert route.call_count == 1


async def test_recorded_airline_500_is_unavailable_keeping_duffels_request_id(
    duffel_api: respx.MockRouter, client: DuffelClient, caplog: pytest.LogCaptureFixture
) -> None:
    duffel_api.get("/air/offers/off_1").respond(
        500, json=upstream_fixture("duffel_error_offer_expired.json")
    )

    with (
        caplog.at_level(logging.WARNING, logger="sureflights.duffel"),
        pytest.raises(UpstreamUnavailable) as caught,
    ):
        await client.get_offer("off_1")

    assert caught.value.request_id == RECORDED_500_REQUEST_ID
    assert "airline_internal" in caught.value.detail
    assert caplog.records
    assert {getattr(r, "duffel_request_id", None) for r in caplog.records} == {
        RECORDED_500_REQUEST_ID
    }


async def test_request_id_header_is_kept_when_the_body_has_none(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    duffel_api.get("/air/offers/off_1").respond(
        502, text="<html>Bad gateway</html>", headers={"x-request-id": "Fs1fZ-header"}
    )

    with pytest.raises(UpstreamUnavailable) as caught:
        await client.get_offer("off_1")

    assert caught.value.request_id == "Fs1fZ-header"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("offer_no_longer_available", OfferUnavailable),
        ("offer_expired", OfferUnavailable),
        ("price_changed", OfferPriceChanged),
    ],
)
async def test_airline_refusing_the_offer_at_booking(
    duffel_api: respx.MockRouter,
    client: DuffelClient,
    code: str,
    expected: type[OfferUnavailable],
) -> None:
    duffel_api.post("/air/orders").mock(return_value=_error(422, code, "Offer refused"))

    with pytest.raises(expected) as caught:
        await client.create_order(
            offer_id="off_1",
            passengers=[_passenger()],
            amount=Decimal("140.07"),
            currency="GBP",
            order_type="instant",
            correlation_id="bkg-42",
        )

    assert caught.value.request_id == f"req-{code}"


async def test_malformed_success_body_is_an_upstream_error(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    duffel_api.get("/air/offers/off_1").respond(
        200, json={"data": {"id": "off_1"}}, headers={"x-request-id": "req-partial"}
    )
    duffel_api.get("/air/offers/off_2").respond(200, text="<html>maintenance</html>")

    with pytest.raises(UpstreamError) as partial:
        await client.get_offer("off_1")
    with pytest.raises(UpstreamError):
        await client.get_offer("off_2")

    assert partial.value.request_id == "req-partial"


async def test_rejected_credentials_never_show_the_token(
    duffel_api: respx.MockRouter, client: DuffelClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = {
        "errors": [
            {
                "type": "authentication_error",
                "code": "access_token_not_found",
                "title": "Access token not found",
                "message": f"The access token {TOKEN} is not recognised",
            }
        ],
        "meta": {"request_id": "req-auth"},
    }
    route = duffel_api.get("/air/offers/off_1").respond(401, json=body)

    with caplog.at_level(logging.DEBUG), pytest.raises(UpstreamError) as caught:
        await client.get_offer("off_1")

    assert "credentials rejected" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.request_id == "req-auth"
    assert TOKEN not in caplog.text
    assert route.call_count == 1


def test_client_needs_a_token_and_never_shows_it() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(ValueError, match="token"):
        DuffelClient(http, base_url=BASE, access_token=" ")

    client = DuffelClient(http, base_url=BASE, access_token=TOKEN)

    assert TOKEN not in repr(client)


def test_supplier_timeout_outside_duffels_range_is_refused() -> None:
    with pytest.raises(ValueError, match="supplier_timeout_ms"):
        DuffelClient(httpx.AsyncClient(), base_url=BASE, access_token=TOKEN, supplier_timeout_ms=1)


# --- Orders, payments, cancellations ----------------------------------------------------------


async def test_instant_order_sends_travellers_payment_and_correlation_id(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/orders").respond(
        201, json=upstream_fixture("duffel_order_response.json")
    )

    order = await client.create_order(
        offer_id="off_0000AG87DQ5m9pZd6mCS6U",
        passengers=[_passenger()],
        amount=Decimal("140.07"),
        currency="GBP",
        order_type="instant",
        correlation_id="bkg-42",
    )

    sent = route.calls.last.request
    assert sent.headers["x-client-correlation-id"] == "bkg-42"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert _sent_body(route) == {
        "data": {
            "type": "instant",
            "selected_offers": ["off_0000AG87DQ5m9pZd6mCS6U"],
            "passengers": [
                {
                    "id": "pas_0000AG87DQEwLRyslZvsCw",
                    "title": "mr",
                    "given_name": "John",
                    "family_name": "Doe",
                    "gender": "m",
                    "born_on": "2000-01-01",
                    "email": "john.doe@example.com",
                    "phone_number": "+442080160509",
                }
            ],
            "payments": [{"type": "balance", "amount": "140.07", "currency": "GBP"}],
            "metadata": {CORRELATION_METADATA_KEY: "bkg-42"},
        }
    }
    assert order.id == "ord_0000AG87FQKfWStMuUgRbE"
    assert order.booking_reference == "VP7ZA6"
    assert order.total_amount == Decimal("140.07")
    assert order.total_currency == "GBP"
    assert order.payment_status.awaiting_payment is False
    assert order.created_at == datetime(2022, 2, 4, 10, 15, 18, 455878, tzinfo=UTC)
    assert order.cancelled_at is None
    [traveller] = order.passengers
    assert (traveller.id, traveller.type, traveller.given_name, traveller.family_name) == (
        "pas_0000AG87DQEwLRyslZvsCw",
        "adult",
        "DOE",
        "JOHN",
    )
    segment = order.slices[0].segments[0]
    # March: London on GMT, Frankfurt on CET.
    assert segment.departing_at.isoformat() == "2022-03-06T06:30:00+00:00"
    assert segment.arriving_at.isoformat() == "2022-03-06T09:05:00+01:00"
    assert segment.flight_number == "LH0921"
    assert segment.aircraft == "Airbus A320neo"
    assert order.slices[0].duration_minutes == 95


async def test_hold_order_is_created_without_payment(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    body = upstream_fixture("duffel_order_response.json")
    body["data"]["payment_status"] = {
        "awaiting_payment": True,
        "payment_required_by": "2031-02-06T10:15:18Z",
        "price_guarantee_expires_at": "2031-02-05T10:15:18Z",
    }
    body["data"]["metadata"] = {CORRELATION_METADATA_KEY: "bkg-43"}
    route = duffel_api.post("/air/orders").respond(201, json=body)

    order = await client.create_order(
        offer_id="off_1",
        passengers=[_passenger().model_dump()],
        amount=Decimal("140.07"),
        currency="GBP",
        order_type="hold",
        correlation_id="bkg-43",
    )

    sent = _sent_body(route)["data"]
    assert sent["type"] == "hold"
    assert "payments" not in sent
    assert order.payment_status.awaiting_payment is True
    assert order.payment_status.payment_required_by == datetime(2031, 2, 6, 10, 15, 18, tzinfo=UTC)
    assert order.correlation_id == "bkg-43"


async def test_paying_a_hold_order_pays_from_the_balance(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    # Shaped as the example on Duffel's payments reference.
    payment = {
        "id": "pay_00009hthhsUZ8W4LxQgkjo",
        "order_id": "ord_0000AG87FQKfWStMuUgRbE",
        "type": "balance",
        "amount": "140.07",
        "currency": "GBP",
        "status": "succeeded",
        "created_at": "2022-02-04T11:00:00.000Z",
        "live_mode": False,
    }
    route = duffel_api.post("/air/payments").respond(201, json={"data": payment})

    paid = await client.pay_order("ord_0000AG87FQKfWStMuUgRbE", Decimal("140.07"), "gbp")

    assert _sent_body(route) == {
        "data": {
            "order_id": "ord_0000AG87FQKfWStMuUgRbE",
            "payment": {"type": "balance", "amount": "140.07", "currency": "GBP"},
        }
    }
    assert (paid.id, paid.amount, paid.currency, paid.status) == (
        "pay_00009hthhsUZ8W4LxQgkjo",
        Decimal("140.07"),
        "GBP",
        "succeeded",
    )


async def test_orders_are_found_by_booking_reference_for_reconciliation(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    order = upstream_fixture("duffel_order_response.json")["data"]
    route = duffel_api.get("/air/orders").respond(
        200, json={"data": [order], "meta": {"after": "g2wAAAACbQAAABBBZXJvbWlzZS1t", "limit": 50}}
    )

    page = await client.list_orders(
        booking_reference="vp7za6", awaiting_payment=False, passenger_names=["Doe"]
    )

    params = route.calls.last.request.url.params
    assert params["booking_reference"] == "VP7ZA6"
    assert params["awaiting_payment"] == "false"
    assert params.get_list("passenger_name[]") == ["Doe"]
    assert [o.booking_reference for o in page.orders] == ["VP7ZA6"]
    assert page.after == "g2wAAAACbQAAABBBZXJvbWlzZS1t"


async def test_get_order_reads_the_order(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    duffel_api.get("/air/orders/ord_0000AG87FQKfWStMuUgRbE").respond(
        200, json=upstream_fixture("duffel_order_response.json")
    )

    order = await client.get_order("ord_0000AG87FQKfWStMuUgRbE")

    assert order.booking_reference == "VP7ZA6"


async def test_cancellation_is_quoted_then_confirmed(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    confirmed = upstream_fixture("duffel_order_cancellation_response.json")
    quoted = copy.deepcopy(confirmed)
    quoted["data"]["confirmed_at"] = None  # a fresh quote is not confirmed yet
    create = duffel_api.post("/air/order_cancellations").respond(201, json=quoted)
    confirm = duffel_api.post(
        "/air/order_cancellations/ore_00009qzZWzjDipIkqpaUAj/actions/confirm"
    ).respond(200, json=confirmed)

    quote = await client.create_order_cancellation("ord_00009hthhsUZ8W4LxQgkjo")
    done = await client.confirm_order_cancellation(quote.id)

    assert _sent_body(create) == {"data": {"order_id": "ord_00009hthhsUZ8W4LxQgkjo"}}
    assert quote.id == "ore_00009qzZWzjDipIkqpaUAj"
    assert quote.refund_amount == Decimal("90.80")
    assert quote.refund_currency == "GBP"
    assert quote.expires_at == datetime(2020, 4, 12, 10, 42, 14, tzinfo=UTC)
    assert quote.confirmed_at is None
    assert confirm.call_count == 1
    assert done.confirmed_at == datetime(2020, 1, 17, 11, 51, 43, 114803, tzinfo=UTC)


async def test_confirming_a_cancellation_is_not_repeated_after_a_timeout(
    duffel_api: respx.MockRouter, client: DuffelClient
) -> None:
    route = duffel_api.post("/air/order_cancellations/ore_1/actions/confirm").mock(
        side_effect=httpx.ReadTimeout("slow")
    )

    with pytest.raises(UpstreamUnavailable):
        await client.confirm_order_cancellation("ore_1")

    assert route.call_count == 1


# --- Pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("PT1H45M", 105),
        ("PT45M", 45),
        ("PT2H", 120),
        ("P1DT2H", 1560),
        ("P1D", 1440),
        ("PT1H40M30S", 101),
        ("P", None),
        ("PT", None),
        ("P1M", None),
        ("1H45M", None),
        ("", None),
        (None, None),
    ],
)
def test_iso_8601_durations_in_minutes(text: str | None, minutes: int | None) -> None:
    assert duration_minutes(text) == minutes


@pytest.mark.parametrize(
    ("carrier", "number", "designator"),
    [
        ("BA", "918", "BA0918"),
        ("BA", "0918", "BA0918"),
        ("LH", "1234", "LH1234"),
        ("U2", "12A", "U20012A"),
    ],
)
def test_flight_numbers_are_padded_to_four_digits(
    carrier: str, number: str, designator: str
) -> None:
    assert flight_number(carrier, number) == designator
