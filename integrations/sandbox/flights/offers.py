"""From a search to priced offers: the candidate itineraries, their conditions and prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise, product

from integrations.ports.flights import (
    Amount,
    CabinClass,
    Conditions,
    PassengerKind,
)
from integrations.sandbox.flights.fares import (
    _BRANDS,
    _CABIN_MULTIPLIER,
    _CENT,
    _PASSENGER_SHARE,
    _PER_USD,
    _Brand,
    _fare,
    _taxes,
)
from integrations.sandbox.flights.network import _AIRLINES
from integrations.sandbox.flights.timetables import _Itinerary, _slice_options

# --- Offers ------------------------------------------------------------------------------------

_CABINS: tuple[CabinClass, ...] = ("economy", "premium_economy", "business", "first")
_KINDS: tuple[PassengerKind, ...] = ("adult", "child", "infant_without_seat")
_MAX_OFFERS = 60
# Airlines load their timetables about 330 days ahead: a search beyond finds no flights yet; one
# beyond a year is refused.
_LOADED_DAYS = 330
_SCHEDULE_DAYS = 366
# Premium economy and first exist only on long-haul aircraft.
_LONG_HAUL_ONLY = frozenset({"premium_economy", "first"})


@dataclass(frozen=True, slots=True)
class _Query:
    """A search as the sandbox keys it: what the offers, and so the offer ids, depend on."""

    slices: tuple[tuple[str, str, date], ...]
    passengers: tuple[tuple[PassengerKind, int | None], ...]
    cabin: CabinClass
    max_connections: int


@dataclass(frozen=True, slots=True)
class _Candidate:
    owner: str
    itineraries: tuple[_Itinerary, ...]
    brand: _Brand
    currency: str
    base: float  # one adult, US dollars
    tax: float

    @property
    def minutes(self) -> int:
        return sum(it.minutes for it in self.itineraries)


def _feasible(combo: tuple[_Itinerary, ...]) -> bool:
    # A later slice leaves at least two hours after the previous one lands.
    return all(
        later.departs >= earlier.arrives + timedelta(hours=2) for earlier, later in pairwise(combo)
    )


def _offers_cabin(owner: str, cabin: CabinClass, combo: tuple[_Itinerary, ...]) -> bool:
    if cabin not in _AIRLINES[owner].cabins:
        return False
    return cabin not in _LONG_HAUL_ONLY or all(it.km >= 3_000 for it in combo)


def _combos(
    query: _Query, options: list[list[_Itinerary]]
) -> list[tuple[str, tuple[_Itinerary, ...]]]:
    """One itinerary per slice, one owner per offer where an airline covers every slice."""
    keep = {1: 6, 2: 3}.get(len(options), 2)
    per_owner = {1: 6, 2: 4}.get(len(options), 3)
    coverage: dict[str, int] = {}
    for opts in options:
        for owner in dict.fromkeys(it.owner for it in opts):
            coverage[owner] = coverage.get(owner, 0) + 1
    most = max(coverage.values())
    owners = [owner for owner, covered in coverage.items() if covered == most]
    if most < len(options):
        # No airline flies every slice: those flying most of them sell the others on their
        # ticket, as interline segments.
        owners = owners[:3]
    chosen: list[tuple[str, tuple[_Itinerary, ...]]] = []
    for owner in owners:
        best = []
        for opts in options:
            own = [it for it in opts if it.owner == owner]
            best.append(sorted(own or opts, key=lambda it: it.score)[: keep if own else 2])
        combos = [c for c in product(*best) if _feasible(c)]
        combos.sort(key=lambda c: sum(it.score for it in c))
        chosen.extend(
            (owner, c) for c in combos[:per_owner] if _offers_cabin(owner, query.cabin, c)
        )
    return chosen


def _candidates(query: _Query, booked: date) -> list[_Candidate]:
    """The offers of a search, in their final order (cheapest first), before pricing in money."""
    options: list[list[_Itinerary]] = []
    for origin, destination, day in query.slices:
        if (day - booked).days > _LOADED_DAYS:
            return []  # on sale, but the airlines have not loaded that timetable yet
        found = _slice_options(origin, destination, day, query.max_connections >= 2)
        options.append([it for it in found if it.stops <= query.max_connections])
        if not options[-1]:
            return []
    round_trip = len(query.slices) == 2 and query.slices[0][0] == query.slices[1][1]
    multiplier = _CABIN_MULTIPLIER[query.cabin] * (0.92 if round_trip else 1.0)
    by_owner: dict[str, list[_Candidate]] = {}
    for owner, combo in _combos(query, options):
        domestic = all(it.domestic for it in combo)
        fares = [
            _fare(it, day, booked) * multiplier
            for it, (_, _, day) in zip(combo, query.slices, strict=True)
        ]
        currency = "NGN" if domestic else _AIRLINES[owner].currency
        brands = _BRANDS.get((domestic, query.cabin)) or _BRANDS[(False, query.cabin)]
        for brand in brands:
            base = sum(fares) * brand.factor
            tax = sum(_taxes(it, f * brand.factor) for it, f in zip(combo, fares, strict=True))
            by_owner.setdefault(owner, []).append(
                _Candidate(owner, combo, brand, currency, base, tax)
            )
    # Every airline keeps its cheapest offers in the result before any airline gets more.
    queues = [
        sorted(group, key=lambda c: (c.base + c.tax, c.minutes)) for group in by_owner.values()
    ]
    picked: list[_Candidate] = []
    depth = 0
    while len(picked) < _MAX_OFFERS and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    picked = picked[:_MAX_OFFERS]
    picked.sort(
        key=lambda c: (c.base + c.tax, c.minutes, c.owner, c.itineraries[0].departs, c.brand.name)
    )
    return picked


def _cents(units: float) -> Decimal:
    return Decimal(round(units * 100)).scaleb(-2).quantize(_CENT)


@lru_cache(maxsize=1_024)
def _conditions(brand: _Brand, domestic: bool, currency: str, seats: int) -> Conditions:
    """The fare family's rules; fees are for the whole booking."""
    refund, change = brand.refund_fee, brand.change_fee
    return Conditions(
        refundable=refund is not None,
        refund_penalty=None if refund is None else _fee(refund, domestic, currency, seats),
        changeable=change is not None,
        change_penalty=None if change is None else _fee(change, domestic, currency, seats),
    )


def _fee(amount: float, domestic: bool, currency: str, seats: int) -> Amount:
    # Naira fees are set as they are; others in round amounts of the airline's currency.
    value = amount if domestic else 5 * round(amount * _PER_USD[currency] / 5)
    return Amount(amount=Decimal(int(value * seats)).quantize(_CENT), currency=currency)


def _price(
    candidate: _Candidate, passengers: tuple[tuple[PassengerKind, int | None], ...], factor: float
) -> tuple[Decimal, Decimal]:
    """Base and tax for the whole booking, each passenger's share rounded to the cent."""
    rate = _PER_USD[candidate.currency]
    # Airlines file fares in whole units (naira in hundreds); taxes are to the cent.
    naira = candidate.currency == "NGN"
    adult_base = Decimal(
        100 * round(candidate.base * factor * rate / 100)
        if naira
        else round(candidate.base * factor * rate)
    )
    adult_tax = Decimal(round(candidate.tax * rate)) if naira else _cents(candidate.tax * rate)
    base = tax = Decimal(0)
    for kind, _ in passengers:
        share = _PASSENGER_SHARE[kind]
        base += (adult_base * share).quantize(_CENT)
        tax += (adult_tax * share).quantize(_CENT)
    return base.quantize(_CENT), tax.quantize(_CENT)
