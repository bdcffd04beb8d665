"""The live exchange-rate provider: ExchangeRate-API's open access endpoint (open.er-api.com)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, NoReturn

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from integrations.ports.errors import UpstreamError, UpstreamUnavailable
from integrations.ports.rates import RateTable, UnknownBaseCurrency, clean_base, with_base
from integrations.retry import RetryPolicy

OPEN_ER_API = "open.er-api.com"

# Unix seconds up to the last second of year 9999, so a bogus timestamp fails validation
# instead of overflowing `datetime.fromtimestamp`.
_MAX_UNIX = 253_402_300_799

_CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
_Rate = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
_Unix = Annotated[int, Field(ge=0, le=_MAX_UNIX)]


class _LatestRates(BaseModel):
    """The part of `GET /v6/latest/{base}` the gateway relies on."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    base_code: _CurrencyCode
    time_last_update_unix: _Unix
    time_next_update_unix: _Unix | None = None
    rates: dict[_CurrencyCode, _Rate]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-finite number {name} in body")


def _parse_latest(code: str, response: httpx.Response) -> RateTable:
    """The table in a non-5xx answer, or the `Upstream*` failure it amounts to."""
    status = response.status_code
    try:
        body: Any = json.loads(
            response.content,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
        )
    except ValueError:
        body = None
    error_type = body.get("error-type") if isinstance(body, dict) else None
    if error_type == "unsupported-code":
        raise UnknownBaseCurrency(code, upstream=OPEN_ER_API)
    if status == 429 or error_type == "rate-limited":
        # The open endpoint asks clients to back off for about twenty minutes, so an
        # immediate retry would only prolong the limit; the last good rates cover the gap.
        raise UpstreamUnavailable(OPEN_ER_API, "rate limited")
    if status != 200:
        raise UpstreamError(OPEN_ER_API, f"HTTP {status}")
    if not isinstance(body, dict):
        raise UpstreamError(OPEN_ER_API, "response body is not a JSON object")
    if body.get("result") != "success":
        raise UpstreamError(OPEN_ER_API, f"result {body.get('result')!r} ({error_type})")
    try:
        latest = _LatestRates.model_validate(body)
    except ValidationError as exc:
        raise UpstreamError(OPEN_ER_API, f"malformed body: {exc.error_count()} errors") from exc
    if latest.base_code != code:
        raise UpstreamError(OPEN_ER_API, f"asked for {code}, got {latest.base_code}")
    next_unix = latest.time_next_update_unix
    return RateTable(
        base=code,
        rates=with_base(latest.rates, code),
        as_of=datetime.fromtimestamp(latest.time_last_update_unix, UTC),
        # The provider writes 0 for "not scheduled".
        next_update=datetime.fromtimestamp(next_unix, UTC) if next_unix else None,
        source=OPEN_ER_API,
    )


class OpenErApiClient:
    """`GET {base_url}/latest/{BASE}` on ExchangeRate-API's open access endpoint (no key)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        timeout: float = 5.0,
        retries: int = 2,
        *,
        backoff_seconds: float = 0.25,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        # Only the backoff is used, uncapped: a rate limit is not retried (see `_parse_latest`).
        self._retry = RetryPolicy(
            max_retries=retries, backoff_seconds=backoff_seconds, max_wait_seconds=math.inf
        )

    async def latest(self, base: str) -> RateTable:
        code = clean_base(base, upstream=OPEN_ER_API)
        url = f"{self._base_url}/latest/{code}"
        retried = 0
        while True:
            try:
                response = await self._fetch(url)
            except UpstreamUnavailable:
                if retried == self._retry.max_retries:
                    raise
                await self._retry.sleep(self._retry.backoff(retried))
                retried += 1
                continue
            return _parse_latest(code, response)

    async def _fetch(self, url: str) -> httpx.Response:
        """One GET; raises `UpstreamUnavailable` for the failures worth retrying."""
        try:
            response = await self._http.get(
                url, timeout=self._timeout, headers={"Accept": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailable(OPEN_ER_API, f"timed out after {self._timeout}s") from exc
        except httpx.TransportError as exc:
            detail = f"connection failed ({type(exc).__name__})"
            raise UpstreamUnavailable(OPEN_ER_API, detail) from exc
        except httpx.DecodingError as exc:
            # A body whose content encoding is broken (bad gzip) is the provider's malformed answer.
            raise UpstreamError(OPEN_ER_API, "undecodable response body") from exc
        if response.status_code >= 500:
            raise UpstreamUnavailable(OPEN_ER_API, f"HTTP {response.status_code}")
        return response
