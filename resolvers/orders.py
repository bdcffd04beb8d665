"""Airline orders: placing, paying, looking up and cancelling them, each attempt exactly once.

Duffel takes no idempotency key for orders, so an attempt is written to the ledger (with its
correlation id, and our booking reference in the order's metadata) before the airline is asked.
Only an explicit refusal is a refusal. Anything else that was not a readable success (a timeout,
a 5xx, 202 Accepted, a body that does not parse) leaves the outcome unknown, and an unknown is
resolved only by the airline's own record: a look-up that finds the order, or one that
positively finds none. A look-up that fails is still unknown, never "no order".
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sentry_sdk

from integrations.duffel.webhook import order_from_event
from integrations.ports.airline import (
    BOOKING_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    Order,
    OrderPassengerInput,
)
from integrations.ports.errors import (
    CredentialsRejected,
    OutcomeUnknown,
    UpstreamError,
    UpstreamFailure,
    UpstreamRejected,
    UpstreamUnavailable,
)
from integrations.ports.flights import OfferUnavailable
from integrations.state.store import BookingRecord
from resolvers.errors import Conflict, UpstreamErrorError, UpstreamUnavailableError
from resolvers.ledger import AirlineChange, AirlineOrder, Ledger
from resolvers.lifecycle import BookingStatus, OrderState, RefundState
from resolvers.money import from_subunits, quantize, to_subunits
from resolvers.passengers import PassengerDetails
from resolvers.plan import record
from resolvers.refunds import add_refund, issue
from resolvers.saga import Change, SagaDeps, Written, announce, tell

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


def _airline_total(booking: BookingRecord) -> tuple[Decimal, str]:
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


def _is_refusal(error: UpstreamFailure) -> bool:
    """Only an explicit answer from the airline is a refusal: the offer is gone, the input was
    refused, or the airline answered with an error. Unavailability (a 5xx `order_not_created`,
    a 429, a connection never made) and our own credentials being refused are not: nothing was
    asked of the airline, so it is asked again."""
    if isinstance(error, CredentialsRejected | UpstreamUnavailable):
        return False
    return isinstance(error, OfferUnavailable | UpstreamRejected | UpstreamError)


# --- Placing ---------------------------------------------------------------------------------


async def place_hold(deps: SagaDeps, reference: str, *, source: str) -> BookingRecord:
    """Hold seat and price with the airline for a booking just created (its first attempt is
    already stored as intended); when that fails, the order simply follows payment."""
    booking = await deps.store.bookings.get(reference)
    assert booking is not None
    attempt = Ledger.of(booking).order(1)
    if attempt is None or attempt.state is not OrderState.INTENDED:
        return booking
    return await _ask_for_order(deps, booking, attempt, source=source)


async def place_order(
    deps: SagaDeps, reference: str, *, source: str, current: BookingRecord | None = None
) -> BookingRecord:
    """Order now for a paid booking that positively has no order yet."""
    chosen: list[AirlineOrder] = []

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        latest = ledger.latest_order
        if booking.status != BookingStatus.CONFIRMING:
            return None
        if latest is not None and latest.state not in (OrderState.ABSENT, OrderState.REFUSED):
            return None
        if latest is not None and latest.state is OrderState.REFUSED and latest.kind == INSTANT:
            return None
        chosen[:] = [new_attempt(ledger, INSTANT, now, source)]
        return Change()

    written = await record(deps, reference, decide, current=current)
    if not written.wrote:
        return written.after
    return await _ask_for_order(deps, written.after, chosen[0], source=source)


async def _ask_for_order(
    deps: SagaDeps, booking: BookingRecord, attempt: AirlineOrder, *, source: str
) -> BookingRecord:
    await deps.reached("order.intended", booking.reference)
    amount, currency = _airline_total(booking)
    try:
        order = await deps.airline.create_order(
            offer_id=booking.offer_id,
            passengers=order_passengers(booking),
            amount=amount,
            currency=currency,
            order_type="hold" if attempt.kind == HOLD else "instant",
            correlation_id=attempt.correlation_id,
            booking_reference=booking.reference,
        )
    except OutcomeUnknown as error:
        await deps.reached("order.unknown", booking.reference)
        log.warning(
            "airline order outcome unknown",
            extra={
                "booking": booking.reference,
                "attempt": attempt.attempt,
                "detail": error.detail,
            },
        )
        written = await _record_unknown(deps, booking.reference, attempt.attempt, error, source)
        # It may well exist already: look now, and keep looking until the airline says.
        return await look_up(deps, written.after.reference, attempt.attempt, source=source)
    except UpstreamFailure as error:
        refused = _is_refusal(error)
        log.log(
            logging.INFO if refused else logging.WARNING,
            "airline did not create the order",
            extra={"booking": booking.reference, "refused": refused, "detail": error.detail},
        )
        state = OrderState.REFUSED if refused else OrderState.ABSENT
        return (
            await _record_no_order(deps, booking.reference, attempt.attempt, state, error, source)
        ).after
    await deps.reached("order.created", booking.reference)
    return (await _record_found(deps, booking.reference, {attempt.attempt: order}, source)).after


async def _record_unknown(
    deps: SagaDeps, reference: str, attempt_no: int, error: OutcomeUnknown, source: str
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if attempt is None or attempt.state is not OrderState.INTENDED:
            return None
        ledger.move_order(attempt, OrderState.UNKNOWN, now, source, error.detail)
        resource = error.resource_id or ""
        if resource.startswith("ord_"):
            attempt.order_id = resource
        elif resource:
            attempt.pending_id = resource
        return Change()

    return await record(deps, reference, decide)


async def _record_no_order(
    deps: SagaDeps,
    reference: str,
    attempt_no: int,
    state: OrderState,
    error: UpstreamFailure,
    source: str,
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if attempt is None or not ledger.move_order(attempt, state, now, source, error.detail):
            return None
        if state is OrderState.ABSENT:
            # Nothing was created; ask again a little later rather than at once.
            attempt.retry_at = now + deps.timings.resume_after
        return Change()

    written = await record(deps, reference, decide)
    await tell(deps, written)
    return written


async def _record_found(
    deps: SagaDeps, reference: str, found: dict[int, Order], source: str
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        change = Change()
        for attempt_no, order in found.items():
            attempt = ledger.order(attempt_no)
            if attempt is None:
                continue
            applied = apply_order(booking, ledger, attempt, order, now, source)
            change.status = applied.status or change.status
            change.fields.update(applied.fields)
        return change

    written = await record(deps, reference, decide)
    await tell(deps, written)
    return written


# --- Looking up ------------------------------------------------------------------------------


async def look_up(deps: SagaDeps, reference: str, attempt_no: int, *, source: str) -> BookingRecord:
    """Ask the airline what became of an attempt (and of every other open one)."""
    booking = await deps.store.bookings.get(reference)
    assert booking is not None
    ledger = Ledger.of(booking)
    attempt = ledger.order(attempt_no)
    if attempt is None:
        return booking
    lead = booking.data["passengers"][0]["family_name"]
    try:
        if attempt.order_id:
            orders = [await deps.airline.get_order(attempt.order_id)]
            listed = False
        else:
            orders = await deps.airline.find_orders(
                booking.reference,
                family_name=lead,
                correlation_ids=[o.correlation_id for o in ledger.orders],
            )
            listed = True
    except UpstreamFailure as error:
        log.warning(
            "order look-up failed: the outcome stays unknown",
            extra={"booking": reference, "attempt": attempt_no, "detail": error.detail},
        )
        return (await _looked(deps, reference, attempt_no, source, failed=error.detail)).after
    written = await _record_look_up(deps, reference, attempt_no, orders, listed, source)
    await _alarm_if_overdue(deps, written.after)
    # A cancellation found done claims the traveller's refund: ask for it now.
    return await _issue_new_refunds(deps, written, source)


async def _looked(
    deps: SagaDeps, reference: str, attempt_no: int, source: str, *, failed: str
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if attempt is None:
            return None
        attempt.looked_up_at = now
        ledger.note(now, source, "order.look_up_failed", f"attempt {attempt_no}: {failed}")
        return Change()

    written = await record(deps, reference, decide)
    await _alarm_if_overdue(deps, written.after)
    return written


async def _record_look_up(
    deps: SagaDeps,
    reference: str,
    attempt_no: int,
    orders: Sequence[Order],
    listed: bool,
    source: str,
) -> Written:
    grace = deps.timings.resume_after

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        change = Change()
        matched: set[str] = set()
        for order in orders:
            attempt = ledger.order_by_id(order.id) or (
                ledger.order_by_correlation(order.correlation_id) if order.correlation_id else None
            )
            if attempt is None:
                # An order made for this booking that no attempt names: record it, so that it
                # is accounted for (and cancelled if it is one too many).
                attempt = new_attempt(ledger, INSTANT, now, source)
                ledger.note(now, source, "order.unrecognised", order.id)
            matched.add(attempt.correlation_id)
            if attempt.state is OrderState.CANCELLING:
                if order.cancelled_at is not None:
                    change = _cancelled_at_airline(booking, ledger, attempt, now, source, change)
                elif now - attempt.updated_at >= grace and attempt.cancelling_from is not None:
                    ledger.move_order(
                        attempt, attempt.cancelling_from, now, source, "the airline did not cancel"
                    )
                attempt.looked_up_at = now
                continue
            if attempt.state is OrderState.PAYING and order.payment_status.awaiting_payment:
                if now - attempt.updated_at >= grace:
                    ledger.move_order(
                        attempt, OrderState.PLACED, now, source, "positively still unpaid"
                    )
                attempt.looked_up_at = now
                continue
            applied = apply_order(booking, ledger, attempt, order, now, source)
            change.status = applied.status or change.status
            change.fields.update(applied.fields)
            attempt.looked_up_at = now
        if listed:
            for attempt in ledger.open_orders:
                if attempt.correlation_id in matched:
                    continue
                attempt.looked_up_at = now
                # Only a look-up made when the asker has had time to finish is positive.
                if now - attempt.intended_at >= grace:
                    ledger.move_order(
                        attempt, OrderState.ABSENT, now, source, "a look-up found no order"
                    )
        target = ledger.order(attempt_no)
        if target is not None:
            target.looked_up_at = now
        return change

    written = await record(deps, reference, decide)
    await tell(deps, written)
    return written


# Attempts whose outcome the airline has not told yet.
_AWAITED = frozenset({OrderState.INTENDED, OrderState.UNKNOWN, OrderState.PAYING})


async def _alarm_if_overdue(deps: SagaDeps, booking: BookingRecord) -> None:
    """Operators hear once when a paid booking's airline outcome is still unknown too long."""
    ledger = Ledger.of(booking)
    if booking.status != BookingStatus.CONFIRMING or ledger.settled_at is None:
        return
    overdue = deps.clock() - ledger.settled_at > deps.timings.unknown_outcome_alarm
    pending = [o for o in ledger.orders if o.state in _AWAITED]
    if not overdue or not pending or all(o.alarmed_at for o in pending):
        return

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        fresh = [o for o in ledger.orders if o.state in _AWAITED and not o.alarmed_at]
        if not fresh:
            return None
        for order in fresh:
            order.alarmed_at = now
        ledger.note(now, "reconciler", "operators.alerted", "airline outcome still unknown")
        return Change()

    written = await record(deps, booking.reference, decide)
    if written.wrote:
        log.error(
            "paid booking with an airline outcome still unknown",
            extra={"booking": booking.reference},
        )
        sentry_sdk.capture_message(
            f"booking {booking.reference}: paid, airline order outcome still unknown"
        )
        await announce(deps, written.after, "unknown_airline_outcome")


# --- Paying a held order ----------------------------------------------------------------------


async def pay_hold(
    deps: SagaDeps, reference: str, attempt_no: int, *, source: str
) -> BookingRecord:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if booking.status != BookingStatus.CONFIRMING or attempt is None:
            return None
        if attempt.state is not OrderState.PLACED or attempt.pay_refused:
            return None
        ledger.move_order(attempt, OrderState.PAYING, now, source)
        return Change()

    written = await record(deps, reference, decide)
    if not written.wrote:
        return written.after
    booking = written.after
    attempt = Ledger.of(booking).order(attempt_no)
    assert attempt is not None and attempt.order_id is not None
    amount, currency = _airline_total(booking)
    await deps.reached("hold.paying", reference)
    try:
        payment = await deps.airline.pay_order(attempt.order_id, amount, currency)
    except OutcomeUnknown:
        return await look_up(deps, reference, attempt_no, source=source)
    except (UpstreamUnavailable, CredentialsRejected) as error:
        return (await _pay_not_taken(deps, reference, attempt_no, error.detail, source)).after
    except UpstreamFailure as error:
        # Refused, unless it was already paid: ask the airline which.
        return await _after_pay_refusal(deps, reference, attempt_no, error.detail, source)
    if payment.status in ("failed", "cancelled"):
        return await _after_pay_refusal(
            deps, reference, attempt_no, f"payment {payment.status}", source
        )
    return await look_up(deps, reference, attempt_no, source=source)


async def _pay_not_taken(
    deps: SagaDeps, reference: str, attempt_no: int, detail: str, source: str
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if attempt is None or not ledger.move_order(
            attempt, OrderState.PLACED, now, source, detail
        ):
            return None
        attempt.retry_at = now + deps.timings.resume_after
        return Change()

    return await record(deps, reference, decide)


async def _after_pay_refusal(
    deps: SagaDeps, reference: str, attempt_no: int, detail: str, source: str
) -> BookingRecord:
    booking = await deps.store.bookings.get(reference)
    assert booking is not None
    attempt = Ledger.of(booking).order(attempt_no)
    assert attempt is not None and attempt.order_id is not None
    try:
        order = await deps.airline.get_order(attempt.order_id)
    except UpstreamFailure:
        return booking  # paying, outcome unknown: looked up again later
    if not order.payment_status.awaiting_payment:
        return (await _record_found(deps, reference, {attempt_no: order}, source)).after

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        current = ledger.order(attempt_no)
        if current is None or not ledger.move_order(
            current, OrderState.PLACED, now, source, detail
        ):
            return None
        current.pay_refused = True
        return Change()

    return (await record(deps, reference, decide)).after


# --- Confirming and failing -------------------------------------------------------------------


async def confirm(deps: SagaDeps, reference: str, attempt_no: int, *, source: str) -> BookingRecord:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if booking.status != BookingStatus.CONFIRMING or attempt is None:
            return None
        if attempt.state is not OrderState.CONFIRMED or not attempt.airline_reference:
            return None
        if ledger.flown_order is not None and ledger.flown_order is not attempt:
            return None
        attempt.flown = True
        ledger.note(now, source, "booking.confirmed", attempt.airline_reference)
        return Change(
            status=BookingStatus.CONFIRMED,
            fields={
                "airline_order_id": attempt.order_id,
                "airline_reference": attempt.airline_reference,
            },
        )

    written = await record(deps, reference, decide)
    await tell(deps, written)
    return written.after


async def fail(deps: SagaDeps, reference: str, reason: str, *, source: str) -> BookingRecord:
    """A paid booking that cannot be flown fails; its money then goes back (a refund step)."""

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if booking.status != BookingStatus.CONFIRMING:
            return None
        if ledger.open_orders or any(o.state is OrderState.PAYING for o in ledger.orders):
            return None  # never on a guess: an order may still exist
        ledger.note(now, source, "booking.failed", reason)
        return Change(status=BookingStatus.FAILED, fields={"data": {"failure": reason[:300]}})

    written = await record(deps, reference, decide)
    if written.moved:
        log.warning("paid booking failed", extra={"booking": reference, "reason": reason})
    await tell(deps, written)
    return written.after


# --- Cancelling at the airline ---------------------------------------------------------------


async def release(deps: SagaDeps, reference: str, attempt_no: int, *, source: str) -> BookingRecord:
    """Cancel an order nobody will fly: a held order of an ended booking, or one too many."""

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if attempt is None or attempt.state not in (OrderState.PLACED, OrderState.CONFIRMED):
            return None
        if attempt.flown:
            return None
        attempt.cancelling_from = attempt.state
        ledger.move_order(attempt, OrderState.CANCELLING, now, source, "releasing")
        return Change()

    written = await record(deps, reference, decide)
    if not written.wrote:
        return written.after
    attempt = Ledger.of(written.after).order(attempt_no)
    assert attempt is not None and attempt.order_id is not None
    try:
        quote = await deps.airline.create_order_cancellation(attempt.order_id)
        await deps.airline.confirm_order_cancellation(quote.id)
    except OutcomeUnknown:
        return await look_up(deps, reference, attempt_no, source=source)
    except UpstreamFailure as error:
        log.warning("order not released yet", extra={"booking": reference, "detail": error.detail})
        return (await _not_cancelled(deps, reference, attempt_no, error.detail, source)).after
    return await look_up(deps, reference, attempt_no, source=source)


async def _not_cancelled(
    deps: SagaDeps, reference: str, attempt_no: int, detail: str, source: str
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        attempt = ledger.order(attempt_no)
        if attempt is None or attempt.state is not OrderState.CANCELLING:
            return None
        back = attempt.cancelling_from or OrderState.CONFIRMED
        ledger.move_order(attempt, back, now, source, f"not cancelled: {detail}")
        attempt.retry_at = now + deps.timings.resume_after
        return Change()

    return await record(deps, reference, decide)


async def cancel_issued(deps: SagaDeps, reference: str, *, source: str) -> BookingRecord:
    """Cancel a confirmed booking's order with the airline and refund what the airline returns."""

    def claim(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        flown = ledger.confirmed_order
        if booking.status != BookingStatus.CONFIRMED or flown is None:
            raise Conflict(
                f"A {booking.status} booking cannot be cancelled.", status=booking.status
            )
        if flown.state is OrderState.CANCELLING:
            raise Conflict("This booking is already being cancelled.")
        flown.cancelling_from = OrderState.CONFIRMED
        ledger.move_order(flown, OrderState.CANCELLING, now, source, "cancellation asked")
        return Change()

    written = await record(deps, reference, claim)
    flown = Ledger.of(written.after).confirmed_order
    assert flown is not None and flown.order_id is not None
    await deps.reached("cancel.claimed", reference)
    try:
        quote = await deps.airline.create_order_cancellation(flown.order_id)
    except UpstreamFailure as error:
        # A quote changes nothing at the airline: the order stands as it was.
        await _not_cancelled(deps, reference, flown.attempt, error.detail, source)
        raise _cancel_error(error) from error

    def quoted(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        current = ledger.order(flown.attempt)
        if current is None or current.state is not OrderState.CANCELLING:
            return None
        current.cancellation_id = quote.id
        refund = quote.refund
        current.refund_amount = str(refund.amount) if refund else None
        current.refund_currency = refund.currency if refund else None
        ledger.note(
            now,
            source,
            "order.cancellation_quoted",
            f"{refund.amount} {refund.currency}" if refund else "no refund",
        )
        return Change()

    await record(deps, reference, quoted)
    try:
        await deps.airline.confirm_order_cancellation(quote.id)
    except OutcomeUnknown as error:
        booking = await look_up(deps, reference, flown.attempt, source=source)
        if booking.status == BookingStatus.CANCELLED:
            return booking
        raise UpstreamUnavailableError(
            "The airline has not confirmed the cancellation yet; the booking will be updated "
            "once it does."
        ) from error
    except UpstreamFailure as error:
        booking = await look_up(deps, reference, flown.attempt, source=source)
        if booking.status == BookingStatus.CANCELLED:
            return booking
        await _not_cancelled(deps, reference, flown.attempt, error.detail, source)
        raise _cancel_error(error) from error

    def cancelled(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        current = ledger.order(flown.attempt)
        if current is None or current.state is not OrderState.CANCELLING:
            return None
        return _cancelled_at_airline(booking, ledger, current, now, source, Change())

    written = await record(deps, reference, cancelled)
    await tell(deps, written)
    return await _issue_new_refunds(deps, written, source)


async def _issue_new_refunds(deps: SagaDeps, written: Written, source: str) -> BookingRecord:
    """Ask the provider for the refunds a step has just claimed."""
    before = {r.id for r in Ledger.of(written.before).refunds}
    booking = written.after
    for refund in written.ledger.refunds:
        if refund.id not in before and refund.state is RefundState.REQUESTED:
            booking = await issue(deps, booking.reference, refund.id, source=source)
    return booking


def _cancel_error(error: UpstreamFailure) -> Exception:
    if isinstance(error, UpstreamUnavailable):
        return UpstreamUnavailableError("The airline is unavailable; try cancelling again shortly.")
    return UpstreamErrorError(f"The airline did not cancel the booking: {error.detail}")


def _cancelled_at_airline(
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
    airline_amount, airline_currency = _airline_total(booking)
    if order.refund_currency != airline_currency:
        log.error("airline refunds in another currency", extra={"booking": booking.reference})
        return 0
    paid = from_subunits(capture.amount_subunits, capture.currency)
    rate = paid / airline_amount
    due = quantize(Decimal(order.refund_amount) * rate, capture.currency)
    left = ledger.unrefunded_subunits(capture)
    return max(0, min(to_subunits(due, capture.currency), left))


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
        await _record_look_up(deps, booking.reference, 0, [order], False, "webhook:duffel")
    else:
        await _record_found(deps, booking.reference, {attempt.attempt: order}, "webhook:duffel")
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
        await announce(deps, written.after, "airline_change", change=change_id)
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
