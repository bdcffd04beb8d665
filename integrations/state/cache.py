"""Byte-value cache shared by replicas through Redis, with an in-process LRU fallback."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

V = TypeVar("V")
_P = ParamSpec("_P")
_T = TypeVar("_T")
_log = logging.getLogger("sureflights.shared_state")


def store_failures_as_upstream(
    upstream: str, *, unknown: bool
) -> Callable[[Callable[_P, Coroutine[Any, Any, _T]]], Callable[_P, Coroutine[Any, Any, _T]]]:
    """For a sandbox provider that keeps its records in the shared cache: when Redis is down the
    provider is unavailable (like the service it stands in for), and a call that writes may or
    may not have taken effect (`unknown`)."""
    from integrations.ports.errors import OutcomeUnknown, UpstreamUnavailable

    def wrap(call: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, Coroutine[Any, Any, _T]]:
        @functools.wraps(call)
        async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                return await call(*args, **kwargs)
            except RedisError as error:
                kind = OutcomeUnknown if unknown else UpstreamUnavailable
                detail = f"records unavailable ({type(error).__name__})"
                raise kind(upstream, detail) from error

        return guarded

    return wrap


class Cache(Protocol):
    """Bytes under string keys, optionally expiring; a miss is `None`."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        """Store `value`; `ttl_seconds=None` keeps it until deleted, a ttl ≤ 0 stores nothing."""

    async def delete(self, key: str) -> None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One value (or `None`) per key, in the order of `keys`."""


def ttl_milliseconds(ttl_seconds: float) -> int:
    """Redis `PX` argument for a ttl, rounded up so a sub-millisecond ttl still expires."""
    return max(1, math.ceil(ttl_seconds * 1000))


def require_positive_ttl(ttl_seconds: float) -> None:
    if not ttl_seconds > 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")


def require_bytes_client(redis: Redis) -> Redis:
    """`redis`, once checked to answer bytes: values here are opaque bytes, not text."""
    if redis.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("the Redis client must be created with decode_responses=False")
    return redis


def as_bytes(value: bytes | str | None) -> bytes | None:
    if isinstance(value, str):
        raise TypeError("Redis answered text: the client decodes responses")
    return value


class RedisCache:
    """Cache in Redis, shared by every replica; keys are namespaced by `prefix`."""

    def __init__(self, redis: Redis, prefix: str = "sf:cache:") -> None:
        self._redis = require_bytes_client(redis)
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        return as_bytes(await self._redis.get(self._prefix + key))

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        if ttl_seconds is None:
            await self._redis.set(self._prefix + key, value)
        elif ttl_seconds > 0:
            await self._redis.set(self._prefix + key, value, px=ttl_milliseconds(ttl_seconds))
        else:
            # Already expired (say, an offer whose deadline has passed): drop any older value too.
            await self.delete(key)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []  # MGET with no keys is a Redis error
        values = await self._redis.mget([self._prefix + k for k in keys])
        return [as_bytes(v) for v in values]


class ExpiringMap(Generic[V]):
    """In-process map whose entries expire (lazily, on `time.monotonic`) and whose size is bounded.

    Past `max_entries` the least recently used entry is evicted. Not shared between processes.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[V, float | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline is not None and deadline <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: V, ttl_seconds: float | None) -> None:
        deadline = None if ttl_seconds is None else time.monotonic() + ttl_seconds
        self._entries[key] = (value, deadline)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def add(self, key: str, value: V, ttl_seconds: float | None) -> bool:
        """Set only when the key is absent or expired; `True` when this call stored the value."""
        if self.get(key) is not None:
            return False
        self.set(key, value, ttl_seconds)
        return True

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)


class MemoryCache:
    """Cache in this process only (not shared between replicas): LRU-bounded, lazily expired."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: ExpiringMap[bytes] = ExpiringMap(max_entries)

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            self._entries.pop(key)
        else:
            self._entries.set(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        self._entries.pop(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._entries.get(k) for k in keys]


class CircuitBreaker:
    """Stops calling a shared service for `open_seconds` after it fails, so requests during an
    outage take the fallback at once instead of each waiting out a timeout."""

    def __init__(self, name: str, open_seconds: float = 5.0) -> None:
        self.name = name
        self.open_seconds = open_seconds
        self._open_until = 0.0

    @property
    def closed(self) -> bool:
        return time.monotonic() >= self._open_until

    def tripped(self, error: Exception) -> None:
        if self.closed:
            _log.warning(
                "%s unavailable (%s); using the in-process fallback for %gs",
                self.name,
                type(error).__name__,
                self.open_seconds,
            )
        self._open_until = time.monotonic() + self.open_seconds


class ResilientCache:
    """A shared cache that degrades instead of failing: while Redis is down, reads and writes go
    to an in-process cache (this replica alone), and Redis is tried again after a pause.

    For data that is only a cache (search results, rates). State that must be shared or kept
    belongs elsewhere: the database, or a store whose failure is reported.
    """

    def __init__(self, primary: Cache, fallback: Cache, breaker: CircuitBreaker) -> None:
        self._primary = primary
        self._fallback = fallback
        self._breaker = breaker

    async def get(self, key: str) -> bytes | None:
        if self._breaker.closed:
            try:
                return await self._primary.get(key)
            except RedisError as error:
                self._breaker.tripped(error)
        return await self._fallback.get(key)

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        if self._breaker.closed:
            try:
                await self._primary.set(key, value, ttl_seconds)
                return
            except RedisError as error:
                self._breaker.tripped(error)
        await self._fallback.set(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        await self._fallback.delete(key)
        if self._breaker.closed:
            try:
                await self._primary.delete(key)
            except RedisError as error:
                self._breaker.tripped(error)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if self._breaker.closed:
            try:
                return await self._primary.get_many(keys)
            except RedisError as error:
                self._breaker.tripped(error)
        return await self._fallback.get_many(keys)
