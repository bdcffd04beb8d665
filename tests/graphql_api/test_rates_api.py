"""Exchange rates and conversion through GraphQL, sandbox and live (provider served by respx)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.support.helpers import graphql, upstream_fixture

FX_URL = "https://open.er-api.com/v6"
RATE = '{ exchangeRate(base: "USD", quote: "NGN") { base quote rate asOf source } }'
CONVERT = '{ convert(amount: "250", from: "USD", to: "NGN") { amount currency formatted } }'
RECORDED = upstream_fixture("fx_open_er_api_latest.json")


@pytest.fixture
async def live_client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    application: Starlette = create_app(make_settings(fx_api_url=FX_URL))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def _data(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await graphql(http, query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


async def _error(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    body = (await graphql(http, query)).json()
    assert body.get("data") is None, body
    error: dict[str, Any] = body["errors"][0]
    return error


async def test_sandbox_rate_comes_from_the_bundled_table_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    rate = (await _data(client, RATE))["exchangeRate"]
    assert rate["base"] == "USD"
    assert rate["quote"] == "NGN"
    assert Decimal(rate["rate"]) > 100
    assert "sandbox" in rate["source"]
    assert datetime.fromisoformat(rate["asOf"]).tzinfo is not None


async def test_convert_rounds_to_kobo_and_formats_in_naira(client: httpx.AsyncClient) -> None:
    rate = Decimal((await _data(client, RATE))["exchangeRate"]["rate"])
    money = (await _data(client, CONVERT))["convert"]
    expected = (Decimal(250) * rate).quantize(Decimal("0.01"))
    assert money["currency"] == "NGN"
    assert Decimal(money["amount"]) == expected
    assert money["formatted"] == f"₦{expected:,.2f}"


async def test_convert_formats_dollars_conventionally(client: httpx.AsyncClient) -> None:
    query = '{ convert(amount: "250", from: "USD", to: "USD") { amount formatted } }'
    assert (await _data(client, query))["convert"] == {"amount": "250.00", "formatted": "$250.00"}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ('{ exchangeRate(base: "USD", quote: "XYZ") { rate } }', "XYZ"),
        ('{ exchangeRate(base: "ABC", quote: "NGN") { rate } }', "ABC"),
        ('{ convert(amount: "1", from: "QQQ", to: "NGN") { amount } }', "QQQ"),
    ],
)
async def test_unknown_currency_is_bad_user_input_naming_the_code(
    client: httpx.AsyncClient, query: str, named: str
) -> None:
    error = await _error(client, query)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert named in error["message"]


@pytest.mark.parametrize("amount", ['"-5"', '"abc"', '"NaN"', '"Infinity"', "true"])
async def test_negative_or_non_numeric_amount_is_bad_user_input(
    client: httpx.AsyncClient, amount: str
) -> None:
    query = f'{{ convert(amount: {amount}, from: "USD", to: "NGN") {{ amount }} }}'
    error = await _error(client, query)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    # The gateway keeps serving.
    assert (await _data(client, RATE))["exchangeRate"]["quote"] == "NGN"


@respx.mock
async def test_live_rate_uses_the_provider_and_its_publication_time(
    live_client: httpx.AsyncClient,
) -> None:
    route = respx.get(f"{FX_URL}/latest/USD").respond(json=RECORDED)
    rate = (await _data(live_client, RATE))["exchangeRate"]
    assert Decimal(rate["rate"]) == Decimal("1589.504939")
    assert rate["source"] == "open.er-api.com"
    published = datetime.fromtimestamp(RECORDED["time_last_update_unix"], UTC)
    assert datetime.fromisoformat(rate["asOf"]) == published
    # The table is cached per base currency: a conversion needs no second call.
    money = (await _data(live_client, CONVERT))["convert"]
    assert money["amount"] == "397376.23"
    assert money["formatted"] == "₦397,376.23"
    assert route.call_count == 1


@respx.mock
@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (httpx.Response(500, json={"result": "error"}), "UPSTREAM_UNAVAILABLE"),
        (httpx.Response(503, text="maintenance"), "UPSTREAM_UNAVAILABLE"),
        (httpx.ConnectTimeout("timed out"), "UPSTREAM_UNAVAILABLE"),
        (httpx.ReadTimeout("timed out"), "UPSTREAM_UNAVAILABLE"),
        (httpx.Response(200, text="<html>not json</html>"), "UPSTREAM_ERROR"),
        (httpx.Response(200, json={"result": "success", "rates": "garbage"}), "UPSTREAM_ERROR"),
    ],
)
async def test_provider_failure_without_last_good_rates_has_an_upstream_code(
    live_client: httpx.AsyncClient, answer: httpx.Response | Exception, code: str
) -> None:
    route = respx.get(f"{FX_URL}/latest/USD")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer
    error = await _error(live_client, RATE)
    assert error["extensions"]["code"] == code
    assert "Traceback" not in error["message"]
    # The process keeps serving, and recovers as soon as the provider does.
    route.side_effect = None
    route.return_value = httpx.Response(200, json=RECORDED)
    assert (await _data(live_client, RATE))["exchangeRate"]["source"] == "open.er-api.com"
