"""Money going back (`resolvers.refunds`, `resolvers.cancellations`): what the airline returns on
a cancellation, money that arrived for a booking that ended, and a second payment."""

from __future__ import annotations

from decimal import Decimal

from resolvers.ledger import CaptureRole
from resolvers.lifecycle import BookingStatus, OrderState, RefundState
from resolvers.money import to_subunits
from tests.support.desk import Desk


async def test_cancelling_a_refundable_booking_returns_what_the_airline_refunds(
    desk: Desk,
) -> None:
    made = await desk.book_and_pay(refundable=True)

    cancelled = await desk.services.bookings.cancel(made.caller, made.reference)

    ledger = await desk.ledger(made)
    order = ledger.orders[0]
    assert cancelled.status == BookingStatus.CANCELLED
    assert order.state is OrderState.CANCELLED
    assert order.refund_amount is not None and Decimal(order.refund_amount) > 0
    assert [r.state for r in ledger.refunds] == [RefundState.PROCESSED]
    refund = ledger.refunds[0]
    captured = ledger.captures[0].amount_subunits
    assert 0 < refund.amount_subunits <= captured
    # The airline returns its own currency; the traveller gets the same share of what they paid.
    airline_total = Decimal(cancelled.data["airline_total"]["amount"])
    share = Decimal(order.refund_amount) / airline_total
    expected = to_subunits(cancelled.total_amount * share, cancelled.total_currency)
    assert abs(refund.amount_subunits - expected) <= 1


async def test_cancelling_a_non_refundable_booking_keeps_the_money(desk: Desk) -> None:
    made = await desk.book_and_pay(refundable=False)

    cancelled = await desk.services.bookings.cancel(made.caller, made.reference)

    balance = await desk.balance(made)
    assert cancelled.status == BookingStatus.CANCELLED
    assert (await desk.ledger(made)).refunds == []
    assert (balance.kept, balance.refunded) == (balance.captured, 0)


async def test_money_paid_on_the_checkout_of_a_cancelled_booking_goes_back(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    await desk.services.bookings.cancel(made.caller, made.reference)

    # The checkout page was still open; the traveller pays there anyway.
    await desk.pay(payment)

    ledger = await desk.ledger(made)
    balance = await desk.balance(made)
    assert (await desk.booking(made)).status == BookingStatus.CANCELLED
    assert [c.role for c in ledger.captures] == [CaptureRole.SURPLUS]
    assert balance.captured == balance.refunded == payment.amount_subunits
    assert ledger.orders == []


async def test_a_charge_for_a_payment_the_gateway_never_started_changes_nothing(
    desk: Desk,
) -> None:
    made = await desk.book()
    first = await desk.start_payment(made)
    await desk.pay(first, succeed=False)
    second = await desk.start_payment(made)
    await desk.pay(second)
    # A transaction made at the provider by someone else, named like one of ours.
    stray = f"{made.reference}-STRAY001"
    await desk.checkout.initialize(
        email="tunde@example.com",
        amount_subunits=second.amount_subunits,
        currency=second.currency,
        reference=stray,
    )
    await desk.checkout.complete(stray, succeed=True)
    await desk.services.payments.handle_paystack_event(
        {"event": "charge.success", "data": {"reference": stray}}
    )

    ledger = await desk.ledger(made)
    assert (await desk.booking(made)).status == BookingStatus.CONFIRMED
    assert {c.payment_reference: c.role for c in ledger.captures} == {
        second.reference: CaptureRole.BACKING
    }
    assert len(ledger.orders) == 1


async def test_the_refund_of_a_failed_booking_is_asked_once_however_often_it_is_driven(
    desk: Desk,
) -> None:
    made = await desk.book_and_pay(family_name="Refused")

    await desk.settle_down()

    ledger = await desk.ledger(made)
    assert (await desk.booking(made)).status == BookingStatus.REFUNDED
    assert len(ledger.refunds) == 1
    payment = ledger.captures[0].payment_reference
    assert len(await desk.checkout.list_refunds(payment)) == 1
    assert ledger.refunds[0].amount_subunits == ledger.captures[0].amount_subunits
