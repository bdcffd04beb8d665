"""Fixtures for the authentication tests: a signing key, and the `sureflights` command run as an
operator runs it, against the same database and `SECRET_KEY` as the app under test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphql_api.settings import Settings
from tests.graphql_api.auth import ADMIN_PASS, SECRET_KEY

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(secret_key=SECRET_KEY, admin_pass=ADMIN_PASS)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes the command read the same settings as `settings`."""
    return {
        "APP_ENV": settings.app_env,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "ADMIN_PASS": settings.admin_pass,
        "ALLOW_SANDBOX": "true" if settings.allow_sandbox else "false",
    }


@pytest.fixture
def sureflights(settings: Settings, tmp_path: Path) -> Cli:
    """Runs `sureflights ARGS` with the app's settings; `env` entries override them."""

    def run(*args: str, env: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        # Built from scratch, and run where no .env lies, so a developer's settings cannot leak.
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        return subprocess.run(
            [sys.executable, "-m", "graphql_api.cli", *args],
            capture_output=True,
            text=True,
            env={**base, **settings_env(settings), **(env or {})},
            cwd=tmp_path,
            timeout=60,
            check=False,
        )

    return run
