"""The assistant's newer ways through the real webhook path: a request for a person that operators
list, the typing indicator while a search runs, the payment link as a button, travellers known by
their business-scoped user id, and what a traveller hears about their bookings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from graphql_api.settings import Settings
from resolvers.auth import issue_admin_token
from tests.support.helpers import graphql
from tests.support.meta import (
    SUPPORT_CONTACT,
    TRAVELLER,
    WhatsApp,
    choices_of,
    running_whatsapp,
    text_of,
)

SECRET_KEY = "a-test-secret-key-that-is-long-enough-for-tokens"
HANDOFFS = "{ handoffRequests { phone profileName message reason state requestedAt } }"
USER_ID = "NG.1502576394655843"
DETAILS = "Name: Ada Eze, Email: ada@example.com, Phone: 08031234567, DOB: 04/03/1992, Ms"


@pytest.fixture
async def whatsapp(make_settings: Callable[..., Settings]) -> AsyncIterator[WhatsApp]:
    async with running_whatsapp(
        make_settings, support_contact=SUPPORT_CONTACT, secret_key=SECRET_KEY
    ) as meta:
        yield meta


def admin() -> dict[str, str]:
    token = issue_admin_token(SECRET_KEY, now=datetime.now(UTC))[0]
    return {"Authorization": f"Bearer {token}"}


async def test_a_request_for_a_person_is_listed_for_operators_only(whatsapp: WhatsApp) -> None:
    answer = await whatsapp.say("abeg connect me to customer care")
    assert SUPPORT_CONTACT in text_of(answer[-1])

    listed = (await graphql(whatsapp.http, HANDOFFS, headers=admin())).json()
    (request,) = listed["data"]["handoffRequests"]
    assert request["phone"] == TRAVELLER
    assert request["profileName"] == "Sheena Nelson"
    assert request["message"] == "abeg connect me to customer care"
    assert request["reason"] == "asked"

    anonymous = (await graphql(whatsapp.http, HANDOFFS)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_no_booking_offers_a_person_and_the_button_asks_for_one(whatsapp: WhatsApp) -> None:
    answer = await whatsapp.say("I never receive my ticket")
    (button,) = choices_of(answer[-1])
    assert "find a booking" in text_of(answer[-1])
    await whatsapp.tap(button[0], button[1], listed=False)
    listed = (await graphql(whatsapp.http, HANDOFFS, headers=admin())).json()
    assert [r["phone"] for r in listed["data"]["handoffRequests"]] == [TRAVELLER]


async def test_typing_shows_while_a_search_runs_and_not_for_a_greeting(whatsapp: WhatsApp) -> None:
    await whatsapp.say("hello", message_id="wamid.greeting")
    await whatsapp.say("Lagos to Abuja tomorrow", message_id="wamid.search")
    assert whatsapp.read == ["wamid.greeting", "wamid.search"]
    assert whatsapp.typing == ["wamid.search"]


async def test_a_traveller_known_only_by_user_id_is_answered_and_keeps_the_conversation(
    whatsapp: WhatsApp,
) -> None:
    # First with the number and the business-scoped user id, then with the user id alone.
    await whatsapp.say("I wan go Abuja tomorrow", user_id=USER_ID)
    answer = await whatsapp.say("from Lagos", wa_id=None, user_id=USER_ID)
    assert answer == []  # answered on the number known for that user id
    replies = [m for m in whatsapp.sent if m.get("to") == TRAVELLER]
    assert "Lagos → Abuja" in text_of(replies[-1])


async def test_a_stranger_known_only_by_user_id_is_answered_at_that_id(whatsapp: WhatsApp) -> None:
    answer = await whatsapp.say("hi", wa_id=None, user_id="GB.88812345")
    assert answer
    assert all(m["recipient"] == "GB.88812345" and "to" not in m for m in answer)


async def test_booked_on_whatsapp_the_payment_link_is_a_button_and_status_is_told(
    whatsapp: WhatsApp,
) -> None:
    listed = await whatsapp.say("Lagos to Abuja in 10 days")
    rows = [c for c in choices_of(listed[-1])]
    await whatsapp.tap(rows[0][0], rows[0][1], listed=True)
    await whatsapp.say(DETAILS)
    booked = await whatsapp.tap("confirm", "Confirm", listed=False)
    link = booked[-1]
    assert link["interactive"]["type"] == "cta_url"
    assert link["interactive"]["action"]["parameters"]["display_text"] == "Pay now"
    reference = re.search(r"Booking (SF[A-Z0-9]{6})", text_of(link))
    assert reference

    worried = await whatsapp.say("I paid since yesterday and nothing")
    assert "waiting for payment" in text_of(worried[-1])
    assert reference.group(1) in text_of(worried[-1])

    checkout = re.search(r"/sandbox/checkout/(\S+)", text_of(link))
    assert checkout
    paid = await whatsapp.http.post(f"/sandbox/checkout/{checkout.group(1)}/pay")
    assert paid.status_code == 200
    await whatsapp.wait_for("confirmed")
    ticket = await whatsapp.say("I never receive my ticket")
    said = text_of(ticket[-1])
    assert "is confirmed" in said and "ada@example.com" in said
    assert not re.search(r"\b[A-Z]{3} → [A-Z]{3}\b", said)  # cities, not codes


async def test_a_refund_for_a_confirmed_booking_goes_to_a_person(whatsapp: WhatsApp) -> None:
    listed = await whatsapp.say("Lagos to Kano in 12 days")
    rows = choices_of(listed[-1])
    await whatsapp.tap(rows[0][0], rows[0][1], listed=True)
    await whatsapp.say(DETAILS)
    booked = await whatsapp.tap("confirm", "Confirm", listed=False)
    checkout = re.search(r"/sandbox/checkout/(\S+)", text_of(booked[-1]))
    assert checkout
    await whatsapp.http.post(f"/sandbox/checkout/{checkout.group(1)}/pay")
    await whatsapp.wait_for("confirmed")

    answer = await whatsapp.say("my flight was cancelled, I want refund")

    assert "asked our team" in text_of(answer[-1])
    listed_requests = (await graphql(whatsapp.http, HANDOFFS, headers=admin())).json()
    assert [r["reason"] for r in listed_requests["data"]["handoffRequests"]] == ["refund"]


async def test_handoff_listing_checks_its_page_size(whatsapp: WhatsApp) -> None:
    body = (
        await graphql(whatsapp.http, "{ handoffRequests(first: 0) { phone } }", headers=admin())
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_cloud_api_version_is_v26(whatsapp: WhatsApp) -> None:
    assert whatsapp.app.state.settings.whatsapp_api_url.endswith("/v26.0")


async def test_a_far_search_with_no_flights_says_airlines_may_not_have_loaded_it(
    whatsapp: WhatsApp,
) -> None:
    answer = await whatsapp.say("Lagos to Abuja in 340 days")
    assert "may not have loaded that schedule" in text_of(answer[-1])


async def test_an_error_reaches_the_traveller_in_words(whatsapp: WhatsApp) -> None:
    answer = await whatsapp.say("Lagos to Abuja in 380 days")
    said = text_of(answer[-1])
    assert "further ahead" in said
    assert not re.search(r"\d{4}-\d{2}-\d{2}|slices|departureDate", said)


async def test_a_baby_is_asked_for_and_ticketed_by_the_details_parents_write(
    whatsapp: WhatsApp,
) -> None:
    listed = await whatsapp.say("Lagos to Abuja in 15 days with my baby")
    assert "1 adult, 1 infant" in text_of(listed[-1])
    rows = choices_of(listed[-1])
    await whatsapp.tap(rows[0][0], rows[0][1], listed=True)
    asked = await whatsapp.say(DETAILS)
    assert "passenger 2 of 2 (infant)" in text_of(asked[-1])
    review = await whatsapp.say("Baby Aisha Ibrahim, 3/12/2025, female")
    said = text_of(review[-1])
    assert "Miss Aisha Ibrahim, born 03/12/2025" in said
