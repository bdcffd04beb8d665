"""Reconciliation: every booking is driven toward the ledger's invariant, whatever path lost a race.

`drive` takes a booking step by step as far as it can go now (the steps and their times come from
`resolvers.plan`): after settlement, cancellation and expiry, and for every booking whose check
time has come in the reconciler's pass, on every replica. Each step is a compare-and-set on the
booking, so replicas never do the same work twice. `audit_store` checks the invariant over every
booking and says what breaks it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from integrations.ports.errors import UpstreamFailure
from integrations.state.store import BookingRecord, PaymentRecord, Store
from resolvers import airline_changes, cancellations, order_lookups, orders, refunds, settlement
from resolvers.errors import NotFound
from resolvers.ledger import Ledger, Violation, audit
from resolvers.legacy import adopt_legacy
from resolvers.lifecycle import BookingStatus
from resolvers.plan import Step, StepKind, all_refunded, due_step, record
from resolvers.saga import Change, SagaDeps, SagaTimings, tell

log = logging.getLogger("sureflights.reconciliation")

# The most steps one drive takes; what is left is due again at the booking's check time.
MAX_STEPS = 16
DUE_PAGE = 200
PROCESSED_EVENT_PURGE = "processed events"


async def drive(deps: SagaDeps, reference: str, *, source: str) -> BookingRecord:
    """Take every step the booking is due for now; returns the booking as it stands after."""
    booking = await deps.store.bookings.get(reference)
    assert booking is not None, reference
    if not booking.ledger:
        booking = await adopt_legacy(deps, booking)
    taken: set[tuple[str, int | None, str | None, str | None]] = set()
    for _ in range(MAX_STEPS):
        step = due_step(booking, Ledger.of(booking), deps.timings, deps.clock())
        if step is None or step.key in taken:
            break
        taken.add(step.key)
        try:
            booking = await _take(deps, booking, step, source)
        except UpstreamFailure as error:
            # The step's upstream failed before anything was written: try again later.
            log.warning(
                "saga step failed; retried later",
                extra={"booking": reference, "step": step.kind.value, "detail": error.detail},
            )
            booking = await _postpone(deps, reference)
    await settlement.sync_payments(deps, booking)
    return booking


async def _take(deps: SagaDeps, booking: BookingRecord, step: Step, source: str) -> BookingRecord:
    """Take one step; the booking as it stands after."""
    ref = booking.reference
    kind = step.kind
    after: BookingRecord | None = None
    if kind is StepKind.VERIFY_PAYMENT and step.payment_reference is not None:
        if await deps.store.payments.get(step.payment_reference) is not None:
            await settlement.settle(deps, step.payment_reference, source=source)
    elif kind is StepKind.RELEASE_CLAIM:
        await _release_claim(deps, ref, step.payment_reference, source)
    elif kind is StepKind.EXPIRE:
        after = await expire(deps, ref, source=source)
    elif kind is StepKind.PLACE_ORDER:
        after = await orders.place_order(deps, ref, source=source, current=booking)
    elif kind is StepKind.LOOK_UP_ORDER and step.attempt is not None:
        after = await order_lookups.look_up(deps, ref, step.attempt, source=source)
    elif kind is StepKind.PAY_HOLD and step.attempt is not None:
        after = await orders.pay_hold(deps, ref, step.attempt, source=source)
    elif kind is StepKind.CONFIRM and step.attempt is not None:
        after = await orders.confirm(deps, ref, step.attempt, source=source)
    elif kind is StepKind.FAIL:
        after = await orders.fail(deps, ref, step.reason, source=source)
    elif kind is StepKind.RELEASE_ORDER and step.attempt is not None:
        after = await cancellations.release(deps, ref, step.attempt, source=source)
    elif kind is StepKind.REFUND_CAPTURE and step.payment_reference is not None:
        after = await refunds.refund_capture(
            deps, ref, step.payment_reference, step.reason, source=source
        )
    elif kind is StepKind.RESOLVE_REFUND and step.refund_id is not None:
        after = await refunds.resolve(deps, ref, step.refund_id, source=source)
    elif kind is StepKind.FOLLOW_REFUND and step.refund_id is not None:
        after = await refunds.follow(deps, ref, step.refund_id, source=source)
    elif kind is StepKind.MARK_REFUNDED:
        await _mark_refunded(deps, ref, source)
    elif kind is StepKind.CHECK_CHANGES:
        await airline_changes.check_for_changes(deps, booking, source=source)
    elif kind is StepKind.NOTIFY and deps.outbox is not None:
        await deps.outbox.queue(deps, ref)
    if after is None:
        after = await deps.store.bookings.get(ref)
    assert after is not None
    return after


async def _postpone(deps: SagaDeps, reference: str) -> BookingRecord:
    """Push the booking's check time out, so one failing booking does not hold up the queue."""

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        return Change()

    written = await record(deps, reference, decide)
    booking = written.after
    later = deps.clock() + deps.timings.resume_after
    if booking.check_at is not None and booking.check_at < later:
        moved = await deps.store.bookings.update(
            reference, expected_version=booking.version, changes={"check_at": later}
        )
        return moved or booking
    return booking


async def _release_claim(
    deps: SagaDeps, reference: str, payment_reference: str | None, source: str
) -> None:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        opened = ledger.open_payment
        if opened is None or opened.state != "starting" or opened.reference != payment_reference:
            return None
        ledger.open_payment = None
        ledger.note(now, source, "payment.claim_released", opened.reference)
        return Change()

    await record(deps, reference, decide)


async def expire(deps: SagaDeps, reference: str, *, source: str) -> BookingRecord:
    """An unpaid booking whose offer (or hold) ran out expires; a held order is then released
    and any money that still arrives goes back."""
    await deps.reached("expiry.before_write", reference)

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if booking.status != BookingStatus.PENDING_PAYMENT or ledger.backing is not None:
            return None
        if booking.expires_at is None or booking.expires_at > now:
            return None
        settlement.watch_open_payment(ledger, now, deps, source)
        ledger.note(now, source, "booking.expired")
        return Change(status=BookingStatus.EXPIRED)

    written = await record(deps, reference, decide)
    await tell(deps, written)
    return written.after


async def _mark_refunded(deps: SagaDeps, reference: str, source: str) -> None:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if booking.status != BookingStatus.FAILED or not all_refunded(ledger):
            return None
        ledger.note(now, source, "booking.refunded")
        return Change(status=BookingStatus.REFUNDED)

    written = await record(deps, reference, decide)
    await tell(deps, written)


# --- The reconciler's pass --------------------------------------------------------------------


@dataclass(slots=True)
class ReconcileReport:
    """What one pass did: bookings driven, and of those, how many changed."""

    looked_at: int = 0
    changed: int = 0
    failed: int = 0
    purged: int = 0
    steps: dict[str, int] = field(default_factory=dict)
    # Of `steps`, those that moved their booking on, by step.
    repaired: dict[str, int] = field(default_factory=dict)


async def reconcile(deps: SagaDeps, *, limit: int = DUE_PAGE) -> ReconcileReport:
    """Drive every booking whose check time has come (the oldest first), then purge what has
    expired of processed webhook events and idempotency records."""
    report = ReconcileReport()
    now = deps.clock()
    for booking in await deps.store.bookings.list_due(now, limit):
        report.looked_at += 1
        step = due_step(booking, Ledger.of(booking), deps.timings, now)
        if step is not None:
            report.steps[step.kind.value] = report.steps.get(step.kind.value, 0) + 1
        try:
            after = await drive(deps, booking.reference, source="reconciler")
        except Exception:
            report.failed += 1
            log.exception("reconciling a booking failed", extra={"booking": booking.reference})
            await _postpone(deps, booking.reference)
            continue
        if after.version != booking.version:
            report.changed += 1
            if step is not None:
                report.repaired[step.kind.value] = report.repaired.get(step.kind.value, 0) + 1
    report.purged = await deps.store.processed_events.purge_expired(now)
    report.purged += await deps.store.idempotency.purge_expired(now)
    if report.changed or report.failed:
        log.info(
            "reconciled",
            extra={
                "looked_at": report.looked_at,
                "changed": report.changed,
                "failed": report.failed,
                "steps": report.steps,
            },
        )
    return report


# --- The audit --------------------------------------------------------------------------------


async def audit_store(
    store: Store, *, timings: SagaTimings, now: datetime, page: int = 500
) -> AsyncIterator[tuple[BookingRecord, list[Violation]]]:
    """Every booking with what breaks the invariant (an empty list when nothing does), read a
    page at a time so the whole store never sits in memory."""
    alarm = timings.unknown_outcome_alarm.total_seconds()
    after: str | None = None
    while True:
        bookings = await store.bookings.scan(after=after, limit=page)
        if not bookings:
            return
        payments = await store.payments.list_for_bookings([b.reference for b in bookings])
        by_booking: dict[str, list[PaymentRecord]] = {}
        for payment in payments:
            by_booking.setdefault(payment.booking_reference, []).append(payment)
        for booking in bookings:
            yield (
                booking,
                audit(
                    booking,
                    by_booking.get(booking.reference, []),
                    now=now,
                    unknown_outcome_after=alarm,
                ),
            )
        after = bookings[-1].reference


async def booking_audit(deps: SagaDeps, reference: str) -> tuple[BookingRecord, list[Violation]]:
    """One booking and what breaks the invariant in it."""
    booking = await deps.store.bookings.get(reference.strip().upper())
    if booking is None:
        raise NotFound(f"No booking {reference}.")
    payments = await deps.store.payments.list_for_bookings([booking.reference])
    return booking, audit(
        booking,
        payments,
        now=deps.clock(),
        unknown_outcome_after=deps.timings.unknown_outcome_alarm.total_seconds(),
    )


async def money_audit(
    store: Store, *, timings: SagaTimings, now: datetime, limit: int | None = None
) -> tuple[int, list[Violation]]:
    """How many bookings were checked, and every violation found (the first `limit` of them)."""
    checked = 0
    found: list[Violation] = []
    async for _booking, violations in audit_store(store, timings=timings, now=now):
        checked += 1
        room = len(violations) if limit is None else max(0, limit - len(found))
        found += violations[:room]
    return checked, found
