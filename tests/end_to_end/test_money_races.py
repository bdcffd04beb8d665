"""Money under concurrency: payments started at once, and cancellation or expiry landing in the
middle of settlement. Each race is run at its worst instant by pausing the saga at a named point
and running the other path there."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from graphql_api.app import create_app
from tests.support.harness import PAY, Booked, World
from tests.support.helpers import graphql


@contextlib.asynccontextmanager
async def second_replica(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """Another gateway process on the same database and the same outside world."""
    app = create_app(world.settings, saga_hooks=world.pauses, clock=world.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def _start(http: httpx.AsyncClient, booked: Booked) -> str:
    body = (await graphql(http, PAY, {"ref": booked.reference}, booked.headers)).json()
    assert "errors" not in body, body
    reference: str = body["data"]["initializePayment"]["reference"]
    return reference


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not callable(condition) or not condition():
            await asyncio.sleep(0.005)


async def test_three_devices_paying_at_once_open_one_paystack_transaction(world: World) -> None:
    booked = await world.book()
    claimed = world.pauses.pause("payment.claimed")
    first = asyncio.create_task(_start(world.client, booked))
    await claimed.reached.wait()
    # The phone has claimed the booking's payment and is asking Paystack; laptop and tablet
    # arrive now, each through a different replica's view of the same database.
    async with second_replica(world) as other:
        laptop = asyncio.create_task(_start(other, booked))
        tablet = asyncio.create_task(_start(world.client, booked))
        await _until(
            lambda: sum(1 for point, _ in world.pauses.seen if point == "payment.before_claim") >= 5
        )
        claimed.release.set()
        references = await asyncio.gather(first, laptop, tablet)
    assert len(set(references)) == 1
    assert world.paystack.initialize.call_count == 1
    assert list(world.paystack.transactions) == [references[0]]


async def test_payments_started_one_after_another_are_the_same_payment(world: World) -> None:
    booked = await world.book()
    async with second_replica(world) as other:
        again = [await _start(http, booked) for http in (world.client, other, world.client)]
    assert len(set(again)) == 1
    assert world.paystack.initialize.call_count == 1


async def test_a_second_transaction_that_captures_is_refunded_and_announced(
    world: World,
) -> None:
    booked = await world.book()
    first = await world.start_payment(booked)
    world.paystack.decline(first)
    assert (await world.verify(booked, first))["data"]["verifyPayment"]["status"] == "FAILED"
    second = await world.start_payment(booked)
    assert second != first
    await world.pay(second)
    assert (await world.booking(booked))["status"] == "CONFIRMED"
    async with world.deps.bus.subscribe(patterns=["bookings:*"]) as news:
        # The traveller tried the first checkout again, and Paystack took the money there too.
        await world.pay(first)
        heard = await asyncio.wait_for(news.__anext__(), 5)
    booking = await world.booking(booked)
    assert booking["status"] == "CONFIRMED"
    captured, refunded = world.money_at_paystack(booked)
    amount = world.paystack.transactions[first].amount
    assert (captured, refunded) == (2 * amount, amount)
    assert world.paystack.transactions[first].refunded == amount
    assert world.paystack.transactions[second].refunded == 0
    assert heard.data["kind"] == "capture_refunded"
    assert heard.data["payment_reference"] == first
    ledger = await world.ledger(booked)
    roles = {c["paymentReference"]: c["role"] for c in ledger["captures"]}
    assert roles == {second: "BACKING", first: "SURPLUS"}
    assert ledger["violations"] == []
    assert len(world.duffel.issued_orders_for(booked.reference)) == 1


async def test_a_capture_after_the_booking_was_cancelled_is_refunded(world: World) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    assert (await world.cancel(booked))["data"]["cancelBooking"]["status"] == "CANCELLED"
    await world.pay(payment)
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert world.duffel.orders_for(booked.reference) == []
    assert (await world.ledger(booked))["violations"] == []


async def test_cancel_landing_between_settlements_read_and_write_refunds_the_traveller(
    world: World,
) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    verified = world.pauses.pause("settle.verified")
    world.paystack.pay(payment)
    settling = asyncio.create_task(world.paystack_webhook(*world.paystack.charge_success(payment)))
    # Settlement has read the payment and Paystack's verify; the traveller cancels now.
    await verified.reached.wait()
    cancelled = await world.cancel(booked)
    assert cancelled["data"]["cancelBooking"]["status"] == "CANCELLED"
    verified.release.set()
    assert (await settling).status_code == 200
    booking = await world.booking(booked)
    assert booking["status"] == "CANCELLED"
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert world.duffel.create.call_count == 0
    ledger = await world.ledger(booked)
    assert [c["role"] for c in ledger["captures"]] == ["SURPLUS"]
    assert ledger["violations"] == []


async def test_expiry_landing_between_settlements_read_and_write_refunds_the_traveller(
    world: World,
) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    verified = world.pauses.pause("settle.verified")
    world.paystack.pay(payment)
    settling = asyncio.create_task(world.paystack_webhook(*world.paystack.charge_success(payment)))
    await verified.reached.wait()
    # The offer runs out while settlement waits: the booking expires when next read.
    world.clock.advance(timedelta(minutes=31))
    assert (await world.booking(booked))["status"] == "EXPIRED"
    verified.release.set()
    await settling
    assert (await world.booking(booked))["status"] == "EXPIRED"
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert world.duffel.create.call_count == 0


async def test_settlement_winning_the_race_makes_the_cancel_a_conflict(world: World) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    before_write = world.pauses.pause("cancel.before_write")
    cancelling = asyncio.create_task(world.cancel(booked))
    await before_write.reached.wait()
    await world.pay(payment)
    before_write.release.set()
    refused = await cancelling
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert (await world.booking(booked))["status"] == "CONFIRMED"
    captured, refunded = world.money_at_paystack(booked)
    assert (captured > 0, refunded) == (True, 0)


@pytest.mark.parametrize("crash_at", ["settle.verified", "refund.requested"])
async def test_a_crash_mid_settlement_of_a_cancelled_booking_is_repaired_by_the_sweep(
    world: World, crash_at: str
) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.cancel(booked)
    # Money arrives on the abandoned checkout; the process dies before the refund is asked.
    world.pauses.crash(crash_at)
    await world.pay(payment)
    assert world.money_at_paystack(booked)[1] == 0
    await world.restart()
    await world.settle_down()
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert world.paystack.refund.call_count == 1
    assert (await world.ledger(booked))["violations"] == []
