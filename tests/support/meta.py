"""Meta on both sides of a conversation test: signed webhook deliveries to the gateway, and a Cloud
API (answered by respx) that records every call the gateway makes, checked against Meta's limits."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import respx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import upstream_fixture

APP_SECRET = "wa-app-secret-for-flow-tests"
PHONE_NUMBER_ID = "106540352242922"
TRAVELLER = "2348031234567"
OTHER = "2348059876543"
SUPPORT_CONTACT = "+234 700 000 0000 or help@sureflights.example"


def meta_signature(app_secret: str, raw: bytes) -> str:
    """X-Hub-Signature-256 as Meta signs a webhook delivery with the app's secret."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def check_meta_limits(body: dict[str, Any]) -> None:
    """Every message we send stays within the Cloud API's documented limits."""
    assert body["messaging_product"] == "whatsapp"
    assert bool(body.get("to")) != bool(body.get("recipient")), body
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
        elif interactive["type"] == "cta_url":
            action = interactive["action"]
            assert action["name"] == "cta_url"
            assert 0 < len(action["parameters"]["display_text"]) <= 20
            assert action["parameters"]["url"].startswith(("http://", "https://"))
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


def recipient_of(body: dict[str, Any]) -> str:
    return str(body.get("to") or body.get("recipient"))


def text_of(message: dict[str, Any]) -> str:
    """What the traveller reads in one message: the body, then its buttons, rows or link."""
    if message["type"] == "text":
        body: str = message["text"]["body"]
        return body
    if message["type"] == "interactive":
        interactive = message["interactive"]
        parts = [str(interactive["body"]["text"])]
        action = interactive["action"]
        if interactive["type"] == "button":
            parts += [f"[{b['reply']['title']}]" for b in action["buttons"]]
        elif interactive["type"] == "cta_url":
            parameters = action["parameters"]
            parts.append(f"[{parameters['display_text']}] {parameters['url']}")
        else:
            for row in (r for s in action["sections"] for r in s["rows"]):
                parts.append(f"{row['title']} {row.get('description', '')}".rstrip())
        return "\n".join(parts)
    return json.dumps(message["template"])


def rows_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for s in message["interactive"]["action"]["sections"] for r in s["rows"]]


def choices_of(message: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(id, title, is a list row) of what can be tapped in one message."""
    if message["type"] != "interactive":
        return []
    interactive = message["interactive"]
    if interactive["type"] == "button":
        return [
            (b["reply"]["id"], b["reply"]["title"], False) for b in interactive["action"]["buttons"]
        ]
    if interactive["type"] == "list":
        return [(r["id"], r["title"], True) for r in rows_of(message)]
    return []


class WhatsApp:
    """Meta on both sides: signed deliveries to our webhook, a Cloud API that records sends."""

    def __init__(
        self, app: Starlette, http: httpx.AsyncClient, router: respx.MockRouter, graph: str
    ) -> None:
        self.app = app
        self.http = http
        self.sent: list[dict[str, Any]] = []
        self.read: list[str] = []
        self.typing: list[str] = []
        router.post(f"{graph}/{PHONE_NUMBER_ID}/messages").mock(side_effect=self._sent)

    def _sent(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("status") == "read":
            self.read.append(body["message_id"])
            if body.get("typing_indicator") == {"type": "text"}:
                self.typing.append(body["message_id"])
            return httpx.Response(200, json={"success": True})
        check_meta_limits(body)
        self.sent.append(body)
        return httpx.Response(200, json=upstream_fixture("whatsapp_send_message_response.json"))

    async def deliver(self, payload: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(payload).encode()
        signature = meta_signature(APP_SECRET, raw)
        return await self.http.post(
            "/webhooks/whatsapp",
            content=raw,
            headers={"content-type": "application/json", "x-hub-signature-256": signature},
        )

    def _payload(
        self, fixture: str, wa_id: str | None, message_id: str | None, user_id: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        payload = copy.deepcopy(upstream_fixture(fixture))
        value = payload["entry"][0]["changes"][0]["value"]
        contact = value["contacts"][0]
        message = value["messages"][0]
        if wa_id is None:
            contact.pop("wa_id", None)
            message.pop("from", None)
        else:
            contact["wa_id"] = wa_id
            message["from"] = wa_id
        if user_id is not None:
            contact["user_id"] = user_id
            message["from_user_id"] = user_id
        message["id"] = message_id or f"wamid.{secrets.token_hex(12)}"
        message["timestamp"] = str(int(datetime.now(UTC).timestamp()))
        return payload, message

    async def say(
        self,
        text: str,
        wa_id: str | None = TRAVELLER,
        message_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> list[dict[str, Any]]:
        payload, message = self._payload("whatsapp_webhook_text.json", wa_id, message_id, user_id)
        message["text"] = {"body": text}
        return await self._answered(payload, wa_id or user_id or "")

    async def send_image(self, caption: str | None, wa_id: str = TRAVELLER) -> list[dict[str, Any]]:
        payload, message = self._payload("whatsapp_webhook_text.json", wa_id, None)
        message.pop("text")
        message["type"] = "image"
        message["image"] = {"id": "1234567890", "mime_type": "image/jpeg", "sha256": "c2hh"}
        if caption is not None:
            message["image"]["caption"] = caption
        return await self._answered(payload, wa_id)

    async def tap(
        self, reply_id: str, title: str, wa_id: str = TRAVELLER, *, listed: bool
    ) -> list[dict[str, Any]]:
        fixture = (
            "whatsapp_webhook_list_reply.json" if listed else "whatsapp_webhook_button_reply.json"
        )
        payload, message = self._payload(fixture, wa_id, None)
        kind = "list_reply" if listed else "button_reply"
        message["interactive"] = {"type": kind, kind: {"id": reply_id, "title": title}}
        return await self._answered(payload, wa_id)

    async def _answered(self, payload: dict[str, Any], wa_id: str) -> list[dict[str, Any]]:
        before = len(self.sent)
        response = await self.deliver(payload)
        assert response.status_code == 200
        return [m for m in self.sent[before:] if recipient_of(m) == wa_id]

    async def wait_for(self, pattern: str, wa_id: str = TRAVELLER) -> dict[str, Any]:
        for _ in range(100):
            for message in self.sent:
                if recipient_of(message) == wa_id and re.search(pattern, text_of(message)):
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message matching {pattern!r}; sent: {self.sent}")


@asynccontextmanager
async def running_whatsapp(
    make_settings: Callable[..., Settings], **overrides: Any
) -> AsyncIterator[WhatsApp]:
    settings = make_settings(
        whatsapp_access_token="EAAG-placeholder-token",
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token="verify-me",
        **overrides,
    )
    app = create_app(settings)
    with respx.mock(assert_all_called=False) as router:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield WhatsApp(app, http, router, settings.whatsapp_api_url.rstrip("/"))
