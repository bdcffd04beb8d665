"""What the container is built from: the lock agrees with pyproject.toml, the image listens on
every interface, and compose passes every setting an operator sets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.lock: {line!r} is not pinned with =="
        pins[_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_at_pyprojects_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    assert "sureflights" not in locked
    for requirement in project["dependencies"]:
        name = _name(requirement)
        version = requirement.split("==", 1)[1].split(";")[0].strip()
        assert locked.get(name) == version, f"{name}: pyproject {version}, lock {locked.get(name)}"


def test_the_image_installs_the_lock_and_listens_on_every_interface() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-deps -r requirements.lock" in dockerfile
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", dockerfile, re.M)
    assert 'CMD ["sureflights", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile


def test_compose_passes_the_operators_settings() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    for name in (
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "SENTRY_DSN",
        "SENTRY_ENVIRONMENT",
        "SENTRY_TRACES_SAMPLE_RATE",
        "SMTP_URL",
        "EMAIL_FROM",
        "TERMII_API_KEY",
        "TERMII_SENDER_ID",
        "METRICS_TOKEN",
    ):
        assert re.search(rf"^\s+{name}: \$\{{{name}:-", compose, re.M), name
