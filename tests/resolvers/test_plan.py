"""What a booking waits for (`resolvers.plan`), and the reconciler acting on it once it is due."""

from __future__ import annotations

from datetime import timedelta

from integrations.state.store import BookingRecord
from resolvers.ledger import Ledger
from resolvers.lifecycle import BookingStatus, PaymentStatus
from resolvers.plan import StepKind, due_step, next_check, pending
from resolvers.settlement import ENDED_CHECKS
from tests.support.desk import Desk


def kinds(desk: Desk, booking: BookingRecord) -> list[StepKind]:
    return sorted(s.kind for s in pending(booking, Ledger.of(booking), desk.deps.timings))


async def test_an_unpaid_booking_waits_only_for_its_offer_to_run_out(desk: Desk) -> None:
    made = await desk.book()
    booking = made.booking
    timings = desk.deps.timings

    assert kinds(desk, booking) == [StepKind.EXPIRE]
    assert next_check(booking, Ledger.of(booking), timings) == booking.expires_at
    # The stored check time is the plan's, so the reconciler finds it then.
    assert booking.check_at == booking.expires_at
    assert due_step(booking, Ledger.of(booking), timings, desk.clock()) is None


async def test_an_open_payment_is_verified_after_the_verify_delay(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    booking = await desk.booking(made)
    ledger = Ledger.of(booking)
    timings = desk.deps.timings

    steps = {s.kind: s for s in pending(booking, ledger, timings)}
    assert set(steps) == {StepKind.VERIFY_PAYMENT, StepKind.EXPIRE}
    verify = steps[StepKind.VERIFY_PAYMENT]
    assert verify.payment_reference == payment.reference
    assert ledger.open_payment is not None
    assert verify.due_at == ledger.open_payment.at + timings.verify_after
    # Stored to the millisecond.
    assert booking.check_at is not None
    assert abs(booking.check_at - verify.due_at) < timedelta(milliseconds=1)
    later = due_step(booking, ledger, timings, verify.due_at)
    assert later is not None and later.kind is StepKind.VERIFY_PAYMENT


async def test_when_several_steps_are_due_expiry_goes_before_verifying(desk: Desk) -> None:
    made = await desk.book()
    await desk.start_payment(made)
    booking = await desk.booking(made)
    assert booking.expires_at is not None
    past_everything = booking.expires_at + timedelta(minutes=1)

    step = due_step(booking, Ledger.of(booking), desk.deps.timings, past_everything)

    assert step is not None and step.kind is StepKind.EXPIRE


async def test_a_confirmed_booking_waits_for_notices_and_airline_changes_only(desk: Desk) -> None:
    made = await desk.book_and_pay()
    booking = await desk.booking(made)

    assert set(kinds(desk, booking)) <= {StepKind.NOTIFY, StepKind.CHECK_CHANGES}
    assert StepKind.CHECK_CHANGES in kinds(desk, booking)


async def test_an_ended_booking_with_its_money_back_waits_for_nothing(desk: Desk) -> None:
    made = await desk.book_and_pay(family_name="Refused")
    booking = await desk.booking(made)

    assert booking.status == BookingStatus.REFUNDED
    assert kinds(desk, booking) == []
    assert booking.check_at is None


async def test_the_reconciler_expires_an_unpaid_booking_once_its_offer_ran_out(
    desk: Desk,
) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    # Declined at the checkout, and the traveller never came back: nothing settled it.
    await desk.checkout.complete(payment.reference, succeed=False)

    assert (await desk.reconcile()).looked_at == 0
    report = await desk.reconcile(after=timedelta(minutes=31))

    assert report.steps == {"expire": 1}
    assert (await desk.booking(made)).status == BookingStatus.EXPIRED
    ended = await desk.services.store.payments.get(payment.reference)
    assert ended is not None and ended.status == PaymentStatus.ABANDONED
    # The payment open when it ended is asked about a few more times, in case money arrives
    # late on the checkout page; then the booking waits for nothing.
    for _ in range(ENDED_CHECKS):
        assert (await desk.reconcile(after=timedelta(hours=1))).steps == {"verify_payment": 1}
    assert kinds(desk, await desk.booking(made)) == []
    assert (await desk.reconcile(after=timedelta(hours=1))).looked_at == 0


async def test_a_held_order_nobody_pays_is_released_when_the_booking_expires(desk: Desk) -> None:
    made = await desk.book(instant=False)
    ledger = await desk.ledger(made)
    assert [o.state.value for o in ledger.orders] == ["placed"]

    assert made.booking.expires_at is not None
    desk.clock.advance(made.booking.expires_at - desk.clock() + timedelta(minutes=1))
    await desk.settle_down()

    booking = await desk.booking(made)
    assert booking.status == BookingStatus.EXPIRED
    assert [o.state.value for o in Ledger.of(booking).orders] == ["cancelled"]
    assert kinds(desk, booking) == []
