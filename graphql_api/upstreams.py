"""Every upstream call, watched: one log line, a Sentry span and the metrics, with no personal data.

httpx logs each request's full URL at INFO, and Duffel's order look-ups carry the passenger's
family name in the query string; that logger is kept to warnings (see `observability`) and this
client writes the line instead: method, host, path (never the query), status and duration.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import sentry_sdk

from graphql_api import metrics

log = logging.getLogger("sureflights.upstream")


def _error_kind(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.TransportError):
        return "connection"
    return type(error).__name__


class ObservedClient(httpx.AsyncClient):
    """One provider's pooled client, kept for the life of the process."""

    def __init__(self, provider: str, **options: Any) -> None:
        super().__init__(**options)
        self.provider = provider

    async def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        url = request.url
        where = f"{request.method} {url.host}{url.path}"
        fields: dict[str, object] = {
            "upstream": self.provider,
            "method": request.method,
            "host": url.host,
            "path": url.path,
        }
        started = time.perf_counter()
        with sentry_sdk.start_span(op="http.client", name=where) as span:
            span.set_data("upstream", self.provider)
            span.set_data("http.request.method", request.method)
            try:
                response = await super().send(request, **options)
            except Exception as error:
                seconds = time.perf_counter() - started
                kind = _error_kind(error)
                span.set_status("internal_error")
                metrics.observe_upstream(self.provider, None, seconds, kind)
                log.warning(
                    "upstream call failed",
                    extra={**fields, "error": kind, "duration_ms": round(seconds * 1000, 1)},
                )
                raise
            seconds = time.perf_counter() - started
            status = response.status_code
            span.set_data("http.response.status_code", status)
            if status >= 500:
                span.set_status("internal_error")
        error_kind = "http_5xx" if status >= 500 else "http_429" if status == 429 else None
        metrics.observe_upstream(self.provider, status, seconds, error_kind)
        log.log(
            logging.WARNING if status >= 500 else logging.INFO,
            "upstream call",
            extra={**fields, "status": status, "duration_ms": round(seconds * 1000, 1)},
        )
        return response


def observed_client(
    provider: str, base_url: str, timeout: float, user_agent: str
) -> httpx.AsyncClient:
    """One pooled client per upstream, kept for the life of the process."""
    return ObservedClient(
        provider,
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": user_agent},
    )
