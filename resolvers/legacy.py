"""Bookings stored before the ledger existed: their ledger, rebuilt once from what they recorded.

Such a booking kept its order intent, the payment it was paid with and its refunds in loose
`data` keys of the booking and its payments. The first time the saga touches one, those are read
into a ledger, so it is accounted for like any other (and never refunded twice, nor ordered
again).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from integrations.state.store import BookingRecord, PaymentRecord
from resolvers.ledger import AirlineOrder, Capture, CaptureRole, Ledger, OpenPayment, Refund
from resolvers.lifecycle import BookingStatus, OrderState, PaymentStatus, RefundState
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps

log = logging.getLogger("sureflights.legacy")

_REFUND_STATES = {
    "processed": RefundState.PROCESSED,
    "failed": RefundState.FAILED,
}


def _instant(text: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return fallback


def rebuild(booking: BookingRecord, payments: list[PaymentRecord]) -> Ledger:
    """The ledger a booking stored before the ledger would have had."""
    ledger = Ledger()
    status = BookingStatus(booking.status)
    paid_with = booking.data.get("paid_with")
    at = booking.updated_at
    for payment in payments:
        captured = payment.status in (PaymentStatus.SUCCESS, PaymentStatus.REFUNDED)
        refund_note = payment.data.get("refund") or {}
        late = payment.status == PaymentStatus.ABANDONED and refund_note
        if not (captured or late):
            if payment.status == PaymentStatus.PENDING and status is BookingStatus.PENDING_PAYMENT:
                ledger.open_payment = OpenPayment(
                    reference=payment.reference, state="open", at=payment.created_at
                )
            continue
        backing = captured and payment.reference == paid_with and not late
        when = _instant(payment.data.get("settled_at"), payment.paid_at or payment.updated_at)
        ledger.captures.append(
            Capture(
                payment_reference=payment.reference,
                amount_subunits=int(refund_note.get("amount_subunits") or payment.amount_subunits)
                if late
                else payment.amount_subunits,
                currency=payment.currency,
                captured_at=when,
                source="legacy",
                role=CaptureRole.BACKING if backing else CaptureRole.SURPLUS,
            )
        )
        if backing:
            ledger.settled_at = when
        if refund_note:
            refund_state = (
                _REFUND_STATES.get(str(refund_note.get("status")), RefundState.ISSUED)
                if refund_note.get("state") == "issued"
                else RefundState.REQUESTED
            )
            ledger.refunds.append(
                Refund(
                    id=f"{payment.reference}-R1",
                    payment_reference=payment.reference,
                    amount_subunits=int(refund_note.get("amount_subunits") or 0),
                    currency=payment.currency,
                    reason=str(refund_note.get("reason") or "refunded before the ledger"),
                    state=refund_state,
                    requested_at=payment.updated_at,
                    updated_at=payment.updated_at,
                    provider_id=str(refund_note["id"]) if refund_note.get("id") else None,
                    provider_status=refund_note.get("status"),
                )
            )
    intent = booking.data.get("order_intent") or {}
    if booking.airline_order_id or intent:
        confirmed = status is BookingStatus.CONFIRMED or (
            status is BookingStatus.CANCELLED and booking.data.get("cancellation")
        )
        if confirmed:
            state = (
                OrderState.CONFIRMED if status is BookingStatus.CONFIRMED else OrderState.CANCELLED
            )
        elif booking.airline_order_id and status is BookingStatus.PENDING_PAYMENT:
            state = OrderState.PLACED
        elif booking.airline_order_id:
            state = OrderState.UNKNOWN  # looked up: whether it still stands
        elif intent.get("state") in ("requested", "unknown"):
            state = OrderState.UNKNOWN
        else:
            state = OrderState.ABSENT
        ledger.orders.append(
            AirlineOrder(
                attempt=1,
                kind=str(intent.get("type") or "instant"),
                correlation_id=str(intent.get("correlation_id") or f"legacy-{booking.reference}"),
                state=state,
                intended_at=booking.created_at,
                updated_at=at,
                order_id=booking.airline_order_id,
                airline_reference=booking.airline_reference,
                confirmed_at=at if confirmed else None,
                flown=bool(confirmed),
            )
        )
    ledger.note(at, "legacy", "ledger.rebuilt", f"from a booking stored as {booking.status}")
    return ledger


async def adopt_legacy(deps: SagaDeps, booking: BookingRecord) -> BookingRecord:
    """Give a booking stored before the ledger its ledger (once; a no-op for the others)."""
    payments = await deps.store.payments.list_for_bookings([booking.reference])
    rebuilt = rebuild(booking, payments)

    def decide(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if current.ledger:
            return None
        for name in Ledger.model_fields:
            setattr(ledger, name, getattr(rebuilt, name))
        return Change()

    written = await record(deps, booking.reference, decide)
    if written.wrote:
        log.info(
            "ledger rebuilt for a booking stored before it", extra={"booking": booking.reference}
        )
    return written.after
