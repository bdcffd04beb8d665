"""Airline orders as the booking saga needs them, from Duffel or the sandbox airline.

The order models are Duffel's (`integrations.duffel`), which the sandbox airline answers with too.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, Protocol

from integrations.duffel import Order, OrderCancellation, OrderPassengerInput, Payment

__all__ = [
    "AirlineOrders",
    "Order",
    "OrderCancellation",
    "OrderPassengerInput",
    "Payment",
]


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

    async def pay_order(self, order_id: str, amount: Decimal, currency: str) -> Payment: ...

    async def create_order_cancellation(self, order_id: str) -> OrderCancellation: ...

    async def confirm_order_cancellation(self, cancellation_id: str) -> OrderCancellation: ...
