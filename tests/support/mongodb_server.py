"""The MongoDB server the tests run against: `MONGODB_TEST_URL` when set, else a local
MongoDB-wire-compatible server (SecantusDB, a single-node replica set on WiredTiger) started on
a free loopback port for the test session and stopped after it.

SecantusDB is a compatibility server for tests on machines where MongoDB cannot be installed;
production targets a MongoDB 7+ replica set or Atlas, and `MONGODB_TEST_URL` runs the same tests
against one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.support.helpers import free_port

START_TIMEOUT_SECONDS = 30.0


@contextlib.contextmanager
def mongodb_server() -> Iterator[str]:
    """A MongoDB URL for the tests; a server started here lives as long as the context."""
    configured = os.environ.get("MONGODB_TEST_URL", "").strip()
    if configured:
        yield configured
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sureflights-mongodb-") as folder:
        log_path = Path(folder) / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "secantus",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--storage-path",
                    str(Path(folder) / "data"),
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            try:
                _wait_until_up(url, server, log_path)
                yield url
            finally:
                server.terminate()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if server.poll() is not None:
            raise RuntimeError(
                f"the MongoDB-compatible server exited: {log_path.read_text(errors='replace')}"
            )
        client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            client.close()


def database_url(server_url: str, name: str) -> str:
    """`server_url` naming the database `name` (the gateway reads it from the URL's path)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def drop_database(server_url: str, name: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(server_url)
    try:
        client.drop_database(name)
    finally:
        client.close()
