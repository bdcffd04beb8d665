"""Every lifecycle of the saga, one transition table each: bookings and payments (the contract's),
airline orders and refunds (the ledger's).

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


def booking_may_move(src: BookingStatus, dst: BookingStatus) -> bool:
    return (src, dst) in BOOKING_TRANSITIONS


def payment_may_move(src: PaymentStatus, dst: PaymentStatus) -> bool:
    return (src, dst) in PAYMENT_TRANSITIONS


class OrderState(StrEnum):
    """An attempt at an airline order, as far as we know it."""

    INTENDED = "intended"  # stored just before asking the airline
    UNKNOWN = "unknown"  # asked, but the answer was not seen (timeout, 5xx, 202, unreadable)
    PLACED = "placed"  # a held order exists and awaits payment
    PAYING = "paying"  # paying the held order; the answer is not in yet
    CONFIRMED = "confirmed"  # issued and paid, with the airline's booking reference
    CANCELLING = "cancelling"  # cancellation asked of the airline; the answer is not in yet
    CANCELLED = "cancelled"  # cancelled at the airline
    ABSENT = "absent"  # positively not created: nothing to look for, safe to order again
    REFUSED = "refused"  # the airline explicitly refused it


ORDER_TRANSITIONS: dict[tuple[OrderState, OrderState], str] = {
    (OrderState.INTENDED, OrderState.CONFIRMED): "the airline issued the order",
    (OrderState.INTENDED, OrderState.PLACED): "the airline holds the order for payment",
    (OrderState.INTENDED, OrderState.UNKNOWN): "the airline's answer was not seen",
    (OrderState.INTENDED, OrderState.ABSENT): "the airline did not create the order",
    (OrderState.INTENDED, OrderState.REFUSED): "the airline refused the order",
    (OrderState.UNKNOWN, OrderState.CONFIRMED): "a look-up found the issued order",
    (OrderState.UNKNOWN, OrderState.PLACED): "a look-up found the held order",
    (OrderState.UNKNOWN, OrderState.CANCELLED): "a look-up found the order cancelled",
    (OrderState.UNKNOWN, OrderState.ABSENT): "a look-up positively found no order",
    (OrderState.PLACED, OrderState.PAYING): "paying the held order",
    (OrderState.PLACED, OrderState.CANCELLED): "the held order was released",
    (OrderState.PLACED, OrderState.CANCELLING): "releasing the held order",
    (OrderState.PLACED, OrderState.CONFIRMED): "the held order was found paid",
    (OrderState.PAYING, OrderState.CONFIRMED): "the held order is paid",
    (OrderState.PAYING, OrderState.PLACED): "the held order is positively still unpaid",
    (OrderState.PAYING, OrderState.CANCELLED): "the held order was found cancelled",
    (OrderState.CONFIRMED, OrderState.CANCELLING): "cancelling with the airline",
    (OrderState.CONFIRMED, OrderState.CANCELLED): "the airline cancelled the order",
    (OrderState.CANCELLING, OrderState.CANCELLED): "the airline cancelled the order",
    (OrderState.CANCELLING, OrderState.CONFIRMED): "the cancellation did not happen",
    (OrderState.CANCELLING, OrderState.PLACED): "the held order was not released",
    # The airline's record wins over an earlier look-up that found nothing.
    (OrderState.ABSENT, OrderState.CONFIRMED): "the airline created the order after all",
    (OrderState.ABSENT, OrderState.PLACED): "the airline created the order after all",
    (OrderState.ABSENT, OrderState.CANCELLED): "the airline created and cancelled the order",
}

# Orders that exist at the airline, or may.
LIVE_ORDER_STATES = frozenset(
    {OrderState.PLACED, OrderState.PAYING, OrderState.CONFIRMED, OrderState.CANCELLING}
)
OPEN_ORDER_STATES = frozenset({OrderState.INTENDED, OrderState.UNKNOWN})


class RefundState(StrEnum):
    """A refund of one capture, from the claim to the provider's last word."""

    REQUESTED = "requested"  # claimed, and about to be (or being) asked of the provider
    UNKNOWN = "unknown"  # asked, but the answer was not seen
    ISSUED = "issued"  # the provider took it; the money is on its way back
    PROCESSED = "processed"  # the provider says the money reached the traveller
    FAILED = "failed"  # the provider could not return the money: a person must act


REFUND_TRANSITIONS: dict[tuple[RefundState, RefundState], str] = {
    (RefundState.REQUESTED, RefundState.ISSUED): "the provider took the refund",
    (RefundState.REQUESTED, RefundState.PROCESSED): "the provider returned the money at once",
    (RefundState.REQUESTED, RefundState.UNKNOWN): "the provider's answer was not seen",
    (RefundState.REQUESTED, RefundState.FAILED): "the provider refused the refund",
    (RefundState.UNKNOWN, RefundState.ISSUED): "the refund was found at the provider",
    (RefundState.UNKNOWN, RefundState.REQUESTED): "the provider positively has no such refund",
    (RefundState.ISSUED, RefundState.PROCESSED): "the money reached the traveller",
    (RefundState.ISSUED, RefundState.FAILED): "the provider could not return the money",
    (RefundState.UNKNOWN, RefundState.PROCESSED): "the refund was found processed",
    (RefundState.UNKNOWN, RefundState.FAILED): "the refund was found failed",
}

# Money that is back with the traveller or on its way there: counted as refunded.
COUNTED_REFUND_STATES = frozenset(
    {RefundState.REQUESTED, RefundState.UNKNOWN, RefundState.ISSUED, RefundState.PROCESSED}
)


def order_may_move(src: OrderState, dst: OrderState) -> bool:
    return src is dst or (src, dst) in ORDER_TRANSITIONS


def refund_may_move(src: RefundState, dst: RefundState) -> bool:
    return src is dst or (src, dst) in REFUND_TRANSITIONS
