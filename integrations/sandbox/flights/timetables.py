"""Deterministic timetables: each airline's departures on a route, and the itineraries of a day."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from integrations.sandbox.flights.geography import (
    _NIGERIA_GATEWAYS,
    _TRUNK_AIRPORTS,
    _Airport,
    _airport,
    _eastward,
    _km,
    _members,
)
from integrations.sandbox.flights.network import (
    _AIRLINES,
    _NARROWBODY,
    _REGIONAL,
    _WIDEBODY,
    _Airline,
    _interline,
    _partners,
    _Path,
    _routes,
)

# --- Timetables --------------------------------------------------------------------------------


def _seed(*parts: object) -> int:
    # hashlib, not hash(): the same search must give the same offers in every process.
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _rng(*parts: object) -> random.Random:
    return random.Random(_seed(*parts))  # noqa: S311 - reproducible sandbox data, not a secret


@dataclass(frozen=True, slots=True)
class _Departure:
    minute: int  # local time of day at the origin
    number: int
    aircraft: str
    minutes: int  # block time
    days: int  # weekdays operated, Monday = bit 0


_DAILY = 0b111_1111
# Departure banks in local minutes after midnight: morning, midday, evening, late night.
_BANKS = ((360, 630), (660, 930), (960, 1290), (1320, 1435))
_SHORT_HAUL_BANKS = (4, 3, 3, 0)
_LONG_HAUL_BANKS = (2, 2, 3, 3)


def _turboprop(aircraft: str) -> bool:
    return "ATR" in aircraft or "Dash 8" in aircraft


def _aircraft(line: _Airline, km: float, rng: random.Random) -> tuple[str, int]:
    """A type from the airline's fleet that suits the distance, and its size class."""
    regional = [t for t in line.fleet[_REGIONAL] if km < 600 or not _turboprop(t)]
    narrow, wide = line.fleet[_NARROWBODY], line.fleet[_WIDEBODY]
    if km >= 4_500 and wide:
        kind = _WIDEBODY
    elif km < 1_200 and regional and (not narrow or rng.random() < 0.6):
        kind = _REGIONAL
    elif narrow and km < 5_600:
        kind = _NARROWBODY
    elif wide:
        kind = _WIDEBODY
    else:
        kind = _REGIONAL if line.fleet[_REGIONAL] else _NARROWBODY
    types = regional if kind == _REGIONAL and regional else line.fleet[kind]
    return rng.choice(types), kind


def _block_minutes(a: str, b: str, aircraft: str, kind: int) -> int:
    """Gate to gate: the type's block speed, ~30 minutes of taxi and climb, winds aloft."""
    speed = 480.0 if _turboprop(aircraft) else (700.0, 780.0, 820.0)[kind]
    km = _km(a, b)
    airborne = km / speed * 60 * (1 - 0.07 * _eastward(a, b))
    return 5 * round((30 + airborne) / 5)


def _frequency(line: _Airline, a: _Airport, b: _Airport, km: float, rng: random.Random) -> int:
    if line.nigerian and a.country == b.country == "NG":
        bases = {a.code, b.code} & {"LOS", "ABV"}
        if len(bases) == 2:
            return 6 if line.code == "P4" else rng.randint(2, 4)
        if bases and (a.code in _NIGERIA_GATEWAYS or b.code in _NIGERIA_GATEWAYS):
            return rng.randint(2, 3)
        return rng.randint(1, 2)
    if km < 1_500:
        return rng.randint(1, 2 + a.major + b.major)
    if km < 4_000:
        return rng.randint(1, 2)
    if a.code in _TRUNK_AIRPORTS and b.code in _TRUNK_AIRPORTS:
        return rng.randint(2, 4)
    return 2 if a.major and b.major and rng.random() < 0.25 else 1


@lru_cache(maxsize=16_384)
def _timetable(code: str, a: str, b: str) -> tuple[_Departure, ...]:
    """The airline's daily departures on a route, the same every week."""
    line = _AIRLINES[code]
    rng = _rng("timetable", code, a, b)
    km = _km(a, b)
    origin, destination = _airport(a), _airport(b)
    count = _frequency(line, origin, destination, km, rng)
    weights = _LONG_HAUL_BANKS if km >= 4_000 else _SHORT_HAUL_BANKS
    minutes: list[int] = []
    for _ in range(count):
        start, end = rng.choices(_BANKS, weights)[0]
        minutes.append(5 * (rng.randrange(start, end) // 5))
    minutes.sort()
    for i in range(1, len(minutes)):
        # Keep an airline's departures on one route at least an hour apart.
        minutes[i] = min(max(minutes[i], minutes[i - 1] + 60), 1435)
    days = _DAILY
    if count == 1 and not (origin.major and destination.major) and rng.random() < 0.5:
        days = 0
        for day in rng.sample(range(7), rng.randint(3, 6)):
            days |= 1 << day
    # Long-haul flights carry low numbers; the two directions of a route differ by one.
    pair = _seed("flight-number", code, *sorted((a, b)))
    base = 1 + 2 * (pair % 150) if km >= 4_000 else 201 + 2 * (pair % 700)
    base += 0 if a < b else 1
    departures = []
    for i, minute in enumerate(minutes):
        aircraft, kind = _aircraft(line, km, rng)
        block = _block_minutes(a, b, aircraft, kind) + 5 * rng.randint(-1, 2)
        departures.append(_Departure(minute, base + 2 * i, aircraft, block, days))
    return tuple(departures)


# Compared by identity: they live in cached tuples, so the model caches below key on them cheaply.
@dataclass(frozen=True, slots=True, eq=False)
class _Leg:
    operator: str
    marketer: str
    number: int
    origin: str
    destination: str
    departs: datetime  # UTC
    arrives: datetime  # UTC
    minutes: int
    aircraft: str


@dataclass(frozen=True, slots=True, eq=False)
class _Itinerary:
    legs: tuple[_Leg, ...]
    owner: str
    km: float  # origin to destination, what the fare is based on
    domestic: bool  # within Nigeria, priced in naira
    jitter: float  # this itinerary's fare against the model, from the day's demand
    minutes: int

    @property
    def departs(self) -> datetime:
        return self.legs[0].departs

    @property
    def arrives(self) -> datetime:
        return self.legs[-1].arrives

    @property
    def stops(self) -> int:
        return len(self.legs) - 1

    @property
    def score(self) -> int:
        """Lower is more attractive: time in the air and on the ground, a stop costs an hour."""
        return self.minutes + 60 * self.stops


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a path's itineraries share whatever the day: worked out once per path."""

    owner: str  # sells the ticket: the airline of the longest flight
    marketers: tuple[str, ...]  # per leg: the owner on its partners' flights (codeshare)
    km: float
    domestic: bool
    zones: tuple[ZoneInfo, ...]  # per leg, at its origin
    earliest: tuple[int, ...]  # per leg, the shortest connection onto it, in minutes


@lru_cache(maxsize=16_384)
def _plan(path: _Path) -> _Plan:
    owner = max(path, key=lambda leg: _km(leg[1], leg[2]))[0]
    marketers = tuple(
        owner if code != owner and _partners(owner, code) else code for code, _, _ in path
    )
    # Changing between a domestic and an international terminal takes longer.
    earliest = tuple(
        120 if i and _interline(path[i - 1][0], code, a) else 60
        for i, (code, a, _) in enumerate(path)
    )
    return _Plan(
        owner=owner,
        marketers=marketers,
        km=_km(path[0][1], path[-1][2]),
        domestic=all(_airport(a).country == "NG" == _airport(b).country for _, a, b in path),
        zones=tuple(_airport(a).zone for _, a, _ in path),
        earliest=earliest,
    )


@lru_cache(maxsize=16_384)
def _codeshare_number(marketer: str, operator: str, number: int) -> int:
    # Codeshare numbers sit in a high range of the marketing airline's own.
    return 5_000 + _seed("codeshare", marketer, operator, number) % 4_000


def _leg(path: _Path, plan: _Plan, index: int, departs: datetime, departure: _Departure) -> _Leg:
    code, a, b = path[index]
    marketer = plan.marketers[index]
    number = departure.number
    if marketer != code:
        number = _codeshare_number(marketer, code, number)
    arrives = departs + timedelta(minutes=departure.minutes)
    return _Leg(
        code, marketer, number, a, b, departs, arrives, departure.minutes, departure.aircraft
    )


def _fly(path: _Path, day: date, rng: random.Random) -> list[_Itinerary]:
    """The itineraries along a path departing on `day` (local), connections banked at the hubs."""
    plan = _plan(path)
    later = [_timetable(*leg) for leg in path[1:]]
    found: list[_Itinerary] = []
    for departure in _timetable(*path[0]):
        if not departure.days >> day.weekday() & 1:
            continue
        clock = time(departure.minute // 60, departure.minute % 60)
        local = datetime.combine(day, clock, plan.zones[0])
        legs = [_leg(path, plan, 0, local.astimezone(UTC), departure)]
        for index in range(1, len(path)):
            earliest = plan.earliest[index]
            wait = 5 * round(rng.triangular(earliest, 240, earliest + 40) / 5)
            departs = legs[-1].arrives + timedelta(minutes=wait)
            at_hub = departs.astimezone(plan.zones[index])
            minute = at_hub.hour * 60 + at_hub.minute
            scheduled = min(later[index - 1], key=lambda d: abs(d.minute - minute))
            legs.append(_leg(path, plan, index, departs, scheduled))
        minutes = (legs[-1].arrives - legs[0].departs) // timedelta(minutes=1)
        jitter = rng.uniform(0.9, 1.15)
        found.append(_Itinerary(tuple(legs), plan.owner, plan.km, plan.domestic, jitter, minutes))
    return found


@lru_cache(maxsize=2_048)
def _slice_options(
    origin: str, destination: str, day: date, two_stops: bool
) -> tuple[_Itinerary, ...]:
    """Every itinerary for one slice; deterministic for the same origin, destination and day."""
    rng = _rng("slice", origin, destination, day.isoformat())
    pairs = [(o, d) for o in _members(origin) for d in _members(destination) if o != d]
    found: list[_Itinerary] = []
    for o, d in pairs:
        for path in (*_routes(o, d, 0), *_routes(o, d, 1)):
            found.extend(_fly(path, day, rng))
    if two_stops:
        km = max((_km(o, d) for o, d in pairs), default=0.0)
        # Two stops only where fewer are scarce or the journey is very long anyway; a separate
        # stream keeps the shorter itineraries identical whatever max_connections says.
        if km >= 9_000 or len({it.owner for it in found}) < 3:
            extra = _rng("slice-2", origin, destination, day.isoformat())
            for o, d in pairs:
                for path in _routes(o, d, 2):
                    found.extend(_fly(path, day, extra))
    return tuple(found)
