"""The offline flight provider: deterministic offers over real airports, airlines and fares."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from integrations.ports.errors import UpstreamRejected
from integrations.ports.flights import (
    Offer,
    OfferPassenger,
    OfferUnavailable,
    PassengerKind,
    Place,
    ProviderMode,
    SearchRequest,
    SearchResult,
    Segment,
    Slice,
)
from integrations.sandbox.flights.geography import (
    UPSTREAM,
    _airport,
    _known,
    _members,
    _place,
)
from integrations.sandbox.flights.network import _AIRLINES, _carrier
from integrations.sandbox.flights.offer_ids import _offer_id, _pack_query, _read_offer_id
from integrations.sandbox.flights.offers import (
    _SCHEDULE_DAYS,
    _Candidate,
    _candidates,
    _conditions,
    _price,
    _Query,
)
from integrations.sandbox.flights.suggestions import _suggest
from integrations.sandbox.flights.timetables import _Itinerary, _Leg, _seed

# --- The provider ------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxFlights:
    """Flight search with no Duffel account: believable, deterministic offers that can be booked.

    The same search gives the same offers (ids, flights, prices) within the same second; offer
    expiry and hold deadlines follow the clock. `get_offer` rebuilds an offer from its id alone,
    so any replica answers for offers another one found. An offer refreshed more than ten minutes
    after its search may come back a few percent dearer or cheaper (decided by its id), so clients
    meet price changes as they would with a live airline.
    """

    mode: ProviderMode = "SANDBOX"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utc_now,
        offer_ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._clock = clock
        self._offer_ttl = offer_ttl

    def _now(self) -> datetime:
        now = self._clock()
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)

    async def search(self, request: SearchRequest) -> SearchResult:
        created = self._now().replace(microsecond=0)
        query = _normalize(request, created)
        packed = _pack_query(query)
        candidates = _candidates(query, created.date())
        passengers = _passengers(packed, query)
        offers = [
            self._offer(query, packed, created, index, candidate, passengers, 1.0)
            for index, candidate in enumerate(candidates)
        ]
        request_id = (
            "orq_sandbox_"
            + hashlib.blake2b(
                struct.pack(">I", int(created.timestamp())) + packed, digest_size=10
            ).hexdigest()
        )
        return SearchResult(request_id=request_id, created_at=created, offers=offers)

    async def get_offer(self, offer_id: str) -> Offer:
        """The offer as searched, repriced a little after ten minutes; else `OfferUnavailable`."""
        offer_id = offer_id.strip()
        query, created, index = _read_offer_id(offer_id)
        now = self._now()
        if created > now + timedelta(minutes=5):
            raise OfferUnavailable(UPSTREAM, "no such offer")
        if now >= created + self._offer_ttl:
            raise OfferUnavailable(UPSTREAM, "offer expired")
        candidates = _candidates(query, created.date())
        if index >= len(candidates):
            raise OfferUnavailable(UPSTREAM, "no such offer")
        packed = _pack_query(query)
        factor = _reprice(offer_id) if now - created > timedelta(minutes=10) else 1.0
        return self._offer(
            query, packed, created, index, candidates[index], _passengers(packed, query), factor
        )

    async def suggest_places(self, query: str, limit: int = 10) -> list[Place]:
        """Cities and airports for free text: code first, then city names, then airport names."""
        return _suggest(query, limit)

    def _offer(
        self,
        query: _Query,
        packed: bytes,
        created: datetime,
        index: int,
        candidate: _Candidate,
        passengers: list[OfferPassenger],
        factor: float,
    ) -> Offer:
        base, tax = _price(candidate, query.passengers, factor)
        domestic = all(it.domestic for it in candidate.itineraries)
        seats = sum(1 for kind, _ in query.passengers if kind != "infant_without_seat")
        currency = candidate.currency
        departs = candidate.itineraries[0].departs
        # Airlines stop holding seats three days before departure.
        holds = _AIRLINES[candidate.owner].holds and departs - created > timedelta(hours=72)
        pay_by = guarantee = None
        if holds:
            pay_by = min(created + timedelta(hours=72), departs - timedelta(hours=24))
            guarantee = min(pay_by, created + timedelta(hours=24))
        return Offer(
            id=_offer_id(packed, created, index),
            mode=self.mode,
            total_amount=base + tax,
            total_currency=currency,
            base_amount=base,
            tax_amount=tax,
            owner=_carrier(candidate.owner),
            slices=[
                _slice(it, origin, destination)
                for it, (origin, destination, _) in zip(
                    candidate.itineraries, query.slices, strict=True
                )
            ],
            passengers=passengers,
            expires_at=created + self._offer_ttl,
            conditions=_conditions(candidate.brand, domestic, currency, seats),
            requires_instant_payment=not holds,
            payment_required_by=pay_by,
            price_guarantee_expires_at=guarantee,
        )


def _normalize(request: SearchRequest, created: datetime) -> _Query:
    slices: list[tuple[str, str, date]] = []
    previous: date | None = None
    for wanted in request.slices:
        origin = _known(wanted.origin, "origin")
        destination = _known(wanted.destination, "destination")
        if set(_members(origin)) & set(_members(destination)):
            raise UpstreamRejected(
                UPSTREAM, f"origin and destination are both {origin}", field="destination"
            )
        today = created.astimezone(_airport(_members(origin)[0]).zone).date()
        day = wanted.departure_date
        if day < today:
            raise UpstreamRejected(
                UPSTREAM, f"departure date {day.isoformat()} is in the past", field="departure_date"
            )
        if day > today + timedelta(days=_SCHEDULE_DAYS):
            raise UpstreamRejected(
                UPSTREAM,
                f"no schedules are on sale for {day.isoformat()} yet",
                field="departure_date",
            )
        if previous is not None and day < previous:
            raise UpstreamRejected(UPSTREAM, "slices must be in date order", field="departure_date")
        previous = day
        slices.append((origin, destination, day))
    passengers: list[tuple[PassengerKind, int | None]] = []
    for passenger in request.passengers:
        if passenger.age is not None and not 0 <= passenger.age <= 130:
            raise UpstreamRejected(
                UPSTREAM, f"age {passenger.age} is not valid", field="passengers"
            )
        passengers.append((passenger.type, passenger.age))
    wanted_connections = request.max_connections
    if wanted_connections is not None and wanted_connections < 0:
        raise UpstreamRejected(
            UPSTREAM, "max_connections cannot be negative", field="max_connections"
        )
    # Duffel's default is one connection, and it never offers more than two.
    connections = 1 if wanted_connections is None else min(wanted_connections, 2)
    return _Query(tuple(slices), tuple(passengers), request.cabin_class, connections)


def _passengers(packed: bytes, query: _Query) -> list[OfferPassenger]:
    return [
        OfferPassenger(
            id="pas_sandbox_" + hashlib.blake2b(packed + bytes([i]), digest_size=8).hexdigest(),
            type=kind,
            age=age,
        )
        for i, (kind, age) in enumerate(query.passengers)
    ]


def _reprice(offer_id: str) -> float:
    """The step an older offer's fare takes when refreshed: up for some, down for a few."""
    roll = _seed("reprice", offer_id)
    chance, size = roll % 100, roll // 100 % 5
    if chance < 40:
        return 1 + (1 + size) / 100
    if chance < 50:
        return 1 - (1 + size % 3) / 100
    return 1.0


@lru_cache(maxsize=4_096)
def _segment(leg: _Leg) -> Segment:
    fingerprint = (
        f"{leg.marketer}{leg.number}|{leg.operator}|{leg.origin}|{leg.departs.isoformat()}"
    )
    return Segment(
        id="seg_sandbox_" + hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest(),
        origin=_place(leg.origin),
        destination=_place(leg.destination),
        departing_at=leg.departs.astimezone(_airport(leg.origin).zone),
        arriving_at=leg.arrives.astimezone(_airport(leg.destination).zone),
        duration_minutes=leg.minutes,
        marketing_carrier=_carrier(leg.marketer),
        operating_carrier=_carrier(leg.operator),
        flight_number=f"{leg.marketer}{leg.number:04d}",
        aircraft=leg.aircraft,
    )


@lru_cache(maxsize=8_192)
def _slice(itinerary: _Itinerary, origin: str, destination: str) -> Slice:
    return Slice(
        origin=_place(origin),
        destination=_place(destination),
        duration_minutes=itinerary.minutes,
        segments=[_segment(leg) for leg in itinerary.legs],
    )
