"""A traveller's conversation state: where they are in the booking flow and what they have told us.

Sessions live in the session store (Redis, 24 h TTL; in-process fallback), keyed by WhatsApp id.
The states and the moves between them are listed in `TRANSITIONS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from conversation.reading import Expecting
from integrations.state.sessions import SessionStore

SESSION_TTL = timedelta(hours=24)
# A traveller who later writes without their number (a WhatsApp username) is still known by it.
ALIAS_TTL = timedelta(days=400)


class State(StrEnum):
    INITIAL = "initial"
    SEARCHING = "searching"
    VIEWING_RESULTS = "viewing_results"
    SELECTED_FLIGHT = "selected_flight"
    COLLECTING_PASSENGERS = "collecting_passengers"
    REVIEWING_BOOKING = "reviewing_booking"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"


# (from, to): what moves the conversation. Restart, cancel and expiry go back to INITIAL from
# anywhere, and a new search may start from any state.
TRANSITIONS: dict[tuple[State, State], str] = {
    (State.INITIAL, State.SEARCHING): "a search with something missing",
    (State.INITIAL, State.VIEWING_RESULTS): "a complete search",
    (State.SEARCHING, State.SEARCHING): "still something missing",
    (State.SEARCHING, State.VIEWING_RESULTS): "the search is complete",
    (State.VIEWING_RESULTS, State.SELECTED_FLIGHT): "an option picked",
    (State.SELECTED_FLIGHT, State.COLLECTING_PASSENGERS): "asking for passenger details",
    (State.COLLECTING_PASSENGERS, State.COLLECTING_PASSENGERS): "more details needed",
    (State.COLLECTING_PASSENGERS, State.REVIEWING_BOOKING): "every passenger complete",
    (State.REVIEWING_BOOKING, State.COLLECTING_PASSENGERS): "a detail the airline refused",
    (State.REVIEWING_BOOKING, State.REVIEWING_BOOKING): "an edit",
    (State.REVIEWING_BOOKING, State.VIEWING_RESULTS): "the fare expired; fresh options",
    (State.REVIEWING_BOOKING, State.SEARCHING): "the fare expired and the search again failed",
    (State.VIEWING_RESULTS, State.SEARCHING): "the search shown expired and found nothing now",
    (State.REVIEWING_BOOKING, State.AWAITING_PAYMENT): "booked; payment link sent",
    (State.AWAITING_PAYMENT, State.CONFIRMED): "the payment settled and the airline confirmed",
    (State.AWAITING_PAYMENT, State.INITIAL): "refunded or cancelled",
    (State.CONFIRMED, State.INITIAL): "the traveller moves on",
}

# What a message is read as in each state (the parser's `expecting` hint).
EXPECTING: dict[State, Expecting | None] = {
    State.INITIAL: None,
    State.SEARCHING: None,
    State.VIEWING_RESULTS: Expecting.SELECTION,
    State.SELECTED_FLIGHT: Expecting.PASSENGER,
    State.COLLECTING_PASSENGERS: Expecting.PASSENGER,
    State.REVIEWING_BOOKING: Expecting.CONFIRMATION,
    State.AWAITING_PAYMENT: None,
    State.CONFIRMED: None,
}


_ASKED = {
    "origin": Expecting.ORIGIN,
    "destination": Expecting.DESTINATION,
    "date": Expecting.DATE,
    "return_date": Expecting.RETURN_DATE,
    "place": Expecting.CONFIRMATION,
    "airport": Expecting.ORIGIN,
}


@dataclass
class Session:
    """Everything the assistant remembers of one traveller between messages (JSON-able)."""

    wa_id: str
    state: State = State.INITIAL
    # Search slots gathered so far: origin, destination, departure_date, return_date (ISO),
    # adults, children, infants, cabin, time_of_day, trip.
    search: dict[str, Any] = field(default_factory=dict)
    # Offers shown, in the order listed: id, title, total (Decimal string), currency, summary.
    options: list[dict[str, Any]] = field(default_factory=list)
    selected: dict[str, Any] | None = None
    # One dict per passenger of the search: type plus the fields collected so far.
    passengers: list[dict[str, Any]] = field(default_factory=list)
    # The field asked for one by one, when a message was missing it.
    asking: str | None = None
    booking_reference: str | None = None
    access_token: str | None = None
    payment_reference: str | None = None
    # The price shown at review, sent back as expectedTotalAmount so nobody pays a surprise.
    expected_total: str | None = None
    # When the traveller last wrote (ISO): free-form replies are allowed for 24 hours after.
    last_inbound_at: str | None = None
    # While searching, what was just asked: {"ask": "origin" | "destination" | "date" |
    # "return_date"}, or a place to confirm: {"ask": "place", "end": ..., "code": ..., "name": ...}
    # (a near spelling), {"ask": "airport", "end": ..., "town": ..., "codes": [...]} (a town with
    # no airport, or a name with several).
    pending: dict[str, Any] | None = None
    # The flight search the options came from, and how many of its offers were shown.
    search_id: str | None = None
    shown: int = 0
    # The business-scoped user id Meta sent with the traveller's phone number, once noted.
    user_id: str | None = None

    def move(self, to: State) -> None:
        if to != State.INITIAL and to != self.state and (self.state, to) not in TRANSITIONS:
            raise ValueError(f"no move from {self.state} to {to}")
        self.state = to

    def reset(self) -> None:
        keep, user_id, last = self.wa_id, self.user_id, self.last_inbound_at
        self.__dict__.update(Session(wa_id=keep, user_id=user_id, last_inbound_at=last).__dict__)

    @property
    def expecting(self) -> Expecting | None:
        """What the next message is likely to answer."""
        if self.state == State.SEARCHING and self.pending is not None:
            return _ASKED.get(self.pending.get("ask", ""))
        return EXPECTING[self.state]

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Session:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["state"] = State(known.get("state", State.INITIAL))
        return cls(**known)


class Sessions:
    """Loads and saves sessions; a session untouched for 24 hours is forgotten."""

    def __init__(self, store: SessionStore, *, ttl: timedelta = SESSION_TTL) -> None:
        self._store = store
        self._ttl = ttl

    async def load(self, wa_id: str) -> Session:
        data = await self._store.load(f"wa:{wa_id}")
        return Session.from_data(data) if data else Session(wa_id=wa_id)

    async def save(self, session: Session) -> None:
        await self._store.save(f"wa:{session.wa_id}", session.to_data(), self._ttl.total_seconds())

    async def note_user_id(self, user_id: str, wa_id: str) -> None:
        """Remember whose phone number a business-scoped user id goes with."""
        await self._store.save(f"wa:user:{user_id}", {"wa_id": wa_id}, ALIAS_TTL.total_seconds())

    async def wa_id_of(self, user_id: str) -> str | None:
        """The phone number last seen with a business-scoped user id, if any."""
        data = await self._store.load(f"wa:user:{user_id}")
        found = (data or {}).get("wa_id")
        return found if isinstance(found, str) else None
