"""The gateway on PostgreSQL as operators and clients see it: readiness, the database lost and
back, and refusals to start, each against a real server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httpx
import pytest
import respx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.end_to_end.conftest import Gateway
from tests.graphql_api.test_cli import run_cli
from tests.support.helpers import REDIS_TEST_URL, free_port
from tests.support.postgres_server import PrivateServer
from tests.support.saga import (
    BOOKING,
    DUFFEL,
    DUFFEL_TOKEN,
    PAYSTACK_SECRET,
    VERIFY,
    bearer,
    charge_success,
    ok,
    recorded_order,
    sign,
)
from tests.support.sandbox_booking import book, sandbox_offer, status

on_postgresql = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@on_postgresql
async def test_readiness_names_the_backend_and_its_pool(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    database = response.json()["dependencies"]["database"]
    assert database["status"] == "ok"
    assert database["backend"] == "postgresql"
    assert database["pool"]["size"] == database["pool"]["max"] == 3
    assert database["pool"]["waiting"] == 0


async def test_a_lost_database_answers_unavailable_and_the_gateway_recovers_on_its_own(
    make_settings: Callable[..., Settings], private_postgres: PrivateServer
) -> None:
    name = private_postgres.create_database()
    settings = make_settings(
        database_url=private_postgres.url(database=name), database_pool_timeout_seconds=1
    )
    app: Starlette = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                offer = await sandbox_offer(client, instant=True)
                reference, token = await book(client, offer)

                private_postgres.stop()
                try:
                    down = await client.post(
                        "/graphql",
                        json={
                            "query": "query($ref: ID!) { booking(reference: $ref) { status } }",
                            "variables": {"ref": reference},
                        },
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    ready_while_down = await client.get("/health/ready")
                finally:
                    private_postgres.start()

                ready_again = await client.get("/health/ready")
                booked_again, _ = await book(client, offer)
                stored = await status(client, reference, token)
    finally:
        private_postgres.drop_database(name)

    (error,) = down.json()["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["message"] == "database is unavailable; try again shortly."
    assert "Traceback" not in down.text
    assert ready_while_down.status_code == 503
    assert ready_while_down.json()["dependencies"]["database"]["status"] == "down"
    assert ready_again.status_code == 200
    assert booked_again != reference
    assert stored["status"] == "PENDING_PAYMENT"


def test_the_gateway_refuses_to_start_in_one_line_while_postgresql_is_down() -> None:
    port = free_port()  # nothing listens there

    result = run_cli(
        "serve",
        "--port",
        str(free_port()),
        env={
            "DATABASE_URL": f"postgresql://app:s3cret-pw@127.0.0.1:{port}/sureflights",
            "DATABASE_START_TIMEOUT_SECONDS": "1",
        },
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"refusing to start: database: PostgreSQL at 127.0.0.1:{port}/sureflights "
        "did not answer within 1 s: "
    )
    assert "s3cret-pw" not in result.stderr


def test_the_gateway_refuses_to_start_in_one_line_with_a_wrong_password(
    private_postgres: PrivateServer,
) -> None:
    url = private_postgres.url(password="not-the-password")

    result = run_cli("serve", "--port", str(free_port()), env={"DATABASE_URL": url})
    listing = run_cli("apikey", "list", env={"DATABASE_URL": url})

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"refusing to start: database: PostgreSQL at 127.0.0.1:{private_postgres.port}/postgres "
        "refused the connection: "
    )
    assert 'password authentication failed for user "admin"' in result.stderr
    assert "not-the-password" not in result.stderr
    assert listing.returncode == 1
    assert listing.stderr.count("\n") == 1
    assert 'password authentication failed for user "admin"' in listing.stderr


@on_postgresql
async def test_two_gateways_sharing_postgresql_and_redis_settle_a_payment_once(
    make_settings: Callable[..., Settings],
) -> None:
    # Two gateways, each with its own pool, caches and event loop tasks, on one database and
    # one Redis, as two replicas run: the same charge.success reaches both three times while a
    # traveller asks the second one to verify.
    # Rates stay in sandbox: the shared Redis may hold the sandbox table another test cached.
    settings = make_settings(
        duffel_access_token=DUFFEL_TOKEN,
        paystack_secret_key=PAYSTACK_SECRET,
        redis_url=REDIS_TEST_URL,
    )
    with respx.mock(assert_all_called=False) as router:
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            apps = [create_app(settings), create_app(settings)]
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))
                clients.append(
                    await stack.enter_async_context(
                        httpx.AsyncClient(
                            transport=httpx.ASGITransport(app=app), base_url="http://test"
                        )
                    )
                )
            first = Gateway(apps[0], clients[0], router)
            offer = first.offer(instant=True)

            async def slow_order(_request: httpx.Request) -> httpx.Response:
                await asyncio.sleep(0.1)
                return httpx.Response(201, json=recorded_order(offer, awaiting_payment=False))

            order = router.post(f"{DUFFEL}/air/orders").mock(side_effect=slow_order)
            reference, token, payment = await first.book(offer)
            body = charge_success(payment, *first.paystack.charged[payment])
            headers = {"content-type": "application/json", "x-paystack-signature": sign(body)}

            deliveries = [
                client.post("/webhooks/paystack", content=body, headers=headers)
                for client in clients
                for _ in range(3)
            ]
            answers = await asyncio.gather(
                *deliveries, ok(clients[1], VERIFY, {"ref": payment}, bearer(token))
            )
            on_second = await ok(clients[1], BOOKING, {"ref": reference}, bearer(token))

    assert [answer.status_code for answer in answers[:-1]] == [200] * 6
    assert order.call_count == 1
    assert on_second["booking"]["status"] == "CONFIRMED"
    assert on_second["booking"]["payment"]["status"] == "SUCCESS"
