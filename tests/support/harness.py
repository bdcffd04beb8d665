"""A live-mode gateway against the fake outside world, with the saga's clock and pause points in
the test's hands: the harness of the money tests (races, faults, restarts, the property test).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from integrations.duffel.webhook import webhook_signature
from resolvers import reconciliation
from resolvers.auth import issue_admin_token
from resolvers.saga import SagaDeps
from tests.support.helpers import graphql, upstream_fixture
from tests.support.saga import PASSENGER, bearer, rates_for_gbp, recorded_offer
from tests.support.world import FakeDuffel, FakePaystack

DUFFEL_WEBHOOK_SECRET = "duffel-webhook-test-secret"

CREATE = """
mutation($input: CreateBookingInput!) {
  createBooking(input: $input) { accessToken booking { reference status airlineReference } }
}
"""
PAY = "mutation($ref: ID!) { initializePayment(bookingReference: $ref) { reference status } }"
VERIFY = "mutation($ref: ID!) { verifyPayment(reference: $ref) { reference status } }"
CANCEL = "mutation($ref: ID!) { cancelBooking(reference: $ref) { reference status } }"
BOOKING = """
query($ref: ID!) {
  booking(reference: $ref) {
    reference status airlineReference payment { reference status }
  }
}
"""
LEDGER = """
query($ref: ID!) {
  ledger(bookingReference: $ref) {
    bookingReference status checkAt
    balance { captured { amount } kept { amount } refunded { amount } inFlight { amount } }
    captures { paymentReference role reason amount { amount currency } }
    refunds { id paymentReference state reason amount { amount } providerStatus }
    orders { attempt kind state orderId airlineReference flown }
    airlineChanges { id orderId summary }
    disputes { id status event }
    journal { source kind detail }
    violations { kind repairable detail }
  }
}
"""


class SimulatedCrash(Exception):
    """The process stops here: nothing after this point of the saga runs."""


@dataclass
class _Pause:
    remaining: int
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Pauses:
    """The saga's named points, held by the test: pause one (then run another path and let it
    go), or stop the saga there as a crash would."""

    def __init__(self) -> None:
        self._pauses: dict[str, _Pause] = {}
        self._crashes: dict[str, int] = {}
        self.seen: list[tuple[str, str]] = []

    def pause(self, point: str, times: int = 1) -> _Pause:
        self._pauses[point] = _Pause(times)
        return self._pauses[point]

    def crash(self, point: str, times: int = 1) -> None:
        self._crashes[point] = times

    def clear(self) -> None:
        """No more crashes or pauses."""
        self._crashes.clear()
        for pause in self._pauses.values():
            pause.remaining = 0
            pause.release.set()

    async def reached(self, point: str, booking_reference: str) -> None:
        self.seen.append((point, booking_reference))
        if self._crashes.get(point):
            self._crashes[point] -= 1
            raise SimulatedCrash(point)
        pause = self._pauses.get(point)
        if pause is not None and pause.remaining > 0:
            pause.remaining -= 1
            pause.reached.set()
            await pause.release.wait()


class MovableClock:
    """Real time moved on by the test: the saga's deadlines are tried without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass(frozen=True, slots=True)
class Booked:
    reference: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


class World:
    """One gateway (restartable on the same database) and the world it talks to."""

    def __init__(self, settings: Settings, router: respx.MockRouter, *, hold: bool) -> None:
        self.settings = settings
        self.router = router
        self.clock = MovableClock()
        self.pauses = Pauses()
        self.duffel = FakeDuffel(router, recorded_offer(instant=not hold))
        self.paystack = FakePaystack(router)
        self.app: Starlette | None = None
        self.http: httpx.AsyncClient | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        token, _ = issue_admin_token(settings.secret_key, now=datetime.now(UTC))
        self.admin = bearer(token)

    # --- The gateway --------------------------------------------------------------------------

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        app = create_app(self.settings, saga_hooks=self.pauses, clock=self.clock)
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        self.http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://test")
        )
        self.app, self._stack = app, stack

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self.app = self.http = self._stack = None

    async def restart(self) -> None:
        """A new process on the same database: nothing in memory survives."""
        await self.stop()
        await self.start()

    @property
    def deps(self) -> SagaDeps:
        assert self.app is not None
        deps: SagaDeps = self.app.state.services.bookings.deps
        return deps

    @property
    def client(self) -> httpx.AsyncClient:
        assert self.http is not None
        return self.http

    # --- What travellers and operators do -----------------------------------------------------

    async def call(
        self, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = (await graphql(self.client, query, variables, headers)).json()
        return body

    async def ok(
        self, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body = await self.call(query, variables, headers)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def book(self, family_name: str = "Bakare", **headers: str) -> Booked:
        passenger = {**PASSENGER, "familyName": family_name}
        variables = {
            "input": {"offerId": self.duffel.offer["data"]["id"], "passengers": [passenger]}
        }
        created = (await self.ok(CREATE, variables, headers))["createBooking"]
        return Booked(created["booking"]["reference"], created["accessToken"])

    async def start_payment(self, booked: Booked) -> str:
        data = await self.ok(PAY, {"ref": booked.reference}, booked.headers)
        reference: str = data["initializePayment"]["reference"]
        return reference

    async def paystack_webhook(self, body: bytes, signature: str) -> httpx.Response:
        return await self.client.post(
            "/webhooks/paystack",
            content=body,
            headers={"content-type": "application/json", "x-paystack-signature": signature},
        )

    async def pay(self, payment: str, *, webhook: bool = True) -> None:
        """The traveller pays at Paystack; Paystack's webhook follows (unless it is lost)."""
        self.paystack.pay(payment)
        if webhook:
            response = await self.paystack_webhook(*self.paystack.charge_success(payment))
            assert response.status_code == 200

    async def verify(self, booked: Booked, payment: str) -> dict[str, Any]:
        return await self.call(VERIFY, {"ref": payment}, booked.headers)

    async def cancel(self, booked: Booked) -> dict[str, Any]:
        return await self.call(CANCEL, {"ref": booked.reference}, booked.headers)

    async def booking(self, booked: Booked) -> dict[str, Any]:
        data = await self.ok(BOOKING, {"ref": booked.reference}, booked.headers)
        booking: dict[str, Any] = data["booking"]
        return booking

    async def ledger(self, booked: Booked) -> dict[str, Any]:
        data = await self.ok(LEDGER, {"ref": booked.reference}, self.admin)
        ledger: dict[str, Any] = data["ledger"]
        return ledger

    async def reconcile(self, after: timedelta | None = None) -> reconciliation.ReconcileReport:
        """One reconciler pass, `after` this much time has gone by."""
        if after is not None:
            self.clock.advance(after)
        return await reconciliation.reconcile(self.deps)

    async def settle_down(self, rounds: int = 8) -> None:
        """Let the reconciler run until nothing is due, time moving on as it waits."""
        for _ in range(rounds):
            await self.reconcile(timedelta(minutes=3))

    async def duffel_webhook(
        self, event: dict[str, Any], *, at: float | None = None
    ) -> httpx.Response:
        body = copy.deepcopy(event)
        raw = __import__("json").dumps(body).encode()
        signature = webhook_signature(DUFFEL_WEBHOOK_SECRET, raw, int(at or time.time()))
        return await self.client.post(
            "/webhooks/duffel",
            content=raw,
            headers={"content-type": "application/json", "x-duffel-signature": signature},
        )

    async def deliver_duffel_webhooks(self) -> None:
        """Duffel sends what it owes: order.created / order.creation_failed after a 202."""
        while self.duffel.webhooks:
            owed = self.duffel.webhooks.pop(0)
            event = duffel_event(owed["type"], owed["object"])
            assert (await self.duffel_webhook(event)).status_code == 200

    # --- What is true ------------------------------------------------------------------------

    def money_at_paystack(self, booked: Booked) -> tuple[int, int]:
        """(captured, refunded) in kobo over every transaction of the booking."""
        mine = [t for r, t in self.paystack.transactions.items() if r.startswith(booked.reference)]
        return sum(t.captured for t in mine), sum(t.refunded for t in mine)


_EVENT_IDS = iter(range(1, 10**9))


def duffel_event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A Duffel webhook event, as Duffel's webhooks page shows its envelope."""
    envelope = copy.deepcopy(upstream_fixture("duffel_webhook_event.json"))
    envelope["id"] = f"wev_{next(_EVENT_IDS):010d}test"
    envelope["type"] = kind
    envelope["data"] = {"object": obj}
    return envelope


def live_settings(make_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "duffel_access_token": "duffel_test_placeholder",
        "paystack_secret_key": "sk_test_placeholder_secret",
        "fx_api_url": "https://open.er-api.com/v6",
        "duffel_webhook_secret": DUFFEL_WEBHOOK_SECRET,
        "reconcile_interval_seconds": 0,
        "booking_rate_limit": "1000/hour",
        # Upstream retries wait next to nothing here.
        "upstream_retry_backoff_seconds": 0.001,
    }
    values.update(overrides)
    return make_settings(**values)


@contextlib.asynccontextmanager
async def running_world(settings: Settings, *, hold: bool = False) -> AsyncIterator[World]:
    with respx.mock(assert_all_called=False) as router:
        router.get("https://open.er-api.com/v6/latest/GBP").respond(200, json=rates_for_gbp())
        world = World(settings, router, hold=hold)
        await world.start()
        try:
            yield world
        finally:
            await world.stop()


def replaced(deps: SagaDeps, **changes: Any) -> SagaDeps:
    return dataclasses.replace(deps, **changes)


@contextlib.asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The gateway on `settings`, started (its lifespan entered), and a client to it over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield app, http
