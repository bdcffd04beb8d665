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
    UNKNOWN = "unknown"


class Expecting(StrEnum):
    """What the conversation has just asked for; it only breaks ties in reading the answer."""

    SELECTION = "selection"
    PASSENGER = "passenger"
    CONFIRMATION = "confirmation"


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """An airport or city. `candidates` lists every reading when the words were ambiguous; `code`
    is then the likeliest of them for a traveller in Nigeria."""

    code: str
    name: str
    candidates: tuple[str, ...] = ()


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


@dataclass(frozen=True, slots=True)
class Parsed:
    intent: Intent
    slots: Slots
    text: str
