"""The outside world of the money tests: Duffel and Paystack as stateful fakes at the HTTP layer.

Each keeps what really happened (orders created at the airline, money captured and refunded), so
a test can compare what the gateway believes with what is true, and each can misbehave the way
the real services do: an answer lost after the work was done, a 5xx, 202 Accepted, a body that
does not parse, a look-up that fails. Bodies are the providers' recorded ones
(`tests/fixtures/upstreams/`), with ids, amounts and metadata filled in per request.
"""

from __future__ import annotations

import copy
import itertools
import json
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx

from tests.support.helpers import upstream_fixture
from tests.support.saga import DUFFEL, PAYSTACK, recorded_order, sign

_PNR_LETTERS = string.ascii_uppercase


def _pnr(number: int) -> str:
    letters = []
    for _ in range(6):
        number, digit = divmod(number, 26)
        letters.append(_PNR_LETTERS[digit])
    return "".join(letters)


def _error(status: int, code: str, kind: str = "api_error") -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "errors": [{"type": kind, "code": code, "title": code.replace("_", " ")}],
            "meta": {"request_id": f"req_{code}"},
        },
    )


@dataclass
class FakeDuffel:
    """Duffel's orders API, remembering every order it created."""

    router: respx.MockRouter
    offer: dict[str, Any]
    # How the next order creation goes:
    #   ok                      201 with the order
    #   timeout_after_create    the order is made, the answer never arrives
    #   error_after_create      the order is made, the answer is a 500
    #   not_created             502 order_not_created (nothing made; safe to retry)
    #   not_created_once        the same once, then ok
    #   accepted                202 Accepted; the order is made and told by webhook later
    #   accepted_then_failed    202 Accepted; the creation fails and is told by webhook later
    #   garbage                 the order is made, the 201 has a field of the wrong type
    #   refuse                  422 offer_no_longer_available (an explicit refusal)
    #   unreachable             the connection is refused (nothing sent)
    create_mode: str = "ok"
    # Whether GET /air/orders (the look-up) answers: "ok" or "fail" (a 500).
    list_mode: str = "ok"
    get_mode: str = "ok"
    # Hold payments: ok | garbage (paid, unreadable 201) | timeout_after_pay | refuse
    pay_mode: str = "ok"
    cancel_mode: str = "ok"
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        offer_id = self.offer["data"]["id"]
        self.offer_route = self.router.get(f"{DUFFEL}/air/offers/{offer_id}").mock(
            side_effect=lambda request: httpx.Response(200, json=self.offer)
        )
        self.create = self.router.post(f"{DUFFEL}/air/orders").mock(side_effect=self._create)
        self.listing = self.router.get(f"{DUFFEL}/air/orders").mock(side_effect=self._list)
        self.fetch = self.router.get(url__regex=rf"{DUFFEL}/air/orders/ord_[A-Za-z0-9_]+$").mock(
            side_effect=self._get
        )
        self.pay = self.router.post(f"{DUFFEL}/air/payments").mock(side_effect=self._pay)
        self.quote = self.router.post(f"{DUFFEL}/air/order_cancellations").mock(
            side_effect=self._quote
        )
        self.confirm = self.router.post(
            url__regex=rf"{DUFFEL}/air/order_cancellations/ore_[A-Za-z0-9_]+/actions/confirm"
        ).mock(side_effect=self._confirm)
        self.quotes: dict[str, dict[str, Any]] = {}
        # Airline-initiated changes, by order id, in Duffel's recorded shape.
        self.changes: dict[str, list[dict[str, Any]]] = {}
        # accept: ok | refuse (422 invalid_state_error) | fail (500)
        self.accept_mode = "ok"
        self.change_listing = self.router.get(f"{DUFFEL}/air/airline_initiated_changes").mock(
            side_effect=self._list_changes
        )
        self.accept = self.router.post(
            url__regex=rf"{DUFFEL}/air/airline_initiated_changes/aic_[A-Za-z0-9_]+/actions/accept"
        ).mock(side_effect=self._accept)

    # --- What is true at the airline ---------------------------------------------------------

    def orders_for(self, booking_reference: str) -> list[dict[str, Any]]:
        return [
            o
            for o in self.orders.values()
            if (o.get("metadata") or {}).get("sureflights_booking_reference") == booking_reference
        ]

    def live_orders_for(self, booking_reference: str) -> list[dict[str, Any]]:
        return [o for o in self.orders_for(booking_reference) if o["cancelled_at"] is None]

    def issued_orders_for(self, booking_reference: str) -> list[dict[str, Any]]:
        return [
            o
            for o in self.live_orders_for(booking_reference)
            if not o["payment_status"]["awaiting_payment"]
        ]

    def change_flights(self, order_id: str, minutes: int) -> dict[str, Any]:
        """The airline moves every flight of the order by `minutes`: the change Duffel then
        lists for it (the recorded change, with this order's slices before and after)."""
        order = self.orders[order_id]
        change = copy.deepcopy(
            upstream_fixture("duffel_airline_initiated_changes_list_response.json")["data"][0]
        )
        change["id"] = f"aic_{next(self._ids):04d}fake"
        change["order_id"] = order_id
        change["removed"] = copy.deepcopy(order["slices"])
        moved = copy.deepcopy(order["slices"])
        for piece in moved:
            for segment in piece["segments"]:
                for key in ("departing_at", "arriving_at"):
                    when = datetime.fromisoformat(segment[key]) + timedelta(minutes=minutes)
                    segment[key] = when.isoformat()
        change["added"] = moved
        change["available_actions"] = ["accept", "cancel", "change"]
        change["created_at"] = datetime.now(UTC).isoformat()
        self.changes.setdefault(order_id, []).append(change)
        order["slices"] = moved
        return change

    def _list_changes(self, request: httpx.Request) -> httpx.Response:
        order_id = request.url.params.get("order_id", "")
        return httpx.Response(200, json={"data": self.changes.get(order_id, [])})

    def _accept(self, request: httpx.Request) -> httpx.Response:
        change_id = request.url.path.split("/")[-3]
        change = next(c for cs in self.changes.values() for c in cs if c["id"] == change_id)
        if self.accept_mode == "fail":
            return _error(500, "internal_server_error")
        if self.accept_mode == "refuse" or change["action_taken"] not in (None, "accepted"):
            return _error(422, "invalid_state", "invalid_state_error")
        change["action_taken"] = "accepted"
        change["action_taken_at"] = datetime.now(UTC).isoformat()
        return httpx.Response(200, json={"data": change})

    # --- The routes -------------------------------------------------------------------------

    def _make_order(self, sent: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        body = recorded_order(self.offer, awaiting_payment=sent["type"] == "hold")["data"]
        body = copy.deepcopy(body)
        body["id"] = f"ord_{number:04d}fake{number}"
        body["booking_reference"] = _pnr(number + 1000)
        body["metadata"] = dict(sent.get("metadata") or {})
        body["passengers"][0]["family_name"] = sent["passengers"][0]["family_name"]
        body["created_at"] = datetime.now(UTC).isoformat()
        self.orders[body["id"]] = body
        return body

    def _create(self, request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["data"]
        mode = self.create_mode
        if mode == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        if mode in ("not_created", "not_created_once"):
            if mode == "not_created_once":
                self.create_mode = "ok"
            return _error(502, "order_not_created")
        if mode == "refuse":
            return _error(422, "offer_no_longer_available", "airline_error")
        if mode == "accepted_then_failed":
            self.webhooks.append(
                {"type": "order.creation_failed", "object": {"metadata": sent.get("metadata")}}
            )
            return httpx.Response(202, json={"data": {"id": "por_0000pending"}})
        order = self._make_order(sent)
        if mode == "timeout_after_create":
            raise httpx.ReadTimeout("the airline took too long", request=request)
        if mode == "error_after_create":
            return _error(500, "airline_internal", "airline_error")
        if mode == "accepted":
            self.webhooks.append({"type": "order.created", "object": copy.deepcopy(order)})
            return httpx.Response(202, json={"data": {"id": "por_0000pending"}})
        if mode == "garbage":
            broken = copy.deepcopy(order)
            broken["total_amount"] = {"unexpected": "object"}
            return httpx.Response(201, json={"data": broken})
        return httpx.Response(201, json={"data": order})

    def _list(self, request: httpx.Request) -> httpx.Response:
        if self.list_mode == "fail":
            return _error(500, "internal_server_error")
        names = [n.lower() for n in request.url.params.get_list("passenger_name[]")]
        found = [
            o
            for o in self.orders.values()
            if not names or any(n in o["passengers"][0]["family_name"].lower() for n in names)
        ]
        return httpx.Response(200, json={"data": found, "meta": {"after": None, "limit": 50}})

    def _get(self, request: httpx.Request) -> httpx.Response:
        if self.get_mode == "fail":
            return _error(500, "internal_server_error")
        order = self.orders.get(request.url.path.rsplit("/", 1)[-1])
        if order is None:
            return _error(404, "not_found", "invalid_request_error")
        return httpx.Response(200, json={"data": order})

    def _pay(self, request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["data"]
        order = self.orders[sent["order_id"]]
        if self.pay_mode == "refuse":
            return _error(422, "order_not_payable", "airline_error")
        if not order["payment_status"]["awaiting_payment"]:
            return _error(422, "already_paid", "invalid_request_error")
        order["payment_status"] = {
            "awaiting_payment": False,
            "payment_required_by": None,
            "price_guarantee_expires_at": None,
        }
        if self.pay_mode == "timeout_after_pay":
            raise httpx.ReadTimeout("the airline took too long", request=request)
        payment = {
            "id": f"pay_{next(self._ids):04d}",
            "order_id": order["id"],
            "amount": sent["payment"]["amount"],
            "currency": sent["payment"]["currency"],
            "type": "balance",
            "status": "succeeded",
            "created_at": datetime.now(UTC).isoformat(),
        }
        if self.pay_mode == "garbage":
            payment["amount"] = ["not", "a", "number"]
        return httpx.Response(201, json={"data": payment})

    def _quote(self, request: httpx.Request) -> httpx.Response:
        if self.cancel_mode == "fail":
            return _error(500, "internal_server_error")
        sent = json.loads(request.content)["data"]
        order = self.orders[sent["order_id"]]
        body = copy.deepcopy(upstream_fixture("duffel_order_cancellation_response.json"))["data"]
        body["id"] = f"ore_{next(self._ids):04d}fake"
        body["order_id"] = order["id"]
        body["refund_currency"] = order["total_currency"]
        body["refund_amount"] = (
            "0.00" if order["payment_status"]["awaiting_payment"] else body["refund_amount"]
        )
        body["confirmed_at"] = None
        body["expires_at"] = "2099-01-01T00:00:00Z"
        self.quotes[body["id"]] = body
        return httpx.Response(201, json={"data": body})

    def _confirm(self, request: httpx.Request) -> httpx.Response:
        quote_id = request.url.path.split("/")[-3]
        quote = self.quotes[quote_id]
        order = self.orders[quote["order_id"]]
        order["cancelled_at"] = datetime.now(UTC).isoformat()
        quote["confirmed_at"] = order["cancelled_at"]
        return httpx.Response(200, json={"data": quote})


@dataclass
class Transaction:
    reference: str
    amount: int
    currency: str
    status: str = "pending"
    refunds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def captured(self) -> int:
        return self.amount if self.status in ("success", "reversed") else 0

    @property
    def refunded(self) -> int:
        # A refund Paystack failed returned nothing: the money may be asked for again.
        return sum(r["amount"] for r in self.refunds if r.get("status") != "failed")


@dataclass
class FakePaystack:
    """Paystack's transactions and refunds, remembering every kobo that moved."""

    router: respx.MockRouter
    # How the next refund goes: ok | timeout_after_refund | error_after_refund | unreachable
    refund_mode: str = "ok"
    verify_mode: str = "ok"
    # What Paystack says of issued refunds when asked later.
    refund_status: str = "pending"
    transactions: dict[str, Transaction] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(7_000_000))

    def __post_init__(self) -> None:
        self.initialize = self.router.post(f"{PAYSTACK}/transaction/initialize").mock(
            side_effect=self._initialize
        )
        self.verify = self.router.get(url__regex=rf"{PAYSTACK}/transaction/verify/.+").mock(
            side_effect=self._verify
        )
        self.refund = self.router.post(f"{PAYSTACK}/refund").mock(side_effect=self._refund)
        self.refund_list = self.router.get(url__regex=rf"{PAYSTACK}/refund\?.+").mock(
            side_effect=self._list_refunds
        )
        self.refund_get = self.router.get(url__regex=rf"{PAYSTACK}/refund/\d+$").mock(
            side_effect=self._get_refund
        )

    # --- What the traveller does ------------------------------------------------------------

    def pay(self, reference: str) -> None:
        transaction = self.transactions[reference]
        if transaction.status in ("pending", "failed"):
            # Paystack lets a traveller try again on the same checkout after a decline.
            transaction.status = "success"

    def decline(self, reference: str) -> None:
        transaction = self.transactions[reference]
        if transaction.status == "pending":
            transaction.status = "failed"

    def charge_success(self, reference: str) -> tuple[bytes, str]:
        """The signed `charge.success` webhook Paystack sends once a transaction is paid."""
        transaction = self.transactions[reference]
        event = copy.deepcopy(upstream_fixture("paystack_charge_success_event.json"))
        event["data"].update(
            reference=reference, amount=transaction.amount, currency=transaction.currency
        )
        body = json.dumps(event).encode()
        return body, sign(body)

    def refund_event(self, reference: str, kind: str) -> tuple[bytes, str]:
        """A signed `refund.processed`/`refund.failed` webhook for the transaction's refund."""
        refund = self.transactions[reference].refunds[-1]
        status = kind.removeprefix("refund.")
        refund["status"] = status
        event = copy.deepcopy(upstream_fixture("paystack_refund_processed_event.json"))
        event["event"] = kind
        event["data"].update(
            status=status,
            transaction_reference=reference,
            refund_reference=str(refund["id"]),
            amount=refund["amount"],
            currency=refund["currency"],
        )
        body = json.dumps(event).encode()
        return body, sign(body)

    # --- The routes -------------------------------------------------------------------------

    def _initialize(self, request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        self.transactions.setdefault(
            sent["reference"],
            Transaction(sent["reference"], int(sent["amount"]), sent["currency"]),
        )
        body = copy.deepcopy(upstream_fixture("paystack_initialize_response.json"))
        body["data"]["reference"] = sent["reference"]
        return httpx.Response(200, json=body)

    def _verify(self, request: httpx.Request) -> httpx.Response:
        if self.verify_mode == "fail":
            return httpx.Response(503, json={"status": False, "message": "unavailable"})
        reference = request.url.path.rsplit("/", 1)[-1]
        transaction = self.transactions.get(reference)
        if transaction is None:
            return httpx.Response(400, json={"status": False, "message": "Transaction not found"})
        body = copy.deepcopy(upstream_fixture("paystack_verify_response.json"))
        status = "success" if transaction.status == "reversed" else transaction.status
        body["data"].update(
            reference=reference,
            amount=transaction.amount,
            currency=transaction.currency,
            status=status,
        )
        return httpx.Response(200, json=body)

    def _refund(self, request: httpx.Request) -> httpx.Response:
        if self.refund_mode == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        sent = json.loads(request.content)
        transaction = self.transactions[sent["transaction"]]
        amount = int(sent.get("amount", transaction.amount - transaction.refunded))
        if transaction.status not in ("success", "reversed"):
            return httpx.Response(
                400, json={"status": False, "message": "Transaction has not been paid"}
            )
        if amount > transaction.amount - transaction.refunded:
            return httpx.Response(
                400, json={"status": False, "message": "Refund amount exceeds transaction"}
            )
        body = copy.deepcopy(upstream_fixture("paystack_refund_response.json"))
        body["data"].update(
            id=next(self._ids),
            amount=amount,
            currency=transaction.currency,
            merchant_note=sent.get("merchant_note"),
            status="pending",
        )
        body["data"]["transaction"]["reference"] = transaction.reference
        transaction.refunds.append(copy.deepcopy(body["data"]))
        if transaction.refunded == transaction.amount:
            transaction.status = "reversed"
        if self.refund_mode == "timeout_after_refund":
            raise httpx.ReadTimeout("paystack took too long", request=request)
        if self.refund_mode == "error_after_refund":
            return httpx.Response(500, json={"status": False, "message": "server error"})
        return httpx.Response(200, json=body)

    def _listed(self, refund: dict[str, Any]) -> dict[str, Any]:
        item = {**refund, "status": refund.get("status") or self.refund_status}
        if item["status"] == "pending":
            item["status"] = self.refund_status
        # Listed and fetched refunds name their transaction by numeric id.
        item["transaction"] = refund["transaction"]["id"]
        return item

    def _list_refunds(self, request: httpx.Request) -> httpx.Response:
        transaction = self.transactions.get(request.url.params["reference"])
        listed = [self._listed(r) for r in (transaction.refunds if transaction else [])]
        return httpx.Response(200, json={"status": True, "message": "ok", "data": listed})

    def _get_refund(self, request: httpx.Request) -> httpx.Response:
        wanted = int(request.url.path.rsplit("/", 1)[-1])
        for transaction in self.transactions.values():
            for refund in transaction.refunds:
                if refund["id"] == wanted:
                    return httpx.Response(
                        200, json={"status": True, "message": "ok", "data": self._listed(refund)}
                    )
        return httpx.Response(404, json={"status": False, "message": "Refund not found"})
