"""Creating, reading, listing, expiring and cancelling bookings, through `resolvers.bookings`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from resolvers.errors import BadUserInput, Conflict, Forbidden, OfferExpired, PriceChanged
from resolvers.lifecycle import BookingStatus, PaymentStatus
from tests.support.desk import ADMIN, PASSENGER, Desk, partner, traveller


async def test_a_booking_starts_unpaid_at_the_price_locked_when_it_was_made(desk: Desk) -> None:
    offer = await desk.offer()
    made = await desk.book()

    booking = made.booking
    assert booking.status == BookingStatus.PENDING_PAYMENT
    assert booking.reference.startswith("SF") and len(booking.reference) == 8
    assert booking.total_currency == "NGN"
    assert booking.data["airline_total"] == {
        "amount": str(offer.total_amount),
        "currency": offer.total_currency,
    }
    # The charge is the airline's price converted at the locked rate, never below it.
    rate = Decimal(booking.data["fx"]["rate"])
    assert booking.total_amount >= (offer.total_amount * rate).quantize(Decimal("0.01"))
    assert booking.expires_at == offer.expires_at
    # The token read back is the traveller's, for this booking only.
    assert (await desk.services.bookings.get(made.caller, made.reference)).reference == (
        made.reference
    )


async def test_a_held_offer_is_placed_with_the_airline_before_payment(desk: Desk) -> None:
    made = await desk.book(instant=False)

    ledger = await desk.ledger(made)
    assert made.booking.status == BookingStatus.PENDING_PAYMENT
    assert [(o.kind, o.state.value) for o in ledger.orders] == [("hold", "placed")]
    assert made.booking.airline_reference == ledger.orders[0].airline_reference


async def test_a_price_that_moved_is_refused_with_the_new_price(desk: Desk) -> None:
    offer = await desk.offer()
    with pytest.raises(PriceChanged) as raised:
        await desk.services.bookings.create(
            traveller("nobody"),
            offer_id=offer.id,
            passengers=[PASSENGER],
            currency=None,
            expected_total=offer.total_amount + 1,
            channel="api",
        )
    assert raised.value.extensions["totalAmount"] == str(offer.total_amount)
    assert await desk.services.store.bookings.count(status=None, partner_id=None) == 0


async def test_an_expired_offer_is_refused(desk: Desk) -> None:
    await desk.offer()
    desk.clock.advance(timedelta(hours=2))
    with pytest.raises(OfferExpired):
        await desk.book()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"born_on": PASSENGER["born_on"].replace(year=2100)}, "passengers[0].bornOn"),
        ({"title": "sir"}, "passengers[0].title"),
        ({"email": "not-an-email"}, "passengers[0].email"),
        ({"type": "child"}, "passengers[0].type"),
    ],
)
async def test_a_passenger_who_cannot_fly_this_offer_is_named_by_field(
    desk: Desk, change: dict[str, object], field: str
) -> None:
    with pytest.raises(BadUserInput) as raised:
        await desk.book(**change)
    assert raised.value.extensions["field"] == field


async def test_a_traveller_reads_only_the_booking_their_token_is_for(desk: Desk) -> None:
    mine, theirs = await desk.book(), await desk.book(family_name="Okafor")

    with pytest.raises(Forbidden):
        await desk.services.bookings.get(mine.caller, theirs.reference)
    # References are read as issued, whatever the case they are typed in.
    found = await desk.services.bookings.get(mine.caller, f" {mine.reference.lower()} ")
    assert found.reference == mine.reference


async def test_a_partner_lists_only_its_own_bookings_newest_first(desk: Desk) -> None:
    acme, other = partner("acme"), partner("globex")
    first = await desk.book(acme)
    second = await desk.book(acme)
    await desk.book(other)
    await desk.book()

    rows, more, total = await desk.services.bookings.list(acme, status=None, first=10, after=None)
    assert [r.reference for r in rows] == [second.reference, first.reference]
    assert (more, total) == (False, 2)
    assert {r.channel for r in rows} == {"api"}
    everything = await desk.services.bookings.list(ADMIN, status=None, first=2, after=None)
    assert (len(everything[0]), everything[1], everything[2]) == (2, True, 4)


async def test_a_page_larger_than_allowed_is_bad_input(desk: Desk) -> None:
    with pytest.raises(BadUserInput) as raised:
        await desk.services.bookings.list(ADMIN, status=None, first=101, after=None)
    assert raised.value.extensions["field"] == "first"


async def test_an_unpaid_booking_read_after_its_offer_ran_out_is_expired(desk: Desk) -> None:
    made = await desk.book()
    payment = await desk.start_payment(made)
    desk.clock.advance(timedelta(minutes=31))

    read = await desk.services.bookings.get(made.caller, made.reference)

    assert read.status == BookingStatus.EXPIRED
    open_payment = await desk.services.store.payments.get(payment.reference)
    assert open_payment is not None
    assert open_payment.status == PaymentStatus.ABANDONED
    with pytest.raises(OfferExpired):
        await desk.start_payment(made)


async def test_cancelling_before_payment_releases_a_held_seat(desk: Desk) -> None:
    made = await desk.book(instant=False)

    cancelled = await desk.services.bookings.cancel(made.caller, made.reference)

    assert cancelled.status == BookingStatus.CANCELLED
    assert [o.state.value for o in (await desk.ledger(made)).orders] == ["cancelled"]
    # Cancelling again answers the same booking; paying it is refused.
    again = await desk.services.bookings.cancel(made.caller, made.reference)
    assert again.status == BookingStatus.CANCELLED
    with pytest.raises(Conflict):
        await desk.start_payment(made)


async def test_a_failed_booking_cannot_be_cancelled(desk: Desk) -> None:
    made = await desk.book_and_pay(family_name="Refused")
    assert (await desk.booking(made)).status == BookingStatus.REFUNDED
    with pytest.raises(Conflict) as raised:
        await desk.services.bookings.cancel(made.caller, made.reference)
    assert raised.value.extensions["status"] == BookingStatus.REFUNDED
