"""Sandbox fares: base fare by distance, cabin and brand, seasons and how far ahead, plus taxes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from integrations.ports.flights import (
    CabinClass,
    PassengerKind,
)
from integrations.sandbox.flights.network import _AIRLINES
from integrations.sandbox.flights.timetables import _Itinerary

# --- Fares -------------------------------------------------------------------------------------

_CABIN_MULTIPLIER: dict[CabinClass, float] = {
    "economy": 1.0,
    "premium_economy": 1.6,
    "business": 3.5,
    "first": 6.0,
}
_PASSENGER_SHARE: dict[PassengerKind, Decimal] = {
    "adult": Decimal(1),
    "child": Decimal("0.75"),
    "infant_without_seat": Decimal("0.10"),
}
# Sandbox conversion for comparing and pricing; not what travellers are charged in the end.
_PER_USD = {"USD": 1.0, "GBP": 0.79, "EUR": 0.92, "NGN": 1_550.0}
_STOP_DISCOUNT = (1.0, 0.9, 0.82)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class _Brand:
    """A fare family: its price against the cheapest and its rules (fees in USD or naira)."""

    name: str
    factor: float
    refund_fee: float | None  # None: not refundable
    change_fee: float | None  # None: not changeable


_BRANDS: dict[tuple[bool, CabinClass], tuple[_Brand, ...]] = {
    (True, "economy"): (
        _Brand("saver", 1.0, None, 10_000),
        _Brand("classic", 1.2, 20_000, 10_000),
        _Brand("flex", 1.4, 7_500, 0),
    ),
    (False, "economy"): (
        _Brand("light", 1.0, None, None),
        _Brand("standard", 1.22, None, 120),
        _Brand("flex", 1.6, 60, 0),
    ),
    (True, "business"): (_Brand("business", 1.0, 25_000, 10_000), _Brand("flex", 1.25, 0, 0)),
    (False, "premium_economy"): (_Brand("standard", 1.0, None, 150), _Brand("flex", 1.3, 90, 0)),
    (False, "business"): (_Brand("business", 1.0, 300, 200), _Brand("flex", 1.25, 0, 0)),
    (False, "first"): (_Brand("first", 1.0, 0, 0),),
}


@cache
def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _season(day: date) -> float:
    """December and early January (travel home for the holidays), Easter and summer cost more."""
    if (day.month, day.day) >= (12, 15) or (day.month, day.day) <= (1, 7):
        return 1.22
    if day.month == 12 or (day.month == 1 and day.day <= 15):
        return 1.1
    if -9 <= (day - _easter(day.year)).days <= 3:
        return 1.1
    if day.month in (7, 8):
        return 1.12
    return 1.0


def _date_factor(day: date, booked: date) -> float:
    weekday = {4: 1.08, 5: 1.04, 6: 1.08}.get(day.weekday(), 1.0)
    # Fares climb steeply in the last couple of weeks before departure.
    advance = 0.93 + 0.47 * math.exp(-max((day - booked).days, 0) / 10)
    return _season(day) * weekday * advance


def _fare(itinerary: _Itinerary, day: date, booked: date) -> float:
    """The cheapest adult economy fare, in US dollars, before taxes."""
    km = itinerary.km
    if itinerary.domestic:
        base = (52_000 + 115 * km) / _PER_USD["NGN"]
    else:
        base = 80 + 0.16 * min(km, 2_500) + 0.085 * max(km - 2_500, 0)
    return (
        base
        * _STOP_DISCOUNT[itinerary.stops]
        * _AIRLINES[itinerary.owner].fare
        * _date_factor(day, booked)
        * itinerary.jitter
    )


def _taxes(itinerary: _Itinerary, base: float) -> float:
    legs = len(itinerary.legs)
    if itinerary.domestic:
        return 0.1 * base + legs * 2_500 / _PER_USD["NGN"]
    return 0.18 * base + 30 * legs
