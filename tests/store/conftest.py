"""Stores for the contract suite: SQLite files, and MongoDB when MONGODB_TEST_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from integrations.store import MongoStore, SqliteStore, Store

MONGODB_TEST_URL = os.environ.get("MONGODB_TEST_URL", "")
NO_MONGODB = "MONGODB_TEST_URL not set: no MongoDB server to run the MongoDB contract tests against"


class StoreOpener:
    """Opens stores on one test database; afterwards closes them and removes the database."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.sqlite_path = tmp_path / "var" / "sureflights.db"
        self.mongodb_database = f"sureflights_test_{uuid.uuid4().hex[:12]}"
        self._opened: list[Store] = []

    async def open(self) -> Store:
        store: Store
        if self.kind == "sqlite":
            store = await SqliteStore.open(str(self.sqlite_path))
        else:
            store = await MongoStore.open(MONGODB_TEST_URL, database_name=self.mongodb_database)
        self._opened.append(store)
        return store

    async def clean_up(self) -> None:
        for store in self._opened:
            await store.close()
        if self.kind == "mongodb":
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGODB_TEST_URL)
            try:
                await client.drop_database(self.mongodb_database)
            finally:
                await client.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("mongodb", marks=pytest.mark.skipif(not MONGODB_TEST_URL, reason=NO_MONGODB)),
    ]
)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreOpener]:
    store_opener = StoreOpener(request.param, tmp_path)
    yield store_opener
    await store_opener.clean_up()


@pytest.fixture
async def store(opener: StoreOpener) -> Store:
    return await opener.open()
