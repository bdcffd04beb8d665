"""The airline's own events (Duffel webhooks) applied to bookings: orders created or not,
holds paid, airline-initiated changes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from integrations.duffel.webhook import order_from_event
from integrations.ports.airline import (
    BOOKING_METADATA_KEY,
    CORRELATION_METADATA_KEY,
)
from integrations.state.store import BookingRecord
from resolvers.airline_changes import record_changes
from resolvers.ledger import Ledger
from resolvers.lifecycle import OrderState
from resolvers.order_lookups import look_up, record_look_up
from resolvers.orders import record_found
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, tell

log = logging.getLogger("sureflights.orders")

# --- The airline's events (Duffel webhooks) ---------------------------------------------------

DUFFEL_EVENTS = frozenset(
    {
        "order.created",
        "order.creation_failed",
        "order.airline_initiated_change_detected",
        "payment.created",
    }
)


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


async def on_duffel_event(deps: SagaDeps, event: Mapping[str, Any]) -> str:
    """Apply one Duffel event; returns what it did, for the log."""
    kind = str(event.get("type") or "")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        return "no object"
    if kind == "order.created":
        return await _order_created(deps, obj)
    if kind == "order.creation_failed":
        return await _order_creation_failed(deps, obj)
    if kind == "order.airline_initiated_change_detected":
        return await _airline_change(deps, event, obj)
    if kind == "payment.created":
        return await _hold_paid(deps, obj)
    return "ignored"


async def _booking_for(deps: SagaDeps, obj: Mapping[str, Any]) -> BookingRecord | None:
    reference = _metadata(obj).get(BOOKING_METADATA_KEY)
    if isinstance(reference, str) and reference:
        found = await deps.store.bookings.get(reference)
        if found is not None:
            return found
    order_id = obj.get("order_id") or obj.get("id")
    if isinstance(order_id, str) and order_id:
        return await deps.store.bookings.get_by_airline_order(order_id)
    return None


async def _order_created(deps: SagaDeps, obj: Mapping[str, Any]) -> str:
    order = order_from_event(obj)
    booking = await _booking_for(deps, obj)
    if order is None or booking is None:
        return "order of no booking of ours"
    ledger = Ledger.of(booking)
    attempt = ledger.order_by_id(order.id) or (
        ledger.order_by_correlation(order.correlation_id) if order.correlation_id else None
    )
    if attempt is None:
        # Ours by its metadata, yet no attempt names it: recorded by the look-up's rule.
        await record_look_up(deps, booking.reference, 0, [order], False, "webhook:duffel")
    else:
        await record_found(deps, booking.reference, {attempt.attempt: order}, "webhook:duffel")
    return f"order {order.id} recorded"


async def _order_creation_failed(deps: SagaDeps, obj: Mapping[str, Any]) -> str:
    booking = await _booking_for(deps, obj)
    if booking is None:
        return "failed order of no booking of ours"
    correlation = _metadata(obj).get(CORRELATION_METADATA_KEY)
    pending = obj.get("id")

    def decide(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = (
            ledger.order_by_correlation(correlation) if isinstance(correlation, str) else None
        ) or next((o for o in ledger.orders if pending and o.pending_id == pending), None)
        if attempt is None or attempt.state not in (OrderState.INTENDED, OrderState.UNKNOWN):
            return None
        # The airline's own word that the accepted order was not created.
        ledger.move_order(attempt, OrderState.ABSENT, now, "webhook:duffel", "creation failed")
        return Change()

    written = await record(deps, booking.reference, decide)
    await tell(deps, written)
    return "creation failure recorded" if written.wrote else "nothing to record"


async def _hold_paid(deps: SagaDeps, obj: Mapping[str, Any]) -> str:
    order_id = obj.get("order_id")
    if not isinstance(order_id, str):
        return "payment of no order"
    booking = await deps.store.bookings.get_by_airline_order(order_id)
    if booking is None:
        return "payment of no booking of ours"
    attempt = Ledger.of(booking).order_by_id(order_id)
    if attempt is None:
        return "payment of no attempt"
    await look_up(deps, booking.reference, attempt.attempt, source="webhook:duffel")
    return "hold payment looked up"


async def _airline_change(deps: SagaDeps, event: Mapping[str, Any], obj: Mapping[str, Any]) -> str:
    # API v2 events name the order (`id`) and the change (`aic_id`); the change itself is read
    # from the airline, which is also how the reconciler finds changes whose event was lost.
    order_id = obj.get("order_id") or obj.get("id")
    booking = (
        await deps.store.bookings.get_by_airline_order(order_id)
        if isinstance(order_id, str)
        else None
    )
    if booking is None or not isinstance(order_id, str):
        return "change to no booking of ours"
    infos = await deps.airline.list_airline_changes(order_id)
    recorded = await record_changes(deps, booking.reference, infos, source="webhook:duffel")
    return f"{len(recorded)} airline change(s) recorded"
