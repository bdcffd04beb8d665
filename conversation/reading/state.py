"""What the reader has understood so far of one message, shared by its steps."""

from __future__ import annotations

from datetime import date

from conversation.reading.lexicon import Buffer, normalise
from conversation.reading.slots import Expecting, PlaceMatch

PASSENGER_FIELDS = frozenset({"name", "email", "phone", "dob", "title", "gender"})


class ReadingState:
    """The message being read (`buf`) and every slot read from it so far."""

    def __init__(self, text: str, today: date, expecting: Expecting | None) -> None:
        self.buf = Buffer(normalise(text))
        self.today = today
        self.expecting = expecting
        self.greeting = self.restart = self.cancel = self.give_up = self.help = False
        self.status = self.search_words = self.confirm = self.negative = False
        self.edit_cue: str | None = None  # "strong", "weak" or "stated"
        self.edit_field: str | None = None
        self.edit_part: str | None = None
        self.reference: str | None = None
        self.email: str | None = None
        self.phone: str | None = None
        self.full_name: str | None = None
        self.given_name: str | None = None
        self.family_name: str | None = None
        self.title: str | None = None
        self.gender: str | None = None
        self.born_on: date | None = None
        self.departure_date: date | None = None
        self.return_date: date | None = None
        self.time_of_day: str | None = None
        self.counts: dict[str, int] = {}
        self.cabin: str | None = None
        self.trip: str | None = None
        self.origin: PlaceMatch | None = None
        self.destination: PlaceMatch | None = None
        self.unknown_places: list[str] = []
        self.unknown_destination = False
        self.selection: int | None = None
        self.explicit_selection = False
        self.thanks = self.handoff = False
        self.child_ages: list[int] = []
        self.past_date: date | None = None
        self.topic: str | None = None
        self.concern: str | None = None
        self.browse: str | None = None

    @property
    def passenger_context(self) -> bool:
        return (
            self.expecting is Expecting.PASSENGER
            or self.edit_field in PASSENGER_FIELDS
            or any((self.email, self.phone, self.full_name, self.given_name, self.family_name))
            or bool(self.title or self.gender)
        )
