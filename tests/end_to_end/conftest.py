"""Fixtures of the booking tests: a live-mode gateway whose upstreams respx answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.harness import World, live_settings, running_world
from tests.support.saga import (
    BOOKING,
    CREATE,
    DUFFEL,
    DUFFEL_TOKEN,
    PASSENGER,
    PAY,
    PAYSTACK_SECRET,
    PaystackDouble,
    bearer,
    charge_success,
    ok,
    rates_for_gbp,
    recorded_offer,
    sign,
)

# The booking, saga, reconciliation and money tests run on every backend: each one's
# compare-and-set, unique keys and transactions carry the whole saga.
EVERY_DATABASE = (
    "test_sandbox_booking",
    "test_booking_saga",
    "test_reconciliation",
    "test_money_races",
    "test_airline_outcomes",
    "test_ledger",
)
BACKENDS = ["sqlite", "postgresql", "mongodb"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in EVERY_DATABASE and "database" in metafunc.fixturenames:
        metafunc.parametrize("database", BACKENDS, indirect=True)


class Gateway:
    """The app with live Duffel and Paystack clients, both answered by respx."""

    def __init__(self, app: Starlette, http: httpx.AsyncClient, router: respx.MockRouter):
        self.app = app
        self.http = http
        self.paystack = PaystackDouble(router)
        self.router = router
        self.events: list[dict[str, Any]] = []

    def offer(self, *, instant: bool) -> dict[str, Any]:
        offer = recorded_offer(instant=instant)
        self.offer_route = self.router.get(f"{DUFFEL}/air/offers/{offer['data']['id']}").respond(
            200, json=offer
        )
        return offer

    async def book(self, offer: dict[str, Any], **headers: str) -> tuple[str, str, str]:
        data = await ok(
            self.http,
            CREATE,
            {"input": {"offerId": offer["data"]["id"], "passengers": [PASSENGER]}},
            headers,
        )
        created = data["createBooking"]
        token = created["accessToken"]
        paid = await ok(self.http, PAY, {"ref": created["booking"]["reference"]}, bearer(token))
        return created["booking"]["reference"], token, paid["initializePayment"]["reference"]

    async def webhook(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["x-paystack-signature"] = signature
        return await self.http.post("/webhooks/paystack", content=body, headers=headers)

    async def pay(self, payment_reference: str) -> httpx.Response:
        amount, currency = self.paystack.charged[payment_reference]
        body = charge_success(payment_reference, amount, currency)
        return await self.webhook(body, sign(body))

    async def booking(self, reference: str, token: str) -> dict[str, Any]:
        data = await ok(self.http, BOOKING, {"ref": reference}, bearer(token))
        booking: dict[str, Any] = data["booking"]
        return booking


@pytest.fixture
async def gateway(make_settings: Callable[..., Settings], database: str) -> AsyncIterator[Gateway]:
    settings = make_settings(
        duffel_access_token=DUFFEL_TOKEN,
        paystack_secret_key=PAYSTACK_SECRET,
        fx_api_url="https://open.er-api.com/v6",
    )
    app = create_app(settings)
    with respx.mock(assert_all_called=False) as router:
        router.get("https://open.er-api.com/v6/latest/GBP").respond(200, json=rates_for_gbp())
        async with app.router.lifespan_context(app):
            assert app.state.services.store.kind == database
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield Gateway(app, http, router)


@pytest.fixture
async def world(make_settings: Callable[..., Settings]) -> AsyncIterator[World]:
    """A live-mode gateway (instant offers) against the fake Duffel and Paystack."""
    async with running_world(live_settings(make_settings)) as running:
        yield running


@pytest.fixture
async def hold_world(make_settings: Callable[..., Settings]) -> AsyncIterator[World]:
    """The same, selling offers the airline holds until payment."""
    settings = live_settings(make_settings)
    async with running_world(settings, hold=True) as running:
        yield running
