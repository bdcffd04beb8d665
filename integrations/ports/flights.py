"""Flights as every provider reports them: the normalized offer model and the provider interface.

The live Duffel client and the sandbox provider both answer with these models, so the rest of
the gateway never sees a provider's own shapes. Models are immutable and JSON round-trippable
(`model_dump_json` / `model_validate_json`), which is how searches are cached.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from integrations.ports.errors import UpstreamFailure

ProviderMode = Literal["LIVE", "SANDBOX"]
CabinClass = Literal["economy", "premium_economy", "business", "first"]
PassengerKind = Literal["adult", "child", "infant_without_seat"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Amount(_Model):
    amount: Decimal
    currency: str


class Place(_Model):
    iata_code: str
    name: str
    type: Literal["airport", "city"] = "airport"
    city_name: str | None = None
    country_code: str | None = None
    time_zone: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class Carrier(_Model):
    iata_code: str
    name: str
    logo_url: str | None = None


class Segment(_Model):
    id: str
    origin: Place
    destination: Place
    # Local times at each airport, with that airport's UTC offset.
    departing_at: datetime
    arriving_at: datetime
    duration_minutes: int
    marketing_carrier: Carrier
    operating_carrier: Carrier
    flight_number: str
    aircraft: str | None = None
    # The terminals, when the airline says.
    origin_terminal: str | None = None
    destination_terminal: str | None = None


class Slice(_Model):
    origin: Place
    destination: Place
    duration_minutes: int
    segments: list[Segment]

    @property
    def stops(self) -> int:
        return len(self.segments) - 1


class Conditions(_Model):
    refundable: bool
    refund_penalty: Amount | None = None
    changeable: bool
    change_penalty: Amount | None = None


class OfferPassenger(_Model):
    id: str
    type: PassengerKind
    age: int | None = None


class Offer(_Model):
    id: str
    mode: ProviderMode
    total_amount: Decimal
    total_currency: str
    base_amount: Decimal | None = None
    tax_amount: Decimal | None = None
    owner: Carrier
    slices: list[Slice]
    passengers: list[OfferPassenger]
    expires_at: datetime
    conditions: Conditions
    requires_instant_payment: bool
    payment_required_by: datetime | None = None
    price_guarantee_expires_at: datetime | None = None

    @property
    def total(self) -> Amount:
        return Amount(amount=self.total_amount, currency=self.total_currency)


class SliceRequest(_Model):
    origin: str
    destination: str
    departure_date: date


class PassengerRequest(_Model):
    type: PassengerKind
    # Children are sent to Duffel by age; adults and infants by type.
    age: int | None = None


class SearchRequest(_Model):
    slices: list[SliceRequest] = Field(min_length=1, max_length=4)
    passengers: list[PassengerRequest] = Field(min_length=1, max_length=9)
    cabin_class: CabinClass = "economy"
    max_connections: int | None = None


class SearchResult(_Model):
    # The provider's id of the search (Duffel's offer request id).
    request_id: str
    created_at: datetime
    offers: list[Offer]


class OfferUnavailable(UpstreamFailure):
    """The offer is gone or expired (Duffel's `offer_no_longer_available`, `offer_expired`, 404)."""


class FlightProvider(Protocol):
    """What the flight resolvers need from Duffel or the sandbox."""

    mode: ProviderMode

    async def search(self, request: SearchRequest) -> SearchResult: ...

    async def get_offer(self, offer_id: str) -> Offer:
        """The offer with its current price; raises `OfferUnavailable` when it is gone."""
        ...

    async def suggest_places(self, query: str, limit: int = 10) -> list[Place]: ...


class OfferPriceChanged(OfferUnavailable):
    """Duffel refused to book the offer at the price asked (`price_changed`): refresh and re-quote.

    A subclass of `OfferUnavailable` so callers that only know "this offer cannot be booked as
    seen" handle it too; `GET /air/offers/{id}` never raises it, it answers the new price.
    """
