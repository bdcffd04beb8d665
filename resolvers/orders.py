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
from datetime import datetime

from integrations.ports.airline import (
    Order,
)
from integrations.ports.errors import (
    CredentialsRejected,
    OutcomeUnknown,
    UpstreamFailure,
    UpstreamUnavailable,
)
from integrations.state.store import BookingRecord
from resolvers.ledger import AirlineOrder, Ledger
from resolvers.lifecycle import BookingStatus, OrderState
from resolvers.order_lookups import look_up
from resolvers.order_records import (
    HOLD,
    INSTANT,
    airline_total,
    apply_order,
    is_refusal,
    new_attempt,
    order_passengers,
)
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, Written, tell

log = logging.getLogger("sureflights.orders")

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
    amount, currency = airline_total(booking)
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
        refused = is_refusal(error)
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
    return (await record_found(deps, booking.reference, {attempt.attempt: order}, source)).after


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


async def record_found(
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
    amount, currency = airline_total(booking)
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
        return (await record_found(deps, reference, {attempt_no: order}, source)).after

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
