"""The cache, on Redis and in-process, and opening the shared state from a Redis URL."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from integrations.state.cache import Cache, MemoryCache, RedisCache
from integrations.state.shared import open_shared_state


async def test_get_returns_the_bytes_that_were_set(cache: Cache) -> None:
    await cache.set("search:lagos-london", b"\x00offers\xff")

    assert await cache.get("search:lagos-london") == b"\x00offers\xff"
    assert await cache.get("search:never-cached") is None


async def test_set_replaces_the_previous_value(cache: Cache) -> None:
    await cache.set("rate:USD-NGN", b"1500")
    await cache.set("rate:USD-NGN", b"1510")

    assert await cache.get("rate:USD-NGN") == b"1510"


async def test_value_expires_after_its_ttl_and_one_without_ttl_stays(cache: Cache) -> None:
    await cache.set("short", b"1", ttl_seconds=0.2)
    await cache.set("forever", b"2")
    assert await cache.get("short") == b"1"

    await asyncio.sleep(0.35)

    assert await cache.get("short") is None
    assert await cache.get("forever") == b"2"


async def test_setting_without_ttl_removes_an_earlier_expiry(cache: Cache) -> None:
    await cache.set("offer", b"1", ttl_seconds=0.2)
    await cache.set("offer", b"2")

    await asyncio.sleep(0.35)

    assert await cache.get("offer") == b"2"


async def test_a_ttl_already_past_stores_nothing_and_drops_the_old_value(cache: Cache) -> None:
    await cache.set("offer", b"old")

    await cache.set("offer", b"new", ttl_seconds=0)

    assert await cache.get("offer") is None


async def test_delete_removes_the_value_and_ignores_missing_keys(cache: Cache) -> None:
    await cache.set("search:1", b"x")

    await cache.delete("search:1")
    await cache.delete("search:never-cached")

    assert await cache.get("search:1") is None


async def test_get_many_answers_in_key_order_with_none_for_misses(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("c", b"3")

    assert await cache.get_many(["c", "b", "a"]) == [b"3", None, b"1"]
    assert await cache.get_many([]) == []


async def test_memory_cache_forgets_the_least_recently_used_entry_when_full() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.get("a")  # now "b" is the least recently used

    await cache.set("c", b"3")

    assert await cache.get_many(["a", "b", "c"]) == [b"1", None, b"3"]


async def test_redis_caches_with_different_prefixes_do_not_see_each_other(
    redis_client: Redis, prefix: str
) -> None:
    search = RedisCache(redis_client, prefix=f"{prefix}search:")
    rates = RedisCache(redis_client, prefix=f"{prefix}rates:")

    await search.set("k", b"offers")

    assert await rates.get("k") is None
    assert await redis_client.get(f"{prefix}search:k") == b"offers"


def test_redis_cache_refuses_a_client_that_decodes_responses(redis_url: str) -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisCache(Redis.from_url(redis_url, decode_responses=True))


async def test_shared_state_without_redis_url_runs_in_process() -> None:
    state = await open_shared_state("")
    try:
        await state.ping()
        await state.cache.set("k", b"v")

        assert state.mode == "memory"
        assert await state.cache.get("k") == b"v"
    finally:
        await state.close()


async def test_shared_state_on_redis_lets_one_replica_read_another_replicas_cache(
    redis_url: str, prefix: str, redis_client: Redis
) -> None:
    replica_a = await open_shared_state(redis_url)
    replica_b = await open_shared_state(redis_url)
    try:
        await replica_a.ping()
        await replica_a.cache.set(f"{prefix}search", b"offers", 5)

        assert replica_a.mode == "redis"
        assert await replica_b.cache.get(f"{prefix}search") == b"offers"
    finally:
        await replica_a.close()
        await replica_b.close()
        await redis_client.delete(f"sf:cache:{prefix}search")


async def test_shared_state_opens_while_redis_is_down_and_ping_reports_it(
    unreachable_redis_url: str,
) -> None:
    state = await open_shared_state(unreachable_redis_url)
    try:
        assert state.mode == "redis"
        with pytest.raises(RedisError):
            await state.ping()
        # What is only a cache degrades to this process; what is state says it is gone.
        await state.cache.set("k", b"v", 60)
        assert await state.cache.get("k") == b"v"
        with pytest.raises(RedisError):
            await state.shared_store.get("k")
    finally:
        await state.close()


async def test_shared_state_refuses_a_url_that_is_not_redis() -> None:
    with pytest.raises(ValueError, match="redis://"):
        await open_shared_state("http://127.0.0.1:6379")
