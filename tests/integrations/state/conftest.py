"""Each shared-state suite runs twice: on the in-process fallback and on a real Redis server.

The Redis runs use `REDIS_TEST_URL` (default redis://127.0.0.1:6379/15) with a fresh key prefix
per test, removed afterwards; a Redis that does not answer fails them (CI starts one).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from integrations.state.bus import EventBus, MemoryEventBus, RedisEventBus
from integrations.state.cache import Cache, MemoryCache, RedisCache
from integrations.state.sessions import MemorySessionStore, RedisSessionStore, SessionStore

B = TypeVar("B", bound=EventBus)

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    return REDIS_TEST_URL


@pytest.fixture
def prefix() -> str:
    """A namespace no other test (or concurrent run) uses, for keys and channels alike."""
    return f"sf-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client(prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_TEST_URL)
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        pytest.fail(
            f"Redis at {REDIS_TEST_URL} does not answer: {exc} Start one "
            "(redis-server --port 6379 --save '') or point REDIS_TEST_URL at one.",
            pytrace=False,
        )
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def other_redis_client(redis_client: Redis) -> AsyncIterator[Redis]:
    """A second client with its own connections, standing in for another replica."""
    client = Redis.from_url(REDIS_TEST_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Redis | None:
    """The Redis client for the Redis run of a test, `None` for the in-process run."""
    if request.param == "memory":
        return None
    client: Redis = request.getfixturevalue("redis_client")
    return client


@pytest.fixture
def cache(backend: Redis | None, prefix: str) -> Cache:
    return MemoryCache() if backend is None else RedisCache(backend, prefix=prefix)


@pytest.fixture
def sessions(backend: Redis | None, prefix: str) -> SessionStore:
    return MemorySessionStore() if backend is None else RedisSessionStore(backend, prefix=prefix)


@pytest.fixture
async def closing() -> AsyncIterator[Callable[[B], B]]:
    """Hands back the bus it is given, and closes it when the test ends."""
    buses: list[EventBus] = []

    def close_later(bus: B) -> B:
        buses.append(bus)
        return bus

    yield close_later
    for bus in buses:
        await bus.close()


@pytest.fixture
def make_bus(
    backend: Redis | None, closing: Callable[[EventBus], EventBus]
) -> Callable[..., EventBus]:
    """Builds buses of the backend under test; options go to the constructor."""

    def make(**options: Any) -> EventBus:
        if backend is None:
            return closing(MemoryEventBus(**options))
        return closing(RedisEventBus(backend, **options))

    return make


@pytest.fixture
def bus(make_bus: Callable[..., EventBus]) -> EventBus:
    return make_bus()
