"""Fixed-window rate limits, in-process and on a real Redis server (REDIS_TEST_URL, db 15)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from integrations.state.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RatePolicy,
    RedisRateLimiter,
    ResilientRateLimiter,
    rate_limiter_for,
)
from integrations.state.shared import open_shared_state
from tests.support.helpers import REDIS_TEST_URL


@pytest.fixture
def prefix() -> str:
    return f"sf-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client(prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_TEST_URL)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, prefix: str) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter()
    client: Redis = request.getfixturevalue("redis_client")
    return RedisRateLimiter(client, prefix=prefix)


async def test_five_hits_are_allowed_and_the_sixth_refused(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("login:ip:1", limit=5, window_seconds=900) for _ in range(5)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    assert all(d.retry_after_seconds == 0 for d in decisions)

    refused = await limiter.hit("login:ip:1", limit=5, window_seconds=900)
    assert not refused.allowed
    assert refused.remaining == 0
    assert 890 < refused.retry_after_seconds <= 900


async def test_keys_are_counted_apart(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", limit=1, window_seconds=60)).allowed
    assert not (await limiter.hit("a", limit=1, window_seconds=60)).allowed
    assert (await limiter.hit("b", limit=1, window_seconds=60)).allowed


async def test_a_new_window_starts_when_the_last_one_ends(limiter: RateLimiter) -> None:
    assert (await limiter.hit("k", limit=2, window_seconds=0.3)).allowed
    assert (await limiter.hit("k", limit=2, window_seconds=0.3)).allowed
    refused = await limiter.hit("k", limit=2, window_seconds=0.3)
    assert not refused.allowed
    assert 0 < refused.retry_after_seconds <= 0.3
    await asyncio.sleep(0.4)
    again = await limiter.hit("k", limit=2, window_seconds=0.3)
    assert again.allowed
    assert again.remaining == 1


async def test_hits_keep_counting_within_the_window_and_do_not_extend_it(
    limiter: RateLimiter,
) -> None:
    await limiter.hit("k", limit=1, window_seconds=0.5)
    await asyncio.sleep(0.2)
    refused = await limiter.hit("k", limit=1, window_seconds=0.5)
    assert not refused.allowed
    assert refused.retry_after_seconds <= 0.31


async def test_nonsense_limits_are_refused(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="limit"):
        await limiter.hit("k", limit=0, window_seconds=1)
    with pytest.raises(ValueError, match="window"):
        await limiter.hit("k", limit=1, window_seconds=0)


async def test_replicas_share_one_redis_count(redis_client: Redis, prefix: str) -> None:
    replica_a = RedisRateLimiter(redis_client, prefix=prefix)
    other = Redis.from_url(REDIS_TEST_URL)
    try:
        replica_b = RedisRateLimiter(other, prefix=prefix)
        results = await asyncio.gather(
            *(
                (replica_a if i % 2 else replica_b).hit("shared", limit=5, window_seconds=60)
                for i in range(12)
            )
        )
    finally:
        await other.aclose()
    assert sum(d.allowed for d in results) == 5
    # The counter always expires: no hit can leave a key behind for ever.
    ttl_ms = await redis_client.pttl(f"{prefix}shared")
    assert 0 < ttl_ms <= 60_000


async def test_the_limiter_follows_the_shared_state_mode() -> None:
    memory = await open_shared_state("")
    assert isinstance(rate_limiter_for(memory), MemoryRateLimiter)
    shared = await open_shared_state(REDIS_TEST_URL)
    try:
        limiter = rate_limiter_for(shared)
        assert isinstance(limiter, ResilientRateLimiter)
        key = f"mode-{uuid.uuid4().hex}"
        await limiter.hit(key, limit=5, window_seconds=60)
        # Counted in Redis, where another replica sees it.
        assert await shared.redis.get(f"sf:rl:{key}") == b"1"  # type: ignore[union-attr]
    finally:
        await shared.close()
        await memory.close()


async def test_limits_still_hold_in_process_while_redis_is_down(
    unreachable_redis_url: str,
) -> None:
    shared = await open_shared_state(unreachable_redis_url)
    try:
        limiter = rate_limiter_for(shared)
        decisions = [
            await limiter.hit("login:203.0.113.7", limit=2, window_seconds=60) for _ in range(3)
        ]
    finally:
        await shared.close()
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[-1].retry_after_seconds > 0


@pytest.mark.parametrize(
    ("text", "limit", "seconds"),
    [
        ("20/hour", 20, 3600),
        ("20/h", 20, 3600),
        ("100/day", 100, 86400),
        ("5/15min", 5, 900),
        (" 3 / 2 minutes ", 3, 120),
        ("1/second", 1, 1),
    ],
)
def test_rate_policies_are_written_n_per_period(text: str, limit: int, seconds: int) -> None:
    policy = RatePolicy.parse(text)
    assert (policy.limit, policy.window_seconds) == (limit, seconds)
    assert RatePolicy.parse(str(policy)) == policy


@pytest.mark.parametrize("text", ["", "20", "hour", "20/fortnight", "0/hour", "20/0min", "-1/h"])
def test_a_rate_policy_that_is_not_n_per_period_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/period|at least 1"):
        RatePolicy.parse(text)
