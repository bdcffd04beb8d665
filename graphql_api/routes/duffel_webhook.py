"""`POST /webhooks/duffel`: Duffel's order events into the booking saga."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphql_api import metrics
from graphql_api.context import Services
from integrations.duffel.webhook import WEBHOOK_TOLERANCE_SECONDS, read_webhook_signature
from resolvers.airline_events import on_duffel_event

log = logging.getLogger("sureflights.webhooks")

# Duffel retries a delivery for 72 hours; an event is remembered for longer.
DUFFEL_EVENT_TTL = timedelta(days=8)


async def _handle_duffel_event(services: Services, event: dict[str, Any]) -> None:
    with structlog.contextvars.bound_contextvars(duffel_event=str(event.get("id"))):
        try:
            outcome = await on_duffel_event(services.bookings.deps, event)
            log.info("duffel event handled", extra={"event": event.get("type"), "outcome": outcome})
        except Exception:  # after the 200: the reconciler finishes what this could not
            log.exception("duffel event handling failed")
        finally:
            metrics.observe_webhook_lag("duffel", event.get("created_at"))


async def duffel_webhook(request: Request) -> Response:
    """`POST /webhooks/duffel`: `X-Duffel-Signature` checked on the raw body (stale or replayed
    signatures refused), each event handled once by its id, 200 at once, work after."""
    services: Services = request.app.state.services
    body = await request.body()
    signature = read_webhook_signature(
        services.secrets.duffel_webhook_secret,
        body,
        request.headers.get("x-duffel-signature"),
        now=time.time(),
    )
    if signature is None:
        log.warning("duffel webhook with a bad, missing or stale signature")
        return JSONResponse({"error": "invalid signature"}, status_code=401)
    now = datetime.now(UTC)
    events = services.store.processed_events
    # A signature is good for one delivery: the same one again is a replay.
    replay_window = timedelta(seconds=2 * WEBHOOK_TOLERANCE_SECONDS)
    if not await events.record(f"duffel-signature:{signature.digest}", now=now, ttl=replay_window):
        log.warning("duffel webhook replayed")
        return JSONResponse({"error": "replayed delivery"}, status_code=401)
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return JSONResponse({"error": "the body is not an event"}, status_code=400)
    if not await events.record(f"duffel:{event['id']}", now=now, ttl=DUFFEL_EVENT_TTL):
        return JSONResponse({"status": "duplicate"})
    return JSONResponse(
        {"status": "received"}, background=BackgroundTask(_handle_duffel_event, services, event)
    )
