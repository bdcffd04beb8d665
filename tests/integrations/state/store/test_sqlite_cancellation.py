"""A task cancelled while its SQLite transaction is on its way (BEGIN or COMMIT queued on the
connection's thread) leaves no transaction open for the next write to join: what is written
after it is committed, as a second connection to the file sees."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.state.store import open_store


@pytest.mark.parametrize("yields_before_cancel", [0, 1, 2, 3, 5, 8])
async def test_a_cancelled_transaction_leaves_the_writer_clean(
    tmp_path: Path, yields_before_cancel: int
) -> None:
    path = tmp_path / "store.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        now = datetime.now(UTC)
        writing = asyncio.create_task(
            store.conversations.append_messages("2348000000001", [{"text": "hi"}], now)
        )
        for _ in range(yields_before_cancel):
            await asyncio.sleep(0)  # the cancel lands at BEGIN, inside, or at COMMIT
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
        await store.conversations.append_messages("2348000000002", [{"text": "yo"}], now)
        seen = sqlite3.connect(path).execute(
            "SELECT phone FROM conversations WHERE phone = '2348000000002'"
        )
        assert seen.fetchall() == [("2348000000002",)]
    finally:
        await store.close()
