"""`POST /webhooks/paystack`: Paystack's events into the booking saga."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import structlog
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphql_api import metrics
from graphql_api.context import Services
from integrations.paystack.webhook import signature_matches

log = logging.getLogger("sureflights.webhooks")


async def _handle_event(services: Services, event: dict[str, Any]) -> None:
    found = event.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    reference = data.get("reference")
    # Every line logged while handling it names the payment.
    context = {"payment": reference} if isinstance(reference, str) else {}
    with structlog.contextvars.bound_contextvars(**context):
        try:
            await services.payments.handle_paystack_event(event)
        except Exception:  # after the 200: the reconciler finishes what this could not
            log.exception("paystack event handling failed")
        finally:
            metrics.observe_webhook_lag("paystack", data.get("paid_at") or data.get("created_at"))


async def paystack_webhook(request: Request) -> Response:
    """`POST /webhooks/paystack`: signature checked on the raw body, 200 at once, work after."""
    services: Services = request.app.state.services
    body = await request.body()
    signature = request.headers.get("x-paystack-signature")
    if not signature_matches(services.secrets.paystack_secret_key, body, signature):
        log.warning("paystack webhook with a bad or missing signature")
        return JSONResponse({"error": "invalid signature"}, status_code=401)
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(event, dict):
        return JSONResponse({"error": "the body is not an event"}, status_code=400)
    return JSONResponse(
        {"status": "received"}, background=BackgroundTask(_handle_event, services, event)
    )
