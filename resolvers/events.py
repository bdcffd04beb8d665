"""What the booking saga tells listeners, as typed events on the event bus.

A payment's change goes out on `payments:{reference}` as a `PaymentEvent` (what the
`paymentStatus` and `paymentUpdates` subscriptions show); something that happened to a booking
goes out on `bookings:{reference}` as a `BookingEvent` (what the notifier tells travellers and
operators watch). Both travel as JSON and are read back with `read`, which refuses a message
that is not one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from integrations.state.store import BookingRecord, PaymentRecord
from resolvers.lifecycle import BookingStatus, PaymentStatus
from resolvers.money import Money, from_subunits

log = logging.getLogger("sureflights.events")

PAYMENTS = "payments:"
BOOKINGS = "bookings:"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def message(self) -> dict[str, Any]:
        """The event as the bus carries it."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def read(cls, data: Mapping[str, Any]) -> Self | None:
        """The event in a bus message; None (and a warning) for one that is not."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as error:
            log.warning("an unreadable %s on the bus: %s", cls.__name__, error.error_count())
            return None


class PaymentEvent(_Event):
    """A payment as it now stands, with its booking's status."""

    reference: str
    booking_reference: str
    status: PaymentStatus
    mode: str
    amount_subunits: int
    currency: str
    authorization_url: str | None = None
    paid_at: datetime | None = None
    updated_at: datetime
    version: int
    booking_status: BookingStatus | None = None

    @classmethod
    def of(cls, payment: PaymentRecord, booking: BookingRecord | None) -> PaymentEvent:
        return cls(
            reference=payment.reference,
            booking_reference=payment.booking_reference,
            status=PaymentStatus(payment.status),
            mode=payment.mode,
            amount_subunits=payment.amount_subunits,
            currency=payment.currency,
            authorization_url=payment.authorization_url,
            paid_at=payment.paid_at,
            updated_at=payment.updated_at,
            version=payment.version,
            booking_status=BookingStatus(booking.status) if booking else None,
        )

    @property
    def channel(self) -> str:
        return PAYMENTS + self.reference


class BookingEventKind(StrEnum):
    CONFIRMED = "confirmed"
    REFUNDED = "refunded"
    """A failed or cancelled booking's money went back."""
    CAPTURE_REFUNDED = "capture_refunded"
    """A payment the booking did not need (a second one, one after expiry) went back."""
    REFUND_PROCESSED = "refund_processed"
    """The provider reports the money reached the traveller's bank."""
    REFUND_FAILED = "refund_failed"
    AIRLINE_CHANGE = "airline_change"
    DISPUTE = "dispute"
    UNKNOWN_AIRLINE_OUTCOME = "unknown_airline_outcome"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class BookingEvent(_Event):
    """Something that happened to a booking, with who to tell (from the booking's own record)."""

    kind: BookingEventKind
    booking_reference: str
    status: BookingStatus
    channel: str
    whatsapp: str | None = None
    """The traveller's WhatsApp number, for WhatsApp bookings."""
    airline_reference: str | None = None
    payment_reference: str | None = None
    refund: str | None = None
    """The refund's id, for refund events."""
    change: str | None = None
    """The airline change's id."""
    dispute: str | None = None
    amount_subunits: int | None = None
    currency: str | None = None
    amount: str | None = None
    """`amount_subunits` of `currency`, formatted for people ("₦152,000.00")."""
    reason: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, booking: BookingRecord, kind: BookingEventKind, **details: Any) -> BookingEvent:
        contact = booking.data.get("contact") or {}
        amount, currency = details.get("amount_subunits"), details.get("currency")
        if isinstance(amount, int) and isinstance(currency, str):
            details["amount"] = Money(from_subunits(amount, currency), currency).formatted
        return cls(
            kind=kind,
            booking_reference=booking.reference,
            status=BookingStatus(booking.status),
            channel=booking.channel,
            # Who to tell comes from the booking's record, never from a cache.
            whatsapp=contact.get("whatsapp"),
            **details,
        )

    @property
    def topic(self) -> str:
        return BOOKINGS + self.booking_reference

    @property
    def about(self) -> str:
        """What in the booking the event is about, so each is told once: the refund, the
        payment, the change or the dispute it concerns ("" for the booking itself)."""
        return self.refund or self.payment_reference or self.change or self.dispute or ""
