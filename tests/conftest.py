"""Fixtures shared by the API tests: settings isolated from the developer's `.env`, the app with
its lifespan running, an in-process HTTP client and a real uvicorn server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import RecordedSleeps, free_port
from tests.support.mongodb_server import database_url as mongo_database_url
from tests.support.mongodb_server import drop_database, mongodb_server
from tests.support.postgres_server import PrivateServer, RunDatabase, private_server, run_database
from tests.support.redis_server import RedisServer, redis_server
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The backend the app under test stores in: SQLite, unless a test module asks for more
    (`parametrize("database", [...], indirect=True)`)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if database == "postgresql":
        yield str(request.getfixturevalue("postgres_url"))
    elif database == "mongodb":
        server = str(request.getfixturevalue("mongodb_url"))
        name = f"sf_test_{uuid.uuid4().hex[:12]}"
        yield mongo_database_url(server, name)
        drop_database(server, name)
    else:
        yield f"sqlite:///{tmp_path}/sureflights.db"


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            # The sandbox's emails go to the test's own folder, never into the checkout.
            "email_outbox_dir": str(tmp_path / "outbox"),
            # A small pool: the test server is shared with other runs.
            "database_pool_size": 3,
            # Tests that share the Redis server would otherwise use up each other's allowance;
            # the tests of booking limits set their own.
            "booking_rate_limit": "100000/hour",
            "partner_booking_rate_limit": "100000/hour",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings, database: str) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        assert application.state.services.store.kind == database
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The app served by a real uvicorn on a loopback port; yields host:port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    """Retry waits recorded instead of spent."""
    return RecordedSleeps()


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """A MongoDB server for the session: MONGODB_TEST_URL, or a local compatible one started now."""
    with mongodb_server() as url:
        yield url


@pytest.fixture
def unreachable_redis_url() -> str:
    """A Redis URL nothing listens on (a free port, just closed)."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis server for this test alone, to flush, stop and restart."""
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[RunDatabase]:
    """A PostgreSQL database for the session, created now and dropped after it."""
    with run_database() as created:
        yield created


@pytest.fixture
def postgres_url(postgres_database: RunDatabase) -> Iterator[str]:
    """A URL whose connections work in a schema of this test's own, dropped after it."""
    schema = postgres_database.create_schema()
    yield postgres_database.schema_url(schema)
    postgres_database.drop_schema(schema)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivateServer]:
    """A PostgreSQL server of the session's own, which tests may stop and start; it checks
    passwords. Tests leave it running."""
    with private_server() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """A real SMTP server for the test, with what it received."""
    server = SmtpTestServer().start()
    try:
        yield server
    finally:
        server.stop()
