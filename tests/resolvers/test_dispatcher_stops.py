"""The notification dispatcher stops when it is told to, whatever it is doing then: a gateway
that shuts down while a booking's notices wake the dispatcher must not keep running."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.desk import Desk, desk_settings, open_desk
from tests.support.helpers import REDIS_TEST_URL


@pytest.mark.parametrize("turns_first", range(8))
async def test_a_cancel_landing_with_a_wake_up_stops_the_dispatcher(
    desk: Desk, turns_first: int
) -> None:
    dispatcher = desk.services.dispatcher
    running = asyncio.create_task(dispatcher.run())
    async with asyncio.timeout(5):
        while not dispatcher._wake._waiters:  # type: ignore[attr-defined]  # into its idle wait
            await asyncio.sleep(0.01)
    # A writer says notices are due at the very moment the gateway stops.
    dispatcher._wake.set()
    for _ in range(turns_first):
        await asyncio.sleep(0)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await running
    assert running.cancelled()


@pytest.mark.parametrize("turns_first", [*range(12), 20, 40])
async def test_a_cancel_while_it_subscribes_to_redis_stops_the_dispatcher(
    tmp_path: Path, turns_first: int
) -> None:
    """Cancelled while its wake-up subscription is still being confirmed by Redis, as when a
    gateway stops moments after it started."""
    settings = desk_settings(str(tmp_path), redis_url=REDIS_TEST_URL)
    async with open_desk(settings) as desk:
        running = asyncio.create_task(desk.services.dispatcher.run())
        for _ in range(turns_first):
            await asyncio.sleep(0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(5):
                await running
