"""Booking on WhatsApp end to end: signed webhooks in, Cloud API calls out (captured by respx),
from a greeting to the unprompted confirmation, on the sandbox upstreams."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import upstream_fixture
from tests.support.meta import (
    APP_SECRET,
    OTHER,
    PHONE_NUMBER_ID,
    TRAVELLER,
    WhatsApp,
    rows_of,
    running_whatsapp,
    text_of,
)


@pytest.fixture
async def whatsapp(make_settings: Callable[..., Settings]) -> AsyncIterator[WhatsApp]:
    async with running_whatsapp(make_settings) as meta:
        yield meta


def in_days(n: int) -> str:
    day = datetime.now(ZoneInfo("Africa/Lagos")).date() + timedelta(days=n)
    return day.strftime("%d %b")


async def test_from_greeting_to_confirmation(whatsapp: WhatsApp) -> None:
    hello = await whatsapp.say("hi")
    assert hello and "search" in text_of(hello[-1]).lower()

    listed = await whatsapp.say(f"Flight from Lagos to Abuja on {in_days(10)}")
    options = listed[-1]
    assert options["type"] == "interactive"
    assert options["interactive"]["type"] == "list"
    rows = rows_of(options)
    assert rows[0]["title"].startswith("1. ₦")

    chosen = await whatsapp.tap(rows[0]["id"], rows[0]["title"], listed=True)
    assert "passenger 1 of 1" in text_of(chosen[-1])

    review = await whatsapp.say(
        "Name: John Doe, Email: john@example.com, Phone: 08012345678, DOB: 15/01/1990, Mr"
    )
    summary = review[-1]
    assert summary["interactive"]["type"] == "button"
    assert "John Doe" in text_of(summary)
    titles = [b["reply"]["title"] for b in summary["interactive"]["action"]["buttons"]]
    assert titles == ["Confirm", "Edit", "Cancel"]

    edited = await whatsapp.say("email is jd@x.com")
    assert "jd@x.com" in text_of(edited[-1])

    booked = await whatsapp.tap("confirm", "Confirm", listed=False)
    link = re.search(r"(http://\S+/sandbox/checkout/(\S+))", text_of(booked[-1]))
    assert link, text_of(booked[-1])
    reference = re.search(r"Booking (SF[A-Z0-9]{6})", text_of(booked[-1]))
    assert reference

    paid = await whatsapp.http.post(f"/sandbox/checkout/{link.group(2)}/pay")
    assert paid.status_code == 200
    confirmation = await whatsapp.wait_for(r"confirmed")
    assert reference.group(1) in text_of(confirmation)
    assert re.search(r"Airline reference: [A-Z0-9]{6}", text_of(confirmation))

    status = await whatsapp.say(f"status {reference.group(1)}")
    assert "confirmed" in text_of(status[-1])


async def test_duplicate_delivery_is_answered_once(whatsapp: WhatsApp) -> None:
    first = await whatsapp.say("hi", message_id="wamid.same-message-twice")
    again = await whatsapp.say("hi", message_id="wamid.same-message-twice")
    assert first
    assert again == []
    # Marked read once, when it was handled.
    assert whatsapp.read == ["wamid.same-message-twice"]


async def test_two_travellers_interleaved_keep_their_own_state(whatsapp: WhatsApp) -> None:
    mine = await whatsapp.say(f"lagos to abuja {in_days(8)}")
    theirs = await whatsapp.say(f"PH to Kano {in_days(9)}", wa_id=OTHER)
    assert "Abuja" in text_of(mine[-1]) or "ABV" in text_of(mine[-1])
    assert "Kano" in text_of(theirs[-1]) or "KAN" in text_of(theirs[-1])
    picked = await whatsapp.say("1")
    assert "passenger" in text_of(picked[-1])
    other_pick = await whatsapp.say("2", wa_id=OTHER)
    assert "passenger" in text_of(other_pick[-1])


async def test_a_missing_detail_is_asked_for_exactly(whatsapp: WhatsApp) -> None:
    asked = await whatsapp.say("I want to fly to Abuja")
    assert "from" in text_of(asked[-1]).lower()
    asked_date = await whatsapp.say("from Lagos")
    assert "date" in text_of(asked_date[-1]).lower()


async def test_session_expiry_starts_afresh(whatsapp: WhatsApp) -> None:
    await whatsapp.say(f"lagos to abuja {in_days(8)}")
    await whatsapp.app.state.services.shared.sessions.delete(f"wa:{TRAVELLER}")
    answer = await whatsapp.say("1")
    assert "didn't get that" in text_of(answer[0]) or "search" in text_of(answer[-1]).lower()


async def test_unsupported_messages_and_nonsense_get_a_helpful_answer(
    whatsapp: WhatsApp,
) -> None:
    payload = copy.deepcopy(upstream_fixture("whatsapp_webhook_text.json"))
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "image"
    message["image"] = {"id": "1234", "mime_type": "image/jpeg"}
    message["from"] = TRAVELLER
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = TRAVELLER
    answer = await whatsapp._answered(payload, TRAVELLER)
    assert "text" in text_of(answer[0]).lower()
    nonsense = await whatsapp.say("purple monkey dishwasher")
    assert "Lagos to Abuja" in text_of(nonsense[-1])


async def test_cancel_at_a_step_and_help(whatsapp: WhatsApp) -> None:
    await whatsapp.say(f"lagos to abuja {in_days(8)}")
    cancelled = await whatsapp.say("cancel")
    assert "cancelled" in text_of(cancelled[-1]).lower()
    helped = await whatsapp.say("help")
    assert "status" in text_of(helped[-1]).lower()


async def test_the_traveller_hears_back_even_when_the_session_store_is_down(
    make_settings: Callable[..., Settings],
) -> None:
    # Nothing listens on this port: the configured Redis (sessions) is down.
    settings = make_settings(
        whatsapp_access_token="EAAG-placeholder-token",
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=APP_SECRET,
        redis_url="redis://127.0.0.1:6390/0",
    )
    app = create_app(settings)
    with respx.mock(assert_all_called=False) as router:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                whatsapp = WhatsApp(app, http, router, settings.whatsapp_api_url)
                answer = await whatsapp.say("hi")
    assert len(answer) == 1
    assert "something went wrong" in text_of(answer[0]).lower()
