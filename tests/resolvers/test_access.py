"""Every access rule of `resolvers.access`, on stored bookings: who reads, lists and acts."""

from __future__ import annotations

import pytest

from resolvers.access import (
    Caller,
    CallerKind,
    can_read,
    channel_of,
    listing_scope,
    may_act,
    may_introspect,
    require_access,
    require_admin,
    require_may_act,
    whatsapp_numbers_of,
)
from resolvers.errors import Forbidden, NotFound, Unauthenticated
from tests.support.desk import ADMIN, ANONYMOUS, Desk, partner, traveller

ASSISTANT = Caller(kind=CallerKind.INTERNAL, identity="whatsapp:2348012345678",
                   whatsapp_id="2348012345678")  # fmt: skip
STRANGER_ON_WHATSAPP = Caller(kind=CallerKind.INTERNAL, identity="whatsapp:447700900123",
                              whatsapp_id="447700900123")  # fmt: skip


async def test_each_caller_reads_what_the_rules_allow(desk: Desk) -> None:
    booking = (await desk.book(partner("acme"))).booking

    readers = {
        "admin": can_read(ADMIN, booking),
        "its traveller": can_read(traveller(booking.reference), booking),
        "another traveller": can_read(traveller("SFAAAAAA"), booking),
        "its partner": can_read(partner("acme"), booking),
        "another partner": can_read(partner("globex"), booking),
        "anonymous": can_read(ANONYMOUS, booking),
        "the assistant": can_read(ASSISTANT, booking),
    }
    assert readers == {
        "admin": True,
        "its traveller": True,
        "another traveller": False,
        "its partner": True,
        "another partner": False,
        "anonymous": False,
        "the assistant": False,
    }


async def test_a_missing_booking_is_only_named_missing_to_admins(desk: Desk) -> None:
    booking = (await desk.book()).booking

    with pytest.raises(NotFound):
        require_access(ADMIN, None, "SFNOSUCH")
    # Anyone else cannot tell a missing booking from someone else's.
    for caller, present in ((traveller("SFNOSUCH"), None), (traveller("SFNOSUCH"), booking)):
        with pytest.raises(Forbidden, match="not yours"):
            require_access(caller, present, "SFNOSUCH")
    for caller in (ANONYMOUS, ASSISTANT):
        with pytest.raises(Unauthenticated):
            require_access(caller, booking, booking.reference)


def test_listing_is_for_admins_and_partners_only() -> None:
    assert listing_scope(ADMIN) is None
    assert listing_scope(partner("acme")) == "acme"
    with pytest.raises(Forbidden):
        listing_scope(traveller("SFAAAAAA"))
    for caller in (ANONYMOUS, ASSISTANT):
        with pytest.raises(Unauthenticated):
            listing_scope(caller)


def test_admin_only_operations_tell_the_unauthenticated_from_the_forbidden() -> None:
    require_admin(ADMIN)
    with pytest.raises(Unauthenticated):
        require_admin(ANONYMOUS)
    for caller in (traveller("SFAAAAAA"), partner("acme")):
        with pytest.raises(Forbidden):
            require_admin(caller)


async def test_the_assistant_acts_for_the_traveller_writing_from_the_bookings_number(
    desk: Desk,
) -> None:
    # Booked from one number for a passenger whose phone is another: both may write about it.
    made = await desk.book(ASSISTANT, channel="whatsapp", phone_number="08099999999")
    booking = made.booking

    assert booking.channel == "whatsapp"
    assert whatsapp_numbers_of(booking) == {"2348012345678", "2348099999999"}
    assert may_act(ASSISTANT, booking)
    assert not may_act(STRANGER_ON_WHATSAPP, booking)
    with pytest.raises(Forbidden):
        require_may_act(STRANGER_ON_WHATSAPP, booking, booking.reference)
    with pytest.raises(Unauthenticated):
        require_may_act(ANONYMOUS, booking, booking.reference)
    # Acting is not reading: the assistant reads a booking with the traveller's token only.
    assert not can_read(ASSISTANT, booking)


async def test_a_partners_bookings_carry_its_id_and_others_carry_none(desk: Desk) -> None:
    by_partner = (await desk.book(partner("acme"))).booking
    by_traveller = (await desk.book(traveller("SFAAAAAA"))).booking

    assert by_partner.partner_id == "acme"
    assert by_traveller.partner_id is None


def test_the_channel_is_told_by_the_caller_and_introspection_by_its_kind() -> None:
    assert [channel_of(c) for c in (ANONYMOUS, partner("acme"), ASSISTANT, ADMIN)] == [
        "api",
        "partner",
        "whatsapp",
        "api",
    ]
    assert [may_introspect(c) for c in (ANONYMOUS, traveller("SFAAAAAA"), partner("a"))] == [
        False,
        False,
        True,
    ]
