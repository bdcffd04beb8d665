"""Liveness and readiness as operators and load balancers see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import REDIS_TEST_URL

UPSTREAMS = ("duffel", "paystack", "fx", "whatsapp")


async def _get(app: Starlette, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get(path)


async def test_live_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_names_every_dependency_with_status_and_mode(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    deps = body["dependencies"]
    assert set(deps) == {"database", "redis", "email", "sms", *UPSTREAMS}
    assert deps["database"] == {"status": "ok", "mode": "live", "backend": "sqlite"}
    assert deps["redis"] == {"status": "ok", "mode": "in-process"}
    for name in (*UPSTREAMS, "email"):
        assert deps[name] == {"status": "ok", "mode": "sandbox"}
    assert deps["sms"] == {"status": "ok", "mode": "off"}  # until SMS_NOTIFICATIONS=true
    assert (await client.get("/health")).json() == body


async def test_ready_reports_live_upstreams_when_credentials_are_set(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        duffel_access_token="duffel_test_placeholder",
        fx_api_url="https://open.er-api.com/v6",
        smtp_url="smtps://mailer:secret@smtp.example.com:465",
        sms_notifications=True,
    )
    deps: dict[str, Any] = (await _get(create_app(settings), "/health/ready")).json()[
        "dependencies"
    ]
    assert deps["duffel"]["mode"] == "live"
    assert deps["fx"]["mode"] == "live"
    assert deps["paystack"]["mode"] == "sandbox"
    assert deps["email"]["mode"] == "live"
    assert deps["sms"]["mode"] == "sandbox"  # on, but no Termii key: recorded, not sent


async def test_ready_with_real_redis_reports_it_live(
    make_settings: Callable[..., Settings],
) -> None:
    response = await _get(create_app(make_settings(redis_url=REDIS_TEST_URL)), "/health/ready")
    assert response.status_code == 200
    assert response.json()["dependencies"]["redis"] == {"status": "ok", "mode": "live"}


async def test_ready_is_503_when_configured_redis_is_down(
    make_settings: Callable[..., Settings],
) -> None:
    # Nothing listens on this port: the configured Redis is down.
    settings = make_settings(redis_url="redis://127.0.0.1:6390/0")
    response = await _get(create_app(settings), "/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["dependencies"]["redis"]["status"] == "down"
    assert body["dependencies"]["database"]["status"] == "ok"


async def test_ready_is_503_when_database_is_down(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await app.state.services.store.close()
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["dependencies"]["database"]["status"] == "down"
    # Liveness is about the process, not its dependencies.
    assert (await client.get("/health/live")).status_code == 200
