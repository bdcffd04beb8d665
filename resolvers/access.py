"""Who is calling, and every rule of who may do what.

The callers are the contract's three kinds (anonymous, a traveller with a booking's access token,
a partner with an API key) plus admins and the in-process WhatsApp assistant. A traveller reads
only the booking their token is for; a partner reads and lists only the bookings made with its
key; admins read everything; the assistant acts for the traveller it is talking to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from resolvers.errors import Forbidden, NotFound, Unauthenticated

if TYPE_CHECKING:
    from integrations.state.store import BookingRecord


class CallerKind(StrEnum):
    ANONYMOUS = "anonymous"
    TRAVELLER = "traveller"
    PARTNER = "partner"
    ADMIN = "admin"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Caller:
    kind: CallerKind = CallerKind.ANONYMOUS
    # The booking a traveller's access token is scoped to.
    booking_reference: str | None = None
    partner_id: str | None = None
    # What rate limits and idempotency keys are scoped by (client address, key id, ...).
    identity: str = "anonymous"
    # The traveller's WhatsApp id, when the assistant books on their behalf.
    whatsapp_id: str | None = None


ANONYMOUS = Caller()


def channel_of(caller: Caller) -> str:
    """Where a booking comes from, told by who made it rather than by what a client claims."""
    if caller.kind is CallerKind.INTERNAL:
        return "whatsapp"
    if caller.kind is CallerKind.PARTNER:
        return "partner"
    return "api"


def require_admin(caller: Caller) -> None:
    if caller.kind is CallerKind.ADMIN:
        return
    if caller.kind in (CallerKind.ANONYMOUS, CallerKind.INTERNAL):
        raise Unauthenticated("This needs an admin token.")
    raise Forbidden("This is for admins only.")


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


def listing_scope(caller: Caller) -> str | None:
    """Whose bookings a caller may list: a partner's own (its id), or all for admins (None)."""
    if caller.kind is CallerKind.ADMIN:
        return None
    if caller.kind is CallerKind.PARTNER and caller.partner_id is not None:
        return caller.partner_id
    if caller.kind in (CallerKind.ANONYMOUS, CallerKind.INTERNAL):
        raise Unauthenticated("Listing bookings needs an admin token or a partner API key.")
    raise Forbidden("Listing bookings needs an admin token or a partner API key.")


def may_introspect(caller: Caller) -> bool:
    """Whether the caller may read the schema by introspection where it is restricted."""
    return caller.kind in (CallerKind.PARTNER, CallerKind.ADMIN, CallerKind.INTERNAL)


def whatsapp_numbers_of(booking: BookingRecord) -> set[str]:
    """The WhatsApp numbers (digits only) the booking's traveller may write from: the number the
    booking was made from, and the lead passenger's phone."""
    numbers = set()
    contact = booking.data.get("contact") or {}
    if isinstance(contact.get("whatsapp"), str):
        numbers.add("".join(ch for ch in contact["whatsapp"] if ch.isdigit()))
    passengers = booking.data.get("passengers") or []
    if passengers and isinstance(passengers[0].get("phone_number"), str):
        numbers.add("".join(ch for ch in passengers[0]["phone_number"] if ch.isdigit()))
    return numbers - {""}


def may_act(caller: Caller, booking: BookingRecord) -> bool:
    """Whether the caller may answer for the booking (an airline change, its notifications):
    whoever may read it, and the assistant for the traveller writing from the booking's number."""
    if can_read(caller, booking):
        return True
    return (
        caller.kind is CallerKind.INTERNAL
        and caller.whatsapp_id is not None
        and caller.whatsapp_id.lstrip("+") in whatsapp_numbers_of(booking)
    )


def require_may_act(caller: Caller, booking: BookingRecord | None, reference: str) -> BookingRecord:
    """The booking, when the caller may answer for it; otherwise an error that reveals nothing."""
    if caller.kind is CallerKind.ANONYMOUS:
        raise Unauthenticated("Send the booking's access token (Authorization: Bearer ...).")
    if booking is None:
        if caller.kind is CallerKind.ADMIN:
            raise NotFound(f"No booking {reference}.")
        raise Forbidden("This booking is not yours.")
    if not may_act(caller, booking):
        raise Forbidden("This booking is not yours.")
    return booking
