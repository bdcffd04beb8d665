"""`Idempotency-Key` for mutations: a retry with the same key and input gets the first result.

The key is scoped by caller and mutation. While the first request runs, its claim says so and a
concurrent retry is a `CONFLICT`; so is the same key with a different input. Results are kept 72 h.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson

from integrations.idempotency import IdempotencyStore
from resolvers.errors import BadUserInput, Conflict

RESULT_TTL = timedelta(hours=72)
# A claim outlives any request; if its process dies, the key frees itself after this.
RUNNING_TTL = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


def fingerprint(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


async def run_once(
    store: IdempotencyStore,
    *,
    key: str | None,
    scope: str,
    request: Any,
    run: Callable[[], Awaitable[dict[str, Any]]],
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
    claim = orjson.dumps({"state": "running", "input": wanted})
    if not await store.claim(slot, claim, RUNNING_TTL.total_seconds()):
        raw = await store.get(slot)
        if raw is None:  # the first request failed and let go of the key in the meantime
            return await run_once(store, key=key, scope=scope, request=request, run=run)
        held = orjson.loads(raw)
        if held["input"] != wanted:
            raise Conflict(
                "This Idempotency-Key was used with a different input; use a new key.",
                field="Idempotency-Key",
            )
        if held["state"] == "running":
            raise Conflict(
                "A request with this Idempotency-Key is still running; retry shortly.",
                field="Idempotency-Key",
            )
        result: dict[str, Any] = held["result"]
        return result
    try:
        result = await run()
    except BaseException:
        # A failed attempt changed nothing, so the same key may try again.
        await store.release(slot)
        raise
    await store.put(
        slot,
        orjson.dumps({"state": "done", "input": wanted, "result": result}),
        RESULT_TTL.total_seconds(),
    )
    return result
