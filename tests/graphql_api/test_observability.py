"""What leaves the process about a request: masked errors, request ids in logs, Sentry events."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route

from graphql_api.executor import GraphQLExecutor
from graphql_api.http import GraphQLHTTPEndpoint
from graphql_api.middleware import RequestIdMiddleware
from graphql_api.observability import JsonFormatter, RequestIdFilter, _scrub
from tests.support.helpers import graphql


@strawberry.type
class _FailingQuery:
    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("boom at /srv/app/secret_path.py with token sk_live_should_not_leak")


@dataclass
class _Context:
    request_id: str


async def test_unexpected_failure_is_internal_with_the_request_id_and_no_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The HTTP edge serving a schema whose resolver fails in a way nothing expects.
    executor = GraphQLExecutor(strawberry.Schema(query=_FailingQuery))

    async def context_for(request: Request) -> _Context:
        return _Context(request_id=request.scope["state"]["request_id"])

    endpoint = GraphQLHTTPEndpoint(executor, context_for)
    app = Starlette(
        routes=[Route("/graphql", endpoint.endpoint, methods=["GET", "POST"])],
        middleware=[Middleware(RequestIdMiddleware)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await graphql(http, "{ broken }", headers={"X-Request-ID": "req-abc-123"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc-123"
    body = response.json()
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-abc-123"}
    assert error["path"] == ["broken"]
    for leaked in ("boom", ".py", "sk_live", "RuntimeError", "Traceback"):
        assert leaked not in json.dumps(body)
    # The detail goes to the log, under the same request id.
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged
    assert logged[0].request_id == "req-abc-123"
    assert logged[0].exc_info is not None


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "sureflights", "levelno": logging.INFO, "levelname": "INFO", "msg": "hello"}
    )
    record.request_id = "r-1"
    record.upstream = "fx"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello"
    assert line["request_id"] == "r-1"
    assert line["upstream"] == "fx"
    assert line["level"] == "info"


def test_request_id_filter_fills_in_missing_ids() -> None:
    record = logging.makeLogRecord({"msg": "x"})
    assert RequestIdFilter().filter(record)
    assert hasattr(record, "request_id")


def test_sentry_events_lose_bodies_and_secret_headers() -> None:
    event = {
        "request": {
            "data": '{"password": "hunter2"}',
            "cookies": {"session": "s"},
            "headers": {
                "Authorization": "Bearer secret",
                "X-API-Key": "key",
                "x-paystack-signature": "sig",
                "X-Hub-Signature-256": "sha256=abc",
                "Accept": "application/json",
            },
        }
    }
    scrubbed = _scrub(event, {})  # type: ignore[arg-type]
    assert scrubbed is not None
    request = scrubbed["request"]
    assert "data" not in request
    assert "cookies" not in request
    assert request["headers"]["Accept"] == "application/json"
    for name in ("Authorization", "X-API-Key", "x-paystack-signature", "X-Hub-Signature-256"):
        assert request["headers"][name] == "[Filtered]"
