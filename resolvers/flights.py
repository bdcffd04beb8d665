"""Flight search, offers and places: input rules, the search cache, single-flight, sorting.

A search is validated and normalized (so equal searches share one cache key), asked of the
provider once even when identical requests arrive together, and kept in the shared cache until
its earliest offer expires, so `flightSearch(id)` and repeated searches are served without
another upstream call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from integrations import places
from integrations.ports.errors import UpstreamRejected
from integrations.ports.flights import (
    CabinClass,
    FlightProvider,
    Offer,
    OfferUnavailable,
    PassengerRequest,
    Place,
    SearchRequest,
    SearchResult,
    SliceRequest,
)
from integrations.state.cache import Cache
from resolvers.errors import BadUserInput, OfferExpired
from resolvers.money import Money, normalize_currency
from resolvers.rates import RatesService
from resolvers.validity import depends_on, not_reusable

log = logging.getLogger("sureflights.flights")

MAX_SLICES = 4
MAX_PASSENGERS = 9
# Airlines sell 330 to about 360 days ahead; SEARCH_MAX_DAYS_AHEAD sets the gateway's limit.
MAX_DAYS_AHEAD = 361
DEFAULT_CHILD_AGE = 8
MAX_OFFERS_PAGE = 200
MAX_PLACES = 50
# Searches are cached at most this long even when their offers live longer.
MAX_SEARCH_TTL = timedelta(minutes=30)
# A search whose offers expire sooner than this is not worth caching.
MIN_SEARCH_TTL = timedelta(seconds=5)

# How long Duffel's word on a code the place table lacks is trusted.
PLACE_CHECK_TTL = timedelta(days=1)


class OfferSort(StrEnum):
    PRICE = "PRICE"
    DURATION = "DURATION"
    DEPARTURE = "DEPARTURE"


@dataclass(frozen=True, slots=True)
class PassengerCounts:
    adults: int = 1
    children: int = 0
    infants: int = 0
    child_ages: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SliceQuery:
    origin: str
    destination: str
    departure_date: date


@dataclass(frozen=True, slots=True)
class FlightQuery:
    """A search as a client asks it, before validation."""

    slices: Sequence[SliceQuery]
    passengers: PassengerCounts = field(default_factory=PassengerCounts)
    cabin_class: CabinClass = "economy"
    max_connections: int | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class FlightSearch:
    """A search result as served: `cached` says whether the provider was asked for it now."""

    id: str
    created_at: datetime
    offers: tuple[Offer, ...]
    currency: str
    cached: bool


def _code(code: str, field_name: str) -> str:
    normalized = code.strip().upper()
    if len(normalized) != 3 or not normalized.isascii() or not normalized.isalpha():
        raise BadUserInput(
            f'"{code[:16]}" is not an IATA airport or city code (three letters, e.g. LOS).',
            field=field_name,
        )
    return normalized


def _check_place(code: str, field_name: str, confirmed: frozenset[str]) -> str:
    normalized = _code(code, field_name)
    if not places.is_listed(normalized) and normalized not in confirmed:
        raise BadUserInput(f'Unknown IATA code "{normalized}".', field=field_name)
    return normalized


def unlisted_codes(query: FlightQuery) -> set[str]:
    """Well-formed codes of a search that the place table does not list."""
    found = set()
    for wanted in query.slices:
        for code in (wanted.origin, wanted.destination):
            normalized = code.strip().upper()
            if len(normalized) == 3 and normalized.isalpha() and not places.is_listed(normalized):
                found.add(normalized)
    return found


def _local_today(code: str, now: datetime) -> date:
    """Today at the airport, so a late-evening search in Lagos is not judged by UTC's date."""
    zone = places.time_zone_of(code)
    if zone:
        return now.astimezone(ZoneInfo(zone)).date()
    return now.astimezone(UTC).date()


def validate_search(
    query: FlightQuery,
    *,
    now: datetime,
    max_days_ahead: int = MAX_DAYS_AHEAD,
    confirmed: frozenset[str] = frozenset(),
) -> SearchRequest:
    """The provider request for a client's search, or `BadUserInput` saying what to fix.

    `confirmed`: codes the place table lacks that the live provider knows (see
    `FlightService.search`)."""
    if not 1 <= len(query.slices) <= MAX_SLICES:
        raise BadUserInput(
            f"A search has 1 to {MAX_SLICES} slices; this one has {len(query.slices)}.",
            field="slices",
        )
    slices: list[SliceRequest] = []
    previous: date | None = None
    for index, wanted in enumerate(query.slices):
        where = f"slices[{index}]"
        origin = _check_place(wanted.origin, f"{where}.origin", confirmed)
        destination = _check_place(wanted.destination, f"{where}.destination", confirmed)
        if origin == destination:
            raise BadUserInput(
                f"Origin and destination are both {origin}.", field=f"{where}.destination"
            )
        today = _local_today(origin, now)
        if wanted.departure_date < today:
            raise BadUserInput(
                f"The departure date {wanted.departure_date.isoformat()} is in the past.",
                field=f"{where}.departureDate",
            )
        if wanted.departure_date > today + timedelta(days=max_days_ahead):
            raise BadUserInput(
                f"Searches reach at most {max_days_ahead} days ahead; "
                f"{wanted.departure_date.isoformat()} is further.",
                field=f"{where}.departureDate",
            )
        if previous is not None and wanted.departure_date < previous:
            raise BadUserInput(
                f"Slice {index + 1} departs on {wanted.departure_date.isoformat()}, "
                f"before the slice before it ({previous.isoformat()}).",
                field=f"{where}.departureDate",
            )
        previous = wanted.departure_date
        slices.append(
            SliceRequest(
                origin=origin, destination=destination, departure_date=wanted.departure_date
            )
        )
    passengers = _passengers(query.passengers)
    if query.max_connections is not None and not 0 <= query.max_connections <= 2:
        raise BadUserInput("maxConnections is 0, 1 or 2.", field="maxConnections")
    return SearchRequest(
        slices=slices,
        passengers=passengers,
        cabin_class=query.cabin_class,
        max_connections=query.max_connections,
    )


def _passengers(counts: PassengerCounts) -> list[PassengerRequest]:
    for name, value in (
        ("adults", counts.adults),
        ("children", counts.children),
        ("infants", counts.infants),
    ):
        if value < 0:
            raise BadUserInput(f"passengers.{name} cannot be negative.", field=f"passengers.{name}")
    if counts.adults < 1:
        raise BadUserInput(
            "At least one adult travels on every booking.", field="passengers.adults"
        )
    total = counts.adults + counts.children + counts.infants
    if total > MAX_PASSENGERS:
        raise BadUserInput(
            f"A search has at most {MAX_PASSENGERS} passengers; this one has {total}.",
            field="passengers",
        )
    if counts.infants > counts.adults:
        raise BadUserInput(
            "Each infant travels on an adult's lap: no more infants than adults.",
            field="passengers.infants",
        )
    if counts.child_ages and len(counts.child_ages) != counts.children:
        raise BadUserInput(
            f"childAges lists {len(counts.child_ages)} ages for {counts.children} children.",
            field="passengers.childAges",
        )
    for age in counts.child_ages:
        if not 2 <= age <= 17:
            raise BadUserInput(
                f"A child is 2 to 17 years old on the travel date; got {age}.",
                field="passengers.childAges",
            )
    ages = counts.child_ages or (DEFAULT_CHILD_AGE,) * counts.children
    return [
        *(PassengerRequest(type="adult") for _ in range(counts.adults)),
        *(PassengerRequest(type="child", age=age) for age in ages),
        *(PassengerRequest(type="infant_without_seat") for _ in range(counts.infants)),
    ]


def search_key(request: SearchRequest) -> str:
    """Equal searches (after normalization) share this key, whatever order clients wrote them in."""
    canonical = request.model_copy(
        update={"passengers": sorted(request.passengers, key=lambda p: (p.type, p.age or 0))}
    )
    return hashlib.sha256(canonical.model_dump_json().encode()).hexdigest()[:32]


def search_tag(search_id: str) -> str:
    """The name answers built on one cached search depend on (see resolvers.validity)."""
    return f"search:{search_id}"


def _search_cache_key(search_id: str) -> str:
    return f"flights:search:{search_id}"


def _request_cache_key(key: str) -> str:
    return f"flights:request:{key}"


@dataclass(frozen=True, slots=True)
class PriceQuotes:
    """A page's prices converted before it is served, by offer id and currency as asked for.

    `None` stands for the search's currency. A conversion that failed is kept as its error and
    raised when that price is read, as if it had been converted then.
    """

    quotes: Mapping[tuple[str, str | None], Money | Exception] = field(default_factory=dict)

    def get(self, offer_id: str, currency: str | None) -> Money | None:
        """The quoted price, None when it was not quoted."""
        quote = self.quotes.get((offer_id, currency))
        if isinstance(quote, Exception):
            # A fresh traceback each time: one error can be read under several aliases.
            raise quote.with_traceback(None)
        return quote


def _ttl(result: SearchResult, now: datetime) -> timedelta:
    if not result.offers:
        return MIN_SEARCH_TTL
    earliest = min(o.expires_at for o in result.offers)
    return min(earliest - now, MAX_SEARCH_TTL)


class FlightService:
    """Searches, offers and places over one provider, with the shared cache in front."""

    def __init__(
        self,
        provider: FlightProvider,
        cache: Cache,
        rates: RatesService,
        *,
        default_currency: str,
        max_days_ahead: int = MAX_DAYS_AHEAD,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self.cache = cache
        self.rates = rates
        self.default_currency = default_currency
        self.max_days_ahead = max_days_ahead
        self.clock = clock
        self._in_flight: dict[str, asyncio.Task[SearchResult]] = {}
        # Decoded results by search id, so a hot cached search is not re-parsed per request.
        self._decoded: dict[str, tuple[datetime, SearchResult]] = {}

    async def search(self, query: FlightQuery) -> FlightSearch:
        now = self.clock()
        confirmed = await self._confirmed_places(unlisted_codes(query))
        request = validate_search(
            query, now=now, max_days_ahead=self.max_days_ahead, confirmed=confirmed
        )
        currency = normalize_currency(query.currency or self.default_currency, field="currency")
        key = search_key(request)
        search_id = await self.cache.get(_request_cache_key(key))
        if search_id is not None:
            cached = await self._load(search_id.decode(), now)
            if cached is not None:
                self._depends_on(cached)
                return self._served(cached, currency, cached=True)
        result = await self._single_flight(key, request)
        # This answer says `cached: false`; asked again, the same search says `cached: true`.
        not_reusable()
        return self._served(result, currency, cached=False)

    async def get_search(
        self, search_id: str, *, currency: str | None = None
    ) -> FlightSearch | None:
        result = await self._load(search_id, self.clock())
        if result is None:
            return None
        display = normalize_currency(currency or self.default_currency, field="currency")
        self._depends_on(result)
        return self._served(result, display, cached=True)

    def _depends_on(self, result: SearchResult) -> None:
        """An answer from a cached search holds while every offer of it is live and this
        process still serves the search (never longer than the cache keeps any search)."""
        memo = self._decoded.get(result.request_id)
        until = memo[0] if memo is not None else self.clock() + MAX_SEARCH_TTL
        if result.offers:
            until = min(until, min(o.expires_at for o in result.offers))
        depends_on(search_tag(result.request_id), until)

    async def get_offer(self, offer_id: str) -> Offer:
        try:
            return await self.provider.get_offer(offer_id.strip())
        except OfferUnavailable as error:
            raise OfferExpired(
                "This offer is no longer available; search again for current offers.",
                offerId=offer_id,
            ) from error

    async def _confirmed_places(self, codes: set[str]) -> frozenset[str]:
        """Which of `codes` (absent from the place table) the live provider knows: in live mode a
        code we do not list is asked of Duffel's places, and its answer kept for a day. The
        sandbox flies only between listed places, so there every such code is refused."""
        if not codes or self.provider.mode != "LIVE":
            return frozenset()
        known = set()
        for code in sorted(codes):
            key = f"places:checked:{code}"
            remembered = await self.cache.get(key)
            if remembered is None:
                try:
                    found = await self.provider.suggest_places(code, limit=10)
                except UpstreamRejected:
                    found = []
                remembered = b"1" if any(p.iata_code == code for p in found) else b"0"
                await self.cache.set(key, remembered, PLACE_CHECK_TTL.total_seconds())
            if remembered == b"1":
                known.add(code)
        return frozenset(known)

    async def suggest_places(self, query: str, *, first: int = 10) -> list[Place]:
        text = query.strip()
        if not text:
            raise BadUserInput("Type at least one letter of a city or airport.", field="query")
        if not 1 <= first <= MAX_PLACES:
            raise BadUserInput(f"first is 1 to {MAX_PLACES}.", field="first")
        return await self.provider.suggest_places(text[:64], limit=first)

    def _served(self, result: SearchResult, currency: str, *, cached: bool) -> FlightSearch:
        now = self.clock()
        live = tuple(o for o in result.offers if o.expires_at > now)
        return FlightSearch(
            id=result.request_id,
            created_at=result.created_at,
            offers=live,
            currency=currency,
            cached=cached,
        )

    async def _load(self, search_id: str, now: datetime) -> SearchResult | None:
        memo = self._decoded.get(search_id)
        if memo is not None and memo[0] > now:
            return memo[1]
        raw = await self.cache.get(_search_cache_key(search_id))
        if raw is None:
            self._decoded.pop(search_id, None)
            return None
        result = SearchResult.model_validate_json(raw)
        self._remember(result, now)
        return result

    def _remember(self, result: SearchResult, now: datetime) -> None:
        if len(self._decoded) > 256:
            expired = [k for k, (until, _) in self._decoded.items() if until <= now]
            for k in expired or list(self._decoded)[:128]:
                del self._decoded[k]
        self._decoded[result.request_id] = (now + _ttl(result, now), result)

    async def _single_flight(self, key: str, request: SearchRequest) -> SearchResult:
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._search_and_cache(key, request))
            self._in_flight[key] = task
            task.add_done_callback(lambda _t: self._in_flight.pop(key, None))
        # Shielded: one caller giving up must not cancel the search the others wait for.
        return await asyncio.shield(task)

    async def _search_and_cache(self, key: str, request: SearchRequest) -> SearchResult:
        try:
            result = await self.provider.search(request)
        except UpstreamRejected as error:
            raise BadUserInput(
                f"The airline search refused this request: {error.detail}",
                field=error.field or "input",
            ) from error
        now = self.clock()
        ttl = _ttl(result, now)
        if ttl >= MIN_SEARCH_TTL:
            seconds = ttl.total_seconds()
            await self.cache.set(
                _search_cache_key(result.request_id), result.model_dump_json().encode(), seconds
            )
            await self.cache.set(_request_cache_key(key), result.request_id.encode(), seconds)
            self._remember(result, now)
        return result

    async def select_offers(
        self,
        search: FlightSearch,
        *,
        first: int = 20,
        sort_by: OfferSort = OfferSort.PRICE,
        max_stops: int | None = None,
        airline: str | None = None,
    ) -> list[Offer]:
        """A page of a search's offers, filtered and sorted as the client asked."""
        if not 0 <= first <= MAX_OFFERS_PAGE:
            raise BadUserInput(f"first is 0 to {MAX_OFFERS_PAGE}.", field="first")
        if max_stops is not None and max_stops < 0:
            raise BadUserInput("maxStops cannot be negative.", field="maxStops")
        offers: Sequence[Offer] = search.offers
        if max_stops is not None:
            offers = [o for o in offers if all(s.stops <= max_stops for s in o.slices)]
        if airline:
            code = airline.strip().upper()
            offers = [o for o in offers if _flown_by(o, code)]
        if sort_by is OfferSort.PRICE:
            prices = await self._comparable_prices(offers, search.currency)
            ordered = sorted(offers, key=lambda o: (prices[o.id], _duration(o)))
        elif sort_by is OfferSort.DURATION:
            ordered = sorted(offers, key=lambda o: (_duration(o), o.total_amount))
        else:
            ordered = sorted(offers, key=lambda o: (_departure(o), o.total_amount))
        return ordered[:first]

    async def quote_prices(
        self, offers: Sequence[Offer], currencies: Iterable[str | None], *, display_currency: str
    ) -> PriceQuotes:
        """Each offer's price in each of `currencies` (None: `display_currency`), converted now.

        One pass over a page costs far less than a conversion awaited per price field, which
        graphql-core schedules as a task of its own.
        """
        quotes: dict[tuple[str, str | None], Money | Exception] = {}
        for currency in dict.fromkeys(currencies):
            for offer in offers:
                try:
                    quote: Money | Exception = await self.rates.convert(
                        offer.total_amount, offer.total_currency, currency or display_currency
                    )
                except Exception as error:
                    quote = error
                quotes[(offer.id, currency)] = quote
        return PriceQuotes(quotes)

    async def _comparable_prices(
        self, offers: Sequence[Offer], currency: str
    ) -> dict[str, Decimal]:
        """Prices in one currency, since airlines of one search price in different ones."""
        rates: dict[str, Decimal] = {}
        for source in {o.total_currency for o in offers}:
            rates[source] = (await self.rates.exchange_rate(source, currency)).rate
        return {o.id: o.total_amount * rates[o.total_currency] for o in offers}


def _flown_by(offer: Offer, code: str) -> bool:
    if offer.owner.iata_code == code:
        return True
    return any(
        code in (s.marketing_carrier.iata_code, s.operating_carrier.iata_code)
        for sl in offer.slices
        for s in sl.segments
    )


def _duration(offer: Offer) -> int:
    return sum(s.duration_minutes for s in offer.slices)


def _departure(offer: Offer) -> datetime:
    return offer.slices[0].segments[0].departing_at
