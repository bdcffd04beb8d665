"""The booking saga end to end through GraphQL, against Duffel and Paystack served by respx."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.end_to_end.conftest import Gateway
from tests.support.helpers import upstream_fixture
from tests.support.saga import (
    CANCEL,
    CREATE,
    DUFFEL,
    PASSENGER,
    PAY,
    VERIFY,
    bearer,
    charge_success,
    failed,
    ok,
    recorded_order,
    sign,
)


async def test_happy_path_confirms_with_the_airline_reference(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    order = gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, payment = await gateway.book(offer)
    before = await gateway.booking(reference, token)
    assert before["status"] == "PENDING_PAYMENT"
    assert before["totalAmount"]["currency"] == "NGN"
    assert before["payment"]["status"] == "PENDING"
    response = await gateway.pay(payment)
    assert response.status_code == 200
    after = await gateway.booking(reference, token)
    assert after["status"] == "CONFIRMED"
    assert after["airlineReference"] == "VP7ZA6"
    assert after["payment"]["status"] == "SUCCESS"
    assert order.call_count == 1
    sent = json.loads(order.calls.last.request.content)["data"]
    assert sent["type"] == "instant"
    assert sent["selected_offers"] == [offer["data"]["id"]]
    assert sent["passengers"][0]["phone_number"] == "+2348012345678"
    assert sent["payments"][0] == {
        "type": "balance",
        "currency": "GBP",
        "amount": offer["data"]["total_amount"],
    }
    assert order.calls.last.request.headers["x-client-correlation-id"].startswith("sf_")
    # The charge went to Paystack in kobo, for the price locked at booking.
    charged = json.loads(gateway.paystack.initialize.calls.last.request.content)
    amount = int(float(after["totalAmount"]["amount"]) * 100 + 0.5)
    assert charged["amount"] == amount
    assert charged["currency"] == "NGN"


async def test_duplicate_webhook_creates_one_order(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    order = gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, payment = await gateway.book(offer)
    for _ in range(3):
        assert (await gateway.pay(payment)).status_code == 200
    assert order.call_count == 1
    assert gateway.paystack.verify.call_count == 1
    assert (await gateway.booking(reference, token))["status"] == "CONFIRMED"


async def test_webhook_verify_and_second_webhook_racing_confirm_once(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)

    async def slow_order(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.1)
        return httpx.Response(201, json=recorded_order(offer, awaiting_payment=False))

    order = gateway.router.post(f"{DUFFEL}/air/orders").mock(side_effect=slow_order)
    reference, token, payment = await gateway.book(offer)
    services = gateway.app.state.services
    async with services.shared.bus.subscribe(f"payments:{payment}") as events:
        results = await asyncio.gather(
            gateway.pay(payment),
            ok(gateway.http, VERIFY, {"ref": payment}, bearer(token)),
            gateway.pay(payment),
        )
        assert results[0].status_code == results[2].status_code == 200
        seen = []
        while True:
            try:
                message = await asyncio.wait_for(events.__anext__(), 0.5)
            except TimeoutError:
                break
            seen.append((message.data["status"], message.data["booking_status"]))
    assert order.call_count == 1
    assert seen.count(("SUCCESS", "CONFIRMED")) == 1
    assert sum(1 for status, _ in seen if status == "SUCCESS") == len(set(seen))
    assert (await gateway.booking(reference, token))["status"] == "CONFIRMED"


@pytest.mark.parametrize("signature", [None, "", "0" * 128, "tampered"])
async def test_bad_or_missing_signature_is_401_and_changes_nothing(
    gateway: Gateway, signature: str | None
) -> None:
    offer = gateway.offer(instant=True)
    order = gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, payment = await gateway.book(offer)
    amount, currency = gateway.paystack.charged[payment]
    body = charge_success(payment, amount, currency)
    if signature == "tampered":
        signature = sign(body.replace(b"success", b"succes5"))
    response = await gateway.webhook(body, signature)
    assert response.status_code == 401
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "PENDING_PAYMENT"
    assert booking["payment"]["status"] == "PENDING"
    assert gateway.paystack.verify.call_count == 0
    assert order.call_count == 0


@pytest.mark.parametrize("mismatch", ["amount", "currency"])
async def test_amount_or_currency_mismatch_never_confirms(gateway: Gateway, mismatch: str) -> None:
    offer = gateway.offer(instant=True)
    order = gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, payment = await gateway.book(offer)
    amount, currency = gateway.paystack.charged[payment]
    # Paystack reports a different capture than the one we asked for.
    gateway.paystack.charged[payment] = (
        (amount - 100, currency) if mismatch == "amount" else (amount, "USD")
    )
    await gateway.pay(payment)
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "PENDING_PAYMENT"
    assert booking["payment"]["status"] == "PENDING"
    assert order.call_count == 0


async def test_airline_refusal_after_payment_refunds_once(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    refusal = {
        "errors": [
            {
                "type": "airline_error",
                "code": "offer_no_longer_available",
                "title": "Requested offer is no longer available",
                "message": "Requested offer is no longer available",
            }
        ],
        "meta": {"request_id": "FZW0H3HdJwKk5HMAAKxB", "status": 422},
    }
    order = gateway.router.post(f"{DUFFEL}/air/orders").respond(422, json=refusal)
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    await gateway.pay(payment)
    await ok(gateway.http, VERIFY, {"ref": payment}, bearer(token))
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "REFUNDED"
    assert booking["airlineReference"] is None
    assert booking["payment"]["status"] == "REFUNDED"
    assert order.call_count == 1
    assert gateway.paystack.refund.call_count == 1
    refund = json.loads(gateway.paystack.refund.calls.last.request.content)
    assert refund["transaction"] == payment


async def test_held_offer_gets_its_airline_reference_early_and_is_paid_after_settlement(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=False)
    hold = gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=True)
    )
    order_id = recorded_order(offer, awaiting_payment=True)["data"]["id"]
    paid = gateway.router.post(f"{DUFFEL}/air/payments").respond(
        201,
        json={
            "data": {
                "id": "pay_0000AG87FQKfWStMuUgRbF",
                "type": "balance",
                "status": "succeeded",
                "amount": offer["data"]["total_amount"],
                "currency": offer["data"]["total_currency"],
                "created_at": "2026-01-01T00:00:00Z",
            }
        },
    )
    gateway.router.get(f"{DUFFEL}/air/orders/{order_id}").respond(
        200, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, payment = await gateway.book(offer)
    held = await gateway.booking(reference, token)
    assert held["status"] == "PENDING_PAYMENT"
    assert held["airlineReference"] == "VP7ZA6"
    assert held["payBy"] is not None
    assert json.loads(hold.calls.last.request.content)["data"]["type"] == "hold"
    await gateway.pay(payment)
    confirmed = await gateway.booking(reference, token)
    assert confirmed["status"] == "CONFIRMED"
    assert hold.call_count == 1
    assert paid.call_count == 1


async def test_cancelling_before_payment_needs_no_airline(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    reference, token, _payment = await gateway.book(offer)
    cancelled = await ok(gateway.http, CANCEL, {"ref": reference}, bearer(token))
    assert cancelled["cancelBooking"]["status"] == "CANCELLED"
    booking = await gateway.booking(reference, token)
    assert booking["payment"]["status"] == "ABANDONED"
    # A cancelled booking takes no more payments.
    error = await failed(gateway.http, PAY, {"ref": reference}, bearer(token))
    assert error["extensions"]["code"] == "CONFLICT"


async def test_cancelling_after_confirmation_refunds_what_the_airline_returns(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=True)
    created = recorded_order(offer, awaiting_payment=False)
    gateway.router.post(f"{DUFFEL}/air/orders").respond(201, json=created)
    quote = copy.deepcopy(upstream_fixture("duffel_order_cancellation_response.json"))
    quote["data"]["order_id"] = created["data"]["id"]
    quote["data"]["refund_currency"] = offer["data"]["total_currency"]
    quote["data"]["expires_at"] = "2099-01-01T00:00:00Z"
    pending_quote = copy.deepcopy(quote)
    pending_quote["data"]["confirmed_at"] = None
    gateway.router.post(f"{DUFFEL}/air/order_cancellations").respond(201, json=pending_quote)
    gateway.router.post(
        f"{DUFFEL}/air/order_cancellations/{quote['data']['id']}/actions/confirm"
    ).respond(200, json=quote)
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    paid = await gateway.booking(reference, token)
    assert paid["status"] == "CONFIRMED"
    cancelled = await ok(gateway.http, CANCEL, {"ref": reference}, bearer(token))
    assert cancelled["cancelBooking"]["status"] == "CANCELLED"
    refund = json.loads(gateway.paystack.refund.calls.last.request.content)
    charged, _ = gateway.paystack.charged[payment]
    # 90.80 of the airline's total, at the traveller's own rate, in kobo, never above the charge.
    airline_total = float(offer["data"]["total_amount"])
    expected = round(charged * 90.80 / airline_total)
    assert abs(refund["amount"] - expected) <= 1
    assert refund["amount"] <= charged
    after = await gateway.booking(reference, token)
    assert after["payment"]["status"] == "REFUNDED"


async def test_idempotency_key_replays_and_conflicts(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    variables = {"input": {"offerId": offer["data"]["id"], "passengers": [PASSENGER]}}
    headers = {"Idempotency-Key": "booking-attempt-1"}
    first = await ok(gateway.http, CREATE, variables, headers)
    again = await ok(gateway.http, CREATE, variables, headers)
    assert again == first
    assert gateway.offer_route.call_count == 1
    other = copy.deepcopy(variables)
    other["input"]["passengers"][0]["givenName"] = "Bola"
    error = await failed(gateway.http, CREATE, other, headers)
    assert error["extensions"]["code"] == "CONFLICT"


async def test_expired_booking_refuses_payment_links(
    gateway: Gateway,
) -> None:
    offer = gateway.offer(instant=True)
    data = await ok(
        gateway.http,
        CREATE,
        {"input": {"offerId": offer["data"]["id"], "passengers": [PASSENGER]}},
    )
    reference = data["createBooking"]["booking"]["reference"]
    token = data["createBooking"]["accessToken"]
    store = gateway.app.state.services.store
    record = await store.bookings.get(reference)
    assert record is not None
    await store.bookings.update(
        reference,
        expected_version=record.version,
        changes={"expires_at": datetime.now(UTC) - timedelta(seconds=1)},
    )
    assert (await gateway.booking(reference, token))["status"] == "EXPIRED"
    error = await failed(gateway.http, PAY, {"ref": reference}, bearer(token))
    assert error["extensions"]["code"] == "OFFER_EXPIRED"


async def test_money_captured_after_the_booking_ended_goes_back_once(gateway: Gateway) -> None:
    offer = gateway.offer(instant=True)
    order = gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    reference, token, payment = await gateway.book(offer)
    await ok(gateway.http, CANCEL, {"ref": reference}, bearer(token))
    # The traveller pays on the old Paystack link anyway; Paystack tells us, twice.
    await gateway.pay(payment)
    await gateway.pay(payment)
    await ok(gateway.http, VERIFY, {"ref": payment}, bearer(token))
    booking = await gateway.booking(reference, token)
    assert booking["status"] == "CANCELLED"
    assert booking["payment"]["status"] == "ABANDONED"
    assert order.call_count == 0
    assert gateway.paystack.refund.call_count == 1
    refund = json.loads(gateway.paystack.refund.calls.last.request.content)
    assert refund["transaction"] == payment
