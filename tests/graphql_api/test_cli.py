"""The `sureflights` command as an operator uses it: schema export and refusals to start."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import TESTS

ROOT = TESTS.parent
PRODUCTION_READY = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "ADMIN_PASS": "a-long-admin-password",
    "ALLOW_SANDBOX": "true",
}


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    # The environment is built from scratch so a developer's settings cannot leak in.
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-m", "graphql_api.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_export_schema_prints_the_contract_fields() -> None:
    result = run_cli("export-schema")
    assert result.returncode == 0, result.stderr
    assert "exchangeRate(base: String!, quote: String!): ExchangeRate!" in result.stdout
    assert "convert(amount: Decimal!, from: String!, to: String!): Money!" in result.stdout


def test_committed_schema_matches_the_live_schema() -> None:
    result = run_cli("export-schema", "--check", "schema.graphql")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_with_a_diff_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text(
        (ROOT / "schema.graphql").read_text().replace("rate: Decimal!", "rate: Float!")
    )
    result = run_cli("export-schema", "--check", str(stale))
    assert result.returncode == 1
    assert "-  rate: Float!" in result.stdout
    assert "+  rate: Decimal!" in result.stdout
    assert "is stale" in result.stderr


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"ADMIN_PASS": ""}, "ADMIN_PASS"),
        ({"ALLOW_SANDBOX": "false"}, "sandbox upstreams (duffel, email, fx, paystack, whatsapp)"),
    ],
)
def test_production_refuses_to_start_with_one_clear_line(
    tmp_path: Path, override: dict[str, str], expected: str
) -> None:
    env = {**PRODUCTION_READY, **override}
    env = {k: v for k, v in env.items() if v}
    result = run_cli("serve", "--port", "0", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("refusing to start:")
    assert expected in lines[0]


def test_invalid_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("serve", env={"FX_MARKUP_PERCENT": "lots"}, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip(),
    ]
    assert "FX_MARKUP_PERCENT" in result.stderr


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    from tests.support.helpers import free_port

    port = free_port()
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphql_api.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        cwd=tmp_path,
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, port


def _wait_until_serving(url: str, **client_options: object) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=2, **client_options)  # type: ignore[arg-type]
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_starts_on_embedded_defaults_and_serves_graphiql(tmp_path: Path) -> None:
    process, port = _serve(tmp_path)
    try:
        live = _wait_until_serving(f"http://127.0.0.1:{port}/health/live")
        assert live.json() == {"status": "ok"}
        ide = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"})
        assert ide.status_code == 200
        assert "graphiql" in ide.text.lower()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": '{ exchangeRate(base: "USD", quote: "NGN") { rate source } }'},
        ).json()
        assert "sandbox" in answer["data"]["exchangeRate"]["source"]
        # The embedded default database is a real file under ./var.
        assert (tmp_path / "var" / "sureflights.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_speaks_https_with_a_key_and_certificate(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    process, port = _serve(tmp_path, "--ssl-keyfile", str(key), "--ssl-certfile", str(cert))
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        live = _wait_until_serving(f"https://127.0.0.1:{port}/health/live", verify=trust)
        assert live.status_code == 200
        assert live.url.scheme == "https"
    finally:
        process.terminate()
        process.wait(timeout=15)
