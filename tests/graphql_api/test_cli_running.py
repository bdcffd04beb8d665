"""Running `sureflights serve` as an operator does: its version, where it listens, its log lines,
and settings that stop it with one clear line instead of a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.graphql_api.test_cli import PRODUCTION_READY, run_cli
from tests.support.helpers import free_port


def test_version_is_printed() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sureflights, version 0.1.0"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"LOG_LEVEL": "verbose"},
            "setting LOG_LEVEL is invalid: 'verbose' is not a log level (one of DEBUG, INFO, "
            "WARNING, ERROR, CRITICAL)",
        ),
        (
            {"PAYMENT_CURRENCY": "XYZ"},
            "setting PAYMENT_CURRENCY is invalid: 'XYZ' is not a currency Paystack collects in "
            "(one of NGN, GHS, ZAR, KES, USD)",
        ),
        (
            {"PAYMENT_CURRENCY": "EUR"},
            "'EUR' is not a currency Paystack collects in",
        ),
        ({"DATABASE_URL": "oracle://db/x"}, "unsupported DATABASE_URL scheme 'oracle'"),
    ],
)
def test_a_bad_setting_stops_serve_with_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = run_cli("serve", "--port", "0", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("refusing to start: ")
    assert expected in lines[0]


def test_an_unreachable_mongodb_stops_serve_in_bounded_time_with_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = run_cli(
        "serve",
        env={
            "DATABASE_URL": f"mongodb://app:s3cret-pw@127.0.0.1:{port}/sureflights",
            "MONGODB_SERVER_SELECTION_TIMEOUT_SECONDS": "1",
        },
        cwd=tmp_path,
    )
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"refusing to start: mongodb at 127.0.0.1:{port} did not answer "
        "(ServerSelectionTimeoutError)"
    ]
    assert "s3cret-pw" not in result.stderr


def _serve(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    process = subprocess.Popen(
        [sys.executable, "-m", "graphql_api.cli", "serve", "--port", str(port), *args],
        cwd=tmp_path,
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def _wait_until_serving(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if process.poll() is not None:
                _, stderr = process.communicate()
                raise AssertionError(f"serve exited: {stderr}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=15)
    return stderr


def test_postgres_urls_are_accepted(tmp_path: Path, postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    url = "postgres://" + postgres_url.removeprefix("postgresql://")
    process, port = _serve(tmp_path, {"DATABASE_URL": url})
    try:
        ready = _wait_until_serving(f"http://127.0.0.1:{port}/health/ready", process)
        assert ready.status_code == 200, ready.text
        database = ready.json()["dependencies"]["database"]
        assert database["status"] == "ok"
        assert database["backend"] == "postgresql"
    finally:
        _stop(process)


def test_production_logs_are_json_lines_uvicorns_too_on_loopback_by_default(
    tmp_path: Path,
) -> None:
    process, port = _serve(tmp_path, {**PRODUCTION_READY, "DATABASE_URL": "sqlite:///./sf.db"})
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/health/live", process)
        secret_query = '{ exchangeRate(base: "USD", quote: "NGN") { rate } }'
        answered = httpx.get(
            f"http://127.0.0.1:{port}/graphql",
            params={"query": secret_query, "variables": '{"familyName": "Bakare"}'},
        )
        assert answered.status_code == 200
    finally:
        stderr = _stop(process)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines, stderr
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert "color_message" not in line
    loggers = {line["logger"] for line in lines}
    assert {"sureflights", "uvicorn.error", "uvicorn.access"} <= loggers
    # Listening on the loopback only: the container says --host 0.0.0.0 itself.
    running = [line["message"] for line in lines if "Uvicorn running on" in line["message"]]
    assert running == [f"Uvicorn running on http://127.0.0.1:{port} (Press CTRL+C to quit)"]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    graphql = [line for line in access if line["path"] == "/graphql"]
    assert graphql and graphql[0]["method"] == "GET"
    assert graphql[0]["status"] == 200
    assert graphql[0]["request_id"] == answered.headers["x-request-id"]
    assert "Bakare" not in stderr
    assert "exchangeRate" not in stderr
