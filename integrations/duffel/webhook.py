"""Duffel's webhooks: the X-Duffel-Signature check and the order an event carries."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import (
    ValidationError,
)

from integrations.duffel.wire import Unusable, WireOrder, order_from_wire
from integrations.ports.airline import Order

# --- Webhooks -------------------------------------------------------------------------------

# How far a webhook's signed timestamp may be from our clock, either way.
WEBHOOK_TOLERANCE_SECONDS = 300
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-fA-F]{64})$")


def webhook_signature(secret: str, body: bytes, timestamp: int) -> str:
    """`X-Duffel-Signature` for `body` signed at `timestamp`: `t=<unix time>,v1=<hex>`, the hex
    being HMAC-SHA256 of `<timestamp>.<raw body>` under the webhook's secret."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True, slots=True)
class WebhookSignature:
    timestamp: int
    digest: str


def read_webhook_signature(
    secret: str, body: bytes, header: str | None, *, now: float
) -> WebhookSignature | None:
    """The signature, when `header` signs `body` under `secret` (compared in constant time) at a
    time within `WEBHOOK_TOLERANCE_SECONDS` of `now`; None otherwise."""
    if not secret or not header:
        return None
    match = _SIGNATURE.match(header.strip())
    if match is None:
        return None
    timestamp = int(match.group(1))
    if abs(now - timestamp) > WEBHOOK_TOLERANCE_SECONDS:
        return None
    expected = webhook_signature(secret, body, timestamp).encode("ascii")
    presented = f"t={timestamp},v1={match.group(2).lower()}".encode("ascii")
    if not hmac.compare_digest(expected, presented):
        return None
    return WebhookSignature(timestamp, match.group(2).lower())


def order_from_event(obj: Mapping[str, Any]) -> Order | None:
    """The order a webhook event carries (`data.object` of `order.created`), if it reads whole."""
    try:
        return order_from_wire(WireOrder.model_validate(dict(obj)))
    except (ValidationError, Unusable, ValueError):
        return None
