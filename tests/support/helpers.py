"""Helpers for tests: recorded upstream bodies, GraphQL requests, free loopback ports."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

import httpx

TESTS = Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "fixtures" / "upstreams"

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def upstream_fixture(name: str) -> Any:
    """A body recorded from a provider's documentation (tests/fixtures/upstreams/SOURCES.md)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


async def graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RecordedSleeps:
    """Stands in for `asyncio.sleep`, so retry waits are observed instead of spent."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def hang(request: httpx.Request) -> httpx.Response:
    """An upstream that never answers (a respx side effect): the request waits out its read
    timeout, as over a real connection, and fails as httpx then fails it."""
    await asyncio.sleep(request.extensions["timeout"]["read"])
    raise httpx.ReadTimeout("timed out", request=request)


async def unreachable(request: httpx.Request) -> httpx.Response:
    """A host that never accepts the connection (a respx side effect): each attempt waits out
    its connect timeout."""
    await asyncio.sleep(request.extensions["timeout"]["connect"])
    raise httpx.ConnectTimeout("timed out", request=request)
