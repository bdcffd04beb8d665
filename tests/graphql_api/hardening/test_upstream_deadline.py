"""Every Duffel call ends by its deadline, retries included: a hanging upstream answers
UPSTREAM_UNAVAILABLE within UPSTREAM_DEADLINE_SECONDS rather than after every retry's timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import graphql, hang, upstream_fixture

DUFFEL = "https://api.duffel.com"
OFFER = "query($id: ID!) { offer(id: $id) { id totalAmount { amount currency } } }"
OFFER_ID = upstream_fixture("duffel_offer_response.json")["data"]["id"]


@pytest.fixture
async def duffel_client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        duffel_access_token="duffel_test_placeholder_token",
        # Each attempt may wait a second; four of them (and the waits between) take over four.
        upstream_call_timeout_seconds=1.0,
        upstream_deadline_seconds=1.5,
        upstream_retry_backoff_seconds=0.05,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", timeout=30
        ) as http:
            yield http


@respx.mock
async def test_a_hanging_offer_lookup_ends_by_the_deadline(
    duffel_client: httpx.AsyncClient,
) -> None:
    route = respx.get(f"{DUFFEL}/air/offers/{OFFER_ID}").mock(side_effect=hang)
    started = time.monotonic()
    body = (await graphql(duffel_client, OFFER, {"id": OFFER_ID})).json()
    elapsed = time.monotonic() - started
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE", body
    assert body["data"] == {"offer": None}
    # Retried within the deadline (a read is), and over by then: well short of the four
    # seconds the retries' own timeouts add up to.
    assert route.call_count >= 2
    assert elapsed < 3.0, elapsed


@respx.mock
async def test_an_answer_within_the_deadline_after_a_hang_is_used(
    duffel_client: httpx.AsyncClient,
) -> None:
    offer = upstream_fixture("duffel_offer_response.json")
    offer["data"]["expires_at"] = "2099-01-01T00:00:00Z"
    respx.get(f"{DUFFEL}/air/offers/{OFFER_ID}").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=offer)]
    )
    body = (await graphql(duffel_client, OFFER, {"id": OFFER_ID})).json()
    assert "errors" not in body, body
    assert body["data"]["offer"]["id"] == OFFER_ID
