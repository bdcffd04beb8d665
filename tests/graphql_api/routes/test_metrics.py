"""`GET /metrics`: Prometheus's text format, open in development and behind METRICS_TOKEN."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from graphql_api.app import create_app
from graphql_api.settings import Settings


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rpartition(" ")[2])
    return 0.0


async def test_open_in_development_without_a_token(settings: Settings) -> None:
    async with serving(settings) as http:
        await http.post(
            "/graphql",
            json={"query": 'query Rate { exchangeRate(base: "USD", quote: "NGN") { rate } }'},
        )
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE sureflights_graphql_requests_total counter" in response.text
    assert (
        'sureflights_graphql_requests_total{operation="query Rate",outcome="ok"}' in response.text
    )


async def test_hidden_in_production_without_a_token(make_settings: Callable[..., Any]) -> None:
    async with serving(make_settings(app_env="production")) as http:
        response = await http.get("/metrics")
    assert response.status_code == 404
    assert "sureflights" not in response.text


@pytest.mark.parametrize("app_env", ["development", "production"])
async def test_a_token_is_asked_for_when_set(
    make_settings: Callable[..., Any], app_env: str
) -> None:
    async with serving(make_settings(app_env=app_env, metrics_token="scrape-me-123")) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me-123"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "sureflights_graphql_requests" in right.text


async def test_reconciler_passes_are_counted(make_settings: Callable[..., Any]) -> None:
    async with serving(make_settings(reconcile_interval_seconds=0.02)) as http:
        before = value(
            (await http.get("/metrics")).text, 'sureflights_reconciler_passes_total{result="ok"}'
        )
        for _ in range(100):
            await asyncio.sleep(0.02)
            text = (await http.get("/metrics")).text
            if value(text, 'sureflights_reconciler_passes_total{result="ok"}') > before:
                break
    assert value(text, 'sureflights_reconciler_passes_total{result="ok"}') > before
    assert value(text, "sureflights_reconciler_last_pass_timestamp_seconds") > 0
