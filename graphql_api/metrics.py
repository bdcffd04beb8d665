"""What the gateway counts for Prometheus, and `GET /metrics` that serves it.

Counters and histograms live in one registry per process (with `--workers N` each worker keeps
its own: scrape every worker, or run one worker per container). Bookings and payments by state
are counted from the store at each scrape, so every replica reports the same totals.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

log = logging.getLogger("sureflights.metrics")

# Counters' `_created` series only double what a scrape shows.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

# Operation names come from clients: past this many distinct ones, the rest count as "other",
# so a client inventing names cannot grow the series without bound.
MAX_OPERATION_NAMES = 200

GRAPHQL_REQUESTS = Counter(
    "sureflights_graphql_requests",
    "GraphQL requests over HTTP, by operation (`query searchFlights`) and outcome (`ok`, the "
    "first error's code, or `http_<status>` when the request was refused before running).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
UPSTREAM_SECONDS = Histogram(
    "sureflights_upstream_request_duration_seconds",
    "Time to an upstream's response headers, by provider and status class (2xx, 4xx, 5xx, or "
    "`error` when no answer came).",
    ["provider", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "sureflights_upstream_errors",
    "Upstream calls that failed, by provider and kind: timeout, connection, http_429, http_5xx.",
    ["provider", "kind"],
    registry=REGISTRY,
)
BOOKINGS = Gauge(
    "sureflights_bookings", "Bookings in the store, by status.", ["status"], registry=REGISTRY
)
PAYMENTS = Gauge(
    "sureflights_payments", "Payments in the store, by status.", ["status"], registry=REGISTRY
)
RECONCILER_PASSES = Counter(
    "sureflights_reconciler_passes",
    "Reconciliation passes this process ran, by result (ok, failed).",
    ["result"],
    registry=REGISTRY,
)
RECONCILER_REPAIRS = Counter(
    "sureflights_reconciler_repairs",
    "Bookings the reconciler moved on, by the step that was due (the saga's step kinds).",
    ["step"],
    registry=REGISTRY,
)
RECONCILER_LAST_PASS = Gauge(
    "sureflights_reconciler_last_pass_timestamp_seconds",
    "When this process last finished a reconciliation pass (Unix time).",
    registry=REGISTRY,
)
WEBHOOK_LAG = Histogram(
    "sureflights_webhook_lag_seconds",
    "From the provider's event time (Paystack's paid_at, Duffel's created_at) to our handling.",
    ["provider"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 180, 600, 1800, 3600, 21600, 86400),
    registry=REGISTRY,
)

_operations: set[str] = set()


def operation_label(kind: str | None, name: str | None) -> str:
    """`query searchFlights`, `mutation` for an unnamed one, `other` past the bound, `invalid`
    when no operation could be told."""
    if kind is None:
        return "invalid"
    label = f"{kind} {name}" if name else kind
    if label not in _operations:
        if len(_operations) >= MAX_OPERATION_NAMES:
            return f"{kind} other"
        _operations.add(label)
    return label


def count_request(operation: str, outcome: str) -> None:
    GRAPHQL_REQUESTS.labels(operation, outcome).inc()


def observe_upstream(provider: str, status: int | None, seconds: float, error: str | None) -> None:
    status_class = "error" if status is None else f"{status // 100}xx"
    UPSTREAM_SECONDS.labels(provider, status_class).observe(seconds)
    if error is not None:
        UPSTREAM_ERRORS.labels(provider, error).inc()


def observe_reconcile(steps: dict[str, int] | None, *, failed: bool) -> None:
    RECONCILER_PASSES.labels("failed" if failed else "ok").inc()
    for step, count in (steps or {}).items():
        RECONCILER_REPAIRS.labels(step).inc(count)
    RECONCILER_LAST_PASS.set(time.time())


def observe_webhook_lag(provider: str, event_time: Any) -> None:
    """Record how late an event was handled; an event without a readable time is skipped."""
    if not isinstance(event_time, str) or not event_time:
        return
    try:
        moment = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
    except ValueError:
        return
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    WEBHOOK_LAG.labels(provider).observe(max(0.0, (datetime.now(UTC) - moment).total_seconds()))


def _authorized(request: Request) -> bool | None:
    """True to serve, False to ask for the token (401), None to hide the route (404)."""
    settings = request.app.state.settings
    token: str = settings.metrics_token
    if not token:
        return None if settings.is_production else True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


async def metrics(request: Request) -> Response:
    """`GET /metrics`: Prometheus's text format, behind METRICS_TOKEN (see README, Metrics)."""
    allowed = _authorized(request)
    if allowed is None:
        return PlainTextResponse("Not Found", status_code=404)
    if not allowed:
        return JSONResponse(
            {"error": "send Authorization: Bearer <METRICS_TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    store = request.app.state.services.store
    try:
        bookings = await store.bookings.count_by_status()
        payments = await store.payments.count_by_status()
    except Exception:  # the counts go missing from this scrape; the rest is still served
        log.warning("metrics: counting bookings and payments failed", exc_info=True)
    else:
        _set_all(BOOKINGS, bookings)
        _set_all(PAYMENTS, payments)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _set_all(gauge: Gauge, counts: dict[str, int]) -> None:
    gauge.clear()
    for status, count in counts.items():
        gauge.labels(status).set(count)
