"""What a booking needs next, and when: the one place the saga's rules of progress live.

`pending(booking, ledger, timings)` lists every step the booking is waiting for with the moment
it becomes due. The reconciler's next look at a booking (`check_at`) is the earliest of them, and
`due_step` is the first whose moment has come. Both read only the booking and its ledger, so any
replica, after any crash, draws the same conclusion from what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from integrations.state.store import BookingRecord
from resolvers.ledger import AirlineOrder, CaptureRole, Ledger
from resolvers.lifecycle import BookingStatus, OrderState, RefundState
from resolvers.notifications.notices import earliest_due, first_departure
from resolvers.saga import Decide, SagaDeps, SagaTimings, Written, change_booking

ENDED = frozenset(
    {
        BookingStatus.EXPIRED,
        BookingStatus.CANCELLED,
        BookingStatus.FAILED,
        BookingStatus.REFUNDED,
    }
)


class StepKind(StrEnum):
    VERIFY_PAYMENT = "verify_payment"  # ask the provider about an open (or just-ended) payment
    RELEASE_CLAIM = "release_claim"  # a payment claim whose starter went away
    EXPIRE = "expire"  # the offer behind an unpaid booking ran out
    PLACE_ORDER = "place_order"  # paid, and positively no order yet: order now
    LOOK_UP_ORDER = "look_up_order"  # an order's outcome is not known: ask the airline
    PAY_HOLD = "pay_hold"  # paid, and the airline holds the order: pay it
    CONFIRM = "confirm"  # the order is issued with its reference: the booking is confirmed
    FAIL = "fail"  # the booking cannot be flown: it fails, and the money goes back
    RELEASE_ORDER = "release_order"  # an order nobody will fly: cancel it at the airline
    REFUND_CAPTURE = "refund_capture"  # money nothing is flown for: refund it
    RESOLVE_REFUND = "resolve_refund"  # a refund's outcome is not known: ask the provider
    FOLLOW_REFUND = "follow_refund"  # an issued refund: ask until processed or failed
    MARK_REFUNDED = "mark_refunded"  # a failed booking whose money is all on its way back
    NOTIFY = "notify"  # notices due: queue them into the notification outbox
    CHECK_CHANGES = "check_changes"  # ask the airline whether it changed an issued order


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    due_at: datetime
    attempt: int | None = None
    payment_reference: str | None = None
    refund_id: str | None = None
    reason: str = ""

    @property
    def key(self) -> tuple[str, int | None, str | None, str | None]:
        return (self.kind.value, self.attempt, self.payment_reference, self.refund_id)


def pending(booking: BookingRecord, ledger: Ledger, timings: SagaTimings) -> list[Step]:
    """Every step the booking waits for, each with when it is due."""
    status = BookingStatus(booking.status)
    steps: list[Step] = []
    steps += _payment_steps(booking, ledger, status, timings)
    steps += _order_steps(booking, ledger, status, timings)
    steps += _money_steps(ledger, status, timings)
    steps += _notice_steps(booking, ledger, status, timings)
    return steps


def next_check(booking: BookingRecord, ledger: Ledger, timings: SagaTimings) -> datetime | None:
    """When the reconciler should look at the booking again; None while nothing is pending."""
    steps = pending(booking, ledger, timings)
    return min(step.due_at for step in steps) if steps else None


async def record(
    deps: SagaDeps, reference: str, decide: Decide, *, current: BookingRecord | None = None
) -> Written:
    """Write a step's decision, with the reconciler's next check time derived from the result.
    `current`: the booking as the caller has just read it, if it has."""
    return await change_booking(
        deps,
        reference,
        decide,
        schedule=lambda b, ledger: next_check(b, ledger, deps.timings),
        current=current,
    )


def due_step(
    booking: BookingRecord, ledger: Ledger, timings: SagaTimings, now: datetime
) -> Step | None:
    """The most urgent step whose time has come, if any."""
    due = [step for step in pending(booking, ledger, timings) if step.due_at <= now]
    return min(due, key=lambda step: (_PRIORITY[step.kind], step.due_at)) if due else None


# Money and orders first, then what only tidies up.
_PRIORITY = {
    StepKind.CONFIRM: 0,
    StepKind.FAIL: 1,
    StepKind.LOOK_UP_ORDER: 2,
    StepKind.PAY_HOLD: 3,
    StepKind.PLACE_ORDER: 4,
    StepKind.REFUND_CAPTURE: 5,
    StepKind.RESOLVE_REFUND: 6,
    StepKind.MARK_REFUNDED: 7,
    StepKind.EXPIRE: 8,
    StepKind.VERIFY_PAYMENT: 9,
    StepKind.RELEASE_ORDER: 10,
    StepKind.RELEASE_CLAIM: 11,
    StepKind.FOLLOW_REFUND: 12,
    StepKind.CHECK_CHANGES: 13,
    StepKind.NOTIFY: 14,
}


def _payment_steps(
    booking: BookingRecord, ledger: Ledger, status: BookingStatus, timings: SagaTimings
) -> list[Step]:
    steps: list[Step] = []
    opened = ledger.open_payment
    if opened is not None:
        if opened.state == "open":
            since = opened.checked_at or opened.at
            steps.append(
                Step(
                    StepKind.VERIFY_PAYMENT,
                    since + timings.verify_after,
                    payment_reference=opened.reference,
                )
            )
        else:
            steps.append(
                Step(
                    StepKind.RELEASE_CLAIM,
                    opened.at + timings.resume_after,
                    payment_reference=opened.reference,
                )
            )
    for watched in ledger.watched:
        steps.append(
            Step(StepKind.VERIFY_PAYMENT, watched.due_at, payment_reference=watched.reference)
        )
    if status is BookingStatus.PENDING_PAYMENT and booking.expires_at is not None:
        steps.append(Step(StepKind.EXPIRE, booking.expires_at))
    return steps


# Orders whose outcome at the airline is not known yet: looked up until it is.
_UNSETTLED_ORDER_STATES = frozenset(
    {OrderState.INTENDED, OrderState.UNKNOWN, OrderState.PAYING, OrderState.CANCELLING}
)


def _look_up_at(order: AirlineOrder, timings: SagaTimings) -> datetime:
    """When an order whose outcome is open is next asked about."""
    if order.state is OrderState.INTENDED:
        # The asker may still be waiting for the airline's answer: leave it time to record it.
        return order.intended_at + timings.resume_after
    return (order.looked_up_at or order.updated_at) + timings.resume_after


def _order_steps(
    booking: BookingRecord, ledger: Ledger, status: BookingStatus, timings: SagaTimings
) -> list[Step]:
    steps: list[Step] = []
    for order in ledger.orders:
        if order.state in _UNSETTLED_ORDER_STATES:
            steps.append(Step(StepKind.LOOK_UP_ORDER, _look_up_at(order, timings), order.attempt))
    issued = ledger.confirmed_order
    for order in ledger.live_orders:
        extra = issued is not None and order is not issued
        if order.state is OrderState.PLACED and (status in ENDED or extra):
            steps.append(
                Step(StepKind.RELEASE_ORDER, order.retry_at or order.updated_at, order.attempt)
            )
        elif order.state is OrderState.CONFIRMED and extra:
            steps.append(
                Step(
                    StepKind.RELEASE_ORDER,
                    order.retry_at or order.updated_at,
                    order.attempt,
                    reason="a second issued order",
                )
            )
    if status is BookingStatus.CONFIRMING:
        steps += _confirming_steps(ledger, timings)
    return steps


def _confirming_steps(ledger: Ledger, timings: SagaTimings) -> list[Step]:
    latest = ledger.latest_order
    settled = ledger.settled_at or (ledger.backing.captured_at if ledger.backing else None)
    assert settled is not None, "a booking is confirming only once paid"
    deadline = settled + timings.give_up_after
    if latest is None or latest.state in (OrderState.ABSENT, OrderState.REFUSED):
        if latest is not None and latest.state is OrderState.REFUSED and latest.kind == "instant":
            return [Step(StepKind.FAIL, latest.updated_at, reason="the airline refused")]
        when = (latest.retry_at if latest else None) or settled
        if when >= deadline:
            return [Step(StepKind.FAIL, deadline, reason="no airline order in time")]
        return [
            Step(StepKind.PLACE_ORDER, when),
            Step(StepKind.FAIL, deadline, reason="no airline order in time"),
        ]
    if latest.state is OrderState.PLACED:
        if latest.pay_refused:
            return [Step(StepKind.FAIL, latest.updated_at, reason="the airline refused payment")]
        when = latest.retry_at or latest.updated_at
        if when >= deadline:
            return [Step(StepKind.FAIL, deadline, reason="the held order could not be paid")]
        return [Step(StepKind.PAY_HOLD, when, latest.attempt)]
    if latest.state is OrderState.CONFIRMED:
        if latest.airline_reference:
            return [Step(StepKind.CONFIRM, latest.updated_at, latest.attempt)]
        # Issued, but the airline's reference is not known yet: never confirmed without it.
        return [Step(StepKind.LOOK_UP_ORDER, _look_up_at(latest, timings), latest.attempt)]
    if latest.state is OrderState.CANCELLED:
        return [Step(StepKind.FAIL, latest.updated_at, reason="the airline cancelled the order")]
    return []  # intended, unknown or paying: looked up (listed with the other orders)


def _money_steps(ledger: Ledger, status: BookingStatus, timings: SagaTimings) -> list[Step]:
    steps: list[Step] = []
    for capture in ledger.captures:
        refunds = ledger.refunds_for(capture.payment_reference)
        if any(r.state is RefundState.FAILED for r in refunds):
            continue  # the provider could not return it: a person acts (the audit says so)
        if any(r.state in (RefundState.REQUESTED, RefundState.UNKNOWN) for r in refunds):
            continue  # a refund is under way
        if ledger.unrefunded_subunits(capture) <= 0 or not _to_refund(capture.role, ledger, status):
            continue
        steps.append(
            Step(
                StepKind.REFUND_CAPTURE,
                capture.captured_at,
                payment_reference=capture.payment_reference,
                reason=_refund_reason(capture.role, status),
            )
        )
    for refund in ledger.refunds:
        if refund.state in (RefundState.REQUESTED, RefundState.UNKNOWN):
            # Requested: the asker may still be waiting for the provider's answer.
            due = refund.updated_at + timings.resume_after
            steps.append(Step(StepKind.RESOLVE_REFUND, due, refund_id=refund.id))
        elif refund.state is RefundState.ISSUED:
            due = refund.updated_at + timings.follow_refund_every
            steps.append(Step(StepKind.FOLLOW_REFUND, due, refund_id=refund.id))
    if status is BookingStatus.FAILED and ledger.captures and all_refunded(ledger):
        steps.append(Step(StepKind.MARK_REFUNDED, ledger.refunds[-1].updated_at))
    return steps


def _to_refund(role: CaptureRole, ledger: Ledger, status: BookingStatus) -> bool:
    """Whether money captured in this role must go back, with the booking as it stands."""
    if role is CaptureRole.SURPLUS:
        return True
    if role is CaptureRole.REVIEW:
        # Held for an operator while the booking is open and unpaid; otherwise nothing to hold.
        return status is not BookingStatus.PENDING_PAYMENT or ledger.backing is not None
    if status in (BookingStatus.FAILED, BookingStatus.REFUNDED, BookingStatus.EXPIRED):
        return True
    # Cancelled after the airline issued the order: the cancellation refunds what is due.
    return status is BookingStatus.CANCELLED and not ledger.ever_confirmed


def _refund_reason(role: CaptureRole, status: BookingStatus) -> str:
    if role is CaptureRole.SURPLUS:
        return "a payment the booking did not need"
    if role is CaptureRole.REVIEW:
        return "a payment of the wrong amount"
    return f"the booking is {status.lower()}"


def all_refunded(ledger: Ledger) -> bool:
    """Every capture's money is with the provider on its way back (not merely claimed)."""
    for capture in ledger.captures:
        issued = sum(
            r.amount_subunits
            for r in ledger.refunds_for(capture.payment_reference)
            if r.state in (RefundState.ISSUED, RefundState.PROCESSED)
        )
        if issued < capture.amount_subunits:
            return False
    return True


def _notice_steps(
    booking: BookingRecord, ledger: Ledger, status: BookingStatus, timings: SagaTimings
) -> list[Step]:
    steps: list[Step] = []
    due = earliest_due(ledger)
    if due is not None:
        steps.append(Step(StepKind.NOTIFY, due))
    if status is BookingStatus.CONFIRMED and timings.check_changes_every:
        # The airline's change webhook may be lost: ask now and then until departure.
        departure = first_departure(booking)
        issued = ledger.confirmed_order
        since = ledger.changes_checked_at or (issued.confirmed_at if issued else None)
        if since is not None and departure is not None:
            when = since + timings.check_changes_every
            if when < departure:
                steps.append(Step(StepKind.CHECK_CHANGES, when))
    return steps
