"""What the edge tests share: the reference JavaScript clients (installed from their lock file
on first use), run against a gateway on uvicorn, and the gateway's response cache."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from graphql_api.response_cache import ResponseCache
from tests.support.helpers import TESTS

CLIENTS = TESTS / "clients"
NODE_WAIT_SECONDS = 30.0


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """tests/clients with its node_modules, installed once with `npm ci` from the lock file."""
    if not (CLIENTS / "node_modules" / "graphql-sse").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent", "--prefix", str(CLIENTS)],
            check=True,
            timeout=300,
        )
    return CLIENTS


def response_cache(app: Starlette) -> ResponseCache:
    cache: ResponseCache = app.state.response_cache
    return cache


async def run_node(clients: Path, script: str, *args: str) -> list[dict[str, Any]]:
    """Run a client script to its end; the JSON lines it printed."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(clients / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), NODE_WAIT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{script} did not finish") from None
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert lines, f"{script} printed nothing; stderr: {err.decode()[-2000:]}"
    return lines


class NodeStream:
    """A client script still running, read one JSON line at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = NODE_WAIT_SECONDS) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            assert self.process.stderr is not None
            err = await self.process.stderr.read()
            raise AssertionError(f"the client ended early: {err.decode()[-2000:]}")
        line: dict[str, Any] = json.loads(raw)
        return line


@contextlib.asynccontextmanager
async def start_node(clients: Path, script: str, *args: str) -> AsyncIterator[NodeStream]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(clients / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield NodeStream(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
