"""Who is calling: the three kinds of caller of the contract, plus the in-process assistant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from resolvers.errors import Forbidden, Unauthenticated


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
