"""Travellers who asked the WhatsApp assistant for a person, for operators to answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from integrations.state.store import ConversationRepository
from resolvers.access import Caller, require_admin
from resolvers.errors import BadUserInput

MAX_HANDOFFS = 100


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    phone: str
    """The traveller's WhatsApp number (or business-scoped user id when the number is hidden)."""
    profile_name: str | None
    message: str
    """What the traveller wrote when asking."""
    reason: str
    """"asked", or the worry that needed a person: "refund"."""
    requested_at: datetime
    state: str
    booking_references: tuple[str, ...]


async def handoff_requests(
    caller: Caller, conversations: ConversationRepository, *, first: int = 20
) -> list[HandoffRequest]:
    """The latest requests first; admins only."""
    require_admin(caller)
    if not 1 <= first <= MAX_HANDOFFS:
        raise BadUserInput(f"first is 1 to {MAX_HANDOFFS}.", field="first")
    found = []
    for record in await conversations.list_handoffs(first):
        asked = record.data.get("handoff") or {}
        found.append(
            HandoffRequest(
                phone=record.phone,
                profile_name=asked.get("profile_name"),
                message=str(asked.get("message") or ""),
                reason=str(asked.get("reason") or "asked"),
                requested_at=datetime.fromisoformat(str(asked["requested_at"])),
                state=record.state,
                booking_references=tuple(record.booking_references),
            )
        )
    return found
