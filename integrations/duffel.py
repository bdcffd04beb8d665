"""The live flight provider: a typed client of Duffel's flights API, from search to cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Generic, Literal, NoReturn, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from integrations import places
from integrations.errors import (
    CredentialsRejected,
    OutcomeUnknown,
    UpstreamError,
    UpstreamFailure,
    UpstreamRejected,
    UpstreamUnavailable,
)
from integrations.flights import (
    Amount,
    Carrier,
    Conditions,
    Offer,
    OfferPassenger,
    OfferUnavailable,
    PassengerKind,
    PassengerRequest,
    Place,
    ProviderMode,
    SearchRequest,
    SearchResult,
    Segment,
    Slice,
)
from integrations.retry import (
    Failed,
    Idempotency,
    RetryPolicy,
    hinted_wait,
    never_sent,
    transport_failure,
)

UPSTREAM = "duffel"
DUFFEL_VERSION = "v2"
# Duffel ignores supplier_timeout values outside 2 s to 60 s and falls back to its default.
MIN_SUPPLIER_TIMEOUT_MS = 2_000
MAX_SUPPLIER_TIMEOUT_MS = 60_000
MAX_ORDERS_PAGE = 200
# The order metadata keys under which our correlation id (one per attempt) and booking reference
# are stored, so an order whose creation was not seen can be recognised when reconciling.
CORRELATION_METADATA_KEY = "sureflights_correlation_id"
BOOKING_METADATA_KEY = "sureflights_booking_reference"
# Duffel's answer to an order it guarantees it did not create: safe to ask again.
ORDER_NOT_CREATED = "order_not_created"

log = logging.getLogger("sureflights.duffel")

# Codes Duffel answers when the selected offer cannot be booked or refreshed any more.
_GONE_CODES = frozenset({"offer_no_longer_available", "offer_expired"})
_PRICE_CHANGED = "price_changed"
_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class OfferPriceChanged(OfferUnavailable):
    """Duffel refused to book the offer at the price asked (`price_changed`): refresh and re-quote.

    A subclass of `OfferUnavailable` so callers that only know "this offer cannot be booked as
    seen" handle it too; `GET /air/offers/{id}` never raises it, it answers the new price.
    """


# --- Normalized results that exist only for Duffel bookings -----------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class OrderPaymentStatus(_Frozen):
    awaiting_payment: bool
    payment_required_by: datetime | None = None
    price_guarantee_expires_at: datetime | None = None


class OrderPassenger(_Frozen):
    id: str
    type: PassengerKind
    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    gender: str | None = None
    born_on: date | None = None


class Order(_Frozen):
    """A booking with the airline; `booking_reference` is the PNR the traveller checks in with."""

    id: str
    booking_reference: str | None
    total_amount: Decimal
    total_currency: str
    payment_status: OrderPaymentStatus
    owner: Carrier | None = None
    passengers: list[OrderPassenger]
    slices: list[Slice]
    created_at: datetime
    cancelled_at: datetime | None = None
    live_mode: bool | None = None
    # Key-value pairs stored on the order; `CORRELATION_METADATA_KEY` holds our correlation id.
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def total(self) -> Amount:
        return Amount(amount=self.total_amount, currency=self.total_currency)

    @property
    def correlation_id(self) -> str | None:
        return self.metadata.get(CORRELATION_METADATA_KEY)

    @property
    def sureflights_booking_reference(self) -> str | None:
        return self.metadata.get(BOOKING_METADATA_KEY)


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of `GET /air/orders`; pass `after` back to read the next one (None: last page)."""

    orders: list[Order]
    after: str | None


class Payment(_Frozen):
    """A payment of a hold order (`POST /air/payments`)."""

    id: str
    order_id: str | None = None
    amount: Decimal
    # Nullable in Duffel's reference; a payment that went through must still be readable.
    currency: str | None = None
    type: str | None = None
    # pending, succeeded, failed or cancelled; pending payments settle later.
    status: str | None = None
    failure_reason: str | None = None
    created_at: datetime


class OrderCancellation(_Frozen):
    """A cancellation quote, or once `confirmed_at` is set, a done cancellation."""

    id: str
    order_id: str
    refund_amount: Decimal | None = None
    refund_currency: str | None = None
    refund_to: str | None = None
    # The quote must be confirmed before this time.
    expires_at: datetime | None = None
    confirmed_at: datetime | None = None
    created_at: datetime

    @property
    def refund(self) -> Amount | None:
        if self.refund_amount is None or self.refund_currency is None:
            return None
        return Amount(amount=self.refund_amount, currency=self.refund_currency)


class OrderPassengerInput(BaseModel):
    """A traveller's details for `POST /air/orders`; `id` is the offer passenger's id."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]
    title: Literal["mr", "ms", "mrs", "miss", "dr"]
    given_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    family_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    gender: Literal["m", "f"]
    born_on: date
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    # E.164, as Duffel requires.
    phone_number: Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
    # For an adult travelling with an infant on their lap: the infant's offer passenger id.
    infant_passenger_id: str | None = None


# --- Duffel's wire shapes (only the fields used) ----------------------------------------------


def _assume_utc(moment: datetime) -> datetime:
    # Duffel writes instants with a Z; a bare one is read as UTC rather than as local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_Instant = Annotated[datetime, AfterValidator(_assume_utc)]
_Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
_CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)
_R = TypeVar("_R")


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Envelope(_Wire, Generic[_T]):
    data: _T


class _WireCity(_Wire):
    name: str | None = None


class _WirePlace(_Wire):
    type: str | None = None
    iata_code: str
    name: str
    city_name: str | None = None
    iata_country_code: str | None = None
    time_zone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    city: _WireCity | None = None


class _WireAirline(_Wire):
    iata_code: str | None = None
    name: str
    logo_symbol_url: str | None = None


class _WireAircraft(_Wire):
    name: str | None = None


class _WireSegment(_Wire):
    id: str
    origin: _WirePlace
    destination: _WirePlace
    # Local wall-clock times at the origin and destination airports, without an offset.
    departing_at: datetime
    arriving_at: datetime
    duration: str | None = None
    marketing_carrier: _WireAirline
    marketing_carrier_flight_number: str
    operating_carrier: _WireAirline | None = None
    aircraft: _WireAircraft | None = None


class _WireSlice(_Wire):
    origin: _WirePlace
    destination: _WirePlace
    duration: str | None = None
    segments: list[_WireSegment] = Field(min_length=1)


class _WireCondition(_Wire):
    allowed: bool | None = None
    penalty_amount: _Money | None = None
    penalty_currency: str | None = None


class _WireConditions(_Wire):
    refund_before_departure: _WireCondition | None = None
    change_before_departure: _WireCondition | None = None


class _WirePaymentRequirements(_Wire):
    requires_instant_payment: bool
    payment_required_by: _Instant | None = None
    price_guarantee_expires_at: _Instant | None = None


class _WirePassenger(_Wire):
    id: str
    type: str | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None


class _WireOffer(_Wire):
    id: str
    total_amount: _Money
    total_currency: _CurrencyCode
    base_amount: _Money | None = None
    tax_amount: _Money | None = None
    owner: _WireAirline
    slices: list[_WireSlice] = Field(min_length=1)
    passengers: list[_WirePassenger] = Field(min_length=1)
    expires_at: _Instant
    conditions: _WireConditions = _WireConditions()
    payment_requirements: _WirePaymentRequirements


class _WireOfferRequest(_Wire):
    id: str
    created_at: _Instant
    # Validated one by one, so one offer Duffel describes oddly does not sink the search.
    offers: list[dict[str, Any]] = Field(default_factory=list)


class _WirePaymentStatus(_Wire):
    awaiting_payment: bool
    payment_required_by: _Instant | None = None
    price_guarantee_expires_at: _Instant | None = None


class _WireOrderPassenger(_Wire):
    id: str
    type: str | None = None
    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    gender: str | None = None
    born_on: date | None = None


class _WireOrder(_Wire):
    id: str
    booking_reference: str | None = None
    total_amount: _Money
    total_currency: _CurrencyCode
    payment_status: _WirePaymentStatus
    owner: _WireAirline | None = None
    passengers: list[_WireOrderPassenger] = Field(default_factory=list)
    slices: list[_WireSlice] = Field(default_factory=list)
    created_at: _Instant
    cancelled_at: _Instant | None = None
    live_mode: bool | None = None
    metadata: dict[str, str] | None = None


class _WirePageMeta(_Wire):
    after: str | None = None


class _WireOrderPage(_Wire):
    data: list[_WireOrder]
    meta: _WirePageMeta | None = None


# Parametrized once: building `_Envelope[X]` costs far more than validating with it.
_OFFER_REQUEST = _Envelope[_WireOfferRequest]
_OFFER = _Envelope[_WireOffer]
_OBJECTS = _Envelope[list[dict[str, Any]]]
_PAYMENT = _Envelope[Payment]
_CANCELLATION = _Envelope[OrderCancellation]
_ORDER = _Envelope[_WireOrder]


class _WireErrorSource(_Wire):
    field: str | None = None
    pointer: str | None = None


class _WireError(_Wire):
    type: str | None = None
    code: str | None = None
    title: str | None = None
    message: str | None = None
    # An object naming the offending field for validation errors; airline errors put the
    # airline's name here as a plain string.
    source: _WireErrorSource | str | None = None


class _WireErrorMeta(_Wire):
    request_id: str | None = None


class _WireErrorBody(_Wire):
    errors: list[_WireError] = Field(default_factory=list)
    meta: _WireErrorMeta | None = None


# --- Webhooks -------------------------------------------------------------------------------

# How far a webhook's signed timestamp may be from our clock, either way.
WEBHOOK_TOLERANCE_SECONDS = 300
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-fA-F]{64})$")


def webhook_signature(secret: str, body: bytes, timestamp: int) -> str:
    """`X-Duffel-Signature` for `body` signed at `timestamp`: `t=<unix time>,v1=<hex>`, the hex
    being HMAC-SHA256 of `<timestamp>.<raw body>` under the webhook's secret."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True, slots=True)
class WebhookSignature:
    timestamp: int
    digest: str


def read_webhook_signature(
    secret: str, body: bytes, header: str | None, *, now: float
) -> WebhookSignature | None:
    """The signature, when `header` signs `body` under `secret` (compared in constant time) at a
    time within `WEBHOOK_TOLERANCE_SECONDS` of `now`; None otherwise."""
    if not secret or not header:
        return None
    match = _SIGNATURE.match(header.strip())
    if match is None:
        return None
    timestamp = int(match.group(1))
    if abs(now - timestamp) > WEBHOOK_TOLERANCE_SECONDS:
        return None
    expected = webhook_signature(secret, body, timestamp).encode("ascii")
    presented = f"t={timestamp},v1={match.group(2).lower()}".encode("ascii")
    if not hmac.compare_digest(expected, presented):
        return None
    return WebhookSignature(timestamp, match.group(2).lower())


def order_from_event(obj: Mapping[str, Any]) -> Order | None:
    """The order a webhook event carries (`data.object` of `order.created`), if it reads whole."""
    try:
        return _order(_WireOrder.model_validate(dict(obj)))
    except (ValidationError, _Unusable, ValueError):
        return None


# --- Mapping Duffel's shapes onto the normalized models ---------------------------------------


class _Unusable(ValueError):
    """A Duffel object that validated but cannot be expressed in the normalized model."""


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _airport_zone(place: _WirePlace) -> ZoneInfo | None:
    zone = _zone(place.time_zone) if place.time_zone else None
    if zone is None:
        # Duffel documents the airport's time zone as nullable; the place table knows it for
        # every scheduled airport.
        known = places.time_zone_of(place.iata_code)
        zone = _zone(known) if known else None
    return zone


def _local_time(moment: datetime, place: _WirePlace) -> datetime:
    """The airport's wall-clock time with the UTC offset in force there at that moment."""
    zone = _airport_zone(place)
    if zone is None:
        raise _Unusable(f"no time zone known for {place.iata_code}")
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
        raise _Unusable("arrives before it departs")
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


def _place(place: _WirePlace) -> Place:
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


def _carrier(airline: _WireAirline) -> Carrier:
    return Carrier(
        iata_code=airline.iata_code or "", name=airline.name, logo_url=airline.logo_symbol_url
    )


def _segment(segment: _WireSegment) -> Segment:
    departing_at = _local_time(segment.departing_at, segment.origin)
    arriving_at = _local_time(segment.arriving_at, segment.destination)
    minutes = duration_minutes(segment.duration)
    marketing = segment.marketing_carrier
    return Segment(
        id=segment.id,
        origin=_place(segment.origin),
        destination=_place(segment.destination),
        departing_at=departing_at,
        arriving_at=arriving_at,
        duration_minutes=(
            minutes if minutes is not None else _elapsed_minutes(departing_at, arriving_at)
        ),
        marketing_carrier=_carrier(marketing),
        operating_carrier=_carrier(segment.operating_carrier or marketing),
        flight_number=flight_number(marketing.iata_code, segment.marketing_carrier_flight_number),
        aircraft=segment.aircraft.name if segment.aircraft else None,
    )


def _slice(wire: _WireSlice) -> Slice:
    segments = [_segment(segment) for segment in wire.segments]
    minutes = duration_minutes(wire.duration)
    if minutes is None:
        minutes = _elapsed_minutes(segments[0].departing_at, segments[-1].arriving_at)
    return Slice(
        origin=_place(wire.origin),
        destination=_place(wire.destination),
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


def _condition(wire: _WireCondition | None) -> tuple[bool, Amount | None]:
    # Duffel writes null when the airline did not say; unknown is treated as not allowed.
    if wire is None or not wire.allowed:
        return False, None
    penalty = None
    if wire.penalty_amount is not None and wire.penalty_currency:
        penalty = Amount(amount=wire.penalty_amount, currency=wire.penalty_currency)
    return True, penalty


def _conditions(wire: _WireConditions) -> Conditions:
    refundable, refund_penalty = _condition(wire.refund_before_departure)
    changeable, change_penalty = _condition(wire.change_before_departure)
    return Conditions(
        refundable=refundable,
        refund_penalty=refund_penalty,
        changeable=changeable,
        change_penalty=change_penalty,
    )


def _offer(wire: _WireOffer, mode: ProviderMode) -> Offer:
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


def _order(wire: _WireOrder) -> Order:
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


def _search_body(request: SearchRequest) -> dict[str, Any]:
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


def _decimal_text(amount: Decimal) -> str:
    # Duffel reads amounts as decimal strings; never send an exponent such as "1E+2".
    return format(amount, "f")


# --- Talking to Duffel ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    method: Literal["GET", "POST"]
    path: str
    timeout: float
    # IDEMPOTENT for reads. UNSENT_ONLY for calls that create something (a search, an order, a
    # payment, a cancellation): retried only after a 429 (refused before any processing) or a
    # failure while connecting; after a timeout or 5xx the caller must reconcile.
    retry: Idempotency
    params: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    # A 404 here means the offer is gone rather than a wrong URL.
    about_offer: bool = False


@dataclass(frozen=True, slots=True)
class _Answer:
    method: str
    path: str
    content: bytes
    request_id: str | None
    status: int = 200


def _request_id(response: httpx.Response, body: _WireErrorBody | None = None) -> str | None:
    if body is not None and body.meta is not None and body.meta.request_id:
        return body.meta.request_id
    header = response.headers.get("x-request-id")
    return str(header) if header else None


def _field_name(error: _WireError) -> str | None:
    source = error.source
    if not isinstance(source, _WireErrorSource):
        return None
    if source.field:
        return source.field
    if source.pointer:
        return source.pointer.strip("/").replace("/", ".") or None
    return None


class DuffelClient:
    """Duffel's flights API behind the `FlightProvider` interface, plus the booking calls.

    Every failure is raised as an `integrations.errors` exception carrying Duffel's request id.
    Calls that create something are never repeated once they may have reached Duffel: a timeout
    or 5xx on `create_order`, `pay_order` or a cancellation raises `UpstreamUnavailable`, and the
    caller must reconcile (`get_order`, `list_orders`) before trying again.
    """

    mode: ProviderMode = "LIVE"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        access_token: str,
        supplier_timeout_ms: int = 20_000,
        timeout_margin_seconds: float = 10.0,
        default_timeout: float = 15.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_token.strip():
            raise ValueError("a Duffel access token is required")
        if not MIN_SUPPLIER_TIMEOUT_MS <= supplier_timeout_ms <= MAX_SUPPLIER_TIMEOUT_MS:
            raise ValueError(
                f"supplier_timeout_ms must be {MIN_SUPPLIER_TIMEOUT_MS} to "
                f"{MAX_SUPPLIER_TIMEOUT_MS}; Duffel ignores other values"
            )
        if timeout_margin_seconds < 0 or default_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = access_token.strip()
        self._supplier_timeout_ms = supplier_timeout_ms
        # Duffel answers with the offers it has once the supplier timeout passes, so the HTTP
        # timeout must outlast it or those offers are lost.
        self._search_timeout = supplier_timeout_ms / 1000 + timeout_margin_seconds
        self._default_timeout = default_timeout
        self._retry = RetryPolicy(max_retries, backoff_seconds, max_wait_seconds, sleep, clock)
        self._headers = {
            "Authorization": f"Bearer {self._token}",
            "Duffel-Version": DUFFEL_VERSION,
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "Content-Type": "application/json",
        }

    def __repr__(self) -> str:
        return f"DuffelClient(base_url={self._base_url!r})"

    # --- FlightProvider -----------------------------------------------------------------------

    async def search(self, request: SearchRequest) -> SearchResult:
        """`POST /air/offer_requests` with the offers returned inline."""
        answer = await self._send(
            _Call(
                "POST",
                "/air/offer_requests",
                timeout=self._search_timeout,
                retry=Idempotency.UNSENT_ONLY,
                params={"return_offers": "true", "supplier_timeout": self._supplier_timeout_ms},
                body=_search_body(request),
            )
        )
        wire = self._read(answer, _OFFER_REQUEST).data
        offers: list[Offer] = []
        unusable = 0
        for raw in wire.offers:
            try:
                offers.append(_offer(_WireOffer.model_validate(raw), self.mode))
            except (ValidationError, _Unusable) as exc:
                unusable += 1
                log.warning(
                    "skipped an offer Duffel described in an unexpected way",
                    extra={
                        "duffel_request_id": answer.request_id,
                        "duffel_offer_id": raw.get("id"),
                        "reason": _reason(exc),
                    },
                )
        if unusable and not offers:
            # Every offer unreadable is a change on Duffel's side, not an empty search.
            self._fail(
                UpstreamError(
                    UPSTREAM,
                    f"none of the {unusable} offers could be read",
                    request_id=answer.request_id,
                ),
                "POST",
                "/air/offer_requests",
            )
        return SearchResult(request_id=wire.id, created_at=wire.created_at, offers=offers)

    async def get_offer(self, offer_id: str) -> Offer:
        """`GET /air/offers/{id}`: the offer at its current price; `OfferUnavailable` when gone."""
        if not _RESOURCE_ID.match(offer_id):
            raise OfferUnavailable(UPSTREAM, "no such offer")
        answer = await self._send(
            _Call(
                "GET",
                f"/air/offers/{quote(offer_id, safe='')}",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                about_offer=True,
            )
        )
        wire = self._read(answer, _OFFER).data
        return self._map(answer, lambda: _offer(wire, self.mode))

    async def suggest_places(self, query: str, limit: int = 10) -> list[Place]:
        """`GET /places/suggestions?query=`: up to `limit` matching airports and cities."""
        answer = await self._send(
            _Call(
                "GET",
                "/places/suggestions",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                params={"query": query},
            )
        )
        places: list[Place] = []
        for raw in self._read(answer, _OBJECTS).data:
            try:
                wire = _WirePlace.model_validate(raw)
            except ValidationError:
                continue
            if wire.type in ("airport", "city"):
                places.append(_place(wire))
        return places[:limit]

    # --- Bookings -----------------------------------------------------------------------------

    async def create_order(
        self,
        *,
        offer_id: str,
        passengers: Sequence[OrderPassengerInput | Mapping[str, Any]],
        amount: Decimal,
        currency: str,
        order_type: Literal["instant", "hold"],
        correlation_id: str,
        booking_reference: str | None = None,
    ) -> Order:
        """`POST /air/orders`. Instant orders are paid from the Duffel balance; hold orders are
        created unpaid (pay them with `pay_order` before `payment_status.payment_required_by`),
        and `amount`/`currency` are then not sent. Our booking reference and `correlation_id`
        go into the order's metadata, where `find_orders` recognises them.

        Raises `OfferUnavailable` (or `OfferPriceChanged`) or `UpstreamRejected` when the airline
        refuses; `OutcomeUnknown` when the order may exist (timeout after sending, 5xx, 202
        Accepted, a 201 that does not parse): look it up before anything else. A plain
        `UpstreamUnavailable` (502 `order_not_created`, a 429, a connection never made) means
        no order was created.
        """
        if not _RESOURCE_ID.match(offer_id):
            raise UpstreamRejected(UPSTREAM, "malformed offer id", field="offer_id")
        if not _CORRELATION_ID.match(correlation_id):
            raise ValueError("correlation_id must be 1-128 letters, digits or ._:-")
        travellers = [
            p if isinstance(p, OrderPassengerInput) else OrderPassengerInput.model_validate(dict(p))
            for p in passengers
        ]
        if not travellers:
            raise ValueError("an order needs at least one passenger")
        body: dict[str, Any] = {
            "type": order_type,
            "selected_offers": [offer_id],
            "passengers": [p.model_dump(mode="json", exclude_none=True) for p in travellers],
            "metadata": {CORRELATION_METADATA_KEY: correlation_id},
        }
        if booking_reference:
            body["metadata"][BOOKING_METADATA_KEY] = booking_reference
        if order_type == "instant":
            body["payments"] = [_balance_payment(amount, currency)]
        answer = await self._send(
            _Call(
                "POST",
                "/air/orders",
                timeout=self._default_timeout,
                retry=Idempotency.UNSENT_ONLY,
                body=body,
                headers={"x-client-correlation-id": correlation_id},
            )
        )
        return self._created_order(answer)

    async def get_order(self, order_id: str) -> Order:
        """`GET /air/orders/{id}`."""
        path = f"/air/orders/{_path_id(order_id, 'order_id')}"
        answer = await self._send(
            _Call("GET", path, timeout=self._default_timeout, retry=Idempotency.IDEMPOTENT)
        )
        wire = self._read_order(answer)
        return self._map(answer, lambda: _order(wire))

    async def list_orders(
        self,
        *,
        booking_reference: str | None = None,
        awaiting_payment: bool | None = None,
        passenger_names: Sequence[str] = (),
        limit: int = 50,
        after: str | None = None,
    ) -> OrderPage:
        """`GET /air/orders`, for reconciliation. Duffel filters by `booking_reference`,
        `awaiting_payment` and `passenger_name[]` (partial matches on given or family name);
        it cannot filter by metadata, so match `Order.correlation_id` on the page read."""
        if not 1 <= limit <= MAX_ORDERS_PAGE:
            raise ValueError(f"limit is 1 to {MAX_ORDERS_PAGE}")
        params: dict[str, Any] = {"limit": limit}
        if booking_reference:
            params["booking_reference"] = booking_reference.strip().upper()
        if awaiting_payment is not None:
            params["awaiting_payment"] = "true" if awaiting_payment else "false"
        if passenger_names:
            params["passenger_name[]"] = [name.strip() for name in passenger_names]
        if after:
            params["after"] = after
        answer = await self._send(
            _Call(
                "GET",
                "/air/orders",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                params=params,
            )
        )
        page = self._read(answer, _WireOrderPage)
        orders = self._map(answer, lambda: [_order(o) for o in page.data])
        return OrderPage(orders=orders, after=page.meta.after if page.meta else None)

    async def find_orders(
        self,
        booking_reference: str,
        *,
        family_name: str,
        correlation_ids: Sequence[str] = (),
        max_pages: int = 10,
    ) -> list[Order]:
        """Every order made for our booking: those whose metadata carries `booking_reference` or
        one of `correlation_ids`, found by the lead passenger's family name (Duffel cannot filter
        by metadata). An empty list is a positive answer: every page was read and none matched.
        A listing that fails, or that has more pages than `max_pages`, raises: that is not
        "no order"."""
        wanted = set(correlation_ids)
        found: list[Order] = []
        after: str | None = None
        for _ in range(max_pages):
            page = await self.list_orders(passenger_names=[family_name], after=after)
            found += [
                order
                for order in page.orders
                if order.sureflights_booking_reference == booking_reference
                or (order.correlation_id is not None and order.correlation_id in wanted)
            ]
            if page.after is None:
                return found
            after = page.after
        raise UpstreamUnavailable(
            UPSTREAM, f"order look-up inconclusive: more than {max_pages} pages of orders"
        )

    async def pay_order(self, order_id: str, amount: Decimal, currency: str) -> Payment:
        """`POST /air/payments`: pays a hold order from the Duffel balance. Check
        `Payment.status`; `OutcomeUnknown` means the payment may have been taken: read the order
        (`get_order`, `payment_status.awaiting_payment`) before paying again."""
        body = {
            "order_id": _path_id(order_id, "order_id"),
            "payment": _balance_payment(amount, currency),
        }
        answer = await self._send(
            _Call(
                "POST",
                "/air/payments",
                timeout=self._default_timeout,
                retry=Idempotency.UNSENT_ONLY,
                body=body,
            )
        )
        return self._created(answer, _PAYMENT, "payment").data

    async def create_order_cancellation(self, order_id: str) -> OrderCancellation:
        """`POST /air/order_cancellations`: a refund quote; nothing is cancelled until confirmed."""
        answer = await self._send(
            _Call(
                "POST",
                "/air/order_cancellations",
                timeout=self._default_timeout,
                retry=Idempotency.UNSENT_ONLY,
                body={"order_id": _path_id(order_id, "order_id")},
            )
        )
        return self._created(answer, _CANCELLATION, "cancellation").data

    async def confirm_order_cancellation(self, cancellation_id: str) -> OrderCancellation:
        """`POST /air/order_cancellations/{id}/actions/confirm`: cancels the order for good."""
        path = (
            f"/air/order_cancellations/{_path_id(cancellation_id, 'cancellation_id')}"
            "/actions/confirm"
        )
        answer = await self._send(
            _Call("POST", path, timeout=self._default_timeout, retry=Idempotency.UNSENT_ONLY)
        )
        return self._created(answer, _CANCELLATION, "cancellation").data

    # --- Plumbing -----------------------------------------------------------------------------

    async def _send(self, call: _Call) -> _Answer:
        """The call's 2xx answer, after the retries its policy allows; raises mapped failures."""
        headers = dict(self._headers)
        if call.headers:
            headers.update(call.headers)
        return await self._retry.run(
            lambda: self._attempt(call, headers),
            logger=log,
            message="Duffel call failed; retrying",
            fields=lambda failed: {
                "duffel_request_id": failed.failure.request_id,
                "duffel_method": call.method,
                "duffel_path": call.path,
                "duffel_status": failed.context,
            },
            give_up=lambda failed, attempt: self._fail(
                failed.failure, call.method, call.path, status=failed.context, attempt=attempt
            ),
        )

    async def _attempt(
        self, call: _Call, headers: Mapping[str, str]
    ) -> _Answer | Failed[int | None]:
        """One request: its 2xx answer, or the failure with the HTTP status, if one came."""
        try:
            response = await self._http.request(
                call.method,
                f"{self._base_url}{call.path}",
                params=call.params,
                json={"data": call.body} if call.body is not None else None,
                headers=headers,
                timeout=call.timeout,
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            failure = transport_failure(UPSTREAM, exc, call.timeout)
            if call.retry is Idempotency.UNSENT_ONLY and not (
                isinstance(exc, httpx.TransportError) and never_sent(exc)
            ):
                # It may have reached Duffel and taken effect.
                failure = OutcomeUnknown(UPSTREAM, failure.detail)
            return Failed(failure, call.retry.may_resend(exc), None)
        if response.is_success:
            return _Answer(
                call.method,
                call.path,
                response.content,
                _request_id(response),
                response.status_code,
            )
        status = response.status_code
        failure = self._failure_for(call, response)
        if status == 429:
            hint = hinted_wait(response.headers, self._retry.clock())
            return Failed(failure, True, status, hint=hint)
        if call.retry is Idempotency.UNSENT_ONLY and status >= 500:
            # Only `order_not_created` promises nothing happened, and so may be sent again.
            return Failed(failure, not isinstance(failure, OutcomeUnknown), status)
        return Failed(failure, status >= 500 and call.retry is Idempotency.IDEMPOTENT, status)

    def _failure_for(self, call: _Call, response: httpx.Response) -> UpstreamFailure:
        status = response.status_code
        try:
            body: _WireErrorBody | None = _WireErrorBody.model_validate_json(response.content)
        except ValidationError:
            body = None
        request_id = _request_id(response, body)
        errors = body.errors if body else []
        codes = {e.code for e in errors if e.code}
        first = errors[0] if errors else None
        summary = self._redact(
            f"HTTP {status}"
            + (f" {first.code}" if first and first.code else "")
            + (f": {first.title}" if first and first.title else "")
        )
        if codes & _GONE_CODES:
            return OfferUnavailable(UPSTREAM, summary, request_id=request_id)
        if _PRICE_CHANGED in codes:
            return OfferPriceChanged(UPSTREAM, summary, request_id=request_id)
        if status == 404 and call.about_offer:
            return OfferUnavailable(UPSTREAM, summary, request_id=request_id)
        if status in (401, 403):
            return CredentialsRejected(
                UPSTREAM, f"credentials rejected (HTTP {status})", request_id=request_id
            )
        if status == 429:
            return UpstreamUnavailable(UPSTREAM, "rate limited (HTTP 429)", request_id=request_id)
        unsent_only = call.retry is Idempotency.UNSENT_ONLY
        if status >= 500 and unsent_only and ORDER_NOT_CREATED not in codes:
            return OutcomeUnknown(UPSTREAM, summary, request_id=request_id)
        if status >= 500:
            return UpstreamUnavailable(UPSTREAM, summary, request_id=request_id)
        validation = [e for e in errors if e.type == "validation_error"]
        if status in (400, 422) and validation:
            messages = "; ".join(e.message or e.title or "invalid" for e in validation)
            return UpstreamRejected(
                UPSTREAM,
                self._redact(messages),
                field=next((f for f in map(_field_name, validation) if f), None),
                request_id=request_id,
            )
        return UpstreamError(UPSTREAM, summary, request_id=request_id)

    def _fail(
        self,
        failure: UpstreamFailure,
        method: str,
        path: str,
        *,
        status: int | None = None,
        attempt: int = 0,
    ) -> NoReturn:
        # A gone offer or a refused input is a normal answer, not an incident.
        expected = isinstance(failure, OfferUnavailable | UpstreamRejected)
        log.log(
            logging.INFO if expected else logging.WARNING,
            "Duffel call failed",
            extra={
                "duffel_request_id": failure.request_id,
                "duffel_method": method,
                "duffel_path": path,
                "duffel_status": status,
                "attempt": attempt + 1,
                "failure": type(failure).__name__,
                "detail": failure.detail,
            },
        )
        raise failure

    def _read(self, answer: _Answer, model: type[_M]) -> _M:
        try:
            return model.model_validate_json(answer.content)
        except ValidationError as exc:
            self._fail(
                UpstreamError(
                    UPSTREAM,
                    f"malformed response body ({exc.error_count()} problems)",
                    request_id=answer.request_id,
                ),
                answer.method,
                answer.path,
            )

    def _read_order(self, answer: _Answer) -> _WireOrder:
        try:
            return _ORDER.model_validate_json(answer.content).data
        except ValidationError as exc:
            # The order may well exist: name it, so whoever reconciles can find it.
            order_id = _order_id_in(answer.content)
            self._fail(
                UpstreamError(
                    UPSTREAM,
                    f"unreadable order {order_id or '(id unknown)'} "
                    f"({exc.error_count()} problems in the body)",
                    request_id=answer.request_id,
                ),
                answer.method,
                answer.path,
            )

    def _created_order(self, answer: _Answer) -> Order:
        """The order a create call answered with; `OutcomeUnknown` unless it is all readable."""
        if answer.status == 202:
            self._unknown(answer, "the airline accepted the order and will answer later (202)")
        try:
            wire = _ORDER.model_validate_json(answer.content).data
            return _order(wire)
        except (ValidationError, _Unusable) as exc:
            # A success that cannot be read is not a refusal: the order may well exist.
            self._unknown(answer, f"unreadable order in a {answer.status} answer ({_reason(exc)})")

    def _created(self, answer: _Answer, model: type[_M], what: str) -> _M:
        """What a call that creates `what` answered; `OutcomeUnknown` unless readable."""
        if answer.status == 202:
            self._unknown(answer, f"the {what} was accepted and will be answered later (202)")
        try:
            return model.model_validate_json(answer.content)
        except ValidationError as exc:
            self._unknown(answer, f"unreadable {what} in a {answer.status} answer ({_reason(exc)})")

    def _unknown(self, answer: _Answer, detail: str) -> NoReturn:
        self._fail(
            OutcomeUnknown(
                UPSTREAM,
                detail,
                request_id=answer.request_id,
                resource_id=_created_id_in(answer.content),
            ),
            answer.method,
            answer.path,
            status=answer.status,
        )

    def _map(self, answer: _Answer, build: Callable[[], _R]) -> _R:
        try:
            return build()
        except (_Unusable, ValidationError) as exc:
            self._fail(
                UpstreamError(
                    UPSTREAM, f"unusable response: {_reason(exc)}", request_id=answer.request_id
                ),
                answer.method,
                answer.path,
            )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]")


def _balance_payment(amount: Decimal, currency: str) -> dict[str, str]:
    if not amount.is_finite() or amount <= 0:
        raise ValueError("a payment amount must be positive")
    code = currency.strip().upper()
    if not _CURRENCY.match(code):
        raise ValueError("currency must be an ISO 4217 code")
    return {"type": "balance", "amount": _decimal_text(amount), "currency": code}


def _path_id(value: str, field: str) -> str:
    # Ids go into URLs: anything but Duffel's id alphabet is refused before it can reshape one.
    if not _RESOURCE_ID.match(value):
        raise UpstreamRejected(UPSTREAM, f"malformed {field}", field=field)
    return value


def _order_id_in(content: bytes) -> str | None:
    match = re.search(rb'"id"\s*:\s*"(ord_[A-Za-z0-9]{1,60})"', content)
    return match.group(1).decode() if match else None


def _created_id_in(content: bytes) -> str | None:
    """The first Duffel id in a body we could not read whole (`ord_…`, `por_…`, `pay_…`)."""
    match = re.search(rb'"id"\s*:\s*"([a-z]{3}_[A-Za-z0-9]{1,60})"', content)
    return match.group(1).decode() if match else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"{exc.error_count()} validation problems"
    return str(exc)
