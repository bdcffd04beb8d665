"""Passenger details as airlines need them: names, age for the type, email, E.164 phone."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from integrations.ports.flights import OfferPassenger
from resolvers.errors import BadUserInput

DEFAULT_PHONE_REGION = "NG"
TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr"})
# Letters (any script's accents folded), spaces, hyphens and apostrophes, as airlines accept them.
_NAME = re.compile(r"^[A-Za-z][A-Za-z '\-]{0,49}$")
# Age on the travel date that each passenger type allows.
AGE_RANGES = {"adult": (18, 130), "child": (2, 17), "infant_without_seat": (0, 1)}
TYPE_NAMES = {"adult": "ADULT", "child": "CHILD", "infant_without_seat": "INFANT_WITHOUT_SEAT"}


@dataclass(frozen=True, slots=True)
class PassengerDetails:
    type: str
    title: str
    given_name: str
    family_name: str
    gender: str
    born_on: date
    email: str
    phone_number: str

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["born_on"] = self.born_on.isoformat()
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PassengerDetails:
        fields = {k: data[k] for k in cls.__slots__}
        fields["born_on"] = date.fromisoformat(data["born_on"])
        return cls(**fields)


def _fold(text: str) -> str:
    """Accents folded to ASCII letters, since airline systems take A-Z only (Adébáyọ̀ → Adebayo)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _name(value: str, field: str) -> str:
    folded = " ".join(_fold(value).split())
    if not _NAME.match(folded):
        raise BadUserInput(
            "Names use letters, spaces, hyphens and apostrophes (1 to 50), as on the passport.",
            field=field,
        )
    return folded


def age_on(born_on: date, day: date) -> int:
    return day.year - born_on.year - ((day.month, day.day) < (born_on.month, born_on.day))


def normalize_phone(value: str, field: str = "phoneNumber") -> str:
    """E.164 (+2348012345678), reading local numbers as Nigerian."""
    try:
        number = phonenumbers.parse(value, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as error:
        raise BadUserInput(f"{value[:20]!r} is not a phone number.", field=field) from error
    if not phonenumbers.is_valid_number(number):
        raise BadUserInput(f"{value[:20]!r} is not a valid phone number.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str, field: str = "email") -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise BadUserInput(f"The email address is not valid: {error}", field=field) from error
    return checked.normalized


def validate_passengers(
    given: Sequence[dict[str, Any]],
    offer_passengers: Sequence[OfferPassenger],
    *,
    travel_date: date,
    today: date,
) -> list[tuple[str, PassengerDetails]]:
    """Each passenger paired with the offer passenger id it fills, or `BadUserInput`.

    Passengers are matched to the offer's by type, in order; counts per type must agree.
    """
    if len(given) != len(offer_passengers):
        raise BadUserInput(
            f"The offer is for {len(offer_passengers)} passengers; {len(given)} were given.",
            field="passengers",
        )
    free: dict[str, list[str]] = {}
    for passenger in offer_passengers:
        free.setdefault(passenger.type, []).append(passenger.id)
    matched: list[tuple[str, PassengerDetails]] = []
    for index, raw in enumerate(given):
        where = f"passengers[{index}]"
        kind = raw["type"]
        if not free.get(kind):
            wanted = ", ".join(f"{len(v)} {TYPE_NAMES[k]}" for k, v in free.items() if v)
            raise BadUserInput(
                f"No {TYPE_NAMES[kind]} place is left on this offer; it still needs {wanted}.",
                field=f"{where}.type",
            )
        born_on: date = raw["born_on"]
        if born_on > today:
            raise BadUserInput("bornOn is in the future.", field=f"{where}.bornOn")
        low, high = AGE_RANGES[kind]
        age = age_on(born_on, travel_date)
        if not low <= age <= high:
            raise BadUserInput(
                f"A {TYPE_NAMES[kind]} is {low} to {high} years old on the travel date "
                f"({travel_date.isoformat()}); this passenger will be {age}.",
                field=f"{where}.bornOn",
            )
        title = raw["title"].lower()
        if title not in TITLES:
            raise BadUserInput("title is one of MR, MRS, MS, MISS, DR.", field=f"{where}.title")
        details = PassengerDetails(
            type=kind,
            title=title,
            given_name=_name(raw["given_name"], f"{where}.givenName"),
            family_name=_name(raw["family_name"], f"{where}.familyName"),
            gender=raw["gender"].lower(),
            born_on=born_on,
            email=normalize_email(raw["email"], f"{where}.email"),
            phone_number=normalize_phone(raw["phone_number"], f"{where}.phoneNumber"),
        )
        matched.append((free[kind].pop(0), details))
    return matched
