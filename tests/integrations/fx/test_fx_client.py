"""The open.er-api.com client against the recorded provider body, and the bundled sandbox rates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from integrations.fx import OpenErApiClient
from integrations.ports.errors import UpstreamError, UpstreamUnavailable
from integrations.ports.rates import UnknownBaseCurrency
from integrations.sandbox.rates import SandboxRates
from tests.support.helpers import FIXTURES

FX_URL = "https://open.er-api.com/v6"
RECORDED_BYTES = (FIXTURES / "fx_open_er_api_latest.json").read_bytes()
RECORDED: dict[str, Any] = json.loads(RECORDED_BYTES, parse_float=Decimal, parse_int=Decimal)
PUBLISHED = datetime(2024, 8, 19, 0, 2, 31, tzinfo=UTC)
NEXT_PUBLICATION = datetime(2024, 8, 20, 0, 6, 21, tzinfo=UTC)
RETRIES = 2


@pytest.fixture
def provider_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=FX_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[OpenErApiClient]:
    async with httpx.AsyncClient() as http:
        yield OpenErApiClient(http, FX_URL, timeout=0.5, retries=RETRIES, backoff_seconds=0)


def _recorded() -> httpx.Response:
    return httpx.Response(200, content=RECORDED_BYTES, headers={"content-type": "application/json"})


async def test_rates_keep_every_digit_the_provider_published(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    provider_api.get("/latest/USD").mock(return_value=_recorded())

    table = await client.latest("USD")

    assert table.rates["NGN"] == Decimal("1589.504939")
    assert str(table.rates["NGN"]) == "1589.504939"
    assert table.rates["EUR"] == Decimal("0.907539")
    assert table.rates["USD"] == 1
    assert dict(table.rates) == RECORDED["rates"]
    assert all(type(rate) is Decimal for rate in table.rates.values())


async def test_rates_finer_than_a_float_are_not_rounded(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    body = RECORDED_BYTES.replace(b'"NGN":1589.504939', b'"NGN":1589.50493912345678901')
    provider_api.get("/latest/USD").mock(return_value=httpx.Response(200, content=body))

    table = await client.latest("USD")

    assert table.rates["NGN"] == Decimal("1589.50493912345678901")


async def test_table_carries_publication_times_and_source(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    provider_api.get("/latest/USD").mock(return_value=_recorded())

    table = await client.latest("USD")

    assert table.base == "USD"
    assert table.as_of == PUBLISHED
    assert table.next_update == NEXT_PUBLICATION
    assert table.source == "open.er-api.com"


async def test_base_is_sent_upper_case(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    route = provider_api.get("/latest/USD").mock(return_value=_recorded())

    await client.latest(" usd ")

    assert route.call_count == 1


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow")])
async def test_timeouts_are_retried_then_reported_unavailable(
    provider_api: respx.MockRouter, client: OpenErApiClient, failure: Exception
) -> None:
    route = provider_api.get("/latest/USD").mock(side_effect=failure)

    with pytest.raises(UpstreamUnavailable, match="timed out"):
        await client.latest("USD")

    assert route.call_count == RETRIES + 1


async def test_connection_refused_is_unavailable(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    route = provider_api.get("/latest/USD").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(UpstreamUnavailable, match="connection failed"):
        await client.latest("USD")

    assert route.call_count == RETRIES + 1


async def test_a_server_error_then_success_returns_the_rates(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    route = provider_api.get("/latest/USD").mock(
        side_effect=[httpx.Response(500, text="oops"), _recorded()]
    )

    table = await client.latest("USD")

    assert table.rates["NGN"] == Decimal("1589.504939")
    assert route.call_count == 2


async def test_server_errors_every_time_are_unavailable_after_bounded_retries(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    route = provider_api.get("/latest/USD").mock(return_value=httpx.Response(503))

    with pytest.raises(UpstreamUnavailable, match="HTTP 503"):
        await client.latest("USD")

    assert route.call_count == RETRIES + 1


async def test_rate_limit_is_unavailable_without_hammering_the_provider(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    route = provider_api.get("/latest/USD").mock(
        return_value=httpx.Response(429, json={"result": "error", "error-type": "rate-limited"})
    )

    with pytest.raises(UpstreamUnavailable, match="rate limited"):
        await client.latest("USD")

    assert route.call_count == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Bad gateway</html>",
        b"",
        b"[1, 2, 3]",
        b'{"result": "success", "base_code": "USD", "rates": "garbage"}',
        b'{"result": "success", "base_code": "USD", "rates": {"NGN": 1589.5}}',
        b'{"result": "success", "base_code": "USD", "time_last_update_unix": 1724025751,'
        b' "rates": {"NGN": -1}}',
        b'{"result": "success", "base_code": "USD", "time_last_update_unix": 1724025751,'
        b' "rates": {"NGN": NaN}}',
        b'{"result": "success", "base_code": "EUR", "time_last_update_unix": 1724025751,'
        b' "rates": {"NGN": 1.5}}',
        b'{"result": "error", "error-type": "malformed-request"}',
    ],
    ids=[
        "html",
        "empty",
        "not-an-object",
        "rates-not-a-map",
        "no-publication-time",
        "negative-rate",
        "nan-rate",
        "other-base",
        "error-result",
    ],
)
async def test_a_body_we_cannot_use_is_an_upstream_error_without_retry(
    provider_api: respx.MockRouter, client: OpenErApiClient, body: bytes
) -> None:
    route = provider_api.get("/latest/USD").mock(return_value=httpx.Response(200, content=body))

    with pytest.raises(UpstreamError):
        await client.latest("USD")

    assert route.call_count == 1


async def test_unexpected_client_error_is_an_upstream_error(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    provider_api.get("/latest/USD").mock(return_value=httpx.Response(403, text="forbidden"))

    with pytest.raises(UpstreamError, match="HTTP 403"):
        await client.latest("USD")


@pytest.mark.parametrize("status", [200, 404])
async def test_unsupported_base_is_reported_as_unknown_base_currency(
    provider_api: respx.MockRouter, client: OpenErApiClient, status: int
) -> None:
    provider_api.get("/latest/ZZZ").mock(
        return_value=httpx.Response(
            status, json={"result": "error", "error-type": "unsupported-code"}
        )
    )

    with pytest.raises(UnknownBaseCurrency) as raised:
        await client.latest("ZZZ")

    assert raised.value.currency == "ZZZ"
    assert isinstance(raised.value, UpstreamError)


async def test_a_base_that_is_not_a_code_never_reaches_the_provider(
    provider_api: respx.MockRouter, client: OpenErApiClient
) -> None:
    route = provider_api.route().mock(return_value=_recorded())

    with pytest.raises(UnknownBaseCurrency):
        await client.latest("../admin")

    assert route.call_count == 0


async def test_sandbox_table_is_the_bundled_snapshot_and_says_so() -> None:
    table = await SandboxRates().latest("USD")

    assert table.source == "sandbox: bundled reference rates of 2024-08-19"
    assert table.as_of == PUBLISHED
    assert table.next_update is None
    assert dict(table.rates) == RECORDED["rates"]


async def test_sandbox_crosses_rates_for_another_base() -> None:
    table = await SandboxRates().latest("NGN")

    assert table.base == "NGN"
    assert table.rates["NGN"] == 1
    assert table.rates["USD"] == Decimal("0.0006291267019")
    assert table.as_of == PUBLISHED


async def test_sandbox_has_no_rates_for_an_unlisted_base() -> None:
    with pytest.raises(UnknownBaseCurrency):
        await SandboxRates().latest("XCG")
