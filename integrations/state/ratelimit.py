"""Fixed-window rate limits: counted in Redis across replicas, or in this process as a fallback."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from integrations.state.cache import CircuitBreaker, ExpiringMap, require_bytes_client
from integrations.state.shared import SharedState


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether one more hit fits in the window, and how long until the window resets if not."""

    allowed: bool
    remaining: int
    retry_after_seconds: float
    # The window's limit and how long until it resets, for `RateLimit-*` response headers.
    limit: int = 0
    reset_seconds: float = 0.0


_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3_600,
    "hour": 3_600,
    "hours": 3_600,
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
}
_POLICY = re.compile(r"^\s*(\d+)\s*/\s*(\d+)?\s*([a-z]+)\s*$")


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """At most `limit` hits per `window_seconds`, written `N/period` (`20/hour`, `5/15min`)."""

    limit: int
    window_seconds: float

    @classmethod
    def parse(cls, text: str) -> RatePolicy:
        """`20/hour`, `100/day`, `5/15min`; ValueError naming what is wrong otherwise."""
        match = _POLICY.match(text.lower())
        unit = _UNITS.get(match.group(3)) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{text!r} is not a rate: write N/period, e.g. 20/hour, 100/day or 5/15min"
            )
        limit, count = int(match.group(1)), int(match.group(2) or 1)
        if limit < 1 or count < 1:
            raise ValueError(f"{text!r}: the count and the period must be at least 1")
        return cls(limit=limit, window_seconds=float(count * unit))

    def __str__(self) -> str:
        for name, seconds in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
            if self.window_seconds % seconds == 0:
                count = int(self.window_seconds // seconds)
                return f"{self.limit}/{name}" if count == 1 else f"{self.limit}/{count}{name}s"
        return f"{self.limit}/{self.window_seconds:g}s"


class RateLimiter(Protocol):
    async def hit(
        self, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> RateDecision:
        """Count one hit against `key`; at most `limit` hits are allowed per window.

        A hit may weigh more than one (`cost`, e.g. an operation's estimated cost against a
        budget). A refused hit of cost 1 still counts, so guessing stays bounded; a refused
        hit of a greater cost takes nothing, so a caller near the end of a budget can still
        spend what is left on cheaper requests.
        """
        ...


def _check(limit: int, window_seconds: float, cost: int = 1) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds!r}")
    if cost < 1:
        raise ValueError(f"cost must be at least 1, got {cost}")


def _decide(count: int, limit: int, reset_in_seconds: float, cost: int = 1) -> RateDecision:
    allowed = count <= limit
    # A refused costly hit took nothing: what was left before it is still left.
    spent = count - cost if cost > 1 and not allowed else count
    return RateDecision(
        allowed=allowed,
        remaining=max(0, limit - spent),
        retry_after_seconds=0.0 if allowed else max(reset_in_seconds, 0.001),
        limit=limit,
        reset_seconds=max(reset_in_seconds, 0.0),
    )


# INCRBY, then start the window only when the key has no expiry yet (PEXPIRE ... NX, written so
# it also runs on Redis 6): one script, so a crash between the two cannot leave a counter that
# never expires, and concurrent hits from every replica are counted exactly. A refused hit of a
# cost above one is taken back in the same script (see RateLimiter.hit).
_HIT_SCRIPT = """
local cost = tonumber(ARGV[2])
local count = redis.call('INCRBY', KEYS[1], cost)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if cost > 1 and count > tonumber(ARGV[3]) then
  redis.call('DECRBY', KEYS[1], cost)
end
return {count, ttl}
"""


class RedisRateLimiter:
    """Counters in Redis under `prefix`, so a limit holds across every replica."""

    def __init__(self, redis: Redis, prefix: str = "sf:rl:") -> None:
        self._redis = require_bytes_client(redis)
        self._prefix = prefix
        self._script = self._redis.register_script(_HIT_SCRIPT)

    async def hit(
        self, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> RateDecision:
        _check(limit, window_seconds, cost)
        window_ms = max(1, math.ceil(window_seconds * 1000))
        count, ttl_ms = await self._script(keys=[self._prefix + key], args=[window_ms, cost, limit])
        return _decide(int(count), limit, int(ttl_ms) / 1000, cost)


class MemoryRateLimiter:
    """Counters in this process only: each replica would count separately.

    Bounded by `max_entries`; past it the least recently used counter is forgotten.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        # key -> (hits so far, monotonic time the window ends)
        self._windows: ExpiringMap[tuple[int, float]] = ExpiringMap(max_entries)

    async def hit(
        self, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> RateDecision:
        _check(limit, window_seconds, cost)
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None:
            count, ends_at = cost, now + window_seconds
        else:
            count, ends_at = window[0] + cost, window[1]
        kept = count - cost if cost > 1 and count > limit else count
        self._windows.set(key, (kept, ends_at), ends_at - now)
        return _decide(count, limit, ends_at - now, cost)


class ResilientRateLimiter:
    """Limits counted in Redis, and in this process while Redis is down: a limit still holds
    (per replica) through an outage, and admins can still sign in to see what is happening."""

    def __init__(
        self, primary: RateLimiter, fallback: RateLimiter, breaker: CircuitBreaker
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._breaker = breaker

    async def hit(
        self, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> RateDecision:
        if self._breaker.closed:
            try:
                return await self._primary.hit(
                    key, limit=limit, window_seconds=window_seconds, cost=cost
                )
            except RedisError as error:
                self._breaker.tripped(error)
        return await self._fallback.hit(key, limit=limit, window_seconds=window_seconds, cost=cost)


def rate_limiter_for(shared: SharedState) -> RateLimiter:
    """The limiter that matches the shared state: Redis when there is one (with an in-process
    fallback through outages), else in-process."""
    if shared.redis is not None:
        return ResilientRateLimiter(
            RedisRateLimiter(shared.redis),
            MemoryRateLimiter(),
            CircuitBreaker("Redis rate limits"),
        )
    return MemoryRateLimiter()
