"""Meta's webhook over the ASGI app: the subscription check, signatures, at-once answers,
one hand-over per message however often Meta delivers it, statuses recorded without replies; and
the recorded webhook bodies read into typed messages."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from conversation.transcript import Transcript
from graphql_api.app import create_app
from graphql_api.context import Services
from graphql_api.settings import Settings
from integrations.ports.messaging import InboundMessage, StatusUpdate
from integrations.sandbox.whatsapp import RecordingSender
from integrations.whatsapp.inbound import parse_webhook
from tests.support.helpers import FIXTURES, upstream_fixture

VERIFY_TOKEN = "sureflights-verify-7c1e"
APP_SECRET = "wa-app-secret-for-tests"
TEXT_MESSAGE_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
STATUS_MESSAGE_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
SENDER = "16505551234"


class RecordingConversation:
    """Stands in for the conversation engine, a collaborator the webhook hands messages and
    statuses to; like the engine, it keeps them with the conversation's `Transcript`, which
    answers each message once."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.handled: list[InboundMessage] = []

    async def handle(self, message: InboundMessage) -> None:
        if await self.transcript.first_delivery(message, datetime.now(UTC)):
            self.handled.append(message)

    async def record_status(self, status: StatusUpdate) -> None:
        await self.transcript.record_status(status, datetime.now(UTC))


class ServicesWithConversation:
    """The app's own services, with the recording conversation engine added."""

    def __init__(self, services: Services, conversation: RecordingConversation) -> None:
        self._services = services
        self.conversation = conversation

    def __getattr__(self, name: str) -> Any:
        return getattr(self._services, name)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(whatsapp_verify_token=VERIFY_TOKEN, whatsapp_app_secret=APP_SECRET)


@pytest.fixture
def services(app: Starlette) -> Services:
    own: Services = app.state.services
    return own


@pytest.fixture
def conversation(app: Starlette, services: Services) -> RecordingConversation:
    engine = RecordingConversation(
        Transcript(services.store.conversations, services.store.processed_events)
    )
    app.state.services = ServicesWithConversation(services, engine)
    return engine


def _signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def _recorded(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def _seen_before(services: Services, key: str) -> bool:
    """Whether `key` was recorded as processed (recording it now if it was not)."""
    return not await services.store.processed_events.record(
        key, now=datetime.now(UTC), ttl=timedelta(minutes=1)
    )


@contextlib.asynccontextmanager
async def _client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


# --- Subscription check --------------------------------------------------------------------------


async def test_subscription_check_with_our_token_answers_the_challenge_as_plain_text(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )

    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
async def test_subscription_check_with_a_wrong_token_or_mode_is_forbidden(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/webhooks/whatsapp", params=params)

    assert response.status_code == 403
    assert "1" not in response.text


async def test_subscription_check_is_forbidden_while_no_verify_token_is_configured(
    make_settings: Callable[..., Settings],
) -> None:
    async with _client_for(make_settings(whatsapp_verify_token="")) as http:
        response = await http.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
        )

    assert response.status_code == 403


# --- Events --------------------------------------------------------------------------------------


async def test_signed_text_message_is_answered_at_once_and_handed_to_the_conversation(
    client: httpx.AsyncClient, conversation: RecordingConversation
) -> None:
    body = _recorded("whatsapp_webhook_text.json")

    response = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))

    assert response.status_code == 200
    assert conversation.handled == [
        InboundMessage(
            message_id=TEXT_MESSAGE_ID,
            wa_id=SENDER,
            profile_name="Sheena Nelson",
            timestamp=datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
            kind="text",
            text="Does it come in another color?",
            reply_id=None,
            raw_type="text",
        )
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        _signed(_recorded("whatsapp_webhook_text.json"), secret="someone-elses-secret"),
    ],
)
async def test_bad_or_missing_signature_is_refused_and_nothing_is_recorded(
    client: httpx.AsyncClient,
    conversation: RecordingConversation,
    services: Services,
    headers: dict[str, str],
) -> None:
    body = _recorded("whatsapp_webhook_text.json")

    response = await client.post("/webhooks/whatsapp", content=body, headers=headers)

    assert response.status_code == 401
    assert conversation.handled == []
    assert not await _seen_before(services, f"whatsapp:message:{TEXT_MESSAGE_ID}")


async def test_every_event_is_refused_while_no_app_secret_is_configured(
    make_settings: Callable[..., Settings],
) -> None:
    body = _recorded("whatsapp_webhook_text.json")

    async with _client_for(make_settings(whatsapp_app_secret="")) as http:
        response = await http.post("/webhooks/whatsapp", content=body, headers=_signed(b"", ""))
        signed_with_empty_key = _signed(body, secret="")
        again = await http.post("/webhooks/whatsapp", content=body, headers=signed_with_empty_key)

    assert response.status_code == 401
    assert again.status_code == 401


async def test_the_same_message_delivered_twice_is_handled_once(
    client: httpx.AsyncClient, conversation: RecordingConversation
) -> None:
    body = _recorded("whatsapp_webhook_text.json")

    first = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))
    second = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))

    assert (first.status_code, second.status_code) == (200, 200)
    assert [message.message_id for message in conversation.handled] == [TEXT_MESSAGE_ID]


async def test_status_is_recorded_in_the_conversation_without_any_reply(
    client: httpx.AsyncClient, conversation: RecordingConversation, services: Services
) -> None:
    body = _recorded("whatsapp_webhook_status.json")

    response = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))
    await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))

    assert response.status_code == 200
    assert conversation.handled == []
    assert isinstance(services.whatsapp, RecordingSender)
    assert services.whatsapp.sent == []
    record = await services.store.conversations.get(SENDER)
    assert record is not None
    assert record.messages == [
        {
            "direction": "status",
            "message_id": STATUS_MESSAGE_ID,
            "status": "sent",
            "at": "2025-06-15T23:27:53+00:00",
        }
    ]


async def test_a_failed_status_keeps_metas_error_codes(
    client: httpx.AsyncClient, conversation: RecordingConversation, services: Services
) -> None:
    payload = upstream_fixture("whatsapp_webhook_status.json")
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status["status"] = "failed"
    status["errors"] = [{"code": 131047, "title": "Re-engagement message"}]
    body = json.dumps(payload).encode()

    response = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))

    assert response.status_code == 200
    record = await services.store.conversations.get(SENDER)
    assert record is not None
    assert record.messages[-1]["status"] == "failed"
    assert record.messages[-1]["error_codes"] == [131047]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
async def test_a_signed_body_that_is_not_a_json_event_is_a_bad_request(
    client: httpx.AsyncClient, conversation: RecordingConversation, body: bytes
) -> None:
    response = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))

    assert response.status_code == 400
    assert conversation.handled == []


async def test_a_failing_conversation_engine_does_not_change_the_answer_to_meta(
    client: httpx.AsyncClient, app: Starlette, services: Services
) -> None:
    class BrokenConversation(RecordingConversation):
        async def handle(self, message: InboundMessage) -> None:
            raise RuntimeError("engine down")

    transcript = Transcript(services.store.conversations, services.store.processed_events)
    app.state.services = ServicesWithConversation(services, BrokenConversation(transcript))
    body = _recorded("whatsapp_webhook_text.json")

    response = await client.post("/webhooks/whatsapp", content=body, headers=_signed(body))

    assert response.status_code == 200


# --- Reading Meta's recorded bodies --------------------------------------------------------------


def test_a_message_without_the_phone_number_is_read_by_its_business_scoped_user_id() -> None:
    payload = upstream_fixture("whatsapp_webhook_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0].pop("wa_id")
    value["contacts"][0]["user_id"] = "NG.1502576394655843"
    value["messages"][0].pop("from")
    value["messages"][0]["from_user_id"] = "NG.1502576394655843"

    (message,), _ = parse_webhook(payload)

    assert (message.wa_id, message.user_id) == ("NG.1502576394655843", "NG.1502576394655843")
    assert message.profile_name == "Sheena Nelson"


def test_a_message_with_both_keeps_the_number_and_the_user_id() -> None:
    payload = upstream_fixture("whatsapp_webhook_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["user_id"] = "NG.1502576394655843"
    value["messages"][0]["from_user_id"] = "NG.1502576394655843"

    (message,), _ = parse_webhook(payload)

    assert (message.wa_id, message.user_id) == ("16505551234", "NG.1502576394655843")


def test_a_photo_with_a_caption_is_read_by_its_caption() -> None:
    payload = upstream_fixture("whatsapp_webhook_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "image"
    message["image"] = {"id": "1", "mime_type": "image/jpeg", "caption": "Lagos to Abuja friday"}

    (read,), _ = parse_webhook(payload)

    assert (read.kind, read.text, read.raw_type) == ("media", "Lagos to Abuja friday", "image")


def test_recorded_text_webhook_reads_as_a_text_message() -> None:
    messages, statuses = parse_webhook(upstream_fixture("whatsapp_webhook_text.json"))

    assert statuses == []
    (message,) = messages
    assert (message.kind, message.text, message.reply_id) == (
        "text",
        "Does it come in another color?",
        None,
    )
    assert message.timestamp.tzinfo is UTC


def test_recorded_button_reply_reads_with_the_buttons_id_and_title() -> None:
    messages, _ = parse_webhook(upstream_fixture("whatsapp_webhook_button_reply.json"))

    assert messages == [
        InboundMessage(
            message_id="wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQThBREYwNzc2RDc2QjA1QTIwMgA=",
            wa_id=SENDER,
            profile_name="Pablo Morales",
            timestamp=datetime.fromtimestamp(1714510003, UTC),
            kind="button_reply",
            text="Change",
            reply_id="change-button",
            raw_type="interactive",
        )
    ]


def test_recorded_list_reply_reads_with_the_rows_id_and_title() -> None:
    messages, _ = parse_webhook(upstream_fixture("whatsapp_webhook_list_reply.json"))

    (message,) = messages
    assert (message.kind, message.reply_id, message.text, message.raw_type) == (
        "list_reply",
        "priority_express",
        "Priority Mail Express",
        "interactive",
    )


def test_recorded_status_webhook_reads_as_a_sent_status() -> None:
    messages, statuses = parse_webhook(upstream_fixture("whatsapp_webhook_status.json"))

    assert messages == []
    assert statuses == [
        StatusUpdate(
            message_id=STATUS_MESSAGE_ID,
            recipient_id=SENDER,
            status="sent",
            timestamp=datetime.fromtimestamp(1750030073, UTC),
            error_codes=(),
        )
    ]


def test_media_and_other_types_read_as_unsupported_with_their_meta_type() -> None:
    payload = upstream_fixture("whatsapp_webhook_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message["type"] = "image"
    message["image"] = {"id": "1479537139650973", "mime_type": "image/jpeg"}

    (parsed,), _ = parse_webhook(payload)

    assert (parsed.kind, parsed.raw_type, parsed.text, parsed.reply_id) == (
        "unsupported",
        "image",
        None,
        None,
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account", "entry": "not a list"},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": None}]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messages": [
                                    {"from": SENDER, "timestamp": "1749416383", "type": "text"},
                                    {"id": "wamid.1", "timestamp": "soon", "from": SENDER},
                                    "not an object",
                                ],
                                "statuses": [{"id": "wamid.2", "status": "read"}],
                            },
                        }
                    ]
                }
            ],
        },
    ],
)
def test_shapes_meta_did_not_document_are_skipped_without_raising(
    payload: dict[str, Any],
) -> None:
    assert parse_webhook(payload) == ([], [])
