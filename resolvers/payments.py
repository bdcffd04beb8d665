"""Payments: start one, settle it through one path, and reconcile what was left half-done.

`settle_payment` is the only way a payment succeeds, whether the Paystack webhook, `verifyPayment`
or the sandbox checkout asks: it confirms with the provider's verify endpoint that exactly the
stored amount and currency were captured, moves the payment with a compare-and-set, and hands the
booking to the airline half of the saga once.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sentry_sdk

from integrations.errors import UpstreamFailure
from integrations.payments import PaymentNotFound
from integrations.store import BookingRecord, PaymentRecord
from resolvers.access import Caller
from resolvers.bookings import Bookings, SagaDeps, require_access
from resolvers.errors import BadUserInput, Conflict, NotFound, OfferExpired
from resolvers.lifecycle import BookingStatus, PaymentStatus, booking_sources
from resolvers.money import to_subunits

log = logging.getLogger("sureflights.payments")

PROCESSED_EVENT_TTL = timedelta(days=8)
# A payment left PENDING this long is verified with the provider in case its webhook was lost.
VERIFY_PENDING_AFTER = timedelta(minutes=5)
# A booking stuck half-way is driven on after this; well inside the 15-minute guarantee.
RESUME_AFTER = timedelta(minutes=2)
# Past this, an order that still cannot be placed is given up and the traveller refunded.
GIVE_UP_AFTER = timedelta(minutes=12)
# Paystack refund statuses after which nothing changes any more.
FINAL_REFUND_STATUSES = frozenset({"processed", "failed"})
# Long enough to outlive any redelivery of the capture's webhook.
LATE_REFUND_CLAIM = timedelta(days=30)
_CALLBACK = re.compile(r"^https?://[^\s]{1,2000}$")


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    verified: int = 0
    resumed: int = 0
    refunds_retried: int = 0
    expired: int = 0


class Payments:
    def __init__(self, deps: SagaDeps, bookings: Bookings) -> None:
        self.deps = deps
        self.bookings = bookings

    # --- Reading ---------------------------------------------------------------------------

    async def get(self, caller: Caller, reference: str) -> PaymentRecord:
        # Payment references are issued in capitals, like booking references; read them so.
        reference = reference.strip().upper()
        payment = await self.deps.store.payments.get(reference)
        booking = await self.deps.store.bookings.get(payment.booking_reference) if payment else None
        require_access(caller, booking, payment.booking_reference if payment else reference)
        if payment is None:
            raise NotFound(f"No payment {reference}.")
        return payment

    async def resolve_for_subscription(self, caller: Caller, reference: str) -> PaymentRecord:
        """A payment by its reference, or a booking's latest payment by the booking reference."""
        payment = await self.deps.store.payments.get(reference.strip().upper())
        if payment is None:
            booking = await self.bookings.get(caller, reference)
            payment = await self.deps.store.payments.get_latest_for_booking(booking.reference)
            if payment is None:
                raise NotFound(f"Booking {booking.reference} has no payment yet.")
            return payment
        return await self.get(caller, payment.reference)

    # --- Starting a payment ------------------------------------------------------------------

    async def initialize(
        self, caller: Caller, booking_reference: str, callback_url: str | None
    ) -> PaymentRecord:
        if callback_url is not None and not _CALLBACK.match(callback_url):
            raise BadUserInput("callbackUrl is an http(s) URL.", field="callbackUrl")
        booking = await self.bookings.get(caller, booking_reference)
        if booking.status == BookingStatus.EXPIRED:
            raise OfferExpired("This booking expired before it was paid; search again.")
        if booking.status != BookingStatus.PENDING_PAYMENT:
            raise Conflict(f"A {booking.status} booking takes no payment.", status=booking.status)
        latest = await self.deps.store.payments.get_latest_for_booking(booking.reference)
        if latest is not None and latest.status == PaymentStatus.PENDING:
            return latest  # the same link again: one booking is never charged twice
        if latest is not None and latest.status == PaymentStatus.SUCCESS:
            raise Conflict("This booking is already paid.")
        amount = to_subunits(booking.total_amount, booking.total_currency)
        reference = f"{booking.reference}-{secrets.token_hex(4).upper()}"
        lead = booking.data["passengers"][0]
        started = await self.deps.payments.initialize(
            email=lead["email"],
            amount_subunits=amount,
            currency=booking.total_currency,
            reference=reference,
            callback_url=callback_url,
            metadata={"booking_reference": booking.reference, "channel": booking.channel},
        )
        now = self.deps.clock()
        payment = await self.deps.store.payments.create(
            PaymentRecord(
                reference=reference,
                booking_reference=booking.reference,
                status=PaymentStatus.PENDING,
                mode=self.deps.payments.mode,
                amount_subunits=amount,
                currency=booking.total_currency,
                authorization_url=started.authorization_url,
                created_at=now,
                updated_at=now,
            )
        )
        await self.bookings.publish(payment, booking)
        return payment

    # --- Settling ----------------------------------------------------------------------------

    async def verify(self, caller: Caller, reference: str) -> PaymentRecord:
        payment = await self.get(caller, reference)
        return await self.settle_payment(payment.reference)

    async def settle_payment(self, reference: str) -> PaymentRecord:
        """Apply what the provider says of a payment; callers may race, each step applies once."""
        payment = await self.deps.store.payments.get(reference)
        if payment is None:
            raise NotFound(f"No payment {reference}.")
        if payment.status == PaymentStatus.PENDING:
            payment = await self._apply_verification(payment)
        if payment.status == PaymentStatus.SUCCESS:
            await self._advance_booking(payment)
        elif payment.status == PaymentStatus.ABANDONED:
            await self._refund_late_capture(payment)
        return await self.deps.store.payments.get(reference) or payment

    async def _refund_late_capture(self, payment: PaymentRecord) -> None:
        """Money captured on a link after its booking ended goes straight back, once.

        The payment stays ABANDONED (the lifecycle has no way out of it); the refund is
        recorded on it, and a claim makes sure racing settlements refund only once.
        """
        if payment.data.get("refund"):
            return
        try:
            verified = await self.deps.payments.verify(payment.reference)
        except PaymentNotFound:
            return
        if verified.status != "success":
            return
        if not await self.deps.idempotency.claim(
            f"late-capture:{payment.reference}", b"1", LATE_REFUND_CLAIM.total_seconds()
        ):
            return
        log.warning(
            "payment captured after its booking ended", extra={"payment": payment.reference}
        )
        try:
            result = await self.deps.payments.refund(
                reference=payment.reference,
                amount_subunits=None,
                idempotency_note=f"SureFlights refund of {payment.booking_reference}",
            )
        except UpstreamFailure as error:
            await self.deps.idempotency.release(f"late-capture:{payment.reference}")
            log.error("late capture not refunded yet", extra={"detail": error.detail})
            return
        noted = await self.deps.store.payments.transition(
            payment.reference,
            from_statuses={PaymentStatus.ABANDONED},
            to_status=PaymentStatus.ABANDONED,
            changes={
                "data": {
                    "refund": {
                        "amount_subunits": verified.amount_subunits,
                        "state": "issued",
                        "id": result.id,
                        "status": result.status,
                        "reason": "captured after the booking ended",
                    }
                }
            },
            now=self.deps.clock(),
        )
        if noted is not None:
            booking = await self.deps.store.bookings.get(payment.booking_reference)
            await self.bookings.publish(noted, booking)

    async def _apply_verification(self, payment: PaymentRecord) -> PaymentRecord:
        try:
            verified = await self.deps.payments.verify(payment.reference)
        except PaymentNotFound:
            return payment
        now = self.deps.clock()
        if verified.status == "success":
            if (
                verified.amount_subunits != payment.amount_subunits
                or verified.currency != payment.currency
            ):
                return await self._hold_for_review(
                    payment, verified.amount_subunits, verified.currency
                )
            moved = await self.deps.store.payments.transition(
                payment.reference,
                from_statuses={PaymentStatus.PENDING},
                to_status=PaymentStatus.SUCCESS,
                changes={
                    "paid_at": verified.paid_at or now,
                    # Our own clock: deadlines count from when we learnt of the capture.
                    "data": {"channel": verified.channel, "settled_at": now.isoformat()},
                },
                now=now,
            )
        elif verified.status == "failed":
            moved = await self.deps.store.payments.transition(
                payment.reference,
                from_statuses={PaymentStatus.PENDING},
                to_status=PaymentStatus.FAILED,
                changes={"data": {"gateway_response": verified.gateway_response}},
                now=now,
            )
        else:
            # pending, ongoing, abandoned...: Paystack's "abandoned" is not final, the
            # traveller may still pay; the booking's expiry ends it.
            return payment
        if moved is None:
            return await self.deps.store.payments.get(payment.reference) or payment
        booking = await self.deps.store.bookings.get(payment.booking_reference)
        await self.bookings.publish(moved, booking)
        return moved

    async def _hold_for_review(
        self, payment: PaymentRecord, amount: int, currency: str
    ) -> PaymentRecord:
        detail = (
            f"captured {amount} {currency}, expected {payment.amount_subunits} {payment.currency}"
        )
        log.error(
            "payment amount mismatch held for review",
            extra={"payment": payment.reference, "detail": detail},
        )
        sentry_sdk.capture_message(f"payment {payment.reference} held for review: {detail}")
        noted = await self.deps.store.payments.transition(
            payment.reference,
            from_statuses={PaymentStatus.PENDING},
            to_status=PaymentStatus.PENDING,
            changes={"data": {"review": detail}},
            now=self.deps.clock(),
        )
        return noted or payment

    async def _advance_booking(self, payment: PaymentRecord) -> None:
        booking = await self.deps.store.bookings.get(payment.booking_reference)
        if booking is None:
            return
        if booking.status == BookingStatus.PENDING_PAYMENT:
            moving = await self.deps.store.bookings.transition(
                booking.reference,
                from_statuses=booking_sources(BookingStatus.CONFIRMING),
                to_status=BookingStatus.CONFIRMING,
                changes={"data": {"paid_with": payment.reference}},
                now=self.deps.clock(),
            )
            if moving is None:
                return  # another settlement won the race and fulfils the booking
            await self.bookings.publish(payment, moving)
            await self.bookings.fulfil(moving, payment)
        elif booking.status in (BookingStatus.EXPIRED, BookingStatus.CANCELLED):
            paid_with = booking.data.get("paid_with")
            if paid_with in (None, payment.reference):
                # Paid after the booking ended: nothing to fly, so all of it goes back.
                refunded = await self.bookings.refund(
                    payment, amount_subunits=None, booking=booking
                )
                if refunded is not None:
                    await self.bookings.publish(refunded, booking)

    # --- Webhooks --------------------------------------------------------------------------

    async def handle_paystack_event(self, event: dict[str, Any]) -> None:
        """A verified Paystack event; redeliveries of one already handled change nothing."""
        kind = str(event.get("event", ""))
        data = event.get("data") or {}
        reference = str(data.get("reference") or "")
        if kind != "charge.success" or not reference:
            log.info("paystack event ignored", extra={"event": kind})
            return
        key = f"paystack:{kind}:{reference}"
        store = self.deps.store.processed_events
        now = self.deps.clock()
        if not await store.record(key, now=now, ttl=PROCESSED_EVENT_TTL):
            log.info("paystack event already handled", extra={"event_key": key})
            return
        try:
            await self.settle_payment(reference)
        except NotFound:
            log.warning("paystack event for an unknown payment", extra={"payment": reference})
        except UpstreamFailure as error:
            # Recorded already: the reconciler verifies the still-pending payment shortly.
            log.warning("paystack event not settled yet", extra={"detail": error.detail})

    # --- Reconciliation ----------------------------------------------------------------------

    async def reconcile(self) -> ReconcileReport:
        """Finish what crashes, lost webhooks and upstream outages left half-done.

        No captured payment stays without an airline order or a refund for long: pending
        payments are verified, stuck bookings are driven on, unissued refunds are retried.
        """
        deps = self.deps
        now = deps.clock()
        verified = resumed = retried = 0
        for payment in await deps.store.payments.list_by_status_before(
            PaymentStatus.PENDING, now - VERIFY_PENDING_AFTER, 100
        ):
            try:
                await self.settle_payment(payment.reference)
                verified += 1
            except UpstreamFailure as error:
                log.warning("reconcile: verify failed", extra={"detail": error.detail})
        for status in (
            BookingStatus.PENDING_PAYMENT,
            BookingStatus.CONFIRMING,
            BookingStatus.FAILED,
        ):
            for booking in await deps.store.bookings.list(
                status=status, partner_id=None, limit=200
            ):
                if booking.updated_at > now - RESUME_AFTER:
                    continue
                if await self._resume(booking, now):
                    resumed += 1
        for status in (BookingStatus.REFUNDED, BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            for booking in await deps.store.bookings.list(
                status=status, partner_id=None, limit=100
            ):
                latest = await deps.store.payments.get_latest_for_booking(booking.reference)
                if latest is None or not latest.data.get("refund"):
                    continue
                refund = latest.data["refund"]
                if refund.get("state") == "requested":
                    if (
                        latest.status == PaymentStatus.REFUNDED
                        and latest.updated_at <= now - RESUME_AFTER
                        and await self.bookings.issue_refund(latest) is not None
                    ):
                        retried += 1
                elif refund.get("id") and refund.get("status") not in FINAL_REFUND_STATUSES:
                    await self._follow_refund(latest, refund)
        expired = await self.bookings.sweep_expired()
        purged = await deps.store.processed_events.purge_expired(now)
        if verified or resumed or retried or expired or purged:
            log.info(
                "reconciled",
                extra={
                    "verified": verified,
                    "resumed": resumed,
                    "refunds_retried": retried,
                    "expired": expired,
                },
            )
        return ReconcileReport(verified, resumed, retried, expired)

    async def _follow_refund(self, payment: PaymentRecord, refund: dict[str, Any]) -> None:
        """Ask the provider how an issued refund is going until it is processed or failed."""
        try:
            result = await self.deps.payments.get_refund(str(refund["id"]))
        except UpstreamFailure as error:
            log.warning("refund status unknown", extra={"detail": error.detail})
            return
        if result.status == refund.get("status"):
            return
        if result.status == "failed":
            # The traveller's money did not go back: people must look at it.
            log.error("refund failed at the provider", extra={"payment": payment.reference})
            sentry_sdk.capture_message(f"refund of payment {payment.reference} failed")
        await self.deps.store.payments.transition(
            payment.reference,
            from_statuses={payment.status},
            to_status=payment.status,
            changes={"data": {"refund": {**refund, "status": result.status}}},
            now=self.deps.clock(),
        )

    async def _resume(self, booking: BookingRecord, now: datetime) -> bool:
        payment = await self.deps.store.payments.get_latest_for_booking(booking.reference)
        if payment is None:
            return False
        if booking.status == BookingStatus.PENDING_PAYMENT:
            if payment.status != PaymentStatus.SUCCESS:
                return False
            await self._advance_booking(payment)
            return True
        if booking.status == BookingStatus.FAILED:
            if payment.status not in (PaymentStatus.SUCCESS, PaymentStatus.REFUNDED):
                return False
            if (payment.data.get("refund") or {}).get("state") == "requested":
                # The refund was claimed but the provider never took it: ask again.
                reissued = await self.bookings.issue_refund(payment)
                if reissued is None:
                    return False
                payment = reissued
            await self.bookings.refund_failed(booking, payment)
            return True
        # CONFIRMING: look the order up, order again, or give up and refund.
        settled = payment.data.get("settled_at")
        settled_at = datetime.fromisoformat(settled) if settled else payment.updated_at
        if now - settled_at > GIVE_UP_AFTER and booking.airline_order_id is None:
            intent = booking.data.get("order_intent") or {}
            found = (
                await self.bookings.look_up(booking, intent["correlation_id"])
                if intent.get("correlation_id")
                else None
            )
            if found is None:
                await self.bookings.fail_and_refund(booking, payment, "no airline order in time")
                return True
        await self.bookings.fulfil(booking, payment)
        return True
