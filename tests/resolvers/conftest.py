"""The resolver tests' desk: the use cases over a SQLite file of the test's own, no server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.desk import Desk, desk_settings, open_desk


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async with open_desk(desk_settings(str(tmp_path))) as opened:
        yield opened
