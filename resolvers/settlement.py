"""Settlement: what the payment provider says was captured, recorded once in the booking's ledger.

Whichever door a payment comes through (Paystack's webhook, `verifyPayment`, the sandbox
checkout, the reconciler making up for a lost webhook), it is verified with the provider for the
exact amount and currency, and the capture is written to the ledger in the same compare-and-set
that moves the booking. A booking waiting for payment is paid by the first capture of the right
amount; any other capture (a second payment, one after the booking ended, one of the wrong
amount) is recorded too, and refunded, so no money is ever kept for nothing.

Payment records are what clients read of a payment; they follow the ledger (`sync_payments`).
"""

from __future__ import annotations

import logging
from datetime import datetime

import sentry_sdk

from integrations.ports.payments import PaymentNotFound, VerifiedPayment
from integrations.state.store import BookingRecord, PaymentRecord
from resolvers.errors import NotFound
from resolvers.ledger import Capture, CaptureRole, Ledger, WatchedPayment
from resolvers.lifecycle import BookingStatus, PaymentStatus, RefundState
from resolvers.plan import ENDED, record
from resolvers.saga import Change, SagaDeps, Written, publish_payment, tell

log = logging.getLogger("sureflights.settlement")


async def verify_with_provider(deps: SagaDeps, payment: PaymentRecord) -> VerifiedPayment | None:
    """The provider's word on a payment; None when the provider knows no such transaction."""
    try:
        return await deps.payments.verify(payment.reference)
    except PaymentNotFound:
        return None


async def settle(deps: SagaDeps, payment_reference: str, *, source: str) -> PaymentRecord:
    """Apply what the provider says of a payment (any number of callers may race); returns the
    payment as it was read, before."""
    payment = await deps.store.payments.get(payment_reference)
    if payment is None:
        raise NotFound(f"No payment {payment_reference}.")
    verified = await verify_with_provider(deps, payment)
    await deps.reached("settle.verified", payment.booking_reference)
    if verified is not None:
        await apply_verification(deps, payment, verified, source=source)
    return payment


async def apply_verification(
    deps: SagaDeps, payment: PaymentRecord, verified: VerifiedPayment, *, source: str
) -> Written | None:
    if verified.status == "success":
        written = await record_capture(deps, payment, verified, source=source)
    elif verified.status == "failed":
        written = await _record_failure(deps, payment, verified, source=source)
    else:
        # pending, ongoing, abandoned…: not final at Paystack; the traveller may still pay.
        written = await _checked(deps, payment.booking_reference, payment.reference)
    await sync_payments(deps, written.after, verified=verified)
    # The payment's own change (whoever applies it) tells its subscribers, with the booking's
    # status: telling them again here would repeat it.
    await tell(deps, written, published={payment.reference})
    return written


async def record_capture(
    deps: SagaDeps, payment: PaymentRecord, verified: VerifiedPayment, *, source: str
) -> Written:
    """Write the capture into the ledger once; a waiting booking it pays moves to CONFIRMING in
    the same write."""
    mismatch = (
        verified.amount_subunits != payment.amount_subunits or verified.currency != payment.currency
    )

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if ledger.capture_for(payment.reference) is not None:
            return None
        change = Change()
        waiting = booking.status == BookingStatus.PENDING_PAYMENT and ledger.backing is None
        if waiting and payment.status == PaymentStatus.PENDING and not mismatch:
            role, reason = CaptureRole.BACKING, ""
            change.status = BookingStatus.CONFIRMING
            change.fields = {"data": {"paid_with": payment.reference}}
            ledger.settled_at = now
        elif waiting and mismatch:
            role = CaptureRole.REVIEW
            reason = (
                f"captured {verified.amount_subunits} {verified.currency}, expected "
                f"{payment.amount_subunits} {payment.currency}"
            )
        else:
            role, reason = CaptureRole.SURPLUS, _surplus_reason(booking, ledger, payment)
        ledger.captures.append(
            Capture(
                payment_reference=payment.reference,
                amount_subunits=verified.amount_subunits,
                currency=verified.currency,
                captured_at=now,
                source=source,
                role=role,
                reason=reason,
            )
        )
        ledger.note(
            now,
            source,
            f"capture.{role.value}",
            f"{payment.reference} {verified.amount_subunits} {verified.currency} {reason}",
        )
        if ledger.open_payment is not None and ledger.open_payment.reference == payment.reference:
            ledger.open_payment = None
        ledger.watched = [w for w in ledger.watched if w.reference != payment.reference]
        return change

    written = await record(deps, payment.booking_reference, decide)
    capture = written.ledger.capture_for(payment.reference)
    if written.wrote and capture is not None and capture.role is not CaptureRole.BACKING:
        log.warning(
            "a capture the booking does not need",
            extra={
                "booking": payment.booking_reference,
                "payment": payment.reference,
                "role": capture.role.value,
                "reason": capture.reason,
            },
        )
        if capture.role is CaptureRole.REVIEW:
            sentry_sdk.capture_message(
                f"payment {payment.reference} held for review: {capture.reason}"
            )
    return written


def _surplus_reason(booking: BookingRecord, ledger: Ledger, payment: PaymentRecord) -> str:
    if ledger.backing is not None:
        return "the booking was already paid"
    if booking.status in ENDED:
        return f"captured after the booking was {booking.status.lower()}"
    return f"captured on a payment that was {payment.status.lower()}"


async def _record_failure(
    deps: SagaDeps, payment: PaymentRecord, verified: VerifiedPayment, *, source: str
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        opened = ledger.open_payment
        if opened is None or opened.reference != payment.reference:
            # A payment watched after its booking ended counts this look as one of its checks,
            # or it would be asked about at every pass for ever.
            return Change() if _count_check(ledger, payment.reference, now, deps) else None
        ledger.open_payment = None
        ledger.note(
            now, source, "payment.failed", f"{payment.reference} {verified.gateway_response or ''}"
        )
        return Change()

    return await record(deps, payment.booking_reference, decide)


async def _checked(deps: SagaDeps, booking_reference: str, payment_reference: str) -> Written:
    """The provider was asked and nothing changed: ask again later, not at every pass."""

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        opened = ledger.open_payment
        if _count_check(ledger, payment_reference, now, deps):
            return Change()
        if opened is not None and opened.reference == payment_reference and opened.state == "open":
            opened.checked_at = now
            return Change()
        return None

    return await record(deps, booking_reference, decide)


def _count_check(ledger: Ledger, payment_reference: str, now: datetime, deps: SagaDeps) -> bool:
    """One check of a watched payment used up, the next one later; False if it is not watched."""
    watched = [w for w in ledger.watched if w.reference == payment_reference]
    for watch in watched:
        watch.checks_left -= 1
        watch.due_at = now + deps.timings.verify_after
    ledger.watched = [w for w in ledger.watched if w.checks_left > 0]
    return bool(watched)


# How many more times a payment is verified after its booking ended, or after the provider said
# it was paid while it could not be verified.
ENDED_CHECKS = 3
REPORTED_CHECKS = 20


def watch_open_payment(ledger: Ledger, now: datetime, deps: SagaDeps, source: str) -> None:
    """The booking ends: its open payment can no longer pay for it, but money may still arrive
    on it (a traveller on the checkout page). It is verified a few more times, a little later."""
    opened = ledger.open_payment
    if opened is None:
        return
    ledger.open_payment = None
    if opened.state == "open":
        ledger.watched.append(
            WatchedPayment(
                reference=opened.reference,
                due_at=now + deps.timings.verify_after,
                checks_left=ENDED_CHECKS,
                reason="open when the booking ended",
            )
        )
        ledger.note(now, source, "payment.abandoned", opened.reference)


async def watch_reported(deps: SagaDeps, payment: PaymentRecord, *, source: str) -> None:
    """The provider says `payment` was paid. Remembered before anything else, so that if it
    cannot be verified now (or the process dies) the reconciler verifies it until it can."""

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if ledger.capture_for(payment.reference) is not None:
            return None
        opened = ledger.open_payment
        if opened is not None and opened.reference == payment.reference:
            return None  # the open payment is verified on its own schedule already
        due = now + deps.timings.resume_after
        for watch in ledger.watched:
            if watch.reference == payment.reference:
                if watch.checks_left >= REPORTED_CHECKS and watch.due_at <= due:
                    return None
                watch.checks_left = max(watch.checks_left, REPORTED_CHECKS)
                watch.due_at = min(watch.due_at, due)
                return Change()
        ledger.watched.append(
            WatchedPayment(
                reference=payment.reference,
                due_at=due,
                checks_left=REPORTED_CHECKS,
                reason="reported paid by the provider",
            )
        )
        ledger.note(now, source, "payment.reported_paid", payment.reference)
        return Change()

    await record(deps, payment.booking_reference, decide)


# --- Payment records follow the ledger -------------------------------------------------------


async def sync_payments(
    deps: SagaDeps, booking: BookingRecord, *, verified: VerifiedPayment | None = None
) -> set[str]:
    """Bring the booking's payment records in line with its ledger, and tell subscribers;
    returns the references of the payments that changed."""
    ledger = Ledger.of(booking)
    now = deps.clock()
    published: set[str] = set()
    for payment in await deps.store.payments.list_for_bookings([booking.reference]):
        # Each pass applies one change (a lifecycle step, then a note); a few reach the end.
        for _ in range(3):
            moved = await _sync_payment(deps, booking, ledger, payment, verified, now)
            if moved is None:
                break
            await publish_payment(deps, moved, booking)
            published.add(moved.reference)
            payment = moved
    return published


async def _sync_payment(
    deps: SagaDeps,
    booking: BookingRecord,
    ledger: Ledger,
    payment: PaymentRecord,
    verified: VerifiedPayment | None,
    now: datetime,
) -> PaymentRecord | None:
    payments = deps.store.payments
    capture = ledger.capture_for(payment.reference)
    status = PaymentStatus(payment.status)
    mine = verified if verified is not None and verified.reference == payment.reference else None
    if status is PaymentStatus.PENDING and capture is not None:
        if capture.role is CaptureRole.REVIEW:
            held = booking.status == BookingStatus.PENDING_PAYMENT and ledger.backing is None
            if held and payment.data.get("review") == capture.reason:
                return None
            return await payments.transition(
                payment.reference,
                from_statuses={PaymentStatus.PENDING},
                # Held while the booking waits; once it no longer can, it ended unpaid.
                to_status=PaymentStatus.PENDING if held else PaymentStatus.ABANDONED,
                changes={"data": {"review": capture.reason}},
                now=now,
            )
        return await payments.transition(
            payment.reference,
            from_statuses={PaymentStatus.PENDING},
            to_status=PaymentStatus.SUCCESS,
            changes={
                "paid_at": (mine.paid_at if mine else None) or capture.captured_at,
                "data": {
                    "channel": mine.channel if mine else None,
                    # Our own clock: deadlines count from when we learnt of the capture.
                    "settled_at": capture.captured_at.isoformat(),
                },
            },
            now=now,
        )
    if status is PaymentStatus.PENDING and capture is None:
        open_now = ledger.open_payment is not None and ledger.open_payment.reference == (
            payment.reference
        )
        if mine is not None and mine.status == "failed" and not open_now:
            return await payments.transition(
                payment.reference,
                from_statuses={PaymentStatus.PENDING},
                to_status=PaymentStatus.FAILED,
                changes={"data": {"gateway_response": mine.gateway_response}},
                now=now,
            )
        if booking.status in ENDED or (
            booking.status != BookingStatus.PENDING_PAYMENT and not open_now
        ):
            return await payments.transition(
                payment.reference,
                from_statuses={PaymentStatus.PENDING},
                to_status=PaymentStatus.ABANDONED,
                now=now,
            )
        return None
    issued = [
        r
        for r in ledger.refunds_for(payment.reference)
        if r.state in (RefundState.ISSUED, RefundState.PROCESSED)
    ]
    if capture is not None and issued:
        note = {
            "amount_subunits": sum(r.amount_subunits for r in issued),
            "refunds": [r.id for r in issued],
            "state": "issued",
            # The provider's word on the latest refund: pending, processing, processed, failed.
            "status": issued[-1].provider_status,
        }
        if status is PaymentStatus.SUCCESS:
            return await payments.transition(
                payment.reference,
                from_statuses={PaymentStatus.SUCCESS},
                to_status=PaymentStatus.REFUNDED,
                changes={"data": {"refund": note}},
                now=now,
            )
        if payment.data.get("refund") != note:
            # FAILED and ABANDONED are final in the payment lifecycle: the refund is noted.
            return await payments.transition(
                payment.reference,
                from_statuses={status},
                to_status=status,
                changes={"data": {"refund": note}},
                now=now,
            )
    return None
