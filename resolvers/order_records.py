"""Airline order attempts and what the airline's record says of them: the order an attempt
made, refusals, and the refund an airline cancellation owes."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from decimal import Decimal

from integrations.ports.airline import (
    Order,
    OrderPassengerInput,
)
from integrations.ports.errors import (
    CredentialsRejected,
    UpstreamError,
    UpstreamFailure,
    UpstreamRejected,
    UpstreamUnavailable,
)
from integrations.ports.flights import OfferUnavailable
from integrations.state.store import BookingRecord
from resolvers.ledger import AirlineOrder, Ledger
from resolvers.lifecycle import BookingStatus, OrderState, RefundState
from resolvers.money import from_subunits, quantize, to_subunits
from resolvers.passengers import PassengerDetails
from resolvers.refunds import add_refund, issue
from resolvers.saga import Change, SagaDeps, Written

log = logging.getLogger("sureflights.orders")


HOLD = "hold"
INSTANT = "instant"


def new_correlation_id() -> str:
    return "sf_" + secrets.token_hex(12)


def passengers_of(booking: BookingRecord) -> list[tuple[str, PassengerDetails]]:
    return [
        (p["offer_passenger_id"], PassengerDetails.from_data(p)) for p in booking.data["passengers"]
    ]


def order_passengers(booking: BookingRecord) -> list[OrderPassengerInput]:
    pairs = passengers_of(booking)
    adults = [pid for pid, p in pairs if p.type == "adult"]
    infants = [pid for pid, p in pairs if p.type == "infant_without_seat"]
    # Each infant travels on one adult's lap, in order.
    lap = dict(zip(adults, infants, strict=False))
    return [
        OrderPassengerInput(
            id=pid,
            title=p.title,
            given_name=p.given_name,
            family_name=p.family_name,
            gender=p.gender,
            born_on=p.born_on,
            email=p.email,
            phone_number=p.phone_number,
            infant_passenger_id=lap.get(pid),
        )
        for pid, p in pairs
    ]


def airline_total(booking: BookingRecord) -> tuple[Decimal, str]:
    total = booking.data["airline_total"]
    return Decimal(total["amount"]), str(total["currency"])


def new_attempt(ledger: Ledger, kind: str, now: datetime, source: str) -> AirlineOrder:
    """The next attempt, stored as intended before the airline is asked."""
    attempt = AirlineOrder(
        attempt=len(ledger.orders) + 1,
        kind=kind,
        correlation_id=new_correlation_id(),
        state=OrderState.INTENDED,
        intended_at=now,
        updated_at=now,
    )
    ledger.orders.append(attempt)
    ledger.note(now, source, "order.intended", f"attempt {attempt.attempt} ({kind})")
    return attempt


# --- What the airline's record says of an attempt --------------------------------------------


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def apply_order(
    booking: BookingRecord,
    ledger: Ledger,
    attempt: AirlineOrder,
    order: Order,
    now: datetime,
    source: str,
) -> Change:
    """Record what the airline says of `attempt`'s order, and what it means for the booking."""
    if order.cancelled_at is not None:
        state = OrderState.CANCELLED
    elif order.payment_status.awaiting_payment:
        state = OrderState.PLACED
    else:
        state = OrderState.CONFIRMED
    if attempt.state is OrderState.PAYING and state is OrderState.PLACED:
        # Still unpaid: positive only once the payer had time to finish.
        state = OrderState.PAYING
    ledger.move_order(attempt, state, now, source, f"order {order.id}")
    attempt.order_id = order.id
    attempt.airline_reference = order.booking_reference or attempt.airline_reference
    attempt.amount, attempt.currency = str(order.total_amount), order.total_currency
    if state is OrderState.CONFIRMED and attempt.confirmed_at is None:
        attempt.confirmed_at = now
    change = Change()
    status = BookingStatus(booking.status)
    waiting = status is BookingStatus.PENDING_PAYMENT and not booking.airline_order_id
    if state is OrderState.PLACED and waiting:
        # The held order gives the traveller the airline's reference and a deadline now.
        pay_by = _earliest(
            order.payment_status.payment_required_by,
            order.payment_status.price_guarantee_expires_at,
        )
        change.fields = {
            "airline_order_id": order.id,
            "airline_reference": order.booking_reference,
            "pay_by": pay_by,
            "expires_at": _earliest(pay_by, booking.expires_at),
        }
    if (
        state is OrderState.CONFIRMED
        and status is BookingStatus.CONFIRMING
        and attempt.airline_reference
        and ledger.flown_order is None
    ):
        # Never confirmed without the airline's reference.
        attempt.flown = True
        change.status = BookingStatus.CONFIRMED
        change.fields = {
            "airline_order_id": order.id,
            "airline_reference": attempt.airline_reference,
        }
        ledger.note(now, source, "booking.confirmed", attempt.airline_reference)
    return change


def is_refusal(error: UpstreamFailure) -> bool:
    """Only an explicit answer from the airline is a refusal: the offer is gone, the input was
    refused, or the airline answered with an error. Unavailability (a 5xx `order_not_created`,
    a 429, a connection never made) and our own credentials being refused are not: nothing was
    asked of the airline, so it is asked again."""
    if isinstance(error, CredentialsRejected | UpstreamUnavailable):
        return False
    return isinstance(error, OfferUnavailable | UpstreamRejected | UpstreamError)


async def issue_new_refunds(deps: SagaDeps, written: Written, source: str) -> BookingRecord:
    """Ask the provider for the refunds a step has just claimed."""
    before = {r.id for r in Ledger.of(written.before).refunds}
    booking = written.after
    for refund in written.ledger.refunds:
        if refund.id not in before and refund.state is RefundState.REQUESTED:
            booking = await issue(deps, booking.reference, refund.id, source=source)
    return booking


def cancelled_at_airline(
    booking: BookingRecord,
    ledger: Ledger,
    order: AirlineOrder,
    now: datetime,
    source: str,
    change: Change,
) -> Change:
    """The airline cancelled `order`. If the booking flew on it, the booking is cancelled and
    what the airline returns goes back to the traveller, at the rate they paid."""
    ledger.move_order(order, OrderState.CANCELLED, now, source)
    if not order.flown or booking.status != BookingStatus.CONFIRMED:
        return change
    change.status = BookingStatus.CANCELLED
    capture = ledger.backing
    due = refund_due(booking, ledger, order)
    change.fields["data"] = {
        "cancellation": {
            "id": order.cancellation_id,
            "airline_refund": (
                {"amount": order.refund_amount, "currency": order.refund_currency}
                if order.refund_amount
                else None
            ),
            "refund_subunits": due,
        }
    }
    if capture is not None and due > 0:
        add_refund(
            ledger,
            capture.payment_reference,
            due,
            capture.currency,
            "cancelled with the airline",
            now,
            source,
        )
    ledger.note(now, source, "booking.cancelled", f"refund due {due}")
    return change


def refund_due(booking: BookingRecord, ledger: Ledger, order: AirlineOrder) -> int:
    """The airline's refund at the rate the traveller paid, never more than was paid."""
    capture = ledger.backing
    if capture is None or order.refund_amount is None or order.refund_currency is None:
        return 0
    airline_amount, airline_currency = airline_total(booking)
    if order.refund_currency != airline_currency:
        log.error("airline refunds in another currency", extra={"booking": booking.reference})
        return 0
    paid = from_subunits(capture.amount_subunits, capture.currency)
    rate = paid / airline_amount
    due = quantize(Decimal(order.refund_amount) * rate, capture.currency)
    left = ledger.unrefunded_subunits(capture)
    return max(0, min(to_subunits(due, capture.currency), left))
