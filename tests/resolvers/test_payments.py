"""Starting, settling and verifying payments (`resolvers.payments`, `resolvers.settlement`), and
the saga taking a paid booking to the airline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from resolvers.errors import BadUserInput, Conflict, Forbidden, NotFound
from resolvers.ledger import CaptureRole
from resolvers.lifecycle import BookingStatus, OrderState, PaymentStatus
from tests.support.desk import ADMIN, Desk, traveller


async def test_a_payment_is_started_once_however_often_it_is_asked(desk: Desk) -> None:
    made = await desk.book()

    started = await asyncio.gather(*(desk.start_payment(made) for _ in range(4)))

    assert len({p.reference for p in started}) == 1
    payment = started[0]
    assert payment.reference.startswith(f"{made.reference}-")
    assert payment.status == PaymentStatus.PENDING
    assert payment.mode == "SANDBOX"
    assert payment.amount_subunits == int(made.booking.total_amount * 100)
    assert payment.authorization_url.endswith(f"/sandbox/checkout/{payment.reference}")
    opened = (await desk.ledger(made)).open_payment
    assert opened is not None
    assert (opened.reference, opened.state) == (payment.reference, "open")


async def test_paying_confirms_the_booking_with_one_airline_order(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)

    settled = await desk.pay(payment)

    booking = await desk.booking(made)
    ledger = await desk.ledger(made)
    assert settled.status == PaymentStatus.SUCCESS
    assert booking.status == BookingStatus.CONFIRMED
    assert len(booking.airline_reference or "") == 6
    assert [(o.kind, o.state) for o in ledger.orders] == [("instant", OrderState.CONFIRMED)]
    assert [(c.payment_reference, c.role) for c in ledger.captures] == [
        (payment.reference, CaptureRole.BACKING)
    ]
    assert ledger.open_payment is None
    balance = await desk.balance(made)
    assert (balance.captured, balance.kept, balance.refunded) == (
        payment.amount_subunits,
        payment.amount_subunits,
        0,
    )


async def test_settling_the_same_payment_again_changes_nothing(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    await desk.pay(payment)
    before = await desk.booking(made)

    again = await desk.services.payments.verify(made.caller, payment.reference)
    await desk.pay(payment)

    after = await desk.booking(made)
    assert again.status == PaymentStatus.SUCCESS
    assert after.airline_reference == before.airline_reference
    assert len((await desk.ledger(made)).orders) == 1
    assert len((await desk.ledger(made)).captures) == 1


async def test_a_declined_payment_leaves_the_booking_payable_with_a_new_payment(
    desk: Desk,
) -> None:
    made = await desk.book()
    first = await desk.start_payment(made)

    declined = await desk.pay(first, succeed=False)

    assert declined.status == PaymentStatus.FAILED
    assert (await desk.booking(made)).status == BookingStatus.PENDING_PAYMENT
    second = await desk.start_payment(made)
    assert second.reference != first.reference
    await desk.pay(second)
    assert (await desk.booking(made)).status == BookingStatus.CONFIRMED


async def test_a_paid_booking_takes_no_second_payment(desk: Desk) -> None:
    made = await desk.book_and_pay()
    with pytest.raises(Conflict, match="already paid"):
        await desk.start_payment(made)


async def test_a_callback_that_is_not_a_web_address_is_bad_input(desk: Desk) -> None:
    made = await desk.book()
    with pytest.raises(BadUserInput) as raised:
        await desk.services.payments.initialize(made.caller, made.reference, "javascript:alert(1)")
    assert raised.value.extensions["field"] == "callbackUrl"


async def test_a_payment_is_read_only_by_whoever_may_read_its_booking(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)

    assert (await desk.services.payments.get(ADMIN, payment.reference.lower())) == payment
    with pytest.raises(Forbidden):
        await desk.services.payments.get(traveller("SFOTHER1"), payment.reference)
    with pytest.raises(NotFound):
        await desk.services.payments.get(ADMIN, "SFNOSUCH-00000000")


async def test_a_webhook_delivered_twice_settles_once(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    await desk.checkout.complete(payment.reference, succeed=True)
    event = {"event": "charge.success", "data": {"reference": payment.reference}}

    await desk.services.payments.handle_paystack_event(event)
    await desk.services.payments.handle_paystack_event(event)

    ledger = await desk.ledger(made)
    assert (await desk.booking(made)).status == BookingStatus.CONFIRMED
    assert len(ledger.captures) == 1 and len(ledger.orders) == 1
    assert [e.source for e in ledger.journal if e.kind.startswith("capture.")] == [
        "webhook:paystack"
    ]


async def test_a_settlement_that_was_lost_is_found_by_the_reconciler(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    # Paid at the provider; the webhook never came and nobody verified.
    await desk.checkout.complete(payment.reference, succeed=True)
    assert (await desk.reconcile()).changed == 0

    report = await desk.reconcile(after=timedelta(minutes=6))

    assert report.steps.get("verify_payment") == 1
    assert (await desk.booking(made)).status == BookingStatus.CONFIRMED


async def test_an_airline_refusal_after_payment_refunds_the_traveller_in_full(desk: Desk) -> None:
    made = await desk.book_and_pay(family_name="Refused")

    booking = await desk.booking(made)
    balance = await desk.balance(made)
    assert booking.status == BookingStatus.REFUNDED
    assert balance.captured > 0
    assert (balance.kept, balance.refunded, balance.in_flight) == (0, balance.captured, 0)
    payment = await desk.services.store.payments.get_latest_for_booking(made.reference)
    assert payment is not None
    assert (await desk.checkout.verify(payment.reference)).status == "reversed"
