"""The gateway on PostgreSQL as operators and clients see it: readiness, the database lost and
back, and refusals to start, each against a real server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.api.test_cli import run_cli
from tests.bookings.test_sandbox_booking import book, sandbox_offer, status
from tests.helpers import free_port
from tests.postgres_server import PrivateServer

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
