"""Airline outcomes the gateway did not see: never a second order on a guess, never a refund while
the order stands, and each resolved by the airline's own record (a look-up or a webhook), also
across a crash and a restart."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest

from integrations.duffel.webhook import webhook_signature
from tests.support.harness import DUFFEL_WEBHOOK_SECRET, Booked, World, duffel_event


async def paid(world: World) -> Booked:
    booked = await world.book()
    await world.pay(await world.start_payment(booked))
    return booked


def assert_flown_once(world: World, booked: Booked, booking: dict[str, object]) -> None:
    """Confirmed on the one order that exists, with the traveller's money kept for it."""
    issued = world.duffel.issued_orders_for(booked.reference)
    assert len(world.duffel.live_orders_for(booked.reference)) == 1
    assert len(issued) == 1
    assert booking["status"] == "CONFIRMED"
    assert booking["airlineReference"] == issued[0]["booking_reference"]
    captured, refunded = world.money_at_paystack(booked)
    assert (captured > 0, refunded) == (True, 0)


async def test_an_order_made_but_answered_500_with_failing_look_ups_is_never_placed_twice(
    world: World,
) -> None:
    world.duffel.create_mode = "error_after_create"
    world.duffel.list_mode = "fail"
    booked = await paid(world)
    assert (await world.booking(booked))["status"] == "CONFIRMING"
    async with world.deps.bus.subscribe(patterns=["bookings:*"]) as news:
        # Twenty minutes of failing look-ups: past the 12-minute deadline, yet no guess.
        for _ in range(10):
            await world.reconcile(timedelta(minutes=2))
        alert = await asyncio.wait_for(news.__anext__(), 5)
    assert alert.data["kind"] == "unknown_airline_outcome"
    assert world.duffel.create.call_count == 1
    assert world.paystack.refund.call_count == 0
    ledger = await world.ledger(booked)
    assert ledger["status"] == "CONFIRMING"
    assert [o["state"] for o in ledger["orders"]] == ["UNKNOWN"]
    assert [v["kind"] for v in ledger["violations"]] == ["UNKNOWN_AIRLINE_OUTCOME"]
    assert world.duffel.listing.call_count >= 10
    # The process restarts; then the look-up answers again: the order it finds is the booking's.
    await world.restart()
    world.duffel.list_mode = "ok"
    await world.reconcile(timedelta(minutes=2))
    assert_flown_once(world, booked, await world.booking(booked))
    assert (await world.ledger(booked))["violations"] == []


async def test_our_booking_reference_goes_into_the_orders_metadata(world: World) -> None:
    booked = await paid(world)
    sent = json.loads(world.duffel.create.calls.last.request.content)["data"]
    assert sent["metadata"]["sureflights_booking_reference"] == booked.reference
    assert sent["metadata"]["sureflights_correlation_id"].startswith("sf_")


@pytest.mark.parametrize(
    "mode", ["timeout_after_create", "error_after_create", "garbage", "accepted"]
)
@pytest.mark.parametrize("crash", [False, True], ids=["running", "crash-and-restart"])
async def test_an_unknown_order_outcome_is_resolved_by_the_airlines_record(
    world: World, mode: str, crash: bool
) -> None:
    world.duffel.create_mode = mode
    if crash:
        # The process dies right after the airline's unreadable answer, before recording it.
        world.pauses.crash("order.unknown")
    booked = await paid(world)
    if crash:
        await world.restart()
    await world.deliver_duffel_webhooks()
    await world.settle_down()
    assert_flown_once(world, booked, await world.booking(booked))
    assert world.duffel.create.call_count == 1
    assert (await world.ledger(booked))["violations"] == []


@pytest.mark.parametrize("crash_at", ["order.intended", "order.created"])
async def test_a_crash_either_side_of_the_order_call_ends_in_one_order(
    world: World, crash_at: str
) -> None:
    world.pauses.crash(crash_at)
    booked = await paid(world)
    await world.restart()
    await world.settle_down()
    assert_flown_once(world, booked, await world.booking(booked))
    assert world.duffel.create.call_count == 1
    # Before the call nothing was made, so a look-up found none and a second attempt ordered;
    # after it, the look-up found the order the first attempt made.
    states = [o["state"] for o in (await world.ledger(booked))["orders"]]
    assert states == (["ABSENT", "CONFIRMED"] if crash_at == "order.intended" else ["CONFIRMED"])


async def test_order_not_created_is_asked_again_at_once(world: World) -> None:
    world.duffel.create_mode = "not_created_once"
    booked = await paid(world)
    assert_flown_once(world, booked, await world.booking(booked))
    assert world.duffel.create.call_count == 2


async def test_an_airline_that_never_creates_the_order_is_given_up_and_refunded(
    world: World,
) -> None:
    world.duffel.create_mode = "unreachable"
    booked = await paid(world)
    assert (await world.booking(booked))["status"] == "CONFIRMING"
    await world.reconcile(timedelta(minutes=5))
    assert (await world.booking(booked))["status"] == "CONFIRMING"
    # Every attempt positively made nothing; past 12 minutes the traveller is refunded.
    await world.settle_down()
    booking = await world.booking(booked)
    assert booking["status"] == "REFUNDED"
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert world.duffel.orders == {}


async def test_an_explicit_refusal_fails_and_refunds_at_once(world: World) -> None:
    world.duffel.create_mode = "refuse"
    booked = await paid(world)
    assert (await world.booking(booked))["status"] == "REFUNDED"
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0


async def test_202_then_creation_failed_is_ordered_again_on_the_airlines_word(
    world: World,
) -> None:
    world.duffel.create_mode = "accepted_then_failed"
    booked = await paid(world)
    assert (await world.booking(booked))["status"] == "CONFIRMING"
    world.duffel.create_mode = "ok"
    await world.deliver_duffel_webhooks()
    await world.settle_down()
    assert_flown_once(world, booked, await world.booking(booked))
    assert world.duffel.create.call_count == 2


# --- Held orders ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["garbage", "timeout_after_pay"])
async def test_paying_a_held_order_with_an_unseen_answer_confirms_it(
    hold_world: World, mode: str
) -> None:
    world = hold_world
    world.duffel.pay_mode = mode
    booked = await paid(world)
    await world.settle_down()
    assert_flown_once(world, booked, await world.booking(booked))
    assert world.duffel.pay.call_count == 1


async def test_a_refused_hold_payment_refunds_and_releases_the_held_seat(
    hold_world: World,
) -> None:
    world = hold_world
    world.duffel.pay_mode = "refuse"
    booked = await paid(world)
    await world.settle_down()
    assert (await world.booking(booked))["status"] == "REFUNDED"
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert world.duffel.live_orders_for(booked.reference) == []
    assert world.duffel.confirm.call_count == 1


async def test_a_hold_that_expires_unpaid_is_cancelled_at_the_airline(hold_world: World) -> None:
    world = hold_world
    booked = await world.book()
    assert len(world.duffel.live_orders_for(booked.reference)) == 1
    # The recorded hold offer must be paid within days; the offer itself lasts 30 minutes.
    await world.reconcile(timedelta(minutes=31))
    assert (await world.booking(booked))["status"] == "EXPIRED"
    assert world.duffel.live_orders_for(booked.reference) == []


# --- Duffel's webhooks ------------------------------------------------------------------------


async def test_duffel_webhooks_need_a_good_fresh_signature_once(world: World) -> None:
    event = duffel_event("order.airline_initiated_change_detected", {"order_id": "ord_none"})
    raw = json.dumps(event).encode()
    bad = await world.client.post(
        "/webhooks/duffel", content=raw, headers={"x-duffel-signature": "t=1,v1=" + "0" * 64}
    )
    stale = await world.duffel_webhook(event, at=1_600_000_000)
    missing = await world.client.post("/webhooks/duffel", content=raw)
    assert (bad.status_code, stale.status_code, missing.status_code) == (401, 401, 401)

    signature = webhook_signature(DUFFEL_WEBHOOK_SECRET, raw, int(time.time()))
    first = await world.client.post(
        "/webhooks/duffel", content=raw, headers={"x-duffel-signature": signature}
    )
    replayed = await world.client.post(
        "/webhooks/duffel", content=raw, headers={"x-duffel-signature": signature}
    )
    # Duffel's own retry of the event comes later, signed anew.
    redelivered = await world.duffel_webhook(event, at=time.time() + 5)
    assert first.status_code == 200
    assert replayed.status_code == 401
    assert redelivered.json() == {"status": "duplicate"}


async def test_an_airline_initiated_change_is_stored_for_operators(world: World) -> None:
    booked = await paid(world)
    order_id = world.duffel.issued_orders_for(booked.reference)[0]["id"]
    change = world.duffel.change_flights(order_id, 90)
    # API v2 events name the order and the change; the change is read from Duffel.
    response = await world.duffel_webhook(
        duffel_event("order.airline_initiated_change_detected", {"id": order_id,
                                                                  "aic_id": change["id"]})
    )  # fmt: skip
    assert response.status_code == 200
    ledger = await world.ledger(booked)
    [recorded] = ledger["airlineChanges"]
    assert (recorded["id"], recorded["orderId"]) == (change["id"], order_id)
    assert "1h30m later" in recorded["summary"], recorded
    assert any(e["kind"] == "airline.change_detected" for e in ledger["journal"])
