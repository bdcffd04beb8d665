"""Shared pieces of the booking saga tests: recorded upstream bodies moved to the future, a live
gateway against respx-served Duffel and Paystack, and the GraphQL operations a frontend sends."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx

from tests.support.helpers import graphql, upstream_fixture

DUFFEL = "https://api.duffel.com"
PAYSTACK = "https://api.paystack.co"
DUFFEL_TOKEN = "duffel_test_placeholder"
PAYSTACK_SECRET = "sk_test_placeholder_secret"

_STAMP = re.compile(r"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d")


def _shift(value: Any, delta: timedelta) -> Any:
    """Every date-time in a recorded body moved by `delta`, keeping its exact text format."""
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    if isinstance(value, str) and _STAMP.match(value):
        head = datetime.fromisoformat(value[:19]) + delta
        return head.isoformat() + value[19:]
    return value


def recorded_offer(*, instant: bool) -> dict[str, Any]:
    """Duffel's recorded offer, departing in about 30 days and bookable for 30 minutes."""
    body: dict[str, Any] = upstream_fixture("duffel_offer_response.json")
    departs = datetime.fromisoformat(body["data"]["slices"][0]["segments"][0]["departing_at"])
    body = _shift(body, (datetime.now() + timedelta(days=30)).replace(microsecond=0) - departs)
    data = body["data"]
    data["expires_at"] = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    requirements = data["payment_requirements"]
    requirements["requires_instant_payment"] = instant
    if instant:
        requirements["payment_required_by"] = None
        requirements["price_guarantee_expires_at"] = None
    else:
        later = datetime.now(UTC) + timedelta(days=2)
        requirements["payment_required_by"] = later.isoformat()
        requirements["price_guarantee_expires_at"] = (later - timedelta(days=1)).isoformat()
    return body


def recorded_order(offer: dict[str, Any], *, awaiting_payment: bool) -> dict[str, Any]:
    """Duffel's recorded order (booking reference VP7ZA6) for the offer's passenger and price."""
    body: dict[str, Any] = copy.deepcopy(upstream_fixture("duffel_order_response.json"))
    data = body["data"]
    data["total_amount"] = offer["data"]["total_amount"]
    data["total_currency"] = offer["data"]["total_currency"]
    data["passengers"][0]["id"] = offer["data"]["passengers"][0]["id"]
    data["payment_status"] = {
        "awaiting_payment": awaiting_payment,
        "payment_required_by": offer["data"]["payment_requirements"]["payment_required_by"],
        "price_guarantee_expires_at": offer["data"]["payment_requirements"][
            "price_guarantee_expires_at"
        ],
    }
    return body


def sign(body: bytes, secret: str = PAYSTACK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def charge_success(reference: str, amount: int, currency: str = "NGN") -> bytes:
    """Paystack's recorded charge.success event for one of our payments."""
    event = copy.deepcopy(upstream_fixture("paystack_charge_success_event.json"))
    event["data"].update(reference=reference, amount=amount, currency=currency)
    return json.dumps(event).encode()


def verified(
    reference: str, amount: int, currency: str = "NGN", status: str = "success"
) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(upstream_fixture("paystack_verify_response.json"))
    body["data"].update(reference=reference, amount=amount, currency=currency, status=status)
    return body


class PaystackDouble:
    """respx routes answering Paystack with its recorded bodies for whatever reference we send."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.initialize = router.post(f"{PAYSTACK}/transaction/initialize").mock(
            side_effect=self._initialized
        )
        self.verify = router.get(url__regex=rf"{PAYSTACK}/transaction/verify/.+").mock(
            side_effect=self._verified
        )
        self.refund = router.post(f"{PAYSTACK}/refund").mock(side_effect=self._refunded)
        self.refund_status = router.get(url__regex=rf"{PAYSTACK}/refund/.+").mock(
            side_effect=self._refund_looked_up
        )
        self.refund_list = router.get(url__regex=rf"{PAYSTACK}/refund\?.+").mock(
            side_effect=self._refunds_listed
        )
        # Every refund Paystack took, as it would list them: by transaction reference.
        self.refunds_made: dict[str, list[dict[str, Any]]] = {}
        # What Paystack says of an issued refund when asked later.
        self.refund_state = "pending"
        self.charged: dict[str, tuple[int, str]] = {}
        self.answer_status = "success"

    def _initialized(self, request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        body = copy.deepcopy(upstream_fixture("paystack_initialize_response.json"))
        body["data"]["reference"] = sent["reference"]
        self.charged.setdefault(sent["reference"], (int(sent["amount"]), sent["currency"]))
        return httpx.Response(200, json=body)

    def _verified(self, request: httpx.Request) -> httpx.Response:
        reference = request.url.path.rsplit("/", 1)[-1]
        if reference not in self.charged:
            # As Paystack answers a reference it never initialized.
            refused = {"status": False, "message": "Transaction reference not found"}
            return httpx.Response(400, json=refused)
        amount, currency = self.charged[reference]
        return httpx.Response(200, json=verified(reference, amount, currency, self.answer_status))

    def _refund_looked_up(self, request: httpx.Request) -> httpx.Response:
        body = copy.deepcopy(upstream_fixture("paystack_refund_response.json"))
        body["data"]["status"] = self.refund_state
        # Fetching a refund names its transaction by numeric id, not by reference.
        body["data"]["transaction"] = body["data"]["transaction"]["id"]
        return httpx.Response(200, json=body)

    def _refunded(self, request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        body = copy.deepcopy(upstream_fixture("paystack_refund_response.json"))
        amount, currency = self.charged[sent["transaction"]]
        made = self.refunds_made.setdefault(sent["transaction"], [])
        body["data"]["transaction"]["reference"] = sent["transaction"]
        body["data"]["amount"] = int(sent.get("amount", amount))
        body["data"]["currency"] = currency
        body["data"]["merchant_note"] = sent.get("merchant_note")
        body["data"]["id"] = 3018284 + len(made) + 100 * len(self.refunds_made)
        made.append(body["data"])
        return httpx.Response(200, json=body)

    def _refunds_listed(self, request: httpx.Request) -> httpx.Response:
        reference = request.url.params["reference"]
        listed = []
        for made in self.refunds_made.get(reference, []):
            item = {**made, "status": self.refund_state}
            # Listed refunds name their transaction by numeric id.
            item["transaction"] = made["transaction"]["id"]
            listed.append(item)
        return httpx.Response(200, json={"status": True, "message": "Refunds retrieved",
                                         "data": listed})  # fmt: skip


PASSENGER = {
    "type": "ADULT",
    "title": "MR",
    "givenName": "Tunde",
    "familyName": "Bakare",
    "gender": "M",
    "bornOn": "1990-01-15",
    "email": "tunde@example.com",
    "phoneNumber": "08012345678",
}

CREATE = """
mutation($input: CreateBookingInput!) {
  createBooking(input: $input) {
    accessToken
    booking {
      reference status channel airlineReference payBy
      totalAmount { amount currency }
      passengers { givenName familyName phoneNumber email }
      payment { reference status }
    }
  }
}
"""
PAY = """
mutation($ref: ID!) {
  initializePayment(bookingReference: $ref) {
    reference status mode authorizationUrl amount { amount currency }
  }
}
"""
VERIFY = "mutation($ref: ID!) { verifyPayment(reference: $ref) { reference status bookingStatus } }"
CANCEL = "mutation($ref: ID!) { cancelBooking(reference: $ref) { reference status } }"
BOOKING = """
query($ref: ID!) {
  booking(reference: $ref) {
    reference status airlineReference payBy totalAmount { amount currency }
    passengers { givenName familyName }
    payment { reference status amount { amount currency } }
  }
}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ok(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await graphql(http, query, variables, headers)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def failed(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = (await graphql(http, query, variables, headers)).json()
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


def rates_for_gbp() -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(upstream_fixture("fx_open_er_api_latest.json"))
    usd_per_gbp = 1 / body["rates"]["GBP"]
    body["base_code"] = "GBP"
    body["rates"] = {code: rate * usd_per_gbp for code, rate in body["rates"].items()}
    body["rates"]["GBP"] = 1
    body["time_last_update_unix"] = int(time.time()) - 3600
    body["time_next_update_unix"] = int(time.time()) + 3600
    return body
