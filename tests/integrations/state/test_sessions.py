"""Conversation sessions, on Redis and in-process: JSON round-trip, replacement and expiry."""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import Any

from integrations.state.sessions import SessionStore

SESSION: dict[str, Any] = {
    "state": "collecting_passengers",
    "search": {"origin": "LOS", "destination": "LHR", "adults": 2, "cabin": None},
    "passengers": [{"given_name": "Adaeze", "family_name": "Okafor"}],
    "greeting": "Ẹ kú àárọ̀",
    "total": "1250000.00",
    "confirmed": False,
}


async def test_a_saved_session_loads_back_equal(sessions: SessionStore) -> None:
    await sessions.save("wa:2348012345678", SESSION, ttl_seconds=5)

    assert await sessions.load("wa:2348012345678") == SESSION


async def test_an_unknown_session_loads_as_none(sessions: SessionStore) -> None:
    assert await sessions.load("wa:never-seen") is None


async def test_a_session_expires_after_its_ttl(sessions: SessionStore) -> None:
    await sessions.save("wa:1", SESSION, ttl_seconds=0.2)

    await asyncio.sleep(0.35)

    assert await sessions.load("wa:1") is None


async def test_saving_again_replaces_the_data_and_restarts_the_ttl(sessions: SessionStore) -> None:
    await sessions.save("wa:1", {"state": "searching"}, ttl_seconds=0.6)
    await asyncio.sleep(0.4)

    await sessions.save("wa:1", {"state": "viewing_results"}, ttl_seconds=0.6)
    await asyncio.sleep(0.4)

    assert await sessions.load("wa:1") == {"state": "viewing_results"}


async def test_changing_the_dict_after_saving_does_not_change_the_session(
    sessions: SessionStore,
) -> None:
    data: dict[str, Any] = {"state": "searching", "slots": {"origin": "LOS"}}
    await sessions.save("wa:1", data, ttl_seconds=5)

    data["slots"]["origin"] = "ABV"

    assert await sessions.load("wa:1") == {"state": "searching", "slots": {"origin": "LOS"}}


async def test_any_mapping_can_be_saved(sessions: SessionStore) -> None:
    await sessions.save("wa:1", MappingProxyType({"state": "initial"}), ttl_seconds=5)

    assert await sessions.load("wa:1") == {"state": "initial"}


async def test_a_deleted_session_is_gone(sessions: SessionStore) -> None:
    await sessions.save("wa:1", SESSION, ttl_seconds=5)

    await sessions.delete("wa:1")
    await sessions.delete("wa:never-seen")

    assert await sessions.load("wa:1") is None
