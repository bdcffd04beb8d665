"""Refunds: claimed in the ledger, asked of the provider once, and followed to the end.

A refund is written to the booking's ledger (state requested) before the provider is asked, so
two callers never both refund and a crash leaves a claim the reconciler finds. A refund whose
outcome was not seen is looked for at the provider (by our refund id, kept in its merchant note)
before it is asked again; only a positive "no such refund" allows asking again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sentry_sdk

from integrations.ports.errors import (
    CredentialsRejected,
    OutcomeUnknown,
    UpstreamFailure,
    UpstreamUnavailable,
)
from integrations.ports.payments import RefundResult
from integrations.state.store import BookingRecord
from resolvers.events import BookingEventKind
from resolvers.ledger import CaptureRole, Ledger, Refund
from resolvers.lifecycle import RefundState
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, Written, announce

log = logging.getLogger("sureflights.refunds")

_PROVIDER_STATES = {
    "pending": RefundState.ISSUED,
    "processing": RefundState.ISSUED,
    "needs-attention": RefundState.ISSUED,
    "processed": RefundState.PROCESSED,
    "failed": RefundState.FAILED,
}


def add_refund(
    ledger: Ledger,
    payment_reference: str,
    amount: int,
    currency: str,
    reason: str,
    now: datetime,
    source: str,
) -> Refund:
    """A refund claimed in the ledger (state requested) before the provider is asked."""
    number = len(ledger.refunds_for(payment_reference)) + 1
    refund = Refund(
        id=f"{payment_reference}-R{number}",
        payment_reference=payment_reference,
        amount_subunits=amount,
        currency=currency,
        reason=reason,
        state=RefundState.REQUESTED,
        requested_at=now,
        updated_at=now,
    )
    ledger.refunds.append(refund)
    ledger.note(now, source, "refund.requested", f"{refund.id} {amount} {currency}: {reason}")
    return refund


def merchant_note(refund: Refund, booking_reference: str) -> str:
    """What the provider keeps with the refund, and how we recognise it again."""
    return f"SureFlights refund {refund.id} of booking {booking_reference}"


async def refund_capture(
    deps: SagaDeps, reference: str, payment_reference: str, reason: str, *, source: str
) -> BookingRecord:
    """Refund what is left of a capture that nothing is flown for."""
    claimed: list[str] = []

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        capture = ledger.capture_for(payment_reference)
        if capture is None:
            return None
        refunds = ledger.refunds_for(payment_reference)
        if any(
            r.state in (RefundState.REQUESTED, RefundState.UNKNOWN, RefundState.FAILED)
            for r in refunds
        ):
            return None
        left = ledger.unrefunded_subunits(capture)
        if left <= 0:
            return None
        refund = add_refund(ledger, payment_reference, left, capture.currency, reason, now, source)
        claimed.append(refund.id)
        return Change()

    written = await record(deps, reference, decide)
    if not claimed:
        return written.after
    return await issue(deps, reference, claimed[0], source=source)


async def issue(deps: SagaDeps, reference: str, refund_id: str, *, source: str) -> BookingRecord:
    """Ask the provider for a refund claimed in the ledger (once: see the module's notes)."""
    booking = await deps.store.bookings.get(reference)
    assert booking is not None
    refund = Ledger.of(booking).refund(refund_id)
    if refund is None or refund.state is not RefundState.REQUESTED:
        return booking
    await deps.reached("refund.requested", reference)
    try:
        result = await deps.payments.refund(
            reference=refund.payment_reference,
            amount_subunits=refund.amount_subunits,
            idempotency_note=merchant_note(refund, reference),
        )
    except OutcomeUnknown as error:
        log.warning("refund outcome unknown", extra={"refund": refund_id, "detail": error.detail})
        return (
            await _move(
                deps, reference, refund_id, RefundState.UNKNOWN, source, detail=error.detail
            )
        ).after
    except (UpstreamUnavailable, CredentialsRejected) as error:
        # Not taken: the claim stays, and the reconciler asks again.
        log.warning("refund not issued yet", extra={"refund": refund_id, "detail": error.detail})
        return (
            await _move(
                deps, reference, refund_id, RefundState.REQUESTED, source, detail=error.detail
            )
        ).after
    except UpstreamFailure as error:
        return await _refused(deps, reference, refund_id, error.detail, source)
    return await _issued(deps, reference, refund_id, result, source)


async def _issued(
    deps: SagaDeps, reference: str, refund_id: str, result: RefundResult, source: str
) -> BookingRecord:
    state = _PROVIDER_STATES.get(result.status, RefundState.ISSUED)
    written = await _move(
        deps, reference, refund_id, state, source, provider=result, detail=result.status
    )
    await _tell_refunded(deps, written, refund_id)
    return written.after


async def _refused(
    deps: SagaDeps, reference: str, refund_id: str, detail: str, source: str
) -> BookingRecord:
    log.error("refund refused by the provider", extra={"refund": refund_id, "detail": detail})
    sentry_sdk.capture_message(f"refund {refund_id} refused: {detail}")
    written = await _move(deps, reference, refund_id, RefundState.FAILED, source, detail=detail)
    if written.wrote:
        await announce(
            deps, written.after, BookingEventKind.REFUND_FAILED, refund=refund_id, detail=detail
        )
    return written.after


async def _move(
    deps: SagaDeps,
    reference: str,
    refund_id: str,
    to: RefundState,
    source: str,
    *,
    provider: RefundResult | None = None,
    detail: str = "",
) -> Written:
    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        refund = ledger.refund(refund_id)
        if refund is None:
            return None
        if refund.state in (RefundState.PROCESSED, RefundState.FAILED) and to is refund.state:
            return None
        if not ledger.move_refund(refund, to, now, source, detail):
            return None
        if provider is not None:
            refund.provider_id = provider.id
            refund.provider_status = provider.status
        return Change()

    return await record(deps, reference, decide)


async def _tell_refunded(deps: SagaDeps, written: Written, refund_id: str) -> None:
    """The traveller hears that money is on its way back when it was a payment the booking did
    not need (a second payment, one after the booking ended); other refunds are told with the
    booking's own news (refunded, cancelled)."""
    if not written.wrote:
        return
    ledger = written.ledger
    refund = ledger.refund(refund_id)
    before = Ledger.of(written.before).refund(refund_id)
    if (
        refund is None
        or before is None
        or before.state
        not in (
            RefundState.REQUESTED,
            RefundState.UNKNOWN,
        )
    ):
        return
    capture = ledger.capture_for(refund.payment_reference)
    if capture is not None and capture.role is not CaptureRole.BACKING:
        log.warning(
            "a payment the booking did not need was refunded",
            extra={"booking": written.after.reference, "payment": refund.payment_reference},
        )
        await announce(
            deps,
            written.after,
            BookingEventKind.CAPTURE_REFUNDED,
            payment_reference=refund.payment_reference,
            amount_subunits=refund.amount_subunits,
            currency=refund.currency,
            reason=refund.reason,
        )


async def resolve(deps: SagaDeps, reference: str, refund_id: str, *, source: str) -> BookingRecord:
    """A refund whose outcome was not seen (or whose asker went away): look for it at the
    provider; ask again only when the provider positively has none."""
    booking = await deps.store.bookings.get(reference)
    assert booking is not None
    refund = Ledger.of(booking).refund(refund_id)
    if refund is None or refund.state not in (RefundState.REQUESTED, RefundState.UNKNOWN):
        return booking
    try:
        listed = await deps.payments.list_refunds(refund.payment_reference)
    except UpstreamFailure as error:
        log.warning("refund look-up failed", extra={"refund": refund_id, "detail": error.detail})
        return (
            await _move(
                deps,
                reference,
                refund_id,
                refund.state,
                source,
                detail=f"look-up failed: {error.detail}",
            )
        ).after
    ours = [r for r in listed if r.merchant_note and refund_id in r.merchant_note]
    if ours:
        return await _issued(deps, reference, refund_id, ours[0], source)
    # Positively not there: claim it again and ask.
    await _move(
        deps,
        reference,
        refund_id,
        RefundState.REQUESTED,
        source,
        detail="the provider has no such refund",
    )
    return await issue(deps, reference, refund_id, source=source)


async def follow(deps: SagaDeps, reference: str, refund_id: str, *, source: str) -> BookingRecord:
    """Ask the provider how an issued refund is going, until it is processed or has failed."""
    booking = await deps.store.bookings.get(reference)
    assert booking is not None
    refund = Ledger.of(booking).refund(refund_id)
    if refund is None or refund.state is not RefundState.ISSUED or refund.provider_id is None:
        return booking
    try:
        result = await deps.payments.get_refund(refund.provider_id)
    except UpstreamFailure as error:
        log.warning("refund status unknown", extra={"refund": refund_id, "detail": error.detail})
        return (
            await _move(
                deps,
                reference,
                refund_id,
                RefundState.ISSUED,
                source,
                detail=refund.provider_status or "",
            )
        ).after
    return await provider_said(
        deps, reference, refund_id, result.status, source=source, provider_id=result.id
    )


async def provider_said(
    deps: SagaDeps,
    reference: str,
    refund_id: str,
    status: str,
    *,
    source: str,
    provider_id: str | None = None,
) -> BookingRecord:
    """Apply the provider's word on a refund (from a look-up or a webhook)."""
    state = _PROVIDER_STATES.get(status, RefundState.ISSUED)

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        refund = ledger.refund(refund_id)
        if refund is None:
            return None
        if refund.state is state and refund.provider_status == status:
            refund.updated_at = now  # asked again later, not at every pass
            return Change()
        if not ledger.move_refund(refund, state, now, source, status):
            return None
        refund.provider_status = status
        refund.provider_id = provider_id or refund.provider_id
        return Change()

    written = await record(deps, reference, decide)
    before = Ledger.of(written.before).refund(refund_id)
    after = written.ledger.refund(refund_id)
    changed = written.wrote and before is not None and after is not None
    if changed and after is not None and before is not None and before.state is not after.state:
        if after.state is RefundState.PROCESSED:
            await announce(
                deps,
                written.after,
                BookingEventKind.REFUND_PROCESSED,
                refund=refund_id,
                amount_subunits=after.amount_subunits,
                currency=after.currency,
            )
        elif after.state is RefundState.FAILED:
            log.error("refund failed at the provider", extra={"refund": refund_id})
            sentry_sdk.capture_message(f"refund {refund_id} failed at the provider")
            await announce(deps, written.after, BookingEventKind.REFUND_FAILED, refund=refund_id)
    return written.after


# --- The provider's refund events -----------------------------------------------------------

REFUND_EVENTS = frozenset(
    {"refund.pending", "refund.processing", "refund.processed", "refund.failed"}
)


def refund_event_reference(data: Mapping[str, Any]) -> str:
    """The transaction (our payment reference) a refund event is about."""
    reference = data.get("transaction_reference")
    transaction = data.get("transaction")
    if not reference and isinstance(transaction, Mapping):
        reference = transaction.get("reference")
    return str(reference or "").strip().upper()


async def on_refund_event(deps: SagaDeps, kind: str, data: Mapping[str, Any]) -> bool:
    """A Paystack `refund.*` event: moves the matching refund in the ledger. A refund we did not
    ask for (made in the provider's dashboard) is recorded too, so the ledger tells the truth.
    False when the event names no payment of ours."""
    payment_reference = refund_event_reference(data)
    payment = await deps.store.payments.get(payment_reference) if payment_reference else None
    if payment is None:
        log.info("refund event for no payment of ours", extra={"event": kind})
        return False
    status = kind.removeprefix("refund.")
    provider_id = str(data.get("id") or data.get("refund_reference") or "") or None
    amount = _subunits(data.get("amount"))
    booking = await deps.store.bookings.get(payment.booking_reference)
    assert booking is not None
    ledger = Ledger.of(booking)
    refund = _matching_refund(ledger, payment_reference, provider_id, amount)
    if refund is None:
        refund_id = await _record_outside_refund(
            deps, booking.reference, payment_reference, amount, payment.currency, provider_id
        )
    else:
        refund_id = refund.id
    if refund_id is None:
        return True
    await provider_said(
        deps,
        booking.reference,
        refund_id,
        status,
        source="webhook:paystack",
        provider_id=provider_id,
    )
    return True


def _subunits(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _matching_refund(
    ledger: Ledger, payment_reference: str, provider_id: str | None, amount: int | None
) -> Refund | None:
    refunds = ledger.refunds_for(payment_reference)
    if provider_id:
        by_id = next((r for r in refunds if r.provider_id == provider_id), None)
        if by_id is not None:
            return by_id
    open_ones = [
        r
        for r in refunds
        if r.state in (RefundState.REQUESTED, RefundState.UNKNOWN, RefundState.ISSUED)
        and (amount is None or r.amount_subunits == amount)
    ]
    return open_ones[0] if open_ones else None


async def _record_outside_refund(
    deps: SagaDeps,
    reference: str,
    payment_reference: str,
    amount: int | None,
    currency: str,
    provider_id: str | None,
) -> str | None:
    if amount is None or amount <= 0:
        return None
    made: list[str] = []

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        if provider_id and any(r.provider_id == provider_id for r in ledger.refunds):
            return None
        refund = add_refund(
            ledger,
            payment_reference,
            amount,
            currency,
            "refunded at the provider",
            now,
            "webhook:paystack",
        )
        ledger.move_refund(refund, RefundState.ISSUED, now, "webhook:paystack")
        refund.provider_id = provider_id
        made.append(refund.id)
        return Change()

    await record(deps, reference, decide)
    log.warning(
        "a refund made outside the gateway was recorded",
        extra={"booking": reference, "payment": payment_reference},
    )
    return made[0] if made else None
