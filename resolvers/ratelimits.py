"""Rate limits of the use cases: one hit against a policy, refused with `RATE_LIMITED`.

The decision of every hit is handed back so the edge can tell clients where they stand
(`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and `Retry-After` when refused).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from integrations.state.ratelimit import RateDecision, RateLimiter, RatePolicy
from resolvers.errors import RateLimited

Record = Callable[[RateDecision], None]


async def enforce(
    limiter: RateLimiter,
    key: str,
    policy: RatePolicy,
    *,
    refusal: str,
    record: Record | None = None,
    cost: int = 1,
) -> RateDecision:
    """Count one hit of `key` under `policy`; `RateLimited` (with the wait) when over it.

    `refusal` says what was refused, e.g. "too many bookings from this address"; `record`
    receives the decision either way (the request context keeps it for the response headers).
    `cost` is what the hit weighs against the policy's limit (an operation's estimated cost
    against a budget, say); see `RateLimiter.hit`.
    """
    decision = await limiter.hit(
        key, limit=policy.limit, window_seconds=policy.window_seconds, cost=cost
    )
    if record is not None:
        record(decision)
    if not decision.allowed:
        retry_after = max(1, math.ceil(decision.retry_after_seconds))
        raise RateLimited(
            f"{refusal}; try again in {retry_after} seconds",
            decision=decision,
            retryAfterSeconds=retry_after,
        )
    return decision
