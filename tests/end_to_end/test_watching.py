"""Watching a live-mode gateway: logs without personal data, `/metrics`, and Sentry transactions
named by operation with a span per upstream call. Duffel and Paystack are answered by respx."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from graphql_api.app import create_app
from graphql_api.observability import JsonFormatter
from graphql_api.settings import Settings
from tests.end_to_end.conftest import Gateway
from tests.support.saga import (
    CREATE,
    DUFFEL,
    DUFFEL_TOKEN,
    PASSENGER,
    PAYSTACK_SECRET,
    ok,
    rates_for_gbp,
    recorded_order,
)

NAMED_CREATE = CREATE.replace("mutation(", "mutation Book(", 1)


def orders_page(offer: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    order = recorded_order(offer, awaiting_payment=False)["data"]
    order["metadata"] = {"sureflights_correlation_id": correlation_id}
    return {"data": [order], "meta": {"after": None, "before": None, "limit": 50}}


def logged_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in records]


async def test_an_order_look_up_never_logs_the_family_name(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = (await gateway.http.get("/metrics")).text
    offer = gateway.offer(instant=True)
    sent: list[str] = []

    def timing_out(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["x-client-correlation-id"])
        raise httpx.ReadTimeout("the airline took too long", request=request)

    gateway.router.post(f"{DUFFEL}/air/orders").mock(side_effect=timing_out)
    listing = gateway.router.get(f"{DUFFEL}/air/orders").mock(
        side_effect=lambda request: httpx.Response(200, json=orders_page(offer, sent[-1]))
    )
    reference, token, payment = await gateway.book(offer)
    await gateway.pay(payment)
    assert (await gateway.booking(reference, token))["status"] == "CONFIRMED"
    # The look-up did carry the family name to Duffel...
    assert listing.calls.last.request.url.params.get_list("passenger_name[]") == ["Bakare"]
    # ...and nothing logged it, in any field.
    lines = logged_lines(caplog.records)
    assert lines
    text = "\n".join(json.dumps(line) for line in lines)
    assert "Bakare" not in text
    assert "passenger_name" not in text
    # Each upstream call has its own line: method, host, path without the query, status, time.
    looked_up = [
        line
        for line in lines
        if line["message"] == "upstream call" and line.get("path") == "/air/orders"
    ]
    assert looked_up, lines
    assert looked_up[0]["upstream"] == "duffel"
    assert looked_up[0]["method"] == "GET"
    assert looked_up[0]["host"] == "api.duffel.com"
    assert looked_up[0]["status"] == 200
    assert looked_up[0]["duration_ms"] >= 0
    failed = [line for line in lines if line["message"] == "upstream call failed"]
    assert failed[0]["error"] == "timeout"
    assert failed[0]["path"] == "/air/orders"
    # The timed-out order counts as an upstream error of Duffel's.
    after = (await gateway.http.get("/metrics")).text
    errors = {"provider": "duffel", "kind": "timeout"}
    assert (
        scrape(after, "sureflights_upstream_errors_total", **errors)
        - scrape(before, "sureflights_upstream_errors_total", **errors)
        == 1
    )
    assert "Bakare" not in after


def scrape(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus's text format."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        found = ",".join(sorted(re.findall(r'\w+="[^"]*"', label_text.rstrip("}"))))
        if metric == name and found == wanted:
            return float(value)
    return 0.0


async def test_metrics_count_requests_upstreams_states_and_webhook_lag(gateway: Gateway) -> None:
    before = (await gateway.http.get("/metrics")).text
    offer = gateway.offer(instant=True)
    gateway.router.post(f"{DUFFEL}/air/orders").respond(
        201, json=recorded_order(offer, awaiting_payment=False)
    )
    created = await ok(
        gateway.http,
        NAMED_CREATE,
        {"input": {"offerId": offer["data"]["id"], "passengers": [PASSENGER]}},
    )
    booking = created["createBooking"]["booking"]["reference"]
    refused = await gateway.http.post(
        "/graphql", json={"query": "query Broken { nothingHere }", "operationName": "Broken"}
    )
    assert refused.status_code == 200
    response = await gateway.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def grew(name: str, **labels: str) -> float:
        return scrape(text, name, **labels) - scrape(before, name, **labels)

    assert grew("sureflights_graphql_requests_total", operation="mutation Book", outcome="ok") == 1
    assert (
        grew(
            "sureflights_graphql_requests_total",
            operation="query Broken",
            outcome="GRAPHQL_VALIDATION_FAILED",
        )
        == 1
        or grew(
            "sureflights_graphql_requests_total", operation="query Broken", outcome="BAD_USER_INPUT"
        )
        == 1
    )
    # The offer was fetched from Duffel once.
    assert (
        grew("sureflights_upstream_request_duration_seconds_count", provider="duffel", status="2xx")
        >= 1
    )
    # Gauges from the store: this booking waits for its payment.
    assert scrape(text, "sureflights_bookings", status="PENDING_PAYMENT") >= 1

    # Paid through Paystack's signed webhook: the payment moves, and the lag is measured.
    _, _, payment = await gateway.book(offer)
    await gateway.pay(payment)
    after = (await gateway.http.get("/metrics")).text
    assert scrape(after, "sureflights_payments", status="SUCCESS") >= 1
    assert scrape(after, "sureflights_bookings", status="CONFIRMED") >= 1
    lag_count = scrape(after, "sureflights_webhook_lag_seconds_count", provider="paystack")
    assert (
        lag_count - scrape(before, "sureflights_webhook_lag_seconds_count", provider="paystack")
        == 1
    )
    # The recorded event was paid in 2016: far later than a few seconds.
    assert scrape(after, "sureflights_webhook_lag_seconds_sum", provider="paystack") > 86400
    assert booking


class CapturingTransport(Transport):
    """Sentry's envelopes kept in the process instead of being sent."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def transactions(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "transaction" and item.payload.json is not None
        ]


@pytest.fixture
def sentry_off_afterwards() -> Iterator[None]:
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
async def traced(
    make_settings: Callable[..., Settings], sentry_off_afterwards: None
) -> AsyncIterator[tuple[Gateway, CapturingTransport]]:
    settings = make_settings(
        duffel_access_token=DUFFEL_TOKEN,
        paystack_secret_key=PAYSTACK_SECRET,
        fx_api_url="https://open.er-api.com/v6",
        sentry_dsn="https://public@sentry.example/1",
        sentry_traces_sample_rate=1.0,
    )
    transport = CapturingTransport()
    app = create_app(settings, sentry_transport=transport)
    with respx.mock(assert_all_called=False) as router:
        router.get("https://open.er-api.com/v6/latest/GBP").respond(200, json=rates_for_gbp())
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            async with client as http:
                yield Gateway(app, http, router), transport


async def test_sentry_transactions_are_named_by_operation_with_upstream_spans(
    traced: tuple[Gateway, CapturingTransport],
) -> None:
    gateway, transport = traced
    offer = gateway.offer(instant=True)
    response = await gateway.http.post(
        "/graphql",
        json={
            "query": NAMED_CREATE,
            "operationName": "Book",
            "variables": {"input": {"offerId": offer["data"]["id"], "passengers": [PASSENGER]}},
        },
        headers={"X-Request-ID": "req-traced-1"},
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.json()
    sentry_sdk.flush()
    named = [t for t in transport.transactions() if t.get("transaction") == "mutation Book"]
    assert named, [t.get("transaction") for t in transport.transactions()]
    transaction = named[0]
    assert transaction["tags"]["request_id"] == "req-traced-1"
    upstream = [s for s in transaction["spans"] if s.get("op") == "http.client"]
    assert upstream, transaction["spans"]
    fetched = [s for s in upstream if s["description"].startswith("GET api.duffel.com/air/offers/")]
    assert fetched
    assert fetched[0]["data"]["upstream"] == "duffel"
    assert fetched[0]["data"]["http.response.status_code"] == 200
    # No query string, and no passenger, reaches Sentry.
    assert "Bakare" not in json.dumps(transaction)
