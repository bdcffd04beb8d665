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
from resolvers.events import BookingEventKind
from resolvers.ledger import AirlineChange, Ledger
from resolvers.lifecycle import OrderState
from resolvers.order_lookups import look_up, record_look_up
from resolvers.orders import record_found
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, announce, tell

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
    order_id = obj.get("order_id") or (obj.get("order") or {}).get("id")
    booking = (
        await deps.store.bookings.get_by_airline_order(order_id)
        if isinstance(order_id, str)
        else None
    )
    if booking is None:
        return "change to no booking of ours"
    change_id = str(obj.get("id") or event.get("id"))

    def decide(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if any(c.id == change_id for c in ledger.airline_changes):
            return None
        ledger.airline_changes.append(
            AirlineChange(
                id=change_id,
                order_id=order_id if isinstance(order_id, str) else None,
                detected_at=now,
                summary=_change_summary(obj),
                data=_trimmed(obj),
            )
        )
        ledger.note(now, "webhook:duffel", "airline.change_detected", change_id)
        return Change()

    written = await record(deps, booking.reference, decide)
    if written.wrote:
        log.warning(
            "the airline changed an issued order",
            extra={"booking": booking.reference, "change": change_id},
        )
        await announce(deps, written.after, BookingEventKind.AIRLINE_CHANGE, change=change_id)
    return "airline change recorded"


def _change_summary(obj: Mapping[str, Any]) -> str:
    added, removed = obj.get("added"), obj.get("removed")
    added_count = len(added) if isinstance(added, list) else 0
    removed_count = len(removed) if isinstance(removed, list) else 0
    if not (added_count or removed_count):
        return ""
    return f"{removed_count} slice(s) replaced by {added_count}"


def _trimmed(value: Any, depth: int = 0) -> Any:
    """A JSON copy of the airline's change, bounded so one event cannot bloat the booking."""
    if depth > 6:
        return None
    if isinstance(value, Mapping):
        return {str(k): _trimmed(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        return [_trimmed(v, depth + 1) for v in value[:20]]
    if isinstance(value, str):
        return value[:500]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)[:500]
