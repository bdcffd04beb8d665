"""Live payment updates over WebSocket `/graphql`, with real clients against uvicorn: a traveller
follows their payment, an admin follows every payment, and replicas sharing Redis pass the
changes on to each other. Payments are settled on the sandbox checkout page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from graphql_api.settings import Settings
from tests.support.helpers import REDIS_TEST_URL
from tests.support.live import (
    LEGACY_WS,
    TRANSPORT_WS,
    WAIT_SECONDS,
    GraphQLSocket,
    SandboxTrips,
    admin_headers,
    http_to,
    partner_headers,
    refused,
    serving,
)

PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]

PAYMENT_STATUS = """
subscription($ref: ID!) {
  paymentStatus(reference: $ref) {
    reference bookingReference status bookingStatus paidAt amount { amount currency }
  }
}
"""
PAYMENT_UPDATES = """
subscription { paymentUpdates { reference bookingReference status bookingStatus } }
"""

Update = dict[str, Any]


def bearer_init(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def updates_until(
    socket: GraphQLSocket, op_id: str, field: str, done: Callable[[list[Update]], bool]
) -> list[Update]:
    """Every update of subscription `op_id` until `done` says enough; fails if that takes long."""
    seen: list[Update] = []

    async def collect() -> list[Update]:
        while not done(seen):
            event = await socket.receive(op_id)
            assert event.kind == "next" and not event.errors, event
            assert event.data is not None
            seen.append(event.data[field])
        return seen

    try:
        return await asyncio.wait_for(collect(), WAIT_SECONDS)
    except TimeoutError:
        raise AssertionError(f"gave up waiting; the updates so far: {seen}") from None


async def assert_ended(socket: GraphQLSocket, op_id: str) -> None:
    """Nothing more for a refused subscription but, perhaps, the protocol's `complete`."""
    try:
        while True:
            event = await socket.receive(op_id, timeout=0.3)
            assert event.kind == "complete", event
    except TimeoutError:
        pass


def confirmed(updates: list[Update]) -> bool:
    return bool(updates) and updates[-1]["bookingStatus"] == "CONFIRMED"


@pytest.fixture
async def trips(live_server: str) -> AsyncIterator[SandboxTrips]:
    async with http_to(live_server) as http:
        yield SandboxTrips(http)


# --- paymentStatus: a traveller follows their own payment ------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_payment_status_sends_the_current_state_then_each_change_until_confirmed(
    live_server: str, trips: SandboxTrips, protocol: str
) -> None:
    booked = await trips.book()
    init = bearer_init(booked.token)
    async with GraphQLSocket.connect(live_server, protocol, init) as socket:
        await socket.subscribe("1", PAYMENT_STATUS, {"ref": booked.payment})
        (current,) = await updates_until(socket, "1", "paymentStatus", bool)
        assert current["reference"] == booked.payment
        assert current["bookingReference"] == booked.reference
        assert (current["status"], current["bookingStatus"]) == ("PENDING", "PENDING_PAYMENT")
        assert current["paidAt"] is None

        await trips.settle(str(booked.payment))
        changes = await updates_until(socket, "1", "paymentStatus", confirmed)

    assert {change["status"] for change in changes} == {"SUCCESS"}
    steps = [change["bookingStatus"] for change in changes]
    assert steps[-1] == "CONFIRMED"
    # Never backwards, and never the same state twice.
    order = ["PENDING_PAYMENT", "CONFIRMING", "CONFIRMED"]
    assert steps == sorted(set(steps), key=order.index)
    assert all(change["paidAt"] for change in changes)
    assert all(change["amount"] == current["amount"] for change in changes)


async def test_payment_status_reports_a_declined_payment(
    live_server: str, trips: SandboxTrips
) -> None:
    booked = await trips.book()
    async with GraphQLSocket.connect(live_server, payload=bearer_init(booked.token)) as socket:
        await socket.subscribe("1", PAYMENT_STATUS, {"ref": booked.payment})
        await updates_until(socket, "1", "paymentStatus", bool)
        await trips.settle(str(booked.payment), "decline")
        (declined,) = await updates_until(socket, "1", "paymentStatus", bool)
    assert (declined["status"], declined["bookingStatus"]) == ("FAILED", "PENDING_PAYMENT")
    assert declined["paidAt"] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_payment_status_without_a_token_is_unauthenticated(
    live_server: str, trips: SandboxTrips, protocol: str
) -> None:
    booked = await trips.book()
    async with GraphQLSocket.connect(live_server, protocol) as socket:
        await socket.subscribe("1", PAYMENT_STATUS, {"ref": booked.payment})
        assert await refused(socket, "1", booked.secrets()) == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_payment_status_with_another_bookings_token_is_forbidden(
    live_server: str, trips: SandboxTrips, protocol: str
) -> None:
    booked, other = await trips.book(), await trips.book()
    async with GraphQLSocket.connect(live_server, protocol, bearer_init(other.token)) as socket:
        await socket.subscribe("1", PAYMENT_STATUS, {"ref": booked.payment})
        assert await refused(socket, "1", booked.secrets()) == "FORBIDDEN"
        # Refused, the payment's changes do not reach this connection either.
        await socket.subscribe("2", PAYMENT_STATUS, {"ref": other.payment})
        await updates_until(socket, "2", "paymentStatus", bool)
        await trips.settle(str(booked.payment))
        await trips.settle(str(other.payment))
        changes = await updates_until(socket, "2", "paymentStatus", confirmed)
        assert {change["reference"] for change in changes} == {other.payment}
        await assert_ended(socket, "1")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sixth_subscription_on_a_connection_is_refused(
    live_server: str, trips: SandboxTrips, protocol: str
) -> None:
    booked = await trips.book()
    async with GraphQLSocket.connect(live_server, protocol, bearer_init(booked.token)) as socket:
        for n in range(1, 7):
            await socket.subscribe(str(n), PAYMENT_STATUS, {"ref": booked.payment})
        for n in range(1, 6):
            (current,) = await updates_until(socket, str(n), "paymentStatus", bool)
            assert current["status"] == "PENDING"
        sixth = await socket.receive("6")
        assert sixth.kind == "error"
        assert "limit" in sixth.errors[0]["message"]

        # Ending one makes room for another.
        await socket.stop("1")
        await socket.subscribe("7", PAYMENT_STATUS, {"ref": booked.payment})
        (current,) = await updates_until(socket, "7", "paymentStatus", bool)
        assert current["status"] == "PENDING"


# --- paymentUpdates: an admin follows every payment --------------------------------------------


async def until_live(socket: GraphQLSocket, op_id: str, trips: SandboxTrips) -> None:
    """Returns once `paymentUpdates` delivers, starting fresh payments (each one an update)
    until one arrives: the subscription has no first message to say it is listening."""
    for _ in range(20):
        await trips.book()
        try:
            event = await socket.receive(op_id, timeout=0.5)
        except TimeoutError:
            continue
        assert event.kind == "next" and not event.errors, event
        return
    raise AssertionError("paymentUpdates never delivered an update")


async def assert_admin_sees_both_payments_settled(
    socket: GraphQLSocket, trips: SandboxTrips, settle_on: SandboxTrips
) -> None:
    await socket.subscribe("all", PAYMENT_UPDATES, {})
    await until_live(socket, "all", trips)
    first, second = await trips.book(), await trips.book()
    ours = {first.payment, second.payment}
    for booked in (first, second):
        await settle_on.settle(str(booked.payment))

    def both_confirmed(updates: list[Update]) -> bool:
        done = {u["reference"] for u in updates if u["bookingStatus"] == "CONFIRMED"}
        return ours <= done

    updates = await updates_until(socket, "all", "paymentUpdates", both_confirmed)
    for booked in (first, second):
        mine = [
            (u["status"], u["bookingStatus"]) for u in updates if u["reference"] == booked.payment
        ]
        assert mine[0] == ("PENDING", "PENDING_PAYMENT")
        assert mine[-1] == ("SUCCESS", "CONFIRMED")
        assert {u["bookingReference"] for u in updates if u["reference"] == booked.payment} == {
            booked.reference
        }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_admin_payment_updates_carry_every_bookings_changes(
    live_server: str, trips: SandboxTrips, settings: Settings, protocol: str
) -> None:
    init = {"authorization": admin_headers(settings)["Authorization"]}
    async with GraphQLSocket.connect(live_server, protocol, init) as socket:
        await assert_admin_sees_both_payments_settled(socket, trips, trips)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("caller", "outcome"),
    [("anonymous", "UNAUTHENTICATED"), ("traveller", "FORBIDDEN"), ("partner", "FORBIDDEN")],
)
async def test_payment_updates_is_for_admins_only(
    live_server: str,
    trips: SandboxTrips,
    settings: Settings,
    caller: str,
    outcome: str,
    protocol: str,
) -> None:
    partner = await partner_headers(settings, "Acme Travel")
    booked = await trips.book(partner)
    init = {
        "anonymous": {},
        "traveller": bearer_init(booked.token),
        "partner": {"X-API-Key": partner["X-API-Key"]},
    }[caller]
    async with GraphQLSocket.connect(live_server, protocol, init) as socket:
        await socket.subscribe("all", PAYMENT_UPDATES, {})
        assert await refused(socket, "all", booked.secrets()) == outcome
        await trips.settle(str(booked.payment))
        await assert_ended(socket, "all")


# --- Replicas sharing Redis ------------------------------------------------------------------


@pytest.fixture
async def replicas(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """Two gateways on their own uvicorn servers, sharing one database and the test Redis."""
    settings = make_settings(
        redis_url=REDIS_TEST_URL, database_url=f"sqlite:///{tmp_path}/replicas.db"
    )
    async with serving(settings) as first, serving(settings) as second:
        yield first, second


async def test_payment_settled_on_one_replica_reaches_a_subscriber_on_the_other(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas
    async with http_to(a) as on_a, http_to(b) as on_b:
        booked = await SandboxTrips(on_a).book()
        async with GraphQLSocket.connect(a, payload=bearer_init(booked.token)) as socket:
            await socket.subscribe("1", PAYMENT_STATUS, {"ref": booked.payment})
            (current,) = await updates_until(socket, "1", "paymentStatus", bool)
            assert current["status"] == "PENDING"

            await SandboxTrips(on_b).settle(str(booked.payment))
            changes = await updates_until(socket, "1", "paymentStatus", confirmed)
    assert {change["status"] for change in changes} == {"SUCCESS"}


async def test_admin_on_one_replica_sees_payments_settled_on_the_other(
    replicas: tuple[str, str], make_settings: Callable[..., Settings]
) -> None:
    a, b = replicas
    init = {"authorization": admin_headers(make_settings())["Authorization"]}
    async with (
        http_to(a) as on_a,
        http_to(b) as on_b,
        GraphQLSocket.connect(a, payload=init) as socket,
    ):
        await assert_admin_sees_both_payments_settled(
            socket, SandboxTrips(on_a), SandboxTrips(on_b)
        )
