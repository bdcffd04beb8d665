"""Credentials on WebSocket `/graphql` travel in the `connection_init` payload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import strawberry
import websockets
from starlette.applications import Starlette

from graphql_api.context import RequestContext
from graphql_api.introspection import RestrictIntrospection
from graphql_api.schema import Query, build_schema
from graphql_api.settings import Settings
from integrations.state.store import open_store
from resolvers.access import Caller, CallerKind
from resolvers.auth import create_api_key, issue_admin_token, issue_token
from resolvers.errors import Forbidden
from tests.graphql_api.auth import PRODUCTION, SECRET_KEY

TRANSPORT_WS = "graphql-transport-ws"
RATE_SUBSCRIPTION = """
subscription { exchangeRateUpdates(base: "USD", quote: "NGN", intervalSeconds: 3600) { rate } }
"""
INTROSPECTION = "{ __schema { queryType { name } } }"
WS_INTROSPECTION_RESTRICTED = any(
    extension is RestrictIntrospection for extension in build_schema().extensions
)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**PRODUCTION)


async def _recv(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def _init(ws: Any, payload: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return await _recv(ws)


def _admin_token() -> str:
    return issue_admin_token(SECRET_KEY, now=datetime.now(UTC))[0]


@pytest.mark.parametrize(
    "payload",
    [
        {"authorization": "Bearer sf1.forged.token"},
        {"authorization": "Bearer " + _admin_token() + "x"},
        {"authorization": "Basic YWRtaW46YWRtaW4="},
        {"authorization": 42},
        {"X-API-Key": "sfk_" + "A" * 43},
        {"apiKey": "sfk_unknown"},
    ],
)
async def test_bad_credentials_close_the_connection(
    live_server: str, payload: dict[str, Any]
) -> None:
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_expired_token_is_refused_on_the_legacy_protocol_with_a_reason(
    live_server: str,
) -> None:
    old = issue_token(
        SECRET_KEY,
        kind="admin",
        subject="admin",
        ttl=timedelta(minutes=1),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-ws"]) as ws:
        message = await _init(ws, {"authorization": f"Bearer {old}"})
        assert message["type"] == "connection_error"
        assert message["payload"]["extensions"] == {"code": "UNAUTHENTICATED"}
        assert "expired" in message["payload"]["message"]


@pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, "graphql-ws"])
async def test_admin_token_is_acknowledged(live_server: str, subprotocol: str) -> None:
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=[subprotocol]) as ws:
        message = await _init(ws, {"authorization": f"Bearer {_admin_token()}"})
        assert message == {"type": "connection_ack"}


async def test_partner_key_is_acknowledged(live_server: str, settings: Settings) -> None:
    store = await open_store(settings.database_url)
    try:
        key, _ = await create_api_key(store.api_keys, "Acme", datetime.now(UTC))
    finally:
        await store.close()
    for payload in ({"X-API-Key": key}, {"apiKey": key}):
        async with websockets.connect(
            f"ws://{live_server}/graphql", subprotocols=[TRANSPORT_WS]
        ) as ws:
            assert (await _init(ws, payload))["type"] == "connection_ack"


async def test_anonymous_callers_may_connect(live_server: str) -> None:
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        assert (await _init(ws, {}))["type"] == "connection_ack"


async def test_sixth_concurrent_subscription_on_a_connection_is_refused(live_server: str) -> None:
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        await _init(ws, {"authorization": f"Bearer {_admin_token()}"})
        for n in range(1, 7):
            subscribe = {"id": str(n), "type": "subscribe", "payload": {"query": RATE_SUBSCRIPTION}}
            await ws.send(json.dumps(subscribe))
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 6:
            message = await _recv(ws)
            seen.setdefault(message["id"], message)
        assert [seen[str(n)]["type"] for n in range(1, 6)] == ["next"] * 5
        assert seen["6"]["type"] == "error"
        assert "limit" in seen["6"]["payload"][0]["message"]

        # A finished subscription frees its place.
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await asyncio.sleep(0.2)
        await ws.send(
            json.dumps({"id": "7", "type": "subscribe", "payload": {"query": RATE_SUBSCRIPTION}})
        )
        message = await _recv(ws)
        assert (message["id"], message["type"]) == ("7", "next")


@pytest.mark.parametrize(
    ("caller", "allowed"),
    [
        (Caller(identity="ip:192.0.2.1"), False),
        (
            Caller(kind=CallerKind.TRAVELLER, booking_reference="SF-1", identity="booking:SF-1"),
            False,
        ),
        (Caller(kind=CallerKind.PARTNER, partner_id="p1", identity="partner:p1"), True),
        (Caller(kind=CallerKind.ADMIN, identity="admin"), True),
    ],
)
async def test_restrict_introspection_extension_applies_the_http_rule(
    app: Starlette, caller: Caller, allowed: bool
) -> None:
    schema = strawberry.Schema(query=Query, extensions=[RestrictIntrospection])
    context = RequestContext(services=app.state.services, request_id="t", caller=caller)
    result = await schema.execute(INTROSPECTION, context_value=context)
    if allowed:
        assert result.errors is None
        assert result.data == {"__schema": {"queryType": {"name": "Query"}}}
    else:
        assert result.errors
        assert isinstance(result.errors[0].original_error, Forbidden)
    typename = await schema.execute("{ __typename }", context_value=context)
    assert typename.data == {"__typename": "Query"}


@pytest.mark.skipif(
    not WS_INTROSPECTION_RESTRICTED,
    reason="RestrictIntrospection is not in build_schema's extensions yet",
)
async def test_anonymous_introspection_over_websocket_is_forbidden(live_server: str) -> None:
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        await _init(ws, {})
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": INTROSPECTION}})
        )
        message = await _recv(ws)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
