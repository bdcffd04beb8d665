"""Meta's WhatsApp webhook: the subscription check, then signed events answered at once and handed
to the conversation engine after the response."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from graphql_api.context import Services
from integrations.ports.messaging import InboundMessage, StatusUpdate
from integrations.whatsapp.client import mask_phone
from integrations.whatsapp.inbound import parse_webhook, signature_matches

log = logging.getLogger("sureflights.webhooks.whatsapp")


async def verify_subscription(request: Request) -> Response:
    """`GET /webhooks/whatsapp`: echo `hub.challenge` when Meta presents our verify token."""
    services: Services = request.app.state.services
    expected = services.secrets.whatsapp_verify_token
    params = request.query_params
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if (
        expected
        and params.get("hub.mode") == "subscribe"
        and token is not None
        and challenge is not None
        and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
    ):
        return PlainTextResponse(challenge)
    log.warning("WhatsApp subscription check refused")
    return PlainTextResponse("forbidden", status_code=403)


async def receive_events(request: Request) -> Response:
    """`POST /webhooks/whatsapp`: signature checked on the raw body, 200 at once, work after."""
    services: Services = request.app.state.services
    body = await request.body()
    signature = request.headers.get("x-hub-signature-256")
    if not signature_matches(services.secrets.whatsapp_app_secret, body, signature):
        log.warning("WhatsApp webhook with a bad or missing signature")
        return JSONResponse({"error": "invalid signature"}, status_code=401)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"error": "the body is not an event"}, status_code=400)
    return JSONResponse(
        {"status": "received"}, background=BackgroundTask(process_events, services, payload)
    )


async def process_events(services: Services, payload: dict[str, Any]) -> None:
    """Everything after the 200: each message once to the conversation engine, each status into
    the conversation document. Logs failures; never raises (there is no one left to answer)."""
    try:
        messages, statuses = parse_webhook(payload)
    except Exception:
        log.exception("WhatsApp webhook body could not be read")
        return
    for message in messages:
        try:
            await _hand_over(services, message)
        except Exception:
            log.exception(
                "WhatsApp message handling failed",
                extra={
                    "whatsapp_message_id": message.message_id,
                    "whatsapp_from": mask_phone(message.wa_id),
                },
            )
    for status in statuses:
        try:
            await _record_status(services, status)
        except Exception:
            log.exception(
                "WhatsApp status could not be recorded",
                extra={"whatsapp_message_id": status.message_id, "whatsapp_status": status.status},
            )


async def _hand_over(services: Services, message: InboundMessage) -> None:
    # The engine answers each message once, however often (and to whichever replica) Meta
    # delivers it.
    await services.conversation.handle(message)


async def _record_status(services: Services, status: StatusUpdate) -> None:
    await services.conversation.record_status(status)
