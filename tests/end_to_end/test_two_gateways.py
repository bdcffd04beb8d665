"""Two gateways sharing one PostgreSQL database and one Redis: the money races still end with no
double order and no money kept.

First the race tests of `test_money_races` again, each race run at its worst instant (the saga
paused at a named point), with both replicas on PostgreSQL and a real Redis server instead of
SQLite and in-process state. Then two `sureflights serve` processes, the sandbox's flights,
airline and checkout shared through that Redis, raced over HTTP as two devices would race them,
their reconcilers running every second in both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.settings import Settings
from resolvers.auth import issue_admin_token
from tests.end_to_end.test_money_races import (
    test_a_capture_after_the_booking_was_cancelled_is_refunded,
    test_a_crash_mid_settlement_of_a_cancelled_booking_is_repaired_by_the_sweep,
    test_a_second_transaction_that_captures_is_refunded_and_announced,
    test_cancel_landing_between_settlements_read_and_write_refunds_the_traveller,
    test_expiry_landing_between_settlements_read_and_write_refunds_the_traveller,
    test_payments_started_one_after_another_are_the_same_payment,
    test_settlement_winning_the_race_makes_the_cancel_a_conflict,
    test_three_devices_paying_at_once_open_one_paystack_transaction,
)
from tests.support.harness import LEDGER, World, live_settings, running_world
from tests.support.helpers import free_port, graphql
from tests.support.live import SandboxTrips
from tests.support.redis_server import RedisServer
from tests.support.saga import CANCEL, VERIFY, bearer

# The race tests, collected here a second time with the `world` below.
RACES = (
    test_three_devices_paying_at_once_open_one_paystack_transaction,
    test_payments_started_one_after_another_are_the_same_payment,
    test_a_second_transaction_that_captures_is_refunded_and_announced,
    test_a_capture_after_the_booking_was_cancelled_is_refunded,
    test_cancel_landing_between_settlements_read_and_write_refunds_the_traveller,
    test_expiry_landing_between_settlements_read_and_write_refunds_the_traveller,
    test_settlement_winning_the_race_makes_the_cancel_a_conflict,
    test_a_crash_mid_settlement_of_a_cancelled_booking_is_repaired_by_the_sweep,
)


@pytest.fixture
async def world(
    make_settings: Callable[..., Settings], postgres_url: str, private_redis: RedisServer
) -> AsyncIterator[World]:
    """The races' live-mode world, every replica on one PostgreSQL schema and one Redis."""
    settings = live_settings(make_settings, database_url=postgres_url, redis_url=private_redis.url)
    async with running_world(settings) as running:
        assert running.app is not None
        services = running.app.state.services
        assert (services.store.kind, services.shared.mode) == ("postgresql", "redis")
        yield running


# --- Two processes ------------------------------------------------------------------------------

SECRET_KEY = "two-gateways-" + "k" * 40


@contextlib.contextmanager
def gateway_process(folder: Path, database_url: str, redis_url: str) -> Iterator[str]:
    """`sureflights serve` in a process of its own; yields its base URL once it is live."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": "3",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "RECONCILE_INTERVAL_SECONDS": "1",
        "BOOKING_RATE_LIMIT": "100000/hour",
        "PARTNER_BOOKING_RATE_LIMIT": "100000/hour",
        "EMAIL_OUTBOX_DIR": str(folder / "outbox"),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "graphql_api.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    log = (folder / "gateway.log").open("w")
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (folder / "gateway.log").read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the gateway did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
async def gateways(
    tmp_path: Path, postgres_url: str, private_redis: RedisServer
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of two gateway processes on one PostgreSQL schema and one Redis."""
    with (
        gateway_process(tmp_path / "a", postgres_url, private_redis.url) as a,
        gateway_process(tmp_path / "b", postgres_url, private_redis.url) as b,
    ):
        async with (
            httpx.AsyncClient(base_url=a, timeout=20) as first,
            httpx.AsyncClient(base_url=b, timeout=20) as second,
        ):
            yield first, second


def admin() -> dict[str, str]:
    token, _ = issue_admin_token(SECRET_KEY, now=datetime.now(UTC))
    return bearer(token)


async def ledger(http: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    body = (await graphql(http, LEDGER, {"ref": reference}, admin())).json()
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["ledger"]
    return found


async def settled(http: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    """The booking's ledger once nothing is on its way: no money in flight, no order or refund
    whose outcome is open (the reconcilers of both gateways finish what the race left)."""
    deadline = time.monotonic() + 30
    while True:
        found = await ledger(http, reference)
        open_orders = [o for o in found["orders"] if o["state"] in ("INTENDED", "UNKNOWN")]
        open_refunds = [r for r in found["refunds"] if r["state"] in ("REQUESTED", "UNKNOWN")]
        busy = float(found["balance"]["inFlight"]["amount"]) or open_orders or open_refunds
        if not busy and found["status"] != "CONFIRMING":
            return found
        assert time.monotonic() < deadline, f"still under way: {found}"
        await asyncio.sleep(0.2)


def money(found: dict[str, Any]) -> tuple[int, int, int]:
    """(captured, kept, refunded) in kobo."""
    balance = found["balance"]
    return tuple(  # type: ignore[return-value]
        round(float(balance[k]["amount"]) * 100) for k in ("captured", "kept", "refunded")
    )


def assert_no_double_order_and_no_money_kept(found: dict[str, Any]) -> None:
    assert found["violations"] == [], found["violations"]
    # An instant offer is ordered once: a second attempt would be a second order.
    assert len(found["orders"]) <= 1, found["orders"]
    captured, kept, refunded = money(found)
    if not any(order["flown"] for order in found["orders"]):
        # Nothing was flown for the money: all of it went back.
        assert kept == 0 and captured == refunded, found["balance"]


async def test_payments_started_at_once_on_two_gateways_open_one_transaction(
    gateways: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = gateways
    booked = await SandboxTrips(a).book(start_payment=False)
    start = "mutation($ref: ID!) { initializePayment(bookingReference: $ref) { reference } }"

    answers = await asyncio.gather(
        *(graphql(http, start, {"ref": booked.reference}, booked.headers) for http in (a, b) * 5)
    )

    references = {r.json()["data"]["initializePayment"]["reference"] for r in answers}
    assert len(references) == 1
    assert_no_double_order_and_no_money_kept(await ledger(b, booked.reference))


async def test_paying_while_both_gateways_verify_confirms_with_one_order(
    gateways: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = gateways
    booked = await SandboxTrips(a).book()
    assert booked.payment is not None

    await asyncio.gather(
        SandboxTrips(a).settle(booked.payment),
        *(
            graphql(http, VERIFY, {"ref": booked.payment}, booked.headers)
            for http in (a, b, b, a, b)
        ),
    )

    found = await settled(b, booked.reference)
    assert found["status"] == "CONFIRMED"
    assert [c["role"] for c in found["captures"]] == ["BACKING"]
    assert_no_double_order_and_no_money_kept(found)
    captured, kept, refunded = money(found)
    assert captured == kept > 0 and refunded == 0


async def test_cancelling_on_one_gateway_while_paying_on_the_other_keeps_no_money(
    gateways: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = gateways
    trips = SandboxTrips(a)
    bookings = [await trips.book() for _ in range(4)]

    async def race(index: int) -> None:
        booked = bookings[index]
        assert booked.payment is not None
        payer, canceller = (a, b) if index % 2 else (b, a)
        # The cancel may land first (CANCELLED, the late money refunded) or second (CONFLICT
        # while confirming, or a cancellation of the issued order): either way is fine.
        await asyncio.gather(
            payer.post(f"/sandbox/checkout/{booked.payment}/pay"),
            graphql(canceller, CANCEL, {"ref": booked.reference}, booked.headers),
        )

    await asyncio.gather(*(race(i) for i in range(len(bookings))))

    for index, booked in enumerate(bookings):
        found = await settled((a, b)[index % 2], booked.reference)
        assert found["status"] in ("CONFIRMED", "CANCELLED"), found
        assert_no_double_order_and_no_money_kept(found)
