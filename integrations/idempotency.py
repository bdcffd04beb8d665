"""Idempotency keys: claim a key once across replicas (Redis) or within one process (fallback)."""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis

from integrations.cache import (
    ExpiringMap,
    as_bytes,
    require_bytes_client,
    require_positive_ttl,
    ttl_milliseconds,
)


class IdempotencyStore(Protocol):
    """Who got to a key first, and what they recorded under it until the ttl runs out."""

    async def claim(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Store `value` only if `key` is free; of concurrent claims exactly one returns `True`."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Overwrite whatever is stored (typically the final result replacing the claim)."""

    async def release(self, key: str) -> None:
        """Free the key, so a later attempt can claim it again (for example after a failure)."""


class RedisIdempotencyStore:
    """Idempotency keys in Redis (`SET NX PX`), so a claim holds across every replica."""

    def __init__(self, redis: Redis, prefix: str = "sf:idem:") -> None:
        self._redis = require_bytes_client(redis)
        self._prefix = prefix

    async def claim(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        require_positive_ttl(ttl_seconds)
        won = await self._redis.set(
            self._prefix + key, value, px=ttl_milliseconds(ttl_seconds), nx=True
        )
        return bool(won)

    async def get(self, key: str) -> bytes | None:
        return as_bytes(await self._redis.get(self._prefix + key))

    async def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        require_positive_ttl(ttl_seconds)
        await self._redis.set(self._prefix + key, value, px=ttl_milliseconds(ttl_seconds))

    async def release(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class MemoryIdempotencyStore:
    """Idempotency keys in this process only: a claim here does not stop another replica.

    Bounded by `max_entries`; past it the least recently used key is forgotten.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: ExpiringMap[bytes] = ExpiringMap(max_entries)

    async def claim(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        require_positive_ttl(ttl_seconds)
        return self._entries.add(key, value, ttl_seconds)

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        require_positive_ttl(ttl_seconds)
        self._entries.set(key, value, ttl_seconds)

    async def release(self, key: str) -> None:
        self._entries.pop(key)
