"""A sandbox airline behind `AirlineOrders`: orders, hold payments and cancellations.

Orders live in the shared cache, so any replica sharing Redis reads them. A passenger whose
family name is `Refused` makes the airline refuse the order, so the refund path can be tried.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from integrations.ports.airline import (
    BOOKING_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    AirlineChangeInfo,
    Order,
    OrderCancellation,
    OrderPassenger,
    OrderPassengerInput,
    OrderPayment,
    OrderPaymentStatus,
)
from integrations.ports.errors import UpstreamError, UpstreamRejected
from integrations.ports.flights import Offer
from integrations.sandbox.flights import SandboxFlights
from integrations.state.cache import Cache, store_failures_as_upstream

UPSTREAM = "sandbox airline"
REFUSING_FAMILY_NAME = "refused"
# Orders outlive any trip the sandbox sells (330 days ahead) plus some.
ORDER_TTL_SECONDS = 400 * 86_400
QUOTE_TTL = timedelta(minutes=15)
REFUND_METADATA_KEY = "sandbox_refund_amount"
_PNR_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _refundable(offer: Offer) -> Decimal:
    conditions = offer.conditions
    if not conditions.refundable:
        return Decimal("0.00")
    penalty = conditions.refund_penalty
    kept = penalty.amount if penalty and penalty.currency == offer.total_currency else Decimal(0)
    return max(offer.total_amount - kept, Decimal("0.00"))


def _new_id(prefix: str) -> str:
    return f"{prefix}_sandbox_{secrets.token_hex(10)}"


class SandboxAirline:
    mode: Literal["SANDBOX"] = "SANDBOX"

    def __init__(
        self,
        store: Cache,
        flights: SandboxFlights,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._flights = flights
        self._clock = clock
        self._lock = asyncio.Lock()

    @store_failures_as_upstream(UPSTREAM, unknown=True)
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
        offer = await self._flights.get_offer(offer_id)
        wanted = sorted(p.id for p in offer.passengers)
        if sorted(p.id for p in passengers) != wanted:
            raise UpstreamRejected(
                UPSTREAM, "passengers do not match the offer", field="passengers"
            )
        if any(p.family_name.strip().lower() == REFUSING_FAMILY_NAME for p in passengers):
            raise UpstreamError(UPSTREAM, "the airline refused the booking")
        if order_type == "instant" and (
            amount != offer.total_amount or currency != offer.total_currency
        ):
            raise UpstreamRejected(UPSTREAM, "payment does not match the offer's price")
        types = {p.id: p.type for p in offer.passengers}
        now = self._clock()
        order = Order(
            id=_new_id("ord"),
            booking_reference="".join(secrets.choice(_PNR_ALPHABET) for _ in range(6)),
            total_amount=offer.total_amount,
            total_currency=offer.total_currency,
            payment_status=OrderPaymentStatus(
                awaiting_payment=order_type == "hold",
                payment_required_by=offer.payment_required_by if order_type == "hold" else None,
                price_guarantee_expires_at=(
                    offer.price_guarantee_expires_at if order_type == "hold" else None
                ),
            ),
            owner=offer.owner,
            passengers=[
                OrderPassenger(
                    id=p.id,
                    type=types[p.id],
                    title=p.title,
                    given_name=p.given_name,
                    family_name=p.family_name,
                    gender=p.gender,
                    born_on=p.born_on,
                )
                for p in passengers
            ],
            slices=offer.slices,
            created_at=now,
            live_mode=False,
            metadata={
                CORRELATION_METADATA_KEY: correlation_id,
                REFUND_METADATA_KEY: str(_refundable(offer)),
                **({BOOKING_METADATA_KEY: booking_reference} if booking_reference else {}),
            },
        )
        await self._save(order)
        if booking_reference:
            async with self._lock:
                key = f"sandbox-airline:booking:{booking_reference}"
                known = json.loads(await self._store.get(key) or b"[]")
                await self._store.set(
                    key, json.dumps([*known, order.id]).encode(), ORDER_TTL_SECONDS
                )
        return order

    @store_failures_as_upstream(UPSTREAM, unknown=False)
    async def get_order(self, order_id: str) -> Order:
        raw = await self._store.get(f"sandbox-airline:order:{order_id}")
        if raw is None:
            raise UpstreamRejected(UPSTREAM, f"no order {order_id}", field="order_id")
        return Order.model_validate_json(raw)

    @store_failures_as_upstream(UPSTREAM, unknown=False)
    async def find_orders(
        self,
        booking_reference: str,
        *,
        family_name: str,
        correlation_ids: Sequence[str] = (),
    ) -> list[Order]:
        raw = await self._store.get(f"sandbox-airline:booking:{booking_reference}")
        return [await self.get_order(order_id) for order_id in json.loads(raw or b"[]")]

    @store_failures_as_upstream(UPSTREAM, unknown=True)
    async def pay_order(self, order_id: str, amount: Decimal, currency: str) -> OrderPayment:
        async with self._lock:
            order = await self.get_order(order_id)
            if not order.payment_status.awaiting_payment:
                raise UpstreamRejected(UPSTREAM, "the order is already paid", field="order_id")
            if amount != order.total_amount or currency != order.total_currency:
                raise UpstreamRejected(UPSTREAM, "payment does not match the order's price")
            now = self._clock()
            await self._save(
                order.model_copy(
                    update={"payment_status": OrderPaymentStatus(awaiting_payment=False)}
                )
            )
        return OrderPayment(
            id=_new_id("pay"),
            order_id=order_id,
            amount=amount,
            currency=currency,
            type="balance",
            status="succeeded",
            created_at=now,
        )

    @store_failures_as_upstream(UPSTREAM, unknown=True)
    async def create_order_cancellation(self, order_id: str) -> OrderCancellation:
        order = await self.get_order(order_id)
        if order.cancelled_at is not None:
            raise UpstreamRejected(UPSTREAM, "the order is already cancelled", field="order_id")
        now = self._clock()
        cancellation = OrderCancellation(
            id=_new_id("ore"),
            order_id=order_id,
            refund_amount=await self._refund_for(order),
            refund_currency=order.total_currency,
            refund_to="original_form_of_payment",
            expires_at=now + QUOTE_TTL,
            created_at=now,
        )
        await self._store.set(
            f"sandbox-airline:cancellation:{cancellation.id}",
            cancellation.model_dump_json().encode(),
            ORDER_TTL_SECONDS,
        )
        return cancellation

    @store_failures_as_upstream(UPSTREAM, unknown=True)
    async def confirm_order_cancellation(self, cancellation_id: str) -> OrderCancellation:
        async with self._lock:
            raw = await self._store.get(f"sandbox-airline:cancellation:{cancellation_id}")
            if raw is None:
                raise UpstreamRejected(UPSTREAM, "no such cancellation", field="id")
            quote = OrderCancellation.model_validate_json(raw)
            if quote.confirmed_at is not None:
                return quote
            now = self._clock()
            if quote.expires_at is not None and quote.expires_at <= now:
                raise UpstreamRejected(UPSTREAM, "the cancellation quote has expired", field="id")
            order = await self.get_order(quote.order_id)
            await self._save(order.model_copy(update={"cancelled_at": now}))
            confirmed = quote.model_copy(update={"confirmed_at": now})
            await self._store.set(
                f"sandbox-airline:cancellation:{cancellation_id}",
                confirmed.model_dump_json().encode(),
                ORDER_TTL_SECONDS,
            )
            return confirmed

    async def list_airline_changes(self, order_id: str) -> list[AirlineChangeInfo]:
        raw = await self._store.get(f"sandbox-airline:changes:{order_id}")
        if raw is None:
            return []
        return [AirlineChangeInfo.model_validate(item) for item in json.loads(raw)]

    async def accept_airline_change(self, change_id: str) -> AirlineChangeInfo:
        async with self._lock:
            order_id = await self._store.get(f"sandbox-airline:change-order:{change_id}")
            if order_id is None:
                raise UpstreamRejected(UPSTREAM, "no such airline change", field="id")
            changes = await self.list_airline_changes(order_id.decode())
            change = next(c for c in changes if c.id == change_id)
            if change.action_taken is None:
                change = change.model_copy(
                    update={"action_taken": "accepted", "action_taken_at": self._clock()}
                )
                await self._save_changes(
                    order_id.decode(), [change if c.id == change_id else c for c in changes]
                )
            elif change.action_taken != "accepted":
                raise UpstreamRejected(UPSTREAM, f"the change was {change.action_taken}")
            return change

    async def delay_flights(self, order_id: str, minutes: int) -> AirlineChangeInfo:
        """The sandbox's airline moves every flight of the order by `minutes`, as an airline
        rescheduling would: the change Duffel would report, for trying the whole flow."""
        order = await self.get_order(order_id)
        shift = timedelta(minutes=minutes)
        moved = [
            s.model_copy(
                update={
                    "segments": [
                        g.model_copy(
                            update={
                                "id": f"{g.id}_moved",
                                "departing_at": g.departing_at + shift,
                                "arriving_at": g.arriving_at + shift,
                            }
                        )
                        for g in s.segments
                    ]
                }
            )
            for s in order.slices
        ]
        change = AirlineChangeInfo(
            id=f"aic_sandbox_{secrets.token_hex(8)}",
            order_id=order_id,
            added=moved,
            removed=list(order.slices),
            available_actions=["accept", "cancel"],
            created_at=self._clock(),
        )
        async with self._lock:
            await self._save_changes(order_id, [*await self.list_airline_changes(order_id), change])
            await self._store.set(
                f"sandbox-airline:change-order:{change.id}", order_id.encode(), ORDER_TTL_SECONDS
            )
        await self._save(order.model_copy(update={"slices": moved}))
        return change

    async def _save_changes(self, order_id: str, changes: list[AirlineChangeInfo]) -> None:
        body = json.dumps([c.model_dump(mode="json") for c in changes]).encode()
        await self._store.set(f"sandbox-airline:changes:{order_id}", body, ORDER_TTL_SECONDS)

    async def _refund_for(self, order: Order) -> Decimal:
        """What the fare rules return: the total less the penalty when refundable, else nothing."""
        if order.payment_status.awaiting_payment:
            return Decimal("0.00")
        return Decimal(order.metadata.get(REFUND_METADATA_KEY, "0.00"))

    async def _save(self, order: Order) -> None:
        await self._store.set(
            f"sandbox-airline:order:{order.id}", order.model_dump_json().encode(), ORDER_TTL_SECONDS
        )
