"""The whole booking flow on a fresh checkout: sandbox flights, airline and checkout page."""

from __future__ import annotations

import httpx

from tests.support.saga import CREATE, PASSENGER, PAY, bearer, failed, ok
from tests.support.sandbox_booking import book, sandbox_offer, status


async def test_search_book_pay_on_the_checkout_page_and_get_confirmed(
    client: httpx.AsyncClient,
) -> None:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer)
    payment = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    assert payment["mode"] == "SANDBOX"
    assert payment["authorizationUrl"] == (
        f"http://localhost:8000/sandbox/checkout/{payment['reference']}"
    )
    page = await client.get(f"/sandbox/checkout/{payment['reference']}")
    assert page.status_code == 200
    assert "SANDBOX" in page.text
    assert f"/sandbox/checkout/{payment['reference']}/pay" in page.text
    assert f"/sandbox/checkout/{payment['reference']}/decline" in page.text
    paid = await client.post(f"/sandbox/checkout/{payment['reference']}/pay")
    assert paid.status_code == 200
    assert "CONFIRMED" in paid.text
    booking = await status(client, reference, token)
    assert booking["status"] == "CONFIRMED"
    assert booking["channel"] == "api"
    assert len(booking["airlineReference"]) == 6
    assert booking["payment"]["status"] == "SUCCESS"
    # Paying again changes nothing.
    again = await client.post(f"/sandbox/checkout/{payment['reference']}/pay")
    assert again.status_code == 200
    assert (await status(client, reference, token))["airlineReference"] == booking[
        "airlineReference"
    ]


async def test_declined_payment_leaves_the_booking_payable_with_a_new_link(
    client: httpx.AsyncClient,
) -> None:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer)
    first = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    # Asking again while it is pending gives the same payment: one booking, one charge.
    same = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    assert same["reference"] == first["reference"]
    await client.post(f"/sandbox/checkout/{first['reference']}/decline")
    booking = await status(client, reference, token)
    assert booking["status"] == "PENDING_PAYMENT"
    assert booking["payment"]["status"] == "FAILED"
    second = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    assert second["reference"] != first["reference"]
    await client.post(f"/sandbox/checkout/{second['reference']}/pay")
    assert (await status(client, reference, token))["status"] == "CONFIRMED"


async def test_held_sandbox_offer_has_its_airline_reference_before_payment(
    client: httpx.AsyncClient,
) -> None:
    offer = await sandbox_offer(client, instant=False)
    reference, token = await book(client, offer)
    held = await status(client, reference, token)
    assert held["status"] == "PENDING_PAYMENT"
    assert held["airlineReference"]
    assert held["payBy"] is not None
    payment = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    await client.post(f"/sandbox/checkout/{payment['reference']}/pay")
    confirmed = await status(client, reference, token)
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["airlineReference"] == held["airlineReference"]


async def test_airline_refusal_in_the_sandbox_refunds(client: httpx.AsyncClient) -> None:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer, {**PASSENGER, "familyName": "Refused"})
    payment = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    await client.post(f"/sandbox/checkout/{payment['reference']}/pay")
    booking = await status(client, reference, token)
    assert booking["status"] == "REFUNDED"
    assert booking["airlineReference"] is None
    assert booking["payment"]["status"] == "REFUNDED"


async def test_webhooks_are_refused_without_a_paystack_key(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/webhooks/paystack", content=b'{"event": "charge.success"}',
        headers={"x-paystack-signature": "00"},
    )  # fmt: skip
    assert response.status_code == 401


async def test_unknown_checkout_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/sandbox/checkout/SFNOPE-0000")).status_code == 404
    assert (await client.post("/sandbox/checkout/SFNOPE-0000/pay")).status_code == 404


async def test_bad_passengers_are_refused_with_the_field_named(
    client: httpx.AsyncClient,
) -> None:
    offer = await sandbox_offer(client, instant=True)
    cases = [
        ({"email": "not-an-email"}, "passengers[0].email"),
        ({"phoneNumber": "12"}, "passengers[0].phoneNumber"),
        ({"givenName": "T0nde!"}, "passengers[0].givenName"),
        ({"bornOn": "2020-01-01"}, "passengers[0].bornOn"),
        ({"type": "CHILD"}, "passengers[0].type"),
    ]
    for change, field in cases:
        error = await failed(
            client,
            CREATE,
            {"input": {"offerId": offer["id"], "passengers": [{**PASSENGER, **change}]}},
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT", change
        assert error["extensions"]["field"] == field, change
    two = await failed(
        client, CREATE, {"input": {"offerId": offer["id"], "passengers": [PASSENGER, PASSENGER]}}
    )
    assert two["extensions"]["field"] == "passengers"


async def test_price_change_is_reported_before_booking(client: httpx.AsyncClient) -> None:
    offer = await sandbox_offer(client, instant=True)
    error = await failed(
        client,
        CREATE,
        {
            "input": {
                "offerId": offer["id"],
                "passengers": [PASSENGER],
                "expectedTotalAmount": "1.00",
            }
        },
    )
    assert error["extensions"]["code"] == "PRICE_CHANGED"
    assert error["extensions"]["totalAmount"] == offer["totalAmount"]["amount"]


async def test_unknown_offer_is_offer_expired(client: httpx.AsyncClient) -> None:
    error = await failed(
        client, CREATE, {"input": {"offerId": "off_sandbox_gone", "passengers": [PASSENGER]}}
    )
    assert error["extensions"]["code"] == "OFFER_EXPIRED"


async def test_the_checkout_takes_no_money_once_the_booking_is_cancelled(
    client: httpx.AsyncClient,
) -> None:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer)
    payment = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    await ok(client, "mutation($r: ID!) { cancelBooking(reference: $r) { status } }",
             {"r": reference}, bearer(token))  # fmt: skip
    page = await client.post(f"/sandbox/checkout/{payment['reference']}/pay")
    assert "ABANDONED" in page.text
    booking = await status(client, reference, token)
    assert booking["status"] == "CANCELLED"
    assert booking["payment"]["status"] == "ABANDONED"


async def test_payment_references_read_in_any_case(client: httpx.AsyncClient) -> None:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer)
    payment = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    query = "query($r: ID!) { payment(reference: $r) { reference status } }"
    found = await ok(client, query, {"r": payment["reference"].lower()}, bearer(token))
    assert found["payment"] == {"reference": payment["reference"], "status": "PENDING"}
