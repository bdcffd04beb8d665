"""`Idempotency-Key` for mutations: a retry with the same key and input gets the first result.

The key is scoped by caller and mutation, and its record lives in the database, so a Redis flush
or restart forgets nothing (Stripe's rules): the same key and input replays the first result for
72 hours; the same key with another input is a `CONFLICT`, and so is a retry while the first
request still runs. A request that fails lets go of its key, so it may be retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from integrations.state.store import IdempotencyRepository
from resolvers.errors import BadUserInput, Conflict

RESULT_TTL = timedelta(hours=72)
# A claim outlives any request; if its process dies, the key frees itself after this.
RUNNING_TTL = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


def fingerprint(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


async def run_once(
    records: IdempotencyRepository,
    *,
    key: str | None,
    scope: str,
    request: Any,
    run: Callable[[], Awaitable[dict[str, Any]]],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """`run()` once per (scope, key); its JSON-able result is replayed to retries."""
    if key is None:
        return await run()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadUserInput(
            f"The Idempotency-Key header is 1 to {MAX_KEY_LENGTH} characters.",
            field="Idempotency-Key",
        )
    slot = f"{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
    wanted = fingerprint(request)
    held, claimed = await records.claim(slot, fingerprint=wanted, now=clock(), lease=RUNNING_TTL)
    if not claimed:
        if held.fingerprint != wanted:
            raise Conflict(
                "This Idempotency-Key was used with a different input; use a new key.",
                field="Idempotency-Key",
            )
        if held.state != "done" or held.result is None:
            raise Conflict(
                "A request with this Idempotency-Key is still running; retry shortly.",
                field="Idempotency-Key",
            )
        return held.result
    try:
        result = await run()
    except BaseException:
        # A failed attempt changed nothing, so the same key may try again.
        await records.release(slot, fingerprint=wanted)
        raise
    await records.complete(slot, fingerprint=wanted, result=result, now=clock(), ttl=RESULT_TTL)
    return result
