"""Airline orders as the booking saga needs them: the order models and the `AirlineOrders`
interface that Duffel and the sandbox airline both answer with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from integrations.ports.flights import Amount, Carrier, PassengerKind, Slice

# The order metadata keys under which our correlation id (one per attempt) and booking reference
# are stored, so an order whose creation was not seen can be recognised when reconciling.
CORRELATION_METADATA_KEY = "sureflights_correlation_id"
BOOKING_METADATA_KEY = "sureflights_booking_reference"


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


class OrderPayment(_Frozen):
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


class AirlineChangeInfo(_Frozen):
    """A change the airline made to an order (Duffel's airline-initiated change): the slices as
    they are now (`added`) against those they replaced (`removed`), and what may be done."""

    id: str
    order_id: str
    added: list[Slice]
    removed: list[Slice]
    # accept, cancel, change, update (update: Duffel cannot act for us; a person must).
    available_actions: list[str] = Field(default_factory=list)
    action_taken: str | None = None
    action_taken_at: datetime | None = None
    created_at: datetime


class AirlineOrders(Protocol):
    async def create_order(
        self,
        *,
        offer_id: str,
        passengers: Sequence[OrderPassengerInput],
        amount: Decimal,
        currency: str,
        order_type: Literal["instant", "hold"],
        correlation_id: str,
        booking_reference: str | None = None,
    ) -> Order:
        """Raises `OutcomeUnknown` when the order may exist; a plain `UpstreamUnavailable` when
        it was not created; `OfferUnavailable`/`UpstreamRejected` when the airline refused."""
        ...

    async def get_order(self, order_id: str) -> Order: ...

    async def find_orders(
        self,
        booking_reference: str,
        *,
        family_name: str,
        correlation_ids: Sequence[str] = (),
    ) -> list[Order]:
        """Every order made for the booking; an empty list positively means none. A look-up
        that cannot tell raises: a failed look-up is never "no order"."""
        ...

    async def pay_order(self, order_id: str, amount: Decimal, currency: str) -> OrderPayment: ...

    async def create_order_cancellation(self, order_id: str) -> OrderCancellation: ...

    async def confirm_order_cancellation(self, cancellation_id: str) -> OrderCancellation: ...

    async def list_airline_changes(self, order_id: str) -> list[AirlineChangeInfo]:
        """Every change the airline made to the order; an empty list positively means none."""
        ...

    async def accept_airline_change(self, change_id: str) -> AirlineChangeInfo:
        """Accept the new times; raises `UpstreamRejected` when the change cannot be accepted."""
        ...
