"""The Cloud API client against Meta's recorded send answer: request bodies as Meta documents
them, every limit enforced on oversize input, retries that never send a reply twice, failures."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from integrations.ports.errors import UpstreamError, UpstreamUnavailable
from integrations.ports.messaging import (
    Button,
    ButtonsMessage,
    LinkMessage,
    ListMessage,
    ListRow,
    ListSection,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)
from integrations.sandbox.whatsapp import RecordingSender
from integrations.whatsapp.client import WhatsAppClient, WhatsAppError, WhatsAppUnavailable
from integrations.whatsapp.inbound import signature_matches
from integrations.whatsapp.limits import fit_to_limits
from tests.support.helpers import FIXTURES, RecordedSleeps, unreachable, upstream_fixture

BASE = "https://graph.facebook.test/v23.0"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAJB-only-in-this-test-Zx9"
TRAVELLER = "2348031234567"
MAX_RETRIES = 2
SENT_ID = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"

# `openssl dgst -sha256 -hmac wa-app-secret-for-tests whatsapp_webhook_text.json`, computed
# outside this code base.
APP_SECRET = "wa-app-secret-for-tests"
RECORDED_TEXT_SIGNATURE = "90762285c9ca24cd86ac21dc004d225912f3b84e4478b0ff06aacd28e2a86772"


@pytest.fixture
def meta_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def messages_route(meta_api: respx.MockRouter) -> respx.Route:
    return meta_api.post(f"/{PHONE_NUMBER_ID}/messages")


@pytest.fixture
async def client(sleeps: RecordedSleeps) -> AsyncIterator[WhatsAppClient]:
    async with httpx.AsyncClient() as http:
        yield WhatsAppClient(
            http,
            base_url=BASE,
            phone_number_id=PHONE_NUMBER_ID,
            access_token=TOKEN,
            max_retries=MAX_RETRIES,
            backoff_seconds=0.5,
            sleep=sleeps,
        )


def _sent() -> httpx.Response:
    return httpx.Response(200, json=upstream_fixture("whatsapp_send_message_response.json"))


def _sent_with_id(message_id: str) -> httpx.Response:
    body = upstream_fixture("whatsapp_send_message_response.json")
    body["messages"][0]["id"] = message_id
    return httpx.Response(200, json=body)


def _graph_error(
    status: int, code: int, title: str, details: str, *, subcode: int | None = None
) -> httpx.Response:
    # The error shape of Meta's error-codes page; values like its samples.
    error: dict[str, Any] = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error})


def _bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    # Structured logs carry `extra` fields that `caplog.text` does not show.
    return " ".join(repr(vars(record)) for record in caplog.records)


def assert_within_meta_limits(body: dict[str, Any]) -> None:
    """Every limit of Meta's message pages, checked on one request body."""
    assert body["type"] in ("text", "interactive", "template")
    if body["type"] == "text":
        assert 0 < len(body["text"]["body"]) <= 4096
        return
    if body["type"] == "template":
        return
    interactive = body["interactive"]
    assert 0 < len(interactive["body"]["text"]) <= 1024
    if "header" in interactive:
        assert interactive["header"]["type"] == "text"
        assert 0 < len(interactive["header"]["text"]) <= 60
    if "footer" in interactive:
        assert 0 < len(interactive["footer"]["text"]) <= 60
    action = interactive["action"]
    if interactive["type"] == "cta_url":
        assert action["name"] == "cta_url"
        assert 0 < len(action["parameters"]["display_text"]) <= 20
        assert action["parameters"]["url"].startswith(("https://", "http://"))
        return
    if interactive["type"] == "button":
        buttons = action["buttons"]
        assert 1 <= len(buttons) <= 3
        ids = [button["reply"]["id"] for button in buttons]
        titles = [button["reply"]["title"] for button in buttons]
        assert all(button["type"] == "reply" for button in buttons)
        assert len(set(ids)) == len(ids)
        assert len(set(titles)) == len(titles)
        assert all(0 < len(i) <= 256 for i in ids)
        assert all(0 < len(t) <= 20 for t in titles)
        return
    assert interactive["type"] == "list"
    assert 0 < len(action["button"]) <= 20
    sections = action["sections"]
    assert 1 <= len(sections) <= 10
    rows = [row for section in sections for row in section["rows"]]
    assert 1 <= len(rows) <= 10
    assert all(section["rows"] for section in sections)
    assert all(0 < len(section["title"]) <= 24 for section in sections)
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert all(0 < len(i) <= 200 for i in ids)
    assert all(0 < len(row["title"]) <= 24 for row in rows)
    assert all(0 < len(row["description"]) <= 72 for row in rows if "description" in row)


# --- Bodies as Meta documents them ---------------------------------------------------------------


async def test_text_is_posted_to_the_phone_numbers_messages_endpoint_as_meta_documents(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())

    ids = await client.send(TRAVELLER, TextMessage("Your flight LOS → ABV is confirmed."))

    assert ids == [SENT_ID]
    request = messages_route.calls.last.request
    assert request.url == f"{BASE}/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert _bodies(messages_route) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TRAVELLER,
            "type": "text",
            "text": {"body": "Your flight LOS → ABV is confirmed."},
        }
    ]


async def test_reply_buttons_are_sent_as_meta_documents(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())

    await client.send(
        TRAVELLER,
        ButtonsMessage(
            body="Pay ₦184,500 for SF7KQ2?",
            buttons=(Button("pay", "Pay now"), Button("cancel", "Cancel")),
            header="Lagos → Abuja",
            footer="SureFlights",
        ),
    )

    assert _bodies(messages_route) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TRAVELLER,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "text", "text": "Lagos → Abuja"},
                "body": {"text": "Pay ₦184,500 for SF7KQ2?"},
                "footer": {"text": "SureFlights"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "pay", "title": "Pay now"}},
                        {"type": "reply", "reply": {"id": "cancel", "title": "Cancel"}},
                    ]
                },
            },
        }
    ]


async def test_list_is_sent_as_meta_documents(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())

    await client.send(
        TRAVELLER,
        ListMessage(
            body="Which flight?",
            button="See flights",
            sections=(
                ListSection(
                    "Cheapest",
                    (
                        ListRow("offer:1", "Air Peace 07:00", "₦92,000 · direct · 1h10"),
                        ListRow("offer:2", "Arik 09:30"),
                    ),
                ),
            ),
            header="LOS → ABV, 12 Jun",
        ),
    )

    assert _bodies(messages_route) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TRAVELLER,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "LOS → ABV, 12 Jun"},
                "body": {"text": "Which flight?"},
                "action": {
                    "button": "See flights",
                    "sections": [
                        {
                            "title": "Cheapest",
                            "rows": [
                                {
                                    "id": "offer:1",
                                    "title": "Air Peace 07:00",
                                    "description": "₦92,000 · direct · 1h10",
                                },
                                {"id": "offer:2", "title": "Arik 09:30"},
                            ],
                        }
                    ],
                },
            },
        }
    ]


async def test_template_is_sent_with_its_language_and_body_parameters(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())

    await client.send(
        TRAVELLER,
        TemplateMessage("booking_confirmed", "en", body_parameters=("SF7KQ2", "VP7ZA6")),
    )
    await client.send(TRAVELLER, TemplateMessage("hello_world", "en_US"))

    first, second = _bodies(messages_route)
    assert first == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TRAVELLER,
        "type": "template",
        "template": {
            "name": "booking_confirmed",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "SF7KQ2"},
                        {"type": "text", "text": "VP7ZA6"},
                    ],
                }
            ],
        },
    }
    assert second["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


async def test_mark_read_sends_the_read_status_of_the_message(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.respond(200, json={"success": True})

    await client.mark_read("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")

    assert _bodies(messages_route) == [
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        }
    ]


async def test_mark_read_with_typing_shows_the_typing_indicator(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.respond(200, json={"success": True})

    await client.mark_read("wamid.typing", typing=True)

    assert _bodies(messages_route) == [
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.typing",
            "typing_indicator": {"type": "text"},
        }
    ]


async def test_a_link_is_a_call_to_action_url_button_as_meta_documents(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())

    await client.send(
        TRAVELLER, LinkMessage("Booking SF7KQ2MX is reserved.", "Pay now", "https://pay.test/abc")
    )

    assert _bodies(messages_route) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TRAVELLER,
            "type": "interactive",
            "interactive": {
                "type": "cta_url",
                "body": {"text": "Booking SF7KQ2MX is reserved."},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Pay now", "url": "https://pay.test/abc"},
                },
            },
        }
    ]


def test_a_link_that_is_not_a_web_address_is_sent_as_text() -> None:
    assert fit_to_limits(LinkMessage("Pay here", "Pay", "pay.test/abc")) == [
        {"type": "text", "text": {"body": "Pay here\npay.test/abc"}}
    ]


async def test_a_business_scoped_user_id_is_sent_to_as_recipient(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())

    await client.send("NG.1502576394655843", TextMessage("Hello"))

    (body,) = _bodies(messages_route)
    assert body["recipient"] == "NG.1502576394655843"
    assert "to" not in body


# --- Limits --------------------------------------------------------------------------------------


async def test_long_text_goes_out_as_several_messages_cut_between_paragraphs(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(side_effect=[_sent_with_id(f"wamid.part{n}") for n in range(1, 10)])
    paragraphs = [
        (f"Flight {n}: " + "Lagos to Abuja, direct, 1h10. " * 40).strip() for n in range(1, 9)
    ]
    text = "\n\n".join(paragraphs)
    assert len(text) > 2 * 4096

    ids = await client.send(TRAVELLER, TextMessage(text))

    bodies = _bodies(messages_route)
    assert len(bodies) >= 3
    assert ids == [f"wamid.part{n}" for n in range(1, len(bodies) + 1)]
    for body in bodies:
        assert_within_meta_limits(body)
        # Each part is whole paragraphs: no paragraph was cut in two.
        assert body["text"]["body"].startswith("Flight ")
    assert "\n\n".join(body["text"]["body"] for body in bodies) == text


def test_text_without_breaks_is_cut_hard_and_loses_nothing() -> None:
    text = "x" * 9000

    bodies = fit_to_limits(TextMessage(text))

    assert [len(body["text"]["body"]) for body in bodies] == [4096, 4096, 808]
    assert "".join(body["text"]["body"] for body in bodies) == text


def test_limits_count_an_emoji_outside_the_basic_plane_as_two_units() -> None:
    bodies = fit_to_limits(TextMessage("✈️🛫" * 3000))

    for body in bodies:
        assert len(body["text"]["body"].encode("utf-16-le")) // 2 <= 4096


async def test_oversize_buttons_message_is_cut_to_every_limit_and_says_what_was_left_out(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())
    long_title = "Air Peace 07:00 Lagos to Abuja direct"
    message = ButtonsMessage(
        body="Choose your flight. " * 100,
        buttons=tuple(Button(f"offer:{n}:" + "x" * 300, long_title) for n in range(5)),
        header="Your flights from Lagos to Abuja on Friday the twelfth of June",
        footer="Prices include taxes and fees; they change until you pay for the booking",
    )

    await client.send(TRAVELLER, message)

    (body,) = _bodies(messages_route)
    assert_within_meta_limits(body)
    interactive = body["interactive"]
    assert interactive["body"]["text"].endswith("…and 2 more: reply MORE")
    assert interactive["header"]["text"].endswith("…")
    assert interactive["footer"]["text"].endswith("…")
    titles = [button["reply"]["title"] for button in interactive["action"]["buttons"]]
    # Cut alike, then told apart, as Meta wants the labels of one message unique.
    assert titles[0] == "Air Peace 07:00 Lag…"
    assert titles[1:] == ["Air Peace 07:00 L… 2", "Air Peace 07:00 L… 3"]
    ids = [button["reply"]["id"] for button in interactive["action"]["buttons"]]
    assert [i.split(":")[1] for i in ids] == ["0", "1", "2"]


async def test_oversize_list_keeps_ten_rows_in_all_and_says_what_was_left_out(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(return_value=_sent())
    sections = tuple(
        ListSection(
            f"Departures after {hour:02d}:00 from Murtala Muhammed",
            tuple(
                ListRow(
                    f"offer:{hour}:{n}:" + "y" * 250,
                    f"Air Peace {hour:02d}:{n}5 Lagos–Abuja direct",
                    "Economy, 1 checked bag, refundable with a fee, changeable with a fee " * 2,
                )
                for n in range(3)
            ),
        )
        for hour in range(6, 18)
    )
    message = ListMessage(
        body="Here are the flights I found. " * 60,
        button="Show me all the flights",
        sections=sections,
        header="Lagos (LOS) to Abuja (ABV), Friday 12 June 2026, one adult",
        footer="Tap a flight to see its fare rules and to book it",
    )

    await client.send(TRAVELLER, message)

    (body,) = _bodies(messages_route)
    assert_within_meta_limits(body)
    interactive = body["interactive"]
    assert interactive["body"]["text"].endswith("…and 26 more: reply MORE")
    rows = [row for section in interactive["action"]["sections"] for row in section["rows"]]
    assert len(rows) == 10
    # The first ten in the order given: whole sections 06:00-08:00, then one row of 09:00.
    assert [row["id"].split(":")[1:3] for row in rows][-1] == ["9", "0"]
    assert [len(section["rows"]) for section in interactive["action"]["sections"]] == [3, 3, 3, 1]


@pytest.mark.parametrize(
    "message",
    [
        TextMessage("a\n" * 5000),
        TextMessage("word " * 2000),
        ButtonsMessage("", (Button("a", ""), Button("a", "Duplicate id"), Button("b", " "))),
        ButtonsMessage("Pick", tuple(Button(str(n), "Same title") for n in range(10))),
        ListMessage("", "", (ListSection("", (ListRow("1", ""), ListRow("1", "dup"))),)),
        ListMessage(
            "Pick",
            "Flights",
            tuple(ListSection(f"S{n}", (ListRow(f"{n}", "r"),)) for n in range(15)),
        ),
        TemplateMessage("booking_confirmed", body_parameters=("SF7KQ2",)),
        LinkMessage("x" * 3000, "Pay now, securely, with Paystack", "https://pay.example/x"),
    ],
)
def test_every_fitted_body_is_within_meta_limits(message: OutboundMessage) -> None:
    bodies = fit_to_limits(message)

    assert bodies
    for body in bodies:
        assert_within_meta_limits(body)


def test_messages_left_with_no_option_become_text_and_empty_text_sends_nothing() -> None:
    assert fit_to_limits(ButtonsMessage("Anything else?", (Button("  ", "Blank id"),))) == [
        {"type": "text", "text": {"body": "Anything else?"}}
    ]
    assert fit_to_limits(ListMessage("No flights found.", "Flights", ())) == [
        {"type": "text", "text": {"body": "No flights found."}}
    ]
    assert fit_to_limits(TextMessage("  \n ")) == []


# --- Retries -------------------------------------------------------------------------------------


async def test_throughput_limit_429_is_waited_out_then_sent_once(
    client: WhatsAppClient, messages_route: respx.Route, sleeps: RecordedSleeps
) -> None:
    messages_route.mock(
        side_effect=[
            _graph_error(
                429,
                130429,
                "Rate limit hit",
                "Message failed to send because there were too many messages sent from this "
                "phone number in a short period of time",
                subcode=2494055,
            ),
            _sent(),
        ]
    )

    ids = await client.send(TRAVELLER, TextMessage("Hello"))

    assert ids == [SENT_ID]
    assert messages_route.call_count == 2
    assert len(sleeps.waits) == 1


async def test_pair_rate_limit_waits_the_six_seconds_meta_allows_per_recipient(
    client: WhatsAppClient, messages_route: respx.Route, sleeps: RecordedSleeps
) -> None:
    messages_route.mock(
        side_effect=[
            _graph_error(
                400,
                131056,
                "(Business Account, Consumer Account) pair rate limit hit",
                "Too many messages sent from the sender phone number to the same recipient "
                "phone number in a short period of time.",
            ),
            _sent(),
        ]
    )

    assert await client.send(TRAVELLER, TextMessage("Hello")) == [SENT_ID]
    assert sleeps.waits and sleeps.waits[0] >= 6.0


async def test_meta_500_saying_the_message_failed_is_retried(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(
        side_effect=[
            _graph_error(500, 131000, "Something went wrong", "Message failed to send"),
            _sent(),
        ]
    )

    assert await client.send(TRAVELLER, TextMessage("Hello")) == [SENT_ID]
    assert messages_route.call_count == 2


async def test_a_connection_that_never_opened_is_retried(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(side_effect=[httpx.ConnectError("refused"), _sent()])

    assert await client.send(TRAVELLER, TextMessage("Hello")) == [SENT_ID]
    assert messages_route.call_count == 2


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ReadTimeout("no answer"),
        httpx.Response(504, text="<html>Gateway Timeout</html>"),
    ],
)
async def test_a_send_whose_outcome_is_unknown_is_not_repeated(
    client: WhatsAppClient, messages_route: respx.Route, outcome: Any
) -> None:
    messages_route.mock(side_effect=[outcome, _sent()])

    with pytest.raises(UpstreamUnavailable) as raised:
        await client.send(TRAVELLER, TextMessage("Your booking is confirmed."))

    assert "may have been sent" in raised.value.detail
    assert messages_route.call_count == 1


async def test_mark_read_is_retried_after_a_timeout_as_it_is_harmless_to_repeat(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(
        side_effect=[httpx.ReadTimeout("no answer"), httpx.Response(200, json={"success": True})]
    )

    await client.mark_read("wamid.x")

    assert messages_route.call_count == 2


async def test_rate_limit_that_outlasts_the_retries_raises_whatsapp_unavailable(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(
        return_value=_graph_error(429, 130429, "Rate limit hit", "Message failed to send")
    )

    with pytest.raises(WhatsAppUnavailable) as raised:
        await client.send(TRAVELLER, TextMessage("Hello"))

    assert raised.value.code == 130429
    assert isinstance(raised.value, UpstreamUnavailable)
    assert messages_route.call_count == MAX_RETRIES + 1


# --- Failures ------------------------------------------------------------------------------------


async def test_outside_the_24_hour_window_raises_whatsapp_error_131047_without_retrying(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(
        return_value=_graph_error(
            400,
            131047,
            "Re-engagement message",
            "More than 24 hours have passed since the recipient last replied to the sender number.",
        )
    )

    with pytest.raises(WhatsAppError) as raised:
        await client.send(TRAVELLER, TextMessage("Your booking is confirmed."))

    assert raised.value.code == 131047
    assert raised.value.http_status == 400
    assert raised.value.request_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert isinstance(raised.value, UpstreamError)
    assert "Re-engagement message" in raised.value.detail
    assert messages_route.call_count == 1


async def test_undeliverable_message_raises_whatsapp_error_131026(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.mock(
        return_value=_graph_error(400, 131026, "Message Undeliverable", "Unable to deliver")
    )

    with pytest.raises(WhatsAppError) as raised:
        await client.send(TRAVELLER, TextMessage("Hello"))

    assert raised.value.code == 131026


async def test_failure_logs_carry_metas_codes_but_never_the_token_or_full_number(
    client: WhatsAppClient, messages_route: respx.Route, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A body that echoes back both the token and the recipient's number.
    messages_route.mock(
        return_value=_graph_error(
            401,
            190,
            f"Invalid OAuth access token - Cannot parse access token {TOKEN}",
            f"recipient {TRAVELLER}",
            subcode=463,
        )
    )

    with pytest.raises(WhatsAppError) as raised:
        await client.send(TRAVELLER, TextMessage("Hello"))

    logged = _everything_logged(caplog)
    for text in (logged, str(raised.value), repr(client)):
        assert TOKEN not in text
        assert TRAVELLER not in text
    record = next(r for r in caplog.records if r.getMessage() == "WhatsApp call failed")
    assert vars(record)["whatsapp_error_code"] == 190
    assert vars(record)["whatsapp_error_subcode"] == 463
    assert vars(record)["fbtrace_id"] == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert vars(record)["whatsapp_to"] == "***4567"


async def test_a_2xx_without_a_message_id_is_an_upstream_error(
    client: WhatsAppClient, messages_route: respx.Route
) -> None:
    messages_route.respond(200, json={"messaging_product": "whatsapp", "messages": []})

    with pytest.raises(UpstreamError):
        await client.send(TRAVELLER, TextMessage("Hello"))


# --- Sandbox and signatures ----------------------------------------------------------------------


async def test_recording_sender_keeps_what_would_be_sent_with_sandbox_ids() -> None:
    sender = RecordingSender()

    first = await sender.send(TRAVELLER, TextMessage("Hello"))
    second = await sender.send(TRAVELLER, TextMessage("A\n\n" + "b" * 5000))
    await sender.mark_read("wamid.in.1")

    assert first == ["wamid.sandbox.1"]
    assert second == ["wamid.sandbox.2", "wamid.sandbox.3"]
    assert sender.sent[0] == (
        TRAVELLER,
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TRAVELLER,
            "type": "text",
            "text": {"body": "Hello"},
        },
    )
    assert len(sender.sent) == 3
    assert sender.read == ["wamid.in.1"]


def test_signature_of_the_recorded_webhook_matches_an_independent_computation() -> None:
    body = (FIXTURES / "whatsapp_webhook_text.json").read_bytes()

    assert signature_matches(APP_SECRET, body, f"sha256={RECORDED_TEXT_SIGNATURE}")
    assert not signature_matches(APP_SECRET, body + b" ", f"sha256={RECORDED_TEXT_SIGNATURE}")
    assert not signature_matches("another-secret", body, f"sha256={RECORDED_TEXT_SIGNATURE}")
    assert not signature_matches(APP_SECRET, body, RECORDED_TEXT_SIGNATURE)
    assert not signature_matches(APP_SECRET, body, None)
    assert not signature_matches(APP_SECRET, body, "")
    assert not signature_matches("", body, f"sha256={RECORDED_TEXT_SIGNATURE}")
    assert not signature_matches(APP_SECRET, body, "sha256=é")


async def test_a_send_to_an_unreachable_cloud_api_ends_by_its_deadline(
    messages_route: respx.Route,
) -> None:
    messages_route.mock(side_effect=unreachable)
    async with httpx.AsyncClient() as http:
        client = WhatsAppClient(
            http,
            base_url=BASE,
            phone_number_id=PHONE_NUMBER_ID,
            access_token=TOKEN,
            timeout=1.0,
            max_retries=3,
            backoff_seconds=0.05,
            deadline_seconds=1.5,
        )
        started = time.monotonic()
        with pytest.raises(WhatsAppUnavailable):
            await client.send(TRAVELLER, TextMessage("Your booking is confirmed"))
        elapsed = time.monotonic() - started
    # Four attempts of a second each would take over four: the deadline ends it first.
    assert messages_route.call_count >= 2
    assert elapsed < 3.0, elapsed
