"""Cancelling at the airline: releasing a held seat, and cancelling an issued order with the
refund it allows."""

from __future__ import annotations

import logging
from datetime import datetime

from integrations.ports.errors import (
    OutcomeUnknown,
    UpstreamFailure,
    UpstreamUnavailable,
)
from integrations.state.store import BookingRecord
from resolvers.errors import Conflict, UpstreamFailedError, UpstreamUnavailableError
from resolvers.ledger import Ledger
from resolvers.lifecycle import BookingStatus, OrderState
from resolvers.order_lookups import look_up
from resolvers.order_records import cancelled_at_airline, issue_new_refunds
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, Written, tell

log = logging.getLogger("sureflights.orders")

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
        return cancelled_at_airline(booking, ledger, current, now, source, Change())

    written = await record(deps, reference, cancelled)
    await tell(deps, written)
    return await issue_new_refunds(deps, written, source)


def _cancel_error(error: UpstreamFailure) -> Exception:
    if isinstance(error, UpstreamUnavailable):
        return UpstreamUnavailableError("The airline is unavailable; try cancelling again shortly.")
    return UpstreamFailedError(f"The airline did not cancel the booking: {error.detail}")
