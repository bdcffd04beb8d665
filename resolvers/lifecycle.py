"""The booking and payment lifecycles of the contract: every allowed transition, in one table each.

Transitions are applied by the repositories' compare-and-set, so each one happens once even when a
webhook, `verifyPayment` and a retry race for it; the loser sees `None` and does nothing.
"""

from __future__ import annotations

from enum import StrEnum


class BookingStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    CONFIRMING = "CONFIRMING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    EXPIRED = "EXPIRED"


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"
    REFUNDED = "REFUNDED"


# (from, to): why it happens.
BOOKING_TRANSITIONS: dict[tuple[BookingStatus, BookingStatus], str] = {
    (BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMING): "the payment settled",
    (BookingStatus.CONFIRMING, BookingStatus.CONFIRMED): "the airline issued the order",
    (BookingStatus.CONFIRMING, BookingStatus.FAILED): "the airline refused after payment",
    (BookingStatus.FAILED, BookingStatus.REFUNDED): "the payment was refunded",
    (BookingStatus.PENDING_PAYMENT, BookingStatus.EXPIRED): "the offer expired unpaid",
    (BookingStatus.PENDING_PAYMENT, BookingStatus.CANCELLED): "cancelled before payment",
    (BookingStatus.CONFIRMED, BookingStatus.CANCELLED): "cancelled with the airline",
}

PAYMENT_TRANSITIONS: dict[tuple[PaymentStatus, PaymentStatus], str] = {
    (PaymentStatus.PENDING, PaymentStatus.SUCCESS): "Paystack confirmed the charge",
    (PaymentStatus.PENDING, PaymentStatus.FAILED): "the charge failed",
    (PaymentStatus.PENDING, PaymentStatus.ABANDONED): "the booking ended before it was paid",
    (PaymentStatus.SUCCESS, PaymentStatus.REFUNDED): "money went back to the traveller",
}


def booking_sources(to: BookingStatus) -> frozenset[str]:
    """The statuses a booking may move to `to` from."""
    return frozenset(src.value for (src, dst) in BOOKING_TRANSITIONS if dst is to)


def payment_sources(to: PaymentStatus) -> frozenset[str]:
    """The statuses a payment may move to `to` from."""
    return frozenset(src.value for (src, dst) in PAYMENT_TRANSITIONS if dst is to)


FINAL_BOOKING_STATUSES = frozenset(
    {BookingStatus.CANCELLED, BookingStatus.REFUNDED, BookingStatus.EXPIRED}
)
