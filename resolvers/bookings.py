"""Bookings: create with a locked price, read with access checks, list, expire and cancel.

Money and airline orders move through the saga (`resolvers.settlement`, `resolvers.orders`,
`resolvers.refunds`, `resolvers.reconciliation`); this module is what travellers, partners and
operators ask of a booking.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from integrations.state.ratelimit import RateLimiter, RatePolicy
from integrations.state.store import BookingRecord
from resolvers import airline_changes, cancellations, order_records, orders, reconciliation
from resolvers.access import Caller, CallerKind, listing_scope, require_access, require_may_act
from resolvers.auth import issue_traveller_token
from resolvers.errors import (
    BadUserInput,
    Conflict,
    OfferExpired,
    PriceChanged,
)
from resolvers.ledger import Ledger
from resolvers.lifecycle import BookingStatus
from resolvers.money import normalize_currency
from resolvers.passengers import validate_passengers
from resolvers.plan import next_check, record
from resolvers.ratelimits import Record, enforce
from resolvers.saga import Change, SagaDeps, tell

log = logging.getLogger("sureflights.bookings")

MAX_PAGE = 100
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_booking_reference() -> str:
    """`SF` and six characters that cannot be misread (no 0/O, 1/I): SF7K2QXM."""
    return "SF" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))


@dataclass(frozen=True, slots=True)
class BookingLimits:
    """How many bookings (and payment starts) a caller may make: per client address for
    anonymous callers and travellers, per key for partners, per number for WhatsApp; admins
    are not limited."""

    limiter: RateLimiter
    anonymous: RatePolicy
    partner: RatePolicy

    def policy_for(self, caller: Caller) -> RatePolicy | None:
        if caller.kind is CallerKind.ADMIN:
            return None
        return self.partner if caller.kind is CallerKind.PARTNER else self.anonymous


def limit_key(caller: Caller, client: str, action: str) -> str:
    if caller.kind is CallerKind.PARTNER and caller.partner_id:
        return f"{action}:partner:{caller.partner_id}"
    if caller.kind is CallerKind.INTERNAL:
        return f"{action}:{caller.identity}"
    return f"{action}:ip:{client}"


async def check_limit(
    limits: BookingLimits | None, caller: Caller, client: str, action: str, record: Record | None
) -> None:
    policy = limits.policy_for(caller) if limits else None
    if limits is None or policy is None:
        return
    await enforce(
        limits.limiter,
        limit_key(caller, client, action),
        policy,
        refusal=f"too many {action} requests from this caller",
        record=record,
    )


class Bookings:
    def __init__(self, deps: SagaDeps, limits: BookingLimits | None = None) -> None:
        self.deps = deps
        self.limits = limits

    # --- Reading -------------------------------------------------------------------------

    async def get(self, caller: Caller, reference: str) -> BookingRecord:
        reference = reference.strip().upper()
        booking = require_access(caller, await self.deps.store.bookings.get(reference), reference)
        return await self.expire_if_due(booking)

    async def list(
        self,
        caller: Caller,
        *,
        status: str | None,
        first: int,
        after: tuple[datetime, str] | None,
    ) -> tuple[list[BookingRecord], bool, int]:
        """A page of bookings newest first, with whether more follow and the total count."""
        partner_id = listing_scope(caller)
        if not 1 <= first <= MAX_PAGE:
            raise BadUserInput(f"first is 1 to {MAX_PAGE}.", field="first")
        repo = self.deps.store.bookings
        rows = await repo.list(status=status, partner_id=partner_id, limit=first + 1, after=after)
        total = await repo.count(status=status, partner_id=partner_id)
        return rows[:first], len(rows) > first, total

    # --- Creating ------------------------------------------------------------------------

    async def create(
        self,
        caller: Caller,
        *,
        offer_id: str,
        passengers: Sequence[dict[str, Any]],
        currency: str | None,
        expected_total: Decimal | None,
        channel: str,
        client: str = "unknown",
        record_limit: Record | None = None,
    ) -> tuple[BookingRecord, str]:
        """A `PENDING_PAYMENT` booking at a price locked now, and its traveller's access token."""
        deps = self.deps
        await check_limit(self.limits, caller, client, "createBooking", record_limit)
        now = deps.clock()
        charge_currency = normalize_currency(currency or deps.payment_currency, field="currency")
        offer = await deps.flights.get_offer(offer_id)
        if offer.expires_at <= now:
            raise OfferExpired("This offer has expired; search again.", offerId=offer_id)
        if expected_total is not None and expected_total != offer.total_amount:
            raise PriceChanged(
                f"The price changed from {expected_total} to {offer.total_amount} "
                f"{offer.total_currency}; confirm the new price to book.",
                totalAmount=str(offer.total_amount),
                currency=offer.total_currency,
            )
        departure = offer.slices[0].segments[0].departing_at
        matched = validate_passengers(
            passengers, offer.passengers, travel_date=departure.date(), today=now.date()
        )
        charge = await deps.rates.convert(
            offer.total_amount, offer.total_currency, charge_currency, for_charging=True
        )
        rate = await deps.rates.exchange_rate(offer.total_currency, charge_currency)
        hold = not offer.requires_instant_payment
        ledger = Ledger()
        ledger.note(now, _source(caller), "booking.created", f"channel {channel}")
        if hold:
            # Stored as intended before the airline is asked, like every order attempt.
            order_records.new_attempt(ledger, order_records.HOLD, now, _source(caller))
        contact: dict[str, Any] = {}
        if caller.whatsapp_id:
            contact["whatsapp"] = caller.whatsapp_id
        draft = BookingRecord(
            reference=new_booking_reference(),
            status=BookingStatus.PENDING_PAYMENT,
            channel=channel,
            partner_id=caller.partner_id if caller.kind is CallerKind.PARTNER else None,
            offer_id=offer.id,
            total_amount=charge.amount,
            total_currency=charge.currency,
            expires_at=offer.expires_at,
            created_at=now,
            updated_at=now,
            data={
                "offer": offer.model_dump(mode="json", include={"owner", "slices", "mode"}),
                "passengers": [
                    {**details.to_data(), "offer_passenger_id": pid} for pid, details in matched
                ],
                "airline_total": {
                    "amount": str(offer.total_amount),
                    "currency": offer.total_currency,
                },
                "fx": {
                    "rate": str(rate.rate),
                    "as_of": rate.as_of.isoformat(),
                    "source": rate.source,
                    "markup_percent": str(deps.rates.markup_percent),
                },
                "requires_instant_payment": offer.requires_instant_payment,
                # Everything needed to reach the traveller lives with the booking.
                "contact": contact,
            },
            ledger=ledger.dump(),
        )
        draft = _with_check(draft, ledger, deps)
        booking = await deps.store.bookings.create(draft)
        if hold:
            booking = await orders.place_hold(deps, booking.reference, source=_source(caller))
        token = issue_traveller_token(deps.secret_key, booking.reference, now=now)
        log.info(
            "booking created",
            extra={"booking": booking.reference, "hold": hold, "channel": channel},
        )
        return booking, token

    # --- Expiry ----------------------------------------------------------------------------

    async def expire_if_due(self, booking: BookingRecord) -> BookingRecord:
        """Unpaid bookings whose offer (or hold) has run out become `EXPIRED` when read."""
        if booking.status != BookingStatus.PENDING_PAYMENT or booking.expires_at is None:
            return booking
        if booking.expires_at > self.deps.clock():
            return booking
        return await reconciliation.drive(self.deps, booking.reference, source="expiry")

    # --- Cancelling ------------------------------------------------------------------------

    async def cancel(self, caller: Caller, reference: str) -> BookingRecord:
        booking = await self.get(caller, reference)
        source = _source(caller)
        if booking.status == BookingStatus.PENDING_PAYMENT:
            return await self._cancel_unpaid(booking.reference, source)
        if booking.status == BookingStatus.CONFIRMED:
            await cancellations.cancel_issued(self.deps, booking.reference, source=source)
            return await reconciliation.drive(self.deps, booking.reference, source=source)
        if booking.status == BookingStatus.CANCELLED:
            return booking
        raise Conflict(f"A {booking.status} booking cannot be cancelled.", status=booking.status)

    # --- The airline's changes, and what the traveller hears ----------------------------

    async def accept_airline_change(
        self, caller: Caller, reference: str, change_id: str
    ) -> BookingRecord:
        return await airline_changes.accept(
            self.deps, caller, reference, change_id, source=_source(caller)
        )

    async def cancel_for_airline_change(
        self, caller: Caller, reference: str, change_id: str
    ) -> BookingRecord:
        source = _source(caller)
        booking = await airline_changes.cancel(
            self.deps, caller, reference, change_id, source=source
        )
        return await reconciliation.drive(self.deps, booking.reference, source=source)

    async def update_preferences(
        self,
        caller: Caller,
        reference: str,
        *,
        sms: bool | None = None,
        email_reminders: bool | None = None,
    ) -> BookingRecord:
        """Opt in or out of SMS, and of reminders by email, for one booking."""
        reference = reference.strip().upper()
        require_may_act(caller, await self.deps.store.bookings.get(reference), reference)
        source = _source(caller)

        def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            wanted = ledger.preferences.model_copy(
                update={
                    k: v
                    for k, v in (("sms", sms), ("email_reminders", email_reminders))
                    if v is not None
                }
            )
            if wanted == ledger.preferences:
                return None
            ledger.preferences = wanted
            ledger.note(
                now,
                source,
                "notifications.preferences",
                f"sms {'on' if wanted.sms else 'off'}, "
                f"email reminders {'on' if wanted.email_reminders else 'off'}",
            )
            return Change()

        return (await record(self.deps, reference, decide)).after

    async def _cancel_unpaid(self, reference: str, source: str) -> BookingRecord:
        from resolvers.settlement import watch_open_payment

        deps = self.deps
        await deps.reached("cancel.before_write", reference)

        def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            if booking.status != BookingStatus.PENDING_PAYMENT:
                raise Conflict(
                    f"The booking is {booking.status} now and cannot be cancelled this way.",
                    status=booking.status,
                )
            watch_open_payment(ledger, now, deps, source)
            ledger.note(now, source, "booking.cancelled", "before payment")
            return Change(status=BookingStatus.CANCELLED)

        written = await record(deps, reference, decide)
        await tell(deps, written)
        # A held seat is released, and money that arrived meanwhile goes back.
        return await reconciliation.drive(deps, reference, source=source)


def _with_check(booking: BookingRecord, ledger: Ledger, deps: SagaDeps) -> BookingRecord:
    from dataclasses import replace

    return replace(booking, check_at=next_check(booking, ledger, deps.timings))


def _source(caller: Caller) -> str:
    return {
        CallerKind.ADMIN: "operator",
        CallerKind.PARTNER: "partner",
        CallerKind.INTERNAL: "whatsapp",
        CallerKind.TRAVELLER: "traveller",
    }.get(caller.kind, "api")
