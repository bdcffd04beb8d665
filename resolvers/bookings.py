"""Bookings: create with a locked price, read with access checks, expire, cancel, and fulfil.

`fulfil` is the airline half of the booking saga: after a payment settles, it creates (or pays)
the airline order exactly once. Duffel has no idempotency key for orders, so the order intent is
stored before every call and an unknown outcome is resolved by looking the order up, never by
calling again blindly.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from integrations.airline import AirlineOrders, Order, OrderPassengerInput
from integrations.bus import EventBus
from integrations.errors import UpstreamFailure, UpstreamUnavailable
from integrations.flights import Offer, OfferUnavailable
from integrations.idempotency import IdempotencyStore
from integrations.payments import PaymentProvider
from integrations.store import BookingRecord, PaymentRecord, Store
from resolvers.access import Caller, CallerKind
from resolvers.auth import issue_traveller_token
from resolvers.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    OfferExpired,
    PriceChanged,
    Unauthenticated,
)
from resolvers.flights import FlightService
from resolvers.lifecycle import BookingStatus, PaymentStatus, booking_sources, payment_sources
from resolvers.money import from_subunits, normalize_currency, quantize, to_subunits
from resolvers.passengers import PassengerDetails, validate_passengers
from resolvers.rates import RatesService

log = logging.getLogger("sureflights.bookings")

MAX_PAGE = 100
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_booking_reference() -> str:
    """`SF` and six characters that cannot be misread (no 0/O, 1/I): SF7K2QXM."""
    return "SF" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))


@dataclass(slots=True)
class SagaDeps:
    """The collaborators of the booking saga, wired once by the composition root."""

    store: Store
    flights: FlightService
    airline: AirlineOrders
    payments: PaymentProvider
    rates: RatesService
    bus: EventBus
    idempotency: IdempotencyStore
    secret_key: str
    payment_currency: str
    clock: Callable[[], datetime] = utc_now


def can_read(caller: Caller, booking: BookingRecord) -> bool:
    if caller.kind is CallerKind.ADMIN:
        return True
    if caller.kind is CallerKind.TRAVELLER:
        return caller.booking_reference == booking.reference
    if caller.kind is CallerKind.PARTNER:
        return caller.partner_id is not None and caller.partner_id == booking.partner_id
    return False


def require_access(caller: Caller, booking: BookingRecord | None, reference: str) -> BookingRecord:
    """The booking, when this caller may see it; otherwise an error that reveals nothing more."""
    if caller.kind in (CallerKind.ANONYMOUS, CallerKind.INTERNAL):
        raise Unauthenticated("Send the booking's access token (Authorization: Bearer ...).")
    if booking is None:
        if caller.kind is CallerKind.ADMIN:
            raise NotFound(f"No booking {reference}.")
        raise Forbidden("This booking is not yours.")
    if not can_read(caller, booking):
        raise Forbidden("This booking is not yours.")
    return booking


def payment_event(payment: PaymentRecord, booking: BookingRecord | None) -> dict[str, Any]:
    """What subscribers receive on `payments:{reference}`: the whole payment, as JSON."""
    return {
        "reference": payment.reference,
        "booking_reference": payment.booking_reference,
        "status": payment.status,
        "mode": payment.mode,
        "amount_subunits": payment.amount_subunits,
        "currency": payment.currency,
        "authorization_url": payment.authorization_url,
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
        "updated_at": payment.updated_at.isoformat(),
        "version": payment.version,
        "booking_status": booking.status if booking else None,
    }


def passengers_of(booking: BookingRecord) -> list[tuple[str, PassengerDetails]]:
    return [
        (p["offer_passenger_id"], PassengerDetails.from_data(p)) for p in booking.data["passengers"]
    ]


def _order_passengers(booking: BookingRecord) -> list[OrderPassengerInput]:
    pairs = passengers_of(booking)
    adults = [pid for pid, p in pairs if p.type == "adult"]
    infants = [pid for pid, p in pairs if p.type == "infant_without_seat"]
    # Each infant travels on one adult's lap, in order.
    lap = dict(zip(adults, infants, strict=False))
    return [
        OrderPassengerInput(
            id=pid,
            title=p.title,
            given_name=p.given_name,
            family_name=p.family_name,
            gender=p.gender,
            born_on=p.born_on,
            email=p.email,
            phone_number=p.phone_number,
            infant_passenger_id=lap.get(pid),
        )
        for pid, p in pairs
    ]


class Bookings:
    def __init__(self, deps: SagaDeps) -> None:
        self.deps = deps

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
        if caller.kind is CallerKind.ADMIN:
            partner_id = None
        elif caller.kind is CallerKind.PARTNER:
            partner_id = caller.partner_id
        elif caller.kind in (CallerKind.ANONYMOUS, CallerKind.INTERNAL):
            raise Unauthenticated("Listing bookings needs an admin token or a partner API key.")
        else:
            raise Forbidden("Listing bookings needs an admin token or a partner API key.")
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
    ) -> tuple[BookingRecord, str]:
        """A `PENDING_PAYMENT` booking at a price locked now, and its traveller's access token."""
        deps = self.deps
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
        record = BookingRecord(
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
                "order_intent": (
                    {"type": "hold", "correlation_id": _correlation_id(), "state": "requested"}
                    if hold
                    else None
                ),
            },
        )
        booking = await deps.store.bookings.create(record)
        if hold:
            booking = await self._place_hold(booking, offer)
        token = issue_traveller_token(deps.secret_key, booking.reference, now=now)
        log.info(
            "booking created",
            extra={"booking": booking.reference, "hold": hold, "channel": channel},
        )
        return booking, token

    async def _place_hold(self, booking: BookingRecord, offer: Offer) -> BookingRecord:
        """Hold seat and price with the airline now; on failure, order after payment instead."""
        intent = booking.data["order_intent"]
        try:
            order: Order | None = await self.deps.airline.create_order(
                offer_id=offer.id,
                passengers=_order_passengers(booking),
                amount=offer.total_amount,
                currency=offer.total_currency,
                order_type="hold",
                correlation_id=intent["correlation_id"],
            )
        except UpstreamUnavailable:
            order = await self.look_up(booking, intent["correlation_id"])
        except UpstreamFailure as error:
            log.warning("hold refused; the order follows payment", extra={"detail": error.detail})
            order = None
        if order is None:
            changes: dict[str, Any] = {"data": {"order_intent": None}}
        else:
            pay_by = _earliest(
                order.payment_status.payment_required_by,
                order.payment_status.price_guarantee_expires_at,
            )
            changes = {
                "airline_order_id": order.id,
                "airline_reference": order.booking_reference,
                "pay_by": pay_by,
                "expires_at": _earliest(pay_by, booking.expires_at),
                "data": {"order_intent": {**intent, "state": "created"}},
            }
        updated = await self.deps.store.bookings.update(
            booking.reference, expected_version=booking.version, changes=changes
        )
        return updated or booking

    async def look_up(self, booking: BookingRecord, correlation_id: str) -> Order | None:
        lead = booking.data["passengers"][0]["family_name"]
        try:
            return await self.deps.airline.find_order(correlation_id, family_name=lead)
        except UpstreamFailure as error:
            log.warning("order look-up failed", extra={"detail": error.detail})
            return None

    # --- Expiry ----------------------------------------------------------------------------

    async def expire_if_due(self, booking: BookingRecord) -> BookingRecord:
        """Unpaid bookings whose offer (or hold) has run out become `EXPIRED` when read."""
        now = self.deps.clock()
        if booking.status != BookingStatus.PENDING_PAYMENT or booking.expires_at is None:
            return booking
        if booking.expires_at > now:
            return booking
        payment = await self.deps.store.payments.get_latest_for_booking(booking.reference)
        if payment is not None and payment.status == PaymentStatus.SUCCESS:
            return booking  # paid in time: settlement moves it on
        expired = await self.deps.store.bookings.transition(
            booking.reference,
            from_statuses=booking_sources(BookingStatus.EXPIRED),
            to_status=BookingStatus.EXPIRED,
            now=now,
        )
        if expired is None:
            return await self.deps.store.bookings.get(booking.reference) or booking
        if payment is not None and payment.status == PaymentStatus.PENDING:
            await self.abandon(payment, expired)
        return expired

    async def sweep_expired(self, *, limit: int = 200) -> int:
        due = await self.deps.store.bookings.list_by_status_before(
            BookingStatus.PENDING_PAYMENT, self.deps.clock(), limit
        )
        count = 0
        for booking in due:
            if (await self.expire_if_due(booking)).status == BookingStatus.EXPIRED:
                count += 1
        return count

    async def abandon(self, payment: PaymentRecord, booking: BookingRecord) -> None:
        moved = await self.deps.store.payments.transition(
            payment.reference,
            from_statuses=payment_sources(PaymentStatus.ABANDONED),
            to_status=PaymentStatus.ABANDONED,
            now=self.deps.clock(),
        )
        if moved is not None:
            await self.publish(moved, booking)

    async def publish(self, payment: PaymentRecord, booking: BookingRecord | None) -> None:
        event = payment_event(payment, booking)
        try:
            await self.deps.bus.publish(f"payments:{payment.reference}", event)
        except Exception:  # the change is stored; a lost event must not undo it
            log.exception("could not publish a payment event", extra={"payment": payment.reference})

    # --- Fulfilment (the airline half of the saga) ------------------------------------------

    async def fulfil(self, booking: BookingRecord, payment: PaymentRecord) -> BookingRecord:
        """Drive a `CONFIRMING` booking to `CONFIRMED`, or to `FAILED` and refunded.

        Safe to call again (by the reconciler) at any point: every step checks what is stored.
        """
        if booking.status != BookingStatus.CONFIRMING:
            return booking
        intent = booking.data.get("order_intent") or {}
        if intent.get("type") == "hold" and booking.airline_order_id:
            return await self._pay_hold(booking, payment)
        return await self._order_now(booking, payment, intent)

    async def _pay_hold(self, booking: BookingRecord, payment: PaymentRecord) -> BookingRecord:
        airline_total = booking.data["airline_total"]
        order_id = booking.airline_order_id
        assert order_id is not None
        try:
            await self.deps.airline.pay_order(
                order_id, Decimal(airline_total["amount"]), airline_total["currency"]
            )
            order = await self.deps.airline.get_order(order_id)
        except UpstreamUnavailable:
            # Did the payment reach the airline? Ask before doing anything else.
            try:
                order = await self.deps.airline.get_order(order_id)
            except UpstreamFailure:
                return booking  # still unknown: the reconciler asks again
            if order.payment_status.awaiting_payment:
                return booking
        except UpstreamFailure as error:
            return await self.fail_and_refund(
                booking, payment, f"hold payment refused: {error.detail}"
            )
        return await self._confirm(booking, order)

    async def _order_now(
        self, booking: BookingRecord, payment: PaymentRecord, intent: dict[str, Any]
    ) -> BookingRecord:
        repo = self.deps.store.bookings
        if intent.get("type") == "instant" and intent.get("state") in ("requested", "unknown"):
            # An earlier attempt may have reached the airline: look before ordering again.
            found = await self.look_up(booking, intent["correlation_id"])
            if found is not None:
                return await self._confirm(booking, found)
        intent = {
            "type": "instant",
            "correlation_id": _correlation_id(),
            "state": "requested",
            "attempts": int(intent.get("attempts", 0)) + 1,
        }
        # The intent is stored before the call, so a crash mid-call leaves a trail to look up.
        stored = await repo.update(
            booking.reference,
            expected_version=booking.version,
            changes={"data": {"order_intent": intent}},
        )
        if stored is None:
            return await repo.get(booking.reference) or booking  # someone else moved it on
        booking = stored
        airline_total = booking.data["airline_total"]
        try:
            order = await self.deps.airline.create_order(
                offer_id=booking.offer_id,
                passengers=_order_passengers(booking),
                amount=Decimal(airline_total["amount"]),
                currency=airline_total["currency"],
                order_type="instant",
                correlation_id=intent["correlation_id"],
            )
        except OfferUnavailable as error:
            return await self.fail_and_refund(booking, payment, f"offer gone: {error.detail}")
        except UpstreamUnavailable:
            found = await self.look_up(booking, intent["correlation_id"])
            if found is not None:
                return await self._confirm(booking, found)
            unknown = await repo.update(
                booking.reference,
                expected_version=booking.version,
                changes={"data": {"order_intent": {**intent, "state": "unknown"}}},
            )
            return unknown or booking
        except UpstreamFailure as error:
            return await self.fail_and_refund(booking, payment, f"airline refused: {error.detail}")
        return await self._confirm(booking, order)

    async def _confirm(self, booking: BookingRecord, order: Order) -> BookingRecord:
        if not order.booking_reference:
            # Never confirmed without the airline's reference; the reconciler reads it later.
            log.warning("order without a booking reference yet", extra={"order": order.id})
            return booking
        intent = booking.data.get("order_intent") or {}
        confirmed = await self.deps.store.bookings.transition(
            booking.reference,
            from_statuses=booking_sources(BookingStatus.CONFIRMED),
            to_status=BookingStatus.CONFIRMED,
            changes={
                "airline_order_id": order.id,
                "airline_reference": order.booking_reference,
                "data": {"order_intent": {**intent, "state": "created"}},
            },
            now=self.deps.clock(),
        )
        if confirmed is None:
            return await self.deps.store.bookings.get(booking.reference) or booking
        log.info(
            "booking confirmed",
            extra={"booking": booking.reference, "airline_reference": order.booking_reference},
        )
        payment = await self.deps.store.payments.get_latest_for_booking(booking.reference)
        if payment is not None:
            await self.publish(payment, confirmed)
        return confirmed

    async def fail_and_refund(
        self, booking: BookingRecord, payment: PaymentRecord, reason: str
    ) -> BookingRecord:
        """The airline refused after payment: `FAILED`, then the whole payment goes back."""
        log.warning("airline refused after payment", extra={"booking": booking.reference})
        failed = await self.deps.store.bookings.transition(
            booking.reference,
            from_statuses=booking_sources(BookingStatus.FAILED),
            to_status=BookingStatus.FAILED,
            changes={"data": {"failure": reason[:300]}},
            now=self.deps.clock(),
        )
        if failed is None:
            return await self.deps.store.bookings.get(booking.reference) or booking
        await self.publish(payment, failed)
        return await self.refund_failed(failed, payment)

    async def refund_failed(self, booking: BookingRecord, payment: PaymentRecord) -> BookingRecord:
        """Refund a `FAILED` booking's payment once; `REFUNDED` when the refund is issued."""
        refunded_payment = await self.refund(payment, amount_subunits=None, booking=booking)
        if refunded_payment is None:
            return booking  # the refund call failed; the reconciler tries again
        done = await self.deps.store.bookings.transition(
            booking.reference,
            from_statuses=booking_sources(BookingStatus.REFUNDED),
            to_status=BookingStatus.REFUNDED,
            now=self.deps.clock(),
        )
        final = done or await self.deps.store.bookings.get(booking.reference) or booking
        await self.publish(refunded_payment, final)
        return final

    async def refund(
        self,
        payment: PaymentRecord,
        *,
        amount_subunits: int | None,
        booking: BookingRecord | None,
    ) -> PaymentRecord | None:
        """Refund through the payment provider and mark the payment `REFUNDED`, exactly once.

        The compare-and-set on the payment happens before the provider is called, so two
        callers never both refund; a provider failure leaves a `pending_refund` note that the
        reconciler retries.
        """
        now = self.deps.clock()
        amount = payment.amount_subunits if amount_subunits is None else amount_subunits
        amount = min(amount, payment.amount_subunits)
        claimed = await self.deps.store.payments.transition(
            payment.reference,
            from_statuses=payment_sources(PaymentStatus.REFUNDED),
            to_status=PaymentStatus.REFUNDED,
            changes={"data": {"refund": {"amount_subunits": amount, "state": "requested"}}},
            now=now,
        )
        if claimed is None:
            current = await self.deps.store.payments.get(payment.reference)
            refund = (current.data.get("refund") or {}) if current else {}
            # Already refunded (or being refunded) by another caller.
            return current if refund.get("state") != "requested" else None
        return await self.issue_refund(claimed)

    async def issue_refund(self, payment: PaymentRecord) -> PaymentRecord | None:
        """Ask the provider for the refund recorded on a `REFUNDED` payment."""
        refund = payment.data.get("refund") or {}
        try:
            result = await self.deps.payments.refund(
                reference=payment.reference,
                amount_subunits=refund["amount_subunits"],
                idempotency_note=f"SureFlights refund of {payment.booking_reference}",
            )
        except UpstreamFailure as error:
            log.error(
                "refund not issued yet",
                extra={"payment": payment.reference, "detail": error.detail},
            )
            return None
        updated = await self.deps.store.payments.transition(
            payment.reference,
            from_statuses={PaymentStatus.REFUNDED},
            to_status=PaymentStatus.REFUNDED,
            changes={
                "data": {
                    "refund": {
                        **refund,
                        "state": "issued",
                        "id": result.id,
                        "status": result.status,
                    }
                }
            },
            now=self.deps.clock(),
        )
        return updated or payment

    # --- Cancelling ------------------------------------------------------------------------

    async def cancel(self, caller: Caller, reference: str) -> BookingRecord:
        booking = await self.get(caller, reference)
        if booking.status == BookingStatus.PENDING_PAYMENT:
            return await self._cancel_unpaid(booking)
        if booking.status == BookingStatus.CONFIRMED:
            return await self._cancel_confirmed(booking)
        if booking.status == BookingStatus.CANCELLED:
            return booking
        raise Conflict(f"A {booking.status} booking cannot be cancelled.", status=booking.status)

    async def _cancel_unpaid(self, booking: BookingRecord) -> BookingRecord:
        cancelled = await self.deps.store.bookings.transition(
            booking.reference,
            from_statuses=booking_sources(BookingStatus.CANCELLED)
            & {BookingStatus.PENDING_PAYMENT},
            to_status=BookingStatus.CANCELLED,
            now=self.deps.clock(),
        )
        if cancelled is None:
            raise Conflict("The booking changed while cancelling; read it again.")
        if cancelled.airline_order_id:
            # Release the held seat; nothing was paid, so nothing comes back.
            try:
                quote = await self.deps.airline.create_order_cancellation(
                    cancelled.airline_order_id
                )
                await self.deps.airline.confirm_order_cancellation(quote.id)
            except UpstreamFailure as error:
                log.warning("held order not released", extra={"detail": error.detail})
        payment = await self.deps.store.payments.get_latest_for_booking(booking.reference)
        if payment is not None and payment.status == PaymentStatus.PENDING:
            await self.abandon(payment, cancelled)
        return cancelled

    async def _cancel_confirmed(self, booking: BookingRecord) -> BookingRecord:
        deps = self.deps
        lock = f"cancel:{booking.reference}"
        if not await deps.idempotency.claim(lock, b"1", 120):
            raise Conflict("This booking is already being cancelled.")
        try:
            assert booking.airline_order_id is not None
            quote = await deps.airline.create_order_cancellation(booking.airline_order_id)
            confirmed = await deps.airline.confirm_order_cancellation(quote.id)
            payment = await deps.store.payments.get_latest_for_booking(booking.reference)
            refund_subunits = self.refund_due(booking, payment, confirmed.refund)
            cancelled = await deps.store.bookings.transition(
                booking.reference,
                from_statuses=booking_sources(BookingStatus.CANCELLED) & {BookingStatus.CONFIRMED},
                to_status=BookingStatus.CANCELLED,
                changes={
                    "data": {
                        "cancellation": {
                            "id": confirmed.id,
                            "airline_refund": (
                                {
                                    "amount": str(confirmed.refund.amount),
                                    "currency": confirmed.refund.currency,
                                }
                                if confirmed.refund
                                else None
                            ),
                            "refund_subunits": refund_subunits,
                        }
                    }
                },
                now=deps.clock(),
            )
            if cancelled is None:
                return await deps.store.bookings.get(booking.reference) or booking
            if payment is not None and refund_subunits > 0:
                refunded = await self.refund(
                    payment, amount_subunits=refund_subunits, booking=cancelled
                )
                if refunded is not None:
                    await self.publish(refunded, cancelled)
            return cancelled
        finally:
            await deps.idempotency.release(lock)

    def refund_due(
        self, booking: BookingRecord, payment: PaymentRecord | None, airline_refund: Any
    ) -> int:
        """The airline's refund at the rate the traveller paid, never more than was paid."""
        if payment is None or payment.status != PaymentStatus.SUCCESS or airline_refund is None:
            return 0
        airline_total = booking.data["airline_total"]
        if airline_refund.currency != airline_total["currency"]:
            log.error("airline refunds in another currency", extra={"booking": booking.reference})
            return 0
        paid = from_subunits(payment.amount_subunits, payment.currency)
        # The traveller's own rate: what they paid per unit of the airline's price.
        rate = paid / Decimal(airline_total["amount"])
        due = quantize(airline_refund.amount * rate, payment.currency)
        return min(to_subunits(due, payment.currency), payment.amount_subunits)


def _correlation_id() -> str:
    return "sf_" + secrets.token_hex(12)


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None
