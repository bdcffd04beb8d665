"""Gateways that only queue notifications (NOTIFICATION_DISPATCHER=worker) and a separate
`sureflights notify worker` process that sends them, sharing the database and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from graphql_api.settings import Settings
from tests.support.harness import in_process
from tests.support.helpers import REDIS_TEST_URL, TESTS
from tests.support.sandbox_booking import confirmed_in_the_sandbox
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture
def worker_settings(
    make_settings: Callable[..., Settings], tmp_path: Path, smtp_server: SmtpTestServer
) -> Settings:
    return make_settings(
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        redis_url=REDIS_TEST_URL,
        smtp_url=smtp_server.url,
        notification_dispatcher="worker",
        reconcile_interval_seconds=0,
    )


@pytest.fixture
async def gateway(worker_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(worker_settings) as (_, http):
        yield http


def _start_worker(settings: Settings) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SMTP_URL": settings.smtp_url,
        "RECONCILE_INTERVAL_SECONDS": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "graphql_api.cli", "notify", "worker"],
        env=env,
        cwd=TESTS.parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "notification worker started" in line:
            return process
    raise AssertionError(f"the worker did not start: exit {process.wait()}")


@pytest.fixture
def worker(worker_settings: Settings) -> Iterator[subprocess.Popen[str]]:
    process = _start_worker(worker_settings)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


async def test_the_worker_process_sends_what_the_gateway_queued_once(
    gateway: httpx.AsyncClient, worker: subprocess.Popen[str], smtp_server: SmtpTestServer
) -> None:
    reference = await confirmed_in_the_sandbox(gateway)
    [email] = await smtp_server.wait_for(1)
    await asyncio.sleep(0.5)  # and nothing more follows

    assert reference in email.subject
    assert len(smtp_server.received) == 1
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0  # a clean stop on SIGTERM


async def test_a_gateway_in_worker_mode_sends_nothing_itself(
    gateway: httpx.AsyncClient, smtp_server: SmtpTestServer
) -> None:
    await confirmed_in_the_sandbox(gateway)
    await asyncio.sleep(1.5)  # an in-process dispatcher sends within moments (see above)
    assert smtp_server.received == []
