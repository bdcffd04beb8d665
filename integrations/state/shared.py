"""State the replicas share (cache, sessions, event bus): Redis or in-process.

What must not be lost (idempotency records, who to notify, what was paid) is not here: it lives
in the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from integrations.state.bus import EventBus, MemoryEventBus, RedisEventBus
from integrations.state.cache import Cache, CircuitBreaker, MemoryCache, RedisCache, ResilientCache
from integrations.state.sessions import MemorySessionStore, RedisSessionStore, SessionStore

logger = logging.getLogger(__name__)

# Commands fail within seconds when Redis is gone, so readiness and requests answer promptly.
SOCKET_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class SharedState:
    """The shared-state services; in `memory` mode they live in this process (one replica only).

    `redis` is the client behind the Redis implementations (`None` in memory mode), for other
    features that keep state in Redis.
    """

    cache: Cache
    sessions: SessionStore
    bus: EventBus
    mode: Literal["redis", "memory"]
    redis: Redis | None = None
    # The cache without a fallback: for state kept in Redis whose loss must show (the sandbox
    # providers' records). `cache` falls back to this process while Redis is down.
    store: Cache | None = None

    @property
    def shared_store(self) -> Cache:
        return self.store or self.cache

    async def ping(self) -> None:
        """Raise a `redis.exceptions.RedisError` if Redis does not answer; no-op in memory mode."""
        if self.redis is not None:
            await self.redis.ping()

    async def close(self) -> None:
        await self.bus.close()
        if self.redis is not None:
            await self.redis.aclose()


async def open_shared_state(redis_url: str) -> SharedState:
    """Redis implementations for a `redis://` or `rediss://` URL, in-process ones for an empty URL.

    Never fails because Redis is down: `ping()` (readiness) reports it, and operations raise
    redis errors until it answers again.
    """
    url = redis_url.strip()
    if not url:
        return SharedState(
            cache=MemoryCache(),
            sessions=MemorySessionStore(),
            bus=MemoryEventBus(),
            mode="memory",
        )
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("the Redis URL must start with redis:// or rediss://")
    # Options given in the URL's query string take precedence over these defaults.
    redis = Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        # A couple of quick retries ride out a failover blip without stalling requests for long.
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        client_name="sureflights",
    )
    remote = RedisCache(redis)
    state = SharedState(
        cache=ResilientCache(remote, MemoryCache(), CircuitBreaker("Redis cache")),
        store=remote,
        sessions=RedisSessionStore(redis),
        bus=RedisEventBus(
            redis,
            health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
            client_name="sureflights:bus",
            namespace=f"db{redis.connection_pool.connection_kwargs.get('db', 0)}",
        ),
        mode="redis",
        redis=redis,
    )
    try:
        await state.ping()
    except RedisError as exc:
        logger.warning("Redis does not answer yet (%s); readiness reports it until it does", exc)
    return state
