"""Reading a traveller's message: `parse` gives its intent and slots."""

from conversation.reading.reader import parse
from conversation.reading.slots import (
    Expecting,
    Intent,
    Parsed,
    PassengerFields,
    PlaceMatch,
    Slots,
)

__all__ = ["Expecting", "Intent", "Parsed", "PassengerFields", "PlaceMatch", "Slots", "parse"]
