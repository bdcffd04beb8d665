"""Conversation sessions (JSON objects with a ttl) in Redis, with an in-process fallback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from integrations.state.cache import (
    ExpiringMap,
    as_bytes,
    require_bytes_client,
    require_positive_ttl,
    ttl_milliseconds,
)


class SessionStore(Protocol):
    """A JSON object per session id; what comes back is what JSON keeps (strings, not datetimes)."""

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """The saved data, or `None` when there is none or it has expired."""

    async def save(self, session_id: str, data: Mapping[str, Any], ttl_seconds: float) -> None:
        """Replace the session's data and restart its ttl."""

    async def delete(self, session_id: str) -> None: ...


def _encode(data: Mapping[str, Any]) -> bytes:
    # orjson only serialises real dicts; encoding at save time also freezes the data, so a caller
    # mutating its dict afterwards changes nothing stored, in either implementation.
    return orjson.dumps(data if isinstance(data, dict) else dict(data))


def _decode(raw: bytes, session_id: str) -> dict[str, Any]:
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"session {session_id!r} does not hold a JSON object")
    return data


class RedisSessionStore:
    """Sessions in Redis, so any replica can continue a conversation; keys are under `prefix`."""

    def __init__(self, redis: Redis, prefix: str = "sf:session:") -> None:
        self._redis = require_bytes_client(redis)
        self._prefix = prefix

    async def load(self, session_id: str) -> dict[str, Any] | None:
        raw = as_bytes(await self._redis.get(self._prefix + session_id))
        return None if raw is None else _decode(raw, session_id)

    async def save(self, session_id: str, data: Mapping[str, Any], ttl_seconds: float) -> None:
        require_positive_ttl(ttl_seconds)
        await self._redis.set(
            self._prefix + session_id, _encode(data), px=ttl_milliseconds(ttl_seconds)
        )

    async def delete(self, session_id: str) -> None:
        await self._redis.delete(self._prefix + session_id)


class MemorySessionStore:
    """Sessions in this process only (lost on restart, invisible to other replicas), with expiry.

    Bounded by `max_entries`; past it the least recently used session is forgotten.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: ExpiringMap[bytes] = ExpiringMap(max_entries)

    async def load(self, session_id: str) -> dict[str, Any] | None:
        raw = self._entries.get(session_id)
        return None if raw is None else _decode(raw, session_id)

    async def save(self, session_id: str, data: Mapping[str, Any], ttl_seconds: float) -> None:
        require_positive_ttl(ttl_seconds)
        self._entries.set(session_id, _encode(data), ttl_seconds)

    async def delete(self, session_id: str) -> None:
        self._entries.pop(session_id)
