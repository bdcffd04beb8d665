"""Duffel's wire shapes (only the fields used) and their mapping onto the neutral models."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from integrations import places
from integrations.ports.airline import (
    AirlineChangeInfo,
    Order,
    OrderCancellation,
    OrderPassenger,
    OrderPayment,
    OrderPaymentStatus,
)
from integrations.ports.flights import (
    Amount,
    Carrier,
    Conditions,
    Offer,
    OfferPassenger,
    PassengerKind,
    PassengerRequest,
    Place,
    ProviderMode,
    SearchRequest,
    Segment,
    Slice,
)

_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


# --- Duffel's wire shapes (only the fields used) ----------------------------------------------


def _assume_utc(moment: datetime) -> datetime:
    # Duffel writes instants with a Z; a bare one is read as UTC rather than as local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_Instant = Annotated[datetime, AfterValidator(_assume_utc)]
_Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
_CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

_T = TypeVar("_T")


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Envelope(Wire, Generic[_T]):
    data: _T


class WireCity(Wire):
    name: str | None = None


class WirePlace(Wire):
    type: str | None = None
    iata_code: str
    name: str
    city_name: str | None = None
    iata_country_code: str | None = None
    time_zone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    city: WireCity | None = None


class WireAirline(Wire):
    iata_code: str | None = None
    name: str
    logo_symbol_url: str | None = None


class WireAircraft(Wire):
    name: str | None = None


class WireSegment(Wire):
    id: str
    origin: WirePlace
    destination: WirePlace
    # Local wall-clock times at the origin and destination airports, without an offset.
    departing_at: datetime
    arriving_at: datetime
    duration: str | None = None
    marketing_carrier: WireAirline
    marketing_carrier_flight_number: str
    operating_carrier: WireAirline | None = None
    aircraft: WireAircraft | None = None
    origin_terminal: str | None = None
    destination_terminal: str | None = None


class WireSlice(Wire):
    origin: WirePlace
    destination: WirePlace
    duration: str | None = None
    segments: list[WireSegment] = Field(min_length=1)


class WireCondition(Wire):
    allowed: bool | None = None
    penalty_amount: _Money | None = None
    penalty_currency: str | None = None


class WireConditions(Wire):
    refund_before_departure: WireCondition | None = None
    change_before_departure: WireCondition | None = None


class WirePaymentRequirements(Wire):
    requires_instant_payment: bool
    payment_required_by: _Instant | None = None
    price_guarantee_expires_at: _Instant | None = None


class WirePassenger(Wire):
    id: str
    type: str | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None


class WireOffer(Wire):
    id: str
    total_amount: _Money
    total_currency: _CurrencyCode
    base_amount: _Money | None = None
    tax_amount: _Money | None = None
    owner: WireAirline
    slices: list[WireSlice] = Field(min_length=1)
    passengers: list[WirePassenger] = Field(min_length=1)
    expires_at: _Instant
    conditions: WireConditions = WireConditions()
    payment_requirements: WirePaymentRequirements


class WireOfferRequest(Wire):
    id: str
    created_at: _Instant
    # Validated one by one, so one offer Duffel describes oddly does not sink the search.
    offers: list[dict[str, Any]] = Field(default_factory=list)


class WirePaymentStatus(Wire):
    awaiting_payment: bool
    payment_required_by: _Instant | None = None
    price_guarantee_expires_at: _Instant | None = None


class WireOrderPassenger(Wire):
    id: str
    type: str | None = None
    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    gender: str | None = None
    born_on: date | None = None


class WireOrder(Wire):
    id: str
    booking_reference: str | None = None
    total_amount: _Money
    total_currency: _CurrencyCode
    payment_status: WirePaymentStatus
    owner: WireAirline | None = None
    passengers: list[WireOrderPassenger] = Field(default_factory=list)
    slices: list[WireSlice] = Field(default_factory=list)
    created_at: _Instant
    cancelled_at: _Instant | None = None
    live_mode: bool | None = None
    metadata: dict[str, str] | None = None


class WirePageMeta(Wire):
    after: str | None = None


class WireOrderPage(Wire):
    data: list[WireOrder]
    meta: WirePageMeta | None = None


# Parametrized once: building `Envelope[X]` costs far more than validating with it.
OFFER_REQUEST = Envelope[WireOfferRequest]
OFFER = Envelope[WireOffer]
OBJECTS = Envelope[list[dict[str, Any]]]
PAYMENT = Envelope[OrderPayment]
CANCELLATION = Envelope[OrderCancellation]
ORDER = Envelope[WireOrder]


class WireAirlineChange(Wire):
    id: str
    order_id: str
    added: list[WireSlice] = Field(default_factory=list)
    removed: list[WireSlice] = Field(default_factory=list)
    available_actions: list[str] = Field(default_factory=list)
    action_taken: str | None = None
    action_taken_at: _Instant | None = None
    created_at: _Instant


AIRLINE_CHANGE = Envelope[WireAirlineChange]
AIRLINE_CHANGES = Envelope[list[WireAirlineChange]]


class WireErrorSource(Wire):
    field: str | None = None
    pointer: str | None = None


class WireError(Wire):
    type: str | None = None
    code: str | None = None
    title: str | None = None
    message: str | None = None
    # An object naming the offending field for validation errors; airline errors put the
    # airline's name here as a plain string.
    source: WireErrorSource | str | None = None


class WireErrorMeta(Wire):
    request_id: str | None = None


class WireErrorBody(Wire):
    errors: list[WireError] = Field(default_factory=list)
    meta: WireErrorMeta | None = None


# --- Mapping Duffel's shapes onto the normalized models ---------------------------------------


class Unusable(ValueError):
    """A Duffel object that validated but cannot be expressed in the normalized model."""


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _airport_zone(place: WirePlace) -> ZoneInfo | None:
    zone = _zone(place.time_zone) if place.time_zone else None
    if zone is None:
        # Duffel documents the airport's time zone as nullable; the place table knows it for
        # every scheduled airport.
        known = places.time_zone_of(place.iata_code)
        zone = _zone(known) if known else None
    return zone


def _local_time(moment: datetime, place: WirePlace) -> datetime:
    """The airport's wall-clock time with the UTC offset in force there at that moment."""
    zone = _airport_zone(place)
    if zone is None:
        raise Unusable(f"no time zone known for {place.iata_code}")
    # A fixed offset rather than the zone itself, so the value equals its JSON round trip.
    local = moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)
    offset = local.utcoffset()
    assert offset is not None
    return local.replace(tzinfo=timezone(offset))


def duration_minutes(value: str | None) -> int | None:
    """Whole minutes of an ISO 8601 duration such as `PT1H45M` or `P1DT2H`; None if unreadable.

    Years and months have no fixed length, so they are not accepted.
    """
    text = (value or "").strip().upper()
    match = _ISO_DURATION.match(text)
    if match is None:
        return None
    parts = match.groupdict()
    time_parts = (parts["hours"], parts["minutes"], parts["seconds"])
    # "P" alone, or a "T" with nothing after it, is not a duration.
    if all(v is None for v in parts.values()) or (
        "T" in text and all(v is None for v in time_parts)
    ):
        return None
    seconds = (
        float(parts["weeks"] or 0) * 604_800
        + float(parts["days"] or 0) * 86_400
        + float(parts["hours"] or 0) * 3_600
        + float(parts["minutes"] or 0) * 60
        + float(parts["seconds"] or 0)
    )
    # Half a minute rounds up, not to even as `round` would.
    return math.floor(seconds / 60 + 0.5)


def _elapsed_minutes(start: datetime, end: datetime) -> int:
    minutes = round((end - start) / timedelta(minutes=1))
    if minutes < 0:
        raise Unusable("arrives before it departs")
    return minutes


def flight_number(carrier_code: str | None, number: str) -> str:
    """The flight designator: carrier IATA code and the number padded to four digits (`BA0920`).

    Duffel sends the bare number (`920`); padding gives one canonical spelling whatever the
    airline's own, as on boarding-pass barcodes. An operational suffix letter is kept.
    """
    number = number.strip()
    digits = len(number) - len(number.lstrip("0123456789"))
    if digits:
        number = number[:digits].zfill(4) + number[digits:]
    return f"{carrier_code or ''}{number}"


def place_from_wire(place: WirePlace) -> Place:
    kind: Literal["airport", "city"] = "city" if place.type == "city" else "airport"
    city_name = place.city_name or (place.city.name if place.city else None)
    return Place(
        iata_code=place.iata_code,
        name=place.name,
        type=kind,
        city_name=city_name or (place.name if kind == "city" else None),
        country_code=place.iata_country_code,
        time_zone=place.time_zone,
        latitude=place.latitude,
        longitude=place.longitude,
    )


def _carrier(airline: WireAirline) -> Carrier:
    return Carrier(
        iata_code=airline.iata_code or "", name=airline.name, logo_url=airline.logo_symbol_url
    )


def _segment(segment: WireSegment) -> Segment:
    departing_at = _local_time(segment.departing_at, segment.origin)
    arriving_at = _local_time(segment.arriving_at, segment.destination)
    minutes = duration_minutes(segment.duration)
    marketing = segment.marketing_carrier
    return Segment(
        id=segment.id,
        origin=place_from_wire(segment.origin),
        destination=place_from_wire(segment.destination),
        departing_at=departing_at,
        arriving_at=arriving_at,
        duration_minutes=(
            minutes if minutes is not None else _elapsed_minutes(departing_at, arriving_at)
        ),
        marketing_carrier=_carrier(marketing),
        operating_carrier=_carrier(segment.operating_carrier or marketing),
        flight_number=flight_number(marketing.iata_code, segment.marketing_carrier_flight_number),
        aircraft=segment.aircraft.name if segment.aircraft else None,
        origin_terminal=segment.origin_terminal or None,
        destination_terminal=segment.destination_terminal or None,
    )


def _slice(wire: WireSlice) -> Slice:
    segments = [_segment(segment) for segment in wire.segments]
    minutes = duration_minutes(wire.duration)
    if minutes is None:
        minutes = _elapsed_minutes(segments[0].departing_at, segments[-1].arriving_at)
    return Slice(
        origin=place_from_wire(wire.origin),
        destination=place_from_wire(wire.destination),
        duration_minutes=minutes,
        segments=segments,
    )


def _passenger_kind(declared: str | None, age: int | None) -> PassengerKind:
    if declared == "adult":
        return "adult"
    if declared == "child":
        return "child"
    if declared == "infant_without_seat":
        return "infant_without_seat"
    # Passengers searched by age come back described by their age; Duffel counts travellers
    # under 18 as children and those under 2 as lap infants.
    if age is None or age >= 18:
        return "adult"
    return "infant_without_seat" if age < 2 else "child"


def _condition(wire: WireCondition | None) -> tuple[bool, Amount | None]:
    # Duffel writes null when the airline did not say; unknown is treated as not allowed.
    if wire is None or not wire.allowed:
        return False, None
    penalty = None
    if wire.penalty_amount is not None and wire.penalty_currency:
        penalty = Amount(amount=wire.penalty_amount, currency=wire.penalty_currency)
    return True, penalty


def _conditions(wire: WireConditions) -> Conditions:
    refundable, refund_penalty = _condition(wire.refund_before_departure)
    changeable, change_penalty = _condition(wire.change_before_departure)
    return Conditions(
        refundable=refundable,
        refund_penalty=refund_penalty,
        changeable=changeable,
        change_penalty=change_penalty,
    )


def offer_from_wire(wire: WireOffer, mode: ProviderMode) -> Offer:
    requirements = wire.payment_requirements
    return Offer(
        id=wire.id,
        mode=mode,
        total_amount=wire.total_amount,
        total_currency=wire.total_currency,
        base_amount=wire.base_amount,
        tax_amount=wire.tax_amount,
        owner=_carrier(wire.owner),
        slices=[_slice(s) for s in wire.slices],
        passengers=[
            OfferPassenger(id=p.id, type=_passenger_kind(p.type, p.age), age=p.age)
            for p in wire.passengers
        ],
        expires_at=wire.expires_at,
        conditions=_conditions(wire.conditions),
        requires_instant_payment=requirements.requires_instant_payment,
        payment_required_by=requirements.payment_required_by,
        price_guarantee_expires_at=requirements.price_guarantee_expires_at,
    )


def order_from_wire(wire: WireOrder) -> Order:
    status = wire.payment_status
    return Order(
        id=wire.id,
        booking_reference=wire.booking_reference,
        total_amount=wire.total_amount,
        total_currency=wire.total_currency,
        payment_status=OrderPaymentStatus(
            awaiting_payment=status.awaiting_payment,
            payment_required_by=status.payment_required_by,
            price_guarantee_expires_at=status.price_guarantee_expires_at,
        ),
        owner=_carrier(wire.owner) if wire.owner else None,
        passengers=[
            OrderPassenger(
                id=p.id,
                type=_passenger_kind(p.type, None),
                title=p.title,
                given_name=p.given_name,
                family_name=p.family_name,
                gender=p.gender,
                born_on=p.born_on,
            )
            for p in wire.passengers
        ],
        slices=[_slice(s) for s in wire.slices],
        created_at=wire.created_at,
        cancelled_at=wire.cancelled_at,
        live_mode=wire.live_mode,
        metadata=wire.metadata or {},
    )


def _passenger_body(passenger: PassengerRequest) -> dict[str, Any]:
    # Duffel wants children by age (their fare depends on it) and others by type.
    if passenger.type == "child" and passenger.age is not None:
        return {"age": passenger.age}
    return {"type": passenger.type}


def search_body(request: SearchRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slices": [
            {
                "origin": s.origin,
                "destination": s.destination,
                "departure_date": s.departure_date.isoformat(),
            }
            for s in request.slices
        ],
        "passengers": [_passenger_body(p) for p in request.passengers],
        "cabin_class": request.cabin_class,
    }
    if request.max_connections is not None:
        body["max_connections"] = request.max_connections
    return body


def decimal_text(amount: Decimal) -> str:
    # Duffel reads amounts as decimal strings; never send an exponent such as "1E+2".
    return format(amount, "f")


def airline_change_from_wire(wire: WireAirlineChange) -> AirlineChangeInfo:
    return AirlineChangeInfo(
        id=wire.id,
        order_id=wire.order_id,
        added=[_slice(s) for s in wire.added],
        removed=[_slice(s) for s in wire.removed],
        available_actions=list(wire.available_actions),
        action_taken=wire.action_taken,
        action_taken_at=wire.action_taken_at,
        created_at=wire.created_at,
    )
