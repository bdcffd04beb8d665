"""Payments: start one (at most one open per booking), read them, and the provider's events.

A booking has at most one payment open at a time: the claim is written to the booking's ledger
by compare-and-set before the provider is asked, so a traveller's phone and laptop paying at once
get the same checkout, never two. Settling is `resolvers.settlement`; what follows it (the
airline order, refunds) is the saga's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from integrations.ports.errors import UpstreamFailure
from integrations.state.store import BookingRecord, PaymentRecord
from resolvers import reconciliation, refunds, settlement
from resolvers.access import Caller, require_access
from resolvers.bookings import Bookings, check_limit
from resolvers.errors import BadUserInput, Conflict, NotFound, OfferExpired
from resolvers.events import BookingEventKind
from resolvers.ledger import Dispute, Ledger, OpenPayment
from resolvers.lifecycle import BookingStatus, PaymentStatus
from resolvers.money import to_subunits
from resolvers.plan import record
from resolvers.ratelimits import Record
from resolvers.saga import Change, SagaDeps, announce, publish_payment

log = logging.getLogger("sureflights.payments")

PROCESSED_EVENT_TTL_DAYS = 8
# How long a second caller waits for the first to get the provider's checkout link.
CLAIM_WAIT_SECONDS = 10.0
CLAIM_POLL_SECONDS = 0.05
_CALLBACK = re.compile(r"^https?://[^\s]{1,2000}$")
DISPUTE_EVENTS = frozenset(
    {"charge.dispute.create", "charge.dispute.remind", "charge.dispute.resolve"}
)


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
        self,
        caller: Caller,
        booking_reference: str,
        callback_url: str | None,
        *,
        client: str = "unknown",
        record_limit: Record | None = None,
    ) -> PaymentRecord:
        if callback_url is not None and not _CALLBACK.match(callback_url):
            raise BadUserInput("callbackUrl is an http(s) URL.", field="callbackUrl")
        booking = await self.bookings.get(caller, booking_reference)
        await check_limit(self.bookings.limits, caller, client, "initializePayment", record_limit)
        deadline = asyncio.get_running_loop().time() + CLAIM_WAIT_SECONDS
        while True:
            claim = await self._claim(booking.reference)
            if isinstance(claim, PaymentRecord):
                return claim  # the payment already open: one booking is never charged twice
            if claim is not None:
                return await self._start(booking.reference, claim, callback_url)
            if asyncio.get_running_loop().time() > deadline:
                raise Conflict("A payment for this booking is being started; retry shortly.")
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    async def _claim(self, reference: str) -> PaymentRecord | str | None:
        """The open payment (a record), a new reference this call now holds the claim for (a
        string), or None while another caller is starting one."""
        deps = self.deps
        await deps.reached("payment.before_claim", reference)
        fresh = f"{reference}-{secrets.token_hex(4).upper()}"
        outcome: list[str] = []

        def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            outcome.clear()
            if booking.status == BookingStatus.EXPIRED:
                raise OfferExpired("This booking expired before it was paid; search again.")
            if ledger.backing is not None:
                raise Conflict("This booking is already paid.")
            if booking.status != BookingStatus.PENDING_PAYMENT:
                raise Conflict(
                    f"A {booking.status} booking takes no payment.", status=booking.status
                )
            opened = ledger.open_payment
            if opened is not None:
                outcome.append(opened.state)
                outcome.append(opened.reference)
                return None
            ledger.open_payment = OpenPayment(reference=fresh, state="starting", at=now)
            ledger.note(now, "api", "payment.claimed", fresh)
            outcome.append("claimed")
            return Change()

        await record(deps, reference, decide)
        if outcome[0] == "claimed":
            return fresh
        if outcome[0] == "open":
            payment = await deps.store.payments.get(outcome[1])
            if payment is not None:
                return payment
        return None

    async def _start(
        self, reference: str, payment_reference: str, callback_url: str | None
    ) -> PaymentRecord:
        deps = self.deps
        await deps.reached("payment.claimed", reference)
        booking = await deps.store.bookings.get(reference)
        assert booking is not None
        amount = to_subunits(booking.total_amount, booking.total_currency)
        lead = booking.data["passengers"][0]
        try:
            started = await deps.payments.initialize(
                email=lead["email"],
                amount_subunits=amount,
                currency=booking.total_currency,
                reference=payment_reference,
                callback_url=callback_url,
                metadata={"booking_reference": booking.reference, "channel": booking.channel},
            )
        except UpstreamFailure:
            # No link was handed out, so nobody can pay it: the claim goes.
            await self._drop_claim(reference, payment_reference)
            raise
        now = deps.clock()
        payment = await deps.store.payments.create(
            PaymentRecord(
                reference=payment_reference,
                booking_reference=booking.reference,
                status=PaymentStatus.PENDING,
                mode=deps.payments.mode,
                amount_subunits=amount,
                currency=booking.total_currency,
                authorization_url=started.authorization_url,
                created_at=now,
                updated_at=now,
            )
        )

        def opened(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            claim = ledger.open_payment
            if claim is None or claim.reference != payment_reference:
                return None
            claim.state, claim.at = "open", now
            return Change()

        written = await record(deps, reference, opened)
        await publish_payment(deps, payment, written.after)
        return payment

    async def _drop_claim(self, reference: str, payment_reference: str) -> None:
        def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            claim = ledger.open_payment
            if claim is None or claim.reference != payment_reference:
                return None
            ledger.open_payment = None
            ledger.note(now, "api", "payment.claim_released", payment_reference)
            return Change()

        await record(self.deps, reference, decide)

    # --- Settling ----------------------------------------------------------------------------

    async def verify(self, caller: Caller, reference: str) -> PaymentRecord:
        payment = await self.get(caller, reference)
        return await self.settle_payment(payment.reference, source="verify")

    async def settle_payment(self, reference: str, *, source: str) -> PaymentRecord:
        """Apply the provider's word on a payment, then take the booking as far as it can go."""
        payment = await settlement.settle(self.deps, reference, source=source)
        await reconciliation.drive(self.deps, payment.booking_reference, source=source)
        return await self.deps.store.payments.get(payment.reference) or payment

    # --- Webhooks --------------------------------------------------------------------------

    async def handle_paystack_event(self, event: dict[str, Any]) -> None:
        """A verified Paystack event; redeliveries of one already handled change nothing."""
        kind = str(event.get("event", ""))
        data = event.get("data") or {}
        if not isinstance(data, dict):
            data = {}
        key = _event_key(kind, data)
        if key is None:
            log.info("paystack event ignored", extra={"event": kind})
            return
        if kind == "charge.success":
            # What Paystack says was paid is remembered before the event is marked handled (the
            # open payment is verified on its own schedule already).
            reported = await self.deps.store.payments.get(str(data["reference"]))
            if reported is not None and reported.status != PaymentStatus.PENDING:
                await settlement.watch_reported(self.deps, reported, source="webhook:paystack")
        store = self.deps.store.processed_events
        now = self.deps.clock()
        ttl = timedelta(days=PROCESSED_EVENT_TTL_DAYS)
        if not await store.record(key, now=now, ttl=ttl):
            log.info("paystack event already handled", extra={"event_key": key})
            return
        try:
            if kind == "charge.success":
                await self.settle_payment(str(data["reference"]), source="webhook:paystack")
            elif kind in refunds.REFUND_EVENTS:
                await refunds.on_refund_event(self.deps, kind, data)
            elif kind in DISPUTE_EVENTS:
                await self._record_dispute(kind, data)
        except NotFound:
            log.warning("paystack event for an unknown payment", extra={"event": kind})
        except UpstreamFailure as error:
            # Recorded already: the reconciler verifies and follows up shortly.
            log.warning("paystack event not settled yet", extra={"detail": error.detail})

    async def _record_dispute(self, kind: str, data: dict[str, Any]) -> None:
        transaction = data.get("transaction") or {}
        reference = str(
            (transaction.get("reference") if isinstance(transaction, dict) else None)
            or data.get("reference")
            or ""
        ).upper()
        payment = await self.deps.store.payments.get(reference) if reference else None
        if payment is None:
            log.warning("dispute for no payment of ours", extra={"event": kind})
            return
        dispute_id = str(data.get("id") or reference)

        def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            status = str(data.get("status") or kind.removeprefix("charge.dispute."))
            ledger.disputes.append(
                Dispute(
                    id=dispute_id,
                    payment_reference=payment.reference,
                    status=status,
                    event=kind,
                    at=now,
                    amount_subunits=_int(data.get("refund_amount") or data.get("amount")),
                    currency=str(data.get("currency") or payment.currency),
                )
            )
            ledger.note(now, "webhook:paystack", kind, f"dispute {dispute_id}: {status}")
            return Change()

        written = await record(self.deps, payment.booking_reference, decide)
        log.warning(
            "payment disputed",
            extra={"booking": payment.booking_reference, "payment": payment.reference},
        )
        await announce(
            self.deps, written.after, BookingEventKind.DISPUTE, detail=kind, dispute=dispute_id
        )


def _event_key(kind: str, data: dict[str, Any]) -> str | None:
    """What makes a Paystack event the same event when it is delivered again."""
    if kind == "charge.success":
        reference = str(data.get("reference") or "")
        return f"paystack:{kind}:{reference}" if reference else None
    if kind in refunds.REFUND_EVENTS:
        reference = refunds.refund_event_reference(data)
        if not reference:
            return None
        refund = data.get("id") or data.get("refund_reference") or data.get("amount")
        return f"paystack:{kind}:{reference}:{refund}"
    if kind in DISPUTE_EVENTS:
        dispute = data.get("id") or ""
        return f"paystack:{kind}:{dispute}:{data.get('status') or ''}:{data.get('updatedAt') or ''}"
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
