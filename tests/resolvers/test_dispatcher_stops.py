"""The notification dispatcher stops when it is told to, whatever it is doing then: a gateway
that shuts down while a booking's notices wake the dispatcher must not keep running."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.desk import Desk


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
