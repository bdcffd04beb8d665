"""Fixtures shared by the API tests: settings isolated from the developer's `.env`, the app with
its lifespan running, an in-process HTTP client and a real uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.helpers import RecordedSleeps, free_port
from tests.mongodb_server import mongodb_server
from tests.redis_server import RedisServer, redis_server


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path}/sureflights.db",
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
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
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
