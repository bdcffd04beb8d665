"""Stores for the contract suite: SQLite files, PostgreSQL (see tests/postgres_server.py) and
MongoDB (see tests/mongodb_server.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from integrations.state.store import MongoStore, PostgresStore, SqliteStore, Store

BACKENDS = ["sqlite", "postgresql", "mongodb"]


class StoreOpener:
    """Opens stores on one test database; afterwards closes them and removes the database."""

    def __init__(self, kind: str, tmp_path: Path, url: str = "") -> None:
        self.kind = kind
        self.url = url
        self.sqlite_path = tmp_path / "var" / "sureflights.db"
        self.mongodb_database = f"sureflights_test_{uuid.uuid4().hex[:12]}"
        self._opened: list[Store] = []

    async def open(self) -> Store:
        store: Store
        if self.kind == "sqlite":
            store = await SqliteStore.open(str(self.sqlite_path))
        elif self.kind == "postgresql":
            # A small pool: the test server is shared with other runs.
            store = await PostgresStore.open(self.url, pool_size=4, start_timeout=10)
        else:
            store = await MongoStore.open(self.url, database_name=self.mongodb_database)
        self._opened.append(store)
        return store

    async def clean_up(self) -> None:
        for store in self._opened:
            await store.close()
        if self.kind == "mongodb":
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(self.url)
            try:
                await client.drop_database(self.mongodb_database)
            finally:
                await client.close()
        # The PostgreSQL schema goes with the `postgres_url` fixture.


@pytest.fixture(params=BACKENDS)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreOpener]:
    url = {"mongodb": "mongodb_url", "postgresql": "postgres_url"}.get(request.param)
    store_opener = StoreOpener(request.param, tmp_path, request.getfixturevalue(url) if url else "")
    yield store_opener
    await store_opener.clean_up()


@pytest.fixture
async def store(opener: StoreOpener) -> Store:
    return await opener.open()
