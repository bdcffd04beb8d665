"""The state tables of `resolvers.lifecycle`: what each status may become, and what never moves."""

from __future__ import annotations

from resolvers.lifecycle import (
    BOOKING_TRANSITIONS,
    COUNTED_REFUND_STATES,
    FINAL_BOOKING_STATUSES,
    LIVE_ORDER_STATES,
    OPEN_ORDER_STATES,
    ORDER_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    BookingStatus,
    OrderState,
    PaymentStatus,
    RefundState,
    booking_may_move,
    booking_sources,
    order_may_move,
    payment_may_move,
    payment_sources,
    refund_may_move,
)


def _reachable(start: str, edges: set[tuple[str, str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for src, dst in edges:
            if src == here and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def test_every_booking_status_is_reached_from_a_new_booking() -> None:
    edges = {(str(a), str(b)) for a, b in BOOKING_TRANSITIONS}
    assert _reachable(BookingStatus.PENDING_PAYMENT, edges) == {str(s) for s in BookingStatus}


def test_final_booking_statuses_never_move() -> None:
    for final in FINAL_BOOKING_STATUSES:
        assert not any(booking_may_move(final, other) for other in BookingStatus)
    # A confirmed booking is never failed or refunded directly: it is cancelled first.
    assert not booking_may_move(BookingStatus.CONFIRMED, BookingStatus.REFUNDED)
    assert not booking_may_move(BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED)


def test_a_booking_is_confirmed_only_from_confirming() -> None:
    assert booking_sources(BookingStatus.CONFIRMED) == {"CONFIRMING"}
    assert booking_sources(BookingStatus.CANCELLED) == {"PENDING_PAYMENT", "CONFIRMED"}


def test_a_payment_settles_once_and_only_success_is_refunded() -> None:
    assert payment_sources(PaymentStatus.SUCCESS) == {"PENDING"}
    assert payment_sources(PaymentStatus.REFUNDED) == {"SUCCESS"}
    for ended in (PaymentStatus.FAILED, PaymentStatus.ABANDONED, PaymentStatus.REFUNDED):
        assert not any(payment_may_move(ended, other) for other in PaymentStatus)
    assert not payment_may_move(PaymentStatus.SUCCESS, PaymentStatus.FAILED)
    assert all(reason for reason in PAYMENT_TRANSITIONS.values())


def test_order_states_stay_put_and_refused_orders_never_come_back() -> None:
    assert all(order_may_move(state, state) for state in OrderState)
    assert not any(
        order_may_move(OrderState.REFUSED, s) for s in OrderState if s is not OrderState.REFUSED
    )
    assert not any(
        order_may_move(OrderState.CANCELLED, s) for s in OrderState if s is not OrderState.CANCELLED
    )
    # The airline's record wins over an earlier look-up that found nothing.
    assert order_may_move(OrderState.ABSENT, OrderState.CONFIRMED)
    # Every open or live state has a way to an end.
    ends = {str(OrderState.CANCELLED), str(OrderState.CONFIRMED)}
    edges = {(str(a), str(b)) for a, b in ORDER_TRANSITIONS}
    for state in OPEN_ORDER_STATES | LIVE_ORDER_STATES:
        assert _reachable(state, edges) & ends, state


def test_refunds_end_processed_or_failed_and_counted_ones_exclude_failures() -> None:
    edges = {(str(a), str(b)) for a, b in REFUND_TRANSITIONS}
    assert _reachable(RefundState.REQUESTED, edges) == {str(s) for s in RefundState}
    for end in (RefundState.PROCESSED, RefundState.FAILED):
        assert not any(refund_may_move(end, s) for s in RefundState if s is not end)
    assert RefundState.FAILED not in COUNTED_REFUND_STATES
    assert RefundState.REQUESTED in COUNTED_REFUND_STATES
