"""What a message is read into: its intent and slots, and what the conversation was expecting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Intent(StrEnum):
    GREETING = "greeting"
    HELP = "help"
    SEARCH = "search"
    SELECT = "select"
    PASSENGER_DETAILS = "passenger_details"
    EDIT = "edit"
    CONFIRM = "confirm"
    CANCEL = "cancel"
    STATUS = "status"
    RESTART = "restart"
    THANKS = "thanks"
    HANDOFF = "handoff"
    """The traveller wants a person: customer care, an agent, a human."""
    QUESTION = "question"
    """A question the assistant answers in a line (`Slots.topic`): baggage, paying, documents."""
    MORE = "more"
    """Other options than those shown (`Slots.browse`): more, cheaper, earlier, later, faster."""
    UNKNOWN = "unknown"


class Expecting(StrEnum):
    """What the conversation has just asked for; it only breaks ties in reading the answer."""

    SELECTION = "selection"
    PASSENGER = "passenger"
    CONFIRMATION = "confirmation"
    ORIGIN = "origin"
    """"Where are you flying from?": a lone place is where the trip starts."""
    DESTINATION = "destination"
    DATE = "date"
    """"What date?": a lone day ("18th") is the departure."""
    RETURN_DATE = "return_date"


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """An airport or city. `candidates` lists every reading when the words were ambiguous; `code`
    is then the likeliest of them for a traveller in Nigeria."""

    code: str
    name: str
    candidates: tuple[str, ...] = ()
    guessed: bool = False
    """Read from a near spelling ("abujaa"): to be confirmed with the traveller, not assumed."""


@dataclass(frozen=True, slots=True)
class PassengerFields:
    full_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    born_on: date | None = None
    title: str | None = None
    gender: str | None = None


@dataclass(frozen=True, slots=True)
class Slots:
    origin: PlaceMatch | None = None
    destination: PlaceMatch | None = None
    departure_date: date | None = None
    return_date: date | None = None
    time_of_day: str | None = None
    adults: int | None = None
    children: int | None = None
    infants: int | None = None
    cabin: str | None = None
    trip: str | None = None
    selection: int | None = None
    passenger: PassengerFields | None = None
    edit_field: str | None = None
    booking_reference: str | None = None
    unknown_places: tuple[str, ...] = ()
    child_ages: tuple[int, ...] = ()
    """The children's ages as written ("2 kids (7 and 10)"), when every child's is given."""
    past_date: date | None = None
    """A travel date that has already passed ("on 2/1/2025"), to be told as such."""
    topic: str | None = None
    """What a QUESTION is about: "baggage", "payment_methods" or "documents"."""
    concern: str | None = None
    """What a STATUS check is worried about: "ticket" (not received) or "refund"."""
    browse: str | None = None
    """Which options MORE asks for: "more", "cheaper", "earlier", "later" or "faster"."""


@dataclass(frozen=True, slots=True)
class Parsed:
    intent: Intent
    slots: Slots
    text: str
