"""Booking on WhatsApp end to end: signed webhooks in, Cloud API calls out (captured by respx),
from a greeting to the unprompted confirmation, on the sandbox upstreams."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.helpers import upstream_fixture

APP_SECRET = "wa-app-secret-for-flow-tests"
PHONE_NUMBER_ID = "106540352242922"
GRAPH = "https://graph.facebook.com/v23.0"
TRAVELLER = "2348031234567"
OTHER = "2348059876543"


def check_meta_limits(body: dict[str, Any]) -> None:
    """Every message we send stays within the Cloud API's documented limits."""
    assert body["messaging_product"] == "whatsapp"
    kind = body["type"]
    if kind == "text":
        assert 0 < len(body["text"]["body"]) <= 4096
    elif kind == "interactive":
        interactive = body["interactive"]
        assert len(interactive["body"]["text"]) <= 1024
        if "header" in interactive:
            assert len(interactive["header"]["text"]) <= 60
        if interactive["type"] == "button":
            buttons = interactive["action"]["buttons"]
            assert 1 <= len(buttons) <= 3
            assert all(len(b["reply"]["title"]) <= 20 for b in buttons)
            assert len({b["reply"]["id"] for b in buttons}) == len(buttons)
        else:
            action = interactive["action"]
            assert len(action["button"]) <= 20
            rows = [r for s in action["sections"] for r in s["rows"]]
            assert 1 <= len(rows) <= 10
            assert all(len(r["title"]) <= 24 for r in rows)
            assert all(len(r.get("description", "")) <= 72 for r in rows)
            assert len({r["id"] for r in rows}) == len(rows)
    else:
        assert kind == "template"


class WhatsApp:
    """Meta on both sides: signed deliveries to our webhook, a Cloud API that records sends."""

    def __init__(self, app: Starlette, http: httpx.AsyncClient, router: respx.MockRouter):
        self.app = app
        self.http = http
        self.sent: list[dict[str, Any]] = []
        self.read: list[str] = []
        router.post(f"{GRAPH}/{PHONE_NUMBER_ID}/messages").mock(side_effect=self._sent)

    def _sent(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("status") == "read":
            self.read.append(body["message_id"])
        else:
            check_meta_limits(body)
            self.sent.append(body)
        return httpx.Response(200, json=upstream_fixture("whatsapp_send_message_response.json"))

    async def deliver(self, payload: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return await self.http.post(
            "/webhooks/whatsapp",
            content=raw,
            headers={"content-type": "application/json", "x-hub-signature-256": signature},
        )

    async def say(self, text: str, wa_id: str = TRAVELLER, message_id: str | None = None):
        payload = copy.deepcopy(upstream_fixture("whatsapp_webhook_text.json"))
        value = payload["entry"][0]["changes"][0]["value"]
        value["contacts"][0]["wa_id"] = wa_id
        message = value["messages"][0]
        message["from"] = wa_id
        message["id"] = message_id or f"wamid.{secrets.token_hex(12)}"
        message["timestamp"] = str(int(datetime.now(UTC).timestamp()))
        message["text"] = {"body": text}
        return await self._answered(payload, wa_id)

    async def tap(self, reply_id: str, title: str, wa_id: str = TRAVELLER, *, listed: bool):
        fixture = (
            "whatsapp_webhook_list_reply.json" if listed else "whatsapp_webhook_button_reply.json"
        )
        payload = copy.deepcopy(upstream_fixture(fixture))
        value = payload["entry"][0]["changes"][0]["value"]
        value["contacts"][0]["wa_id"] = wa_id
        message = value["messages"][0]
        message["from"] = wa_id
        message["id"] = f"wamid.{secrets.token_hex(12)}"
        message["timestamp"] = str(int(datetime.now(UTC).timestamp()))
        kind = "list_reply" if listed else "button_reply"
        message["interactive"] = {"type": kind, kind: {"id": reply_id, "title": title}}
        return await self._answered(payload, wa_id)

    async def _answered(self, payload: dict[str, Any], wa_id: str) -> list[dict[str, Any]]:
        before = len(self.sent)
        response = await self.deliver(payload)
        assert response.status_code == 200
        return [m for m in self.sent[before:] if m["to"] == wa_id]

    async def wait_for(self, pattern: str, wa_id: str = TRAVELLER) -> dict[str, Any]:
        for _ in range(100):
            for message in self.sent:
                if message["to"] == wa_id and re.search(pattern, text_of(message)):
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message matching {pattern!r}; sent: {self.sent}")


def text_of(message: dict[str, Any]) -> str:
    if message["type"] == "text":
        body: str = message["text"]["body"]
        return body
    if message["type"] == "interactive":
        return str(message["interactive"]["body"]["text"])
    return json.dumps(message["template"])


def rows_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for s in message["interactive"]["action"]["sections"] for r in s["rows"]]


@pytest.fixture
async def whatsapp(make_settings: Callable[..., Settings]) -> AsyncIterator[WhatsApp]:
    settings = make_settings(
        whatsapp_access_token="EAAG-placeholder-token",
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token="verify-me",
    )
    app = create_app(settings)
    with respx.mock(assert_all_called=False) as router:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield WhatsApp(app, http, router)


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
                whatsapp = WhatsApp(app, http, router)
                answer = await whatsapp.say("hi")
    assert len(answer) == 1
    assert "something went wrong" in text_of(answer[0]).lower()
