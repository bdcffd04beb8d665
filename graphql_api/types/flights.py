"""Flight search types: places, carriers, offers and searches, from `integrations.ports.flights`."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from graphql_api.context import Info
from graphql_api.cost import ListSize
from graphql_api.types.money import Money
from integrations.ports import flights as domain
from resolvers import flights
from resolvers.money import Money as DomainMoney
from resolvers.money import quantize


@strawberry.enum
class CabinClass(Enum):
    ECONOMY = "economy"
    PREMIUM_ECONOMY = "premium_economy"
    BUSINESS = "business"
    FIRST = "first"


# Registers the domain enum with Strawberry (in place) so the schema and resolvers share it.
strawberry.enum(flights.OfferSort, description="How offers are ordered.")


@strawberry.enum
class ProviderMode(Enum):
    LIVE = "LIVE"
    SANDBOX = "SANDBOX"


def _money(amount: domain.Amount | None) -> Money | None:
    if amount is None:
        return None
    return Money.from_domain(DomainMoney(quantize(amount.amount, amount.currency), amount.currency))


@strawberry.type
class Place:
    iata_code: str
    name: str
    city_name: str | None
    country_code: str | None
    time_zone: str | None
    type: str = strawberry.field(description='"airport" or "city".')

    @classmethod
    def from_domain(cls, place: domain.Place) -> Place:
        return cls(
            iata_code=place.iata_code,
            name=place.name,
            city_name=place.city_name,
            country_code=place.country_code,
            time_zone=place.time_zone,
            type=place.type,
        )


# Within offers, Carrier, Segment, Slice and Place are resolved straight from the immutable
# domain models, whose attributes carry the same names: a page of 50 offers holds over a thousand
# of them, and copying each into a Strawberry object per request cost more than serving it.
# Strawberry only checks `is_type_of` for types with interfaces, and these have none.


@strawberry.type
class Carrier:
    iata_code: str
    name: str
    logo_url: str | None

    @classmethod
    def from_domain(cls, carrier: domain.Carrier) -> Carrier:
        return cls(iata_code=carrier.iata_code, name=carrier.name, logo_url=carrier.logo_url)


@strawberry.type
class Segment:
    id: strawberry.ID
    origin: Place
    destination: Place
    departing_at: datetime = strawberry.field(description="Local time with the airport's offset.")
    arriving_at: datetime = strawberry.field(description="Local time with the airport's offset.")
    duration_minutes: int
    marketing_carrier: Carrier
    operating_carrier: Carrier
    flight_number: str
    aircraft: str | None

    @classmethod
    def from_domain(cls, segment: domain.Segment) -> Segment:
        return cls(
            id=strawberry.ID(segment.id),
            origin=Place.from_domain(segment.origin),
            destination=Place.from_domain(segment.destination),
            departing_at=segment.departing_at,
            arriving_at=segment.arriving_at,
            duration_minutes=segment.duration_minutes,
            marketing_carrier=Carrier.from_domain(segment.marketing_carrier),
            operating_carrier=Carrier.from_domain(segment.operating_carrier),
            flight_number=segment.flight_number,
            aircraft=segment.aircraft,
        )


@strawberry.type
class Slice:
    origin: Place
    destination: Place
    duration_minutes: int
    stops: int
    segments: list[Segment] = strawberry.field(directives=[ListSize(assumed_size=3)])

    @classmethod
    def from_domain(cls, value: domain.Slice) -> Slice:
        return cls(
            origin=Place.from_domain(value.origin),
            destination=Place.from_domain(value.destination),
            duration_minutes=value.duration_minutes,
            stops=value.stops,
            segments=[Segment.from_domain(s) for s in value.segments],
        )


@strawberry.type
class OfferConditions:
    refundable: bool
    refund_penalty: Money | None
    changeable: bool
    change_penalty: Money | None


@strawberry.type
class FlightOffer:
    id: strawberry.ID
    mode: ProviderMode
    total_amount: Money = strawberry.field(description="As the airline prices it.")
    owner: domain.Carrier = strawberry.field(graphql_type=Carrier)
    slices: list[domain.Slice] = strawberry.field(
        graphql_type=list[Slice], directives=[ListSize(assumed_size=4)]
    )
    passenger_count: int
    expires_at: datetime
    conditions: OfferConditions
    requires_instant_payment: bool
    display_currency: strawberry.Private[str]
    offer: strawberry.Private[domain.Offer]
    quotes: strawberry.Private[flights.PriceQuotes]

    @strawberry.field(
        graphql_type=Money,
        description="The price converted at the current rate (the search's currency by default).",
    )
    def price(self, info: Info, currency: str | None = None) -> Money | Awaitable[Money]:
        # A price quoted with its page is answered at once; any other is converted now.
        quoted = self.quotes.get(self.offer.id, currency)
        if quoted is not None:
            return Money.from_domain(quoted)
        return self._converted_price(info, currency)

    async def _converted_price(self, info: Info, currency: str | None) -> Money:
        converted = await info.context.services.rates.convert(
            self.offer.total_amount, self.offer.total_currency, currency or self.display_currency
        )
        return Money.from_domain(converted)

    @classmethod
    def from_domain(
        cls,
        offer: domain.Offer,
        display_currency: str,
        quotes: flights.PriceQuotes | None = None,
    ) -> FlightOffer:
        total = _money(offer.total)
        assert total is not None
        return cls(
            id=strawberry.ID(offer.id),
            mode=ProviderMode(offer.mode),
            total_amount=total,
            owner=offer.owner,
            slices=offer.slices,
            passenger_count=len(offer.passengers),
            expires_at=offer.expires_at,
            conditions=OfferConditions(
                refundable=offer.conditions.refundable,
                refund_penalty=_money(offer.conditions.refund_penalty),
                changeable=offer.conditions.changeable,
                change_penalty=_money(offer.conditions.change_penalty),
            ),
            requires_instant_payment=offer.requires_instant_payment,
            display_currency=display_currency,
            offer=offer,
            quotes=quotes or flights.PriceQuotes(),
        )


def _price_currencies(selections: Iterable[Selection]) -> Iterator[str | None]:
    """The `currency` of every `price` selected on an offer, fragments included."""
    for selection in selections:
        if not isinstance(selection, SelectedField):
            yield from _price_currencies(selection.selections)
        elif selection.name == "price":
            yield selection.arguments.get("currency")


@strawberry.type
class FlightSearch:
    id: strawberry.ID
    created_at: datetime
    cached: bool = strawberry.field(description="True when served without asking the airline.")
    total_offers: int = strawberry.field(description="Offers still valid in this search.")
    search: strawberry.Private[flights.FlightSearch]

    @strawberry.field(
        description="A page of the offers, filtered and sorted.",
        directives=[ListSize(assumed_size=20, slicing_arguments=["first"])],
    )
    async def offers(
        self,
        info: Info,
        first: int | None = 20,
        sort_by: flights.OfferSort | None = flights.OfferSort.PRICE,
        max_stops: int | None = None,
        airline: Annotated[
            str | None, strawberry.argument(description="IATA code of the owner or any carrier.")
        ] = None,
    ) -> list[FlightOffer]:
        service = info.context.services.flights
        # An explicit null means the default, as the contract's nullable arguments allow.
        selected = await service.select_offers(
            self.search,
            first=20 if first is None else first,
            sort_by=sort_by or flights.OfferSort.PRICE,
            max_stops=max_stops,
            airline=airline,
        )
        currency = self.search.currency
        requested = (s for offers in info.selected_fields for s in offers.selections)
        quotes = await service.quote_prices(
            selected, _price_currencies(requested), display_currency=currency
        )
        return [FlightOffer.from_domain(o, currency, quotes) for o in selected]

    @classmethod
    def from_domain(cls, search: flights.FlightSearch) -> FlightSearch:
        return cls(
            id=strawberry.ID(search.id),
            created_at=search.created_at,
            cached=search.cached,
            total_offers=len(search.offers),
            search=search,
        )


@strawberry.input
class SliceInput:
    origin: str = strawberry.field(description="IATA airport or city code, e.g. LOS.")
    destination: str
    departure_date: date


@strawberry.input
class PassengersInput:
    adults: int = 1
    children: int = 0
    infants: int = strawberry.field(default=0, description="Infants without a seat (under 2).")
    child_ages: list[int] | None = strawberry.field(
        default=None,
        description=f"Each child's age on the travel date; {flights.DEFAULT_CHILD_AGE} if omitted.",
    )


@strawberry.input
class FlightSearchInput:
    slices: list[SliceInput]
    passengers: PassengersInput | None = None
    cabin_class: CabinClass | None = CabinClass.ECONOMY
    max_connections: int | None = None
    currency: str | None = strawberry.field(
        default=None, description="Currency of `price` and of sorting by price."
    )

    def to_query(self) -> flights.FlightQuery:
        passengers = self.passengers or PassengersInput()
        return flights.FlightQuery(
            slices=[
                flights.SliceQuery(s.origin, s.destination, s.departure_date) for s in self.slices
            ],
            passengers=flights.PassengerCounts(
                adults=passengers.adults,
                children=passengers.children,
                infants=passengers.infants,
                child_ages=tuple(passengers.child_ages or ()),
            ),
            cabin_class=(self.cabin_class or CabinClass.ECONOMY).value,
            max_connections=self.max_connections,
            currency=self.currency,
        )
