"""`sureflights apikey …` and `sureflights admin-token` as an operator runs them."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from graphql_api.settings import DEFAULT_SECRET_KEY, Settings
from resolvers.auth import read_token
from tests.graphql_api.auth import PRODUCTION, SECRET_KEY
from tests.graphql_api.auth.conftest import Cli

KEY = re.compile(r"^sfk_[A-Za-z0-9_-]{43}$")


def _create(sureflights: Cli, name: str) -> tuple[str, str, str]:
    """The key, id and prefix that `apikey create NAME` prints."""
    result = sureflights("apikey", "create", name)
    assert result.returncode == 0, result.stderr
    key, id_line, prefix_line = result.stdout.splitlines()
    assert KEY.match(key)
    assert id_line.startswith("id: ")
    assert prefix_line.startswith("prefix: ")
    assert "cannot be shown again" in result.stderr
    return key, id_line.removeprefix("id: "), prefix_line.removeprefix("prefix: ")


def test_create_list_revoke(sureflights: Cli) -> None:
    key, key_id, prefix = _create(sureflights, "Acme Travel")
    assert prefix == key[:12]

    listed = sureflights("apikey", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "PREFIX", "CREATED", "REVOKED"]
    assert row.split()[:4] == [key_id, "Acme", "Travel", prefix]
    assert row.split()[-1] == "-"
    assert key not in listed.stdout

    revoked = sureflights("apikey", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked API key {key_id}" in revoked.stdout

    after = sureflights("apikey", "list").stdout.splitlines()[1]
    revoked_at = datetime.fromisoformat(after.split()[-1])
    assert abs(datetime.now(UTC) - revoked_at) < timedelta(minutes=1)

    again = sureflights("apikey", "revoke", key_id)
    assert again.returncode == 0
    assert "already revoked" in again.stdout


def test_revoking_an_unknown_key_exits_1(sureflights: Cli) -> None:
    result = sureflights("apikey", "revoke", "no-such-key")
    assert result.returncode == 1
    assert "no API key with id no-such-key" in result.stderr


def test_only_a_hash_of_the_key_is_stored(sureflights: Cli, settings: Settings) -> None:
    key, _, _ = _create(sureflights, "Globetrotter")
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert key.encode() not in stored
    assert key[:12].encode() in stored  # the prefix, to tell keys apart


def test_list_with_no_keys_says_so(sureflights: Cli) -> None:
    result = sureflights("apikey", "list")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "no API keys" in result.stderr


def test_a_blank_name_is_refused(sureflights: Cli) -> None:
    result = sureflights("apikey", "create", "  ")
    assert result.returncode == 2
    assert "name" in result.stderr


def test_admin_token_prints_only_a_fifteen_minute_admin_token(sureflights: Cli) -> None:
    before = datetime.now(UTC)
    result = sureflights("admin-token")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    claims = read_token(SECRET_KEY, token, now=datetime.now(UTC))
    assert claims.kind == "admin"
    lifetime = claims.expires_at - before
    assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15, seconds=1)

    longer = sureflights("admin-token", "--ttl-minutes", "60")
    claims = read_token(SECRET_KEY, longer.stdout.strip(), now=datetime.now(UTC))
    assert claims.expires_at - before > timedelta(minutes=59)


def test_admin_token_refuses_the_default_key_in_production(sureflights: Cli) -> None:
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": DEFAULT_SECRET_KEY,
        "ADMIN_PASS": str(PRODUCTION["admin_pass"]),
        "ALLOW_SANDBOX": "true",
    }
    result = sureflights("admin-token", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "SECRET_KEY" in result.stderr
