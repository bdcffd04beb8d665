"""Half-done work finished: unknown order outcomes, lost webhooks, an airline down for too long."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from resolvers import reconciliation
from tests.end_to_end.conftest import Gateway
from tests.support.saga import DUFFEL, recorded_order


async def reconcile_at(gateway: Gateway, moment: datetime) -> reconciliation.ReconcileReport:
    """One pass of the gateway's reconciler, with its clock set to `moment`."""
    services = gateway.app.state.services
    deps = dataclasses.replace(services.bookings.deps, clock=lambda: moment)
    return await reconciliation.reconcile(deps)


def orders_page(offer: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    order = recorded_order(offer, awaiting_payment=False)["data"]
    order["metadata"] = {"sureflights_correlation_id": correlation_id}
    return {"data": [order], "meta": {"after": None, "before": None, "limit": 50}}


async def test_order_that_timed_out_but_exists_is_found_not_placed_twice(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=True)
    sent: list[str] = []

    def timing_out(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["x-client-correlation-id"])
        raise httpx.ReadTimeout("the airline took too long", request=request)

    create = gateway.router.post(f"{DUFFEL}/air/orders").mock(side_effect=timing_out)
    listing = gateway.router.get(f"{DUFFEL}/air/orders").mock(
        side_effect=lambda request: httpx.Response(200, json=orders_page(offer, sent[-1]))
    )
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "CONFIRMED"
    assert booking["airlineReference"] == "VP7ZA6"
    assert create.call_count == 1
    assert listing.call_count == 1
    assert listing.calls.last.request.url.params.get_list("passenger_name[]") == ["Bakare"]


async def test_unknown_outcome_is_looked_up_then_ordered_again_by_the_reconciler(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=True)
    answers = iter(
        [
            httpx.ReadTimeout("the airline took too long"),
            httpx.Response(201, json=recorded_order(offer, awaiting_payment=False)),
        ]
    )

    def create_order(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    create = gateway.router.post(f"{DUFFEL}/air/orders").mock(side_effect=create_order)
    listing = gateway.router.get(f"{DUFFEL}/air/orders").respond(
        200, json={"data": [], "meta": {"after": None}}
    )
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    assert (await gateway.booking(reference, token))["status"] == "CONFIRMING"
    # Too early: the reconciler leaves fresh work alone.
    await reconcile_at(gateway, datetime.now(UTC))
    assert create.call_count == 1
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=3))
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "CONFIRMED"
    assert booking["airlineReference"] == "VP7ZA6"
    # Looked up after the timeout and again before ordering again: never blindly.
    assert listing.call_count == 2
    assert create.call_count == 2
    correlation_ids = {c.request.headers["x-client-correlation-id"] for c in create.calls}
    assert len(correlation_ids) == 2


async def test_airline_down_past_the_deadline_refunds_the_traveller(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    create = gateway.router.post(f"{DUFFEL}/air/orders").respond(503, json={"errors": []})
    gateway.router.get(f"{DUFFEL}/air/orders").respond(
        200, json={"data": [], "meta": {"after": None}}
    )
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    assert (await gateway.booking(reference, token))["status"] == "CONFIRMING"
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=13))
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "REFUNDED"
    assert booking["payment"]["status"] == "REFUNDED"
    assert gateway.paystack.refund.call_count == 1
    assert create.call_count == 1
    # A second pass changes nothing.
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=20))
    assert gateway.paystack.refund.call_count == 1


async def test_a_lost_webhook_is_made_up_for_by_verifying_pending_payments(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=True)
    gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, _payment = await gateway.book(offer)
    # The traveller paid, but the webhook never arrived.
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=6))
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "CONFIRMED"
    assert gateway.paystack.verify.call_count == 1


async def test_a_refund_that_failed_is_retried(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    gateway.router.post(f"{DUFFEL}/air/orders").respond(
        422,
        json={
            "errors": [{"type": "airline_error", "code": "offer_no_longer_available"}],
            "meta": {"request_id": "r1"},
        },
    )
    refunds = gateway.paystack.refund
    answer = refunds.side_effect
    attempts: list[httpx.Request] = []

    def first_times_out(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ReadTimeout("paystack took too long", request=request)
        return answer(request)

    refunds.side_effect = first_times_out
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    assert (await gateway.booking(reference, token))["status"] == "FAILED"
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=3))
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "REFUNDED"
    assert refunds.call_count == 2
    sent = json.loads(refunds.calls.last.request.content)
    assert sent["transaction"] == payment


async def test_an_issued_refund_is_followed_until_paystack_has_processed_it(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=True)
    gateway.router.post(f"{DUFFEL}/air/orders").respond(
        422,
        json={
            "errors": [{"type": "airline_error", "code": "offer_no_longer_available"}],
            "meta": {"request_id": "r2"},
        },
    )
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    assert (await gateway.booking(reference, token))["status"] == "REFUNDED"
    gateway.paystack.refund_state = "processed"
    store = gateway.app.state.services.store
    before = await store.payments.get(payment)
    assert before is not None
    assert before.data["refund"]["status"] == "pending"

    # Refunds are asked after every REFUND_FOLLOW_EVERY_SECONDS (10 minutes by default).
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=3))
    assert gateway.paystack.refund_status.call_count == 0
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=11))
    after = await store.payments.get(payment)
    assert after is not None
    assert after.data["refund"]["status"] == "processed"
    # Final: no more questions about it.
    await reconcile_at(gateway, datetime.now(UTC) + timedelta(minutes=30))
    assert gateway.paystack.refund_status.call_count == 1
