"""Looking up what the airline did with an attempt whose outcome is unknown, and raising the
alarm when an answer is overdue."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sentry_sdk

from integrations.ports.airline import (
    Order,
)
from integrations.ports.errors import (
    UpstreamFailure,
)
from integrations.state.store import BookingRecord
from resolvers.events import BookingEventKind
from resolvers.ledger import Ledger
from resolvers.lifecycle import BookingStatus, OrderState
from resolvers.order_records import (
    INSTANT,
    apply_order,
    cancelled_at_airline,
    issue_new_refunds,
    new_attempt,
)
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, Written, announce, tell

log = logging.getLogger("sureflights.orders")

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
    written = await record_look_up(deps, reference, attempt_no, orders, listed, source)
    await _alarm_if_overdue(deps, written.after)
    # A cancellation found done claims the traveller's refund: ask for it now.
    return await issue_new_refunds(deps, written, source)


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


async def record_look_up(
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
                    change = cancelled_at_airline(booking, ledger, attempt, now, source, change)
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
        await announce(deps, written.after, BookingEventKind.UNKNOWN_AIRLINE_OUTCOME)
