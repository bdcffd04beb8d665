"""The sandbox checkout page over HTTP: the trip it charges for, large buttons, and the way back
to the traveller's site with the reference, as Paystack's checkout does."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.saga import bearer, ok
from tests.support.sandbox_booking import STATUS, book, sandbox_offer

PAY_BACK = """
mutation($ref: ID!, $back: String) {
  initializePayment(bookingReference: $ref, callbackUrl: $back) { reference status }
}
"""


async def _payment(client: httpx.AsyncClient, back: str | None) -> tuple[str, str, str]:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer)
    started = await ok(client, PAY_BACK, {"ref": reference, "back": back}, bearer(token))
    return reference, token, started["initializePayment"]["reference"]


async def test_the_page_shows_route_date_and_passengers_with_large_buttons(
    client: httpx.AsyncClient,
) -> None:
    reference, _token, payment = await _payment(client, None)
    page = await client.get(f"/sandbox/checkout/{payment}")
    assert page.status_code == 200
    text = page.text
    assert reference in text
    # The route, as airports with their codes, and when it leaves.
    assert re.search(r"Outbound: [^<]*\(LOS\) → [^<]*\([A-Z]{3}\)", text), text
    assert re.search(r"Departs <b>\w{3} \d\d \w{3} 20\d\d, \d\d:\d\d</b>", text), text
    # The passenger the booking was made for.
    assert "Mr Tunde Bakare (adult)" in text
    # Touch targets of at least 44 px (48 here) for Pay, Decline and the way back.
    assert "min-height:48px;min-width:48px" in text
    assert f'action="/sandbox/checkout/{payment}/pay"' in text
    assert f'action="/sandbox/checkout/{payment}/decline"' in text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_pay_sends_the_traveller_back_with_the_reference_as_paystack_does(
    client: httpx.AsyncClient,
) -> None:
    back = "https://shop.example/return?cart=42"
    reference, token, payment = await _payment(client, back)
    page = await client.get(f"/sandbox/checkout/{payment}")
    assert "Afterwards you go back to <b>shop.example</b>" in page.text
    # The redirect after the form's POST is allowed to reach the traveller's site.
    assert "https://shop.example" in page.headers["content-security-policy"]
    paid = await client.post(f"/sandbox/checkout/{payment}/pay")
    assert paid.status_code == 303
    location = urlsplit(paid.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "shop.example", "/return")
    assert parse_qs(location.query) == {
        "cart": ["42"],
        "trxref": [payment],
        "reference": [payment],
    }
    # The outcome is learnt by asking, as after Paystack's redirect.
    booking = (await ok(client, STATUS, {"ref": reference}, bearer(token)))["booking"]
    assert booking["status"] == "CONFIRMED"
    assert booking["payment"]["status"] == "SUCCESS"
    # Coming back to the page later offers the way back instead of the buttons.
    again = await client.get(f"/sandbox/checkout/{payment}")
    assert "is SUCCESS" in again.text
    assert "/pay" not in again.text
    assert f"https://shop.example/return?cart=42&amp;trxref={payment}&amp;reference={payment}" in (
        again.text
    )


async def test_decline_sends_the_traveller_back_too_and_the_payment_reads_failed(
    client: httpx.AsyncClient,
) -> None:
    back = "http://localhost:3000/booking/done"
    reference, token, payment = await _payment(client, back)
    declined = await client.post(f"/sandbox/checkout/{payment}/decline")
    assert declined.status_code == 303
    assert declined.headers["location"] == (
        f"http://localhost:3000/booking/done?trxref={payment}&reference={payment}"
    )
    booking = (await ok(client, STATUS, {"ref": reference}, bearer(token)))["booking"]
    assert booking["status"] == "PENDING_PAYMENT"
    assert booking["payment"]["status"] == "FAILED"


async def test_without_a_callback_the_page_shows_the_outcome(client: httpx.AsyncClient) -> None:
    _reference, _token, payment = await _payment(client, None)
    paid = await client.post(f"/sandbox/checkout/{payment}/pay")
    assert paid.status_code == 200
    assert "CONFIRMED" in paid.text
