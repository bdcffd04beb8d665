"""Subscriptions over WebSocket on /graphql, with real clients speaking both subprotocols."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

RATE_SUBSCRIPTION = """
subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { base quote rate source } }
"""


async def _recv(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv())
    return message


def _assert_sandbox_rate(payload: dict[str, Any]) -> None:
    update = payload["data"]["exchangeRateUpdates"]
    assert update["base"] == "USD"
    assert update["quote"] == "NGN"
    assert float(update["rate"]) > 100
    assert "sandbox" in update["source"]


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_gql_client_subscribes_with_either_subprotocol(
    live_server: str, subprotocol: str
) -> None:
    transport = WebsocketsTransport(url=f"ws://{live_server}/graphql", subprotocols=[subprotocol])
    async with Client(transport=transport) as session:
        async for result in session.subscribe(gql(RATE_SUBSCRIPTION)):
            _assert_sandbox_rate({"data": result})
            break
    assert transport.subprotocol == subprotocol


async def test_graphql_transport_ws_protocol_by_hand(live_server: str) -> None:
    async with websockets.connect(
        f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await _recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": RATE_SUBSCRIPTION}})
        )
        message = await _recv(ws)
        assert message["type"] == "next"
        assert message["id"] == "1"
        _assert_sandbox_rate(message["payload"])
        await ws.send(json.dumps({"id": "1", "type": "complete"}))


async def test_legacy_graphql_ws_protocol(live_server: str) -> None:
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-ws"]) as ws:
        assert ws.subprotocol == "graphql-ws"
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await _recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "7", "type": "start", "payload": {"query": RATE_SUBSCRIPTION}})
        )
        message = await _recv(ws)
        while message["type"] == "ka":
            message = await _recv(ws)
        assert message["type"] == "data"
        assert message["id"] == "7"
        _assert_sandbox_rate(message["payload"])
        await ws.send(json.dumps({"id": "7", "type": "stop"}))


async def test_subscription_errors_carry_contract_codes(live_server: str) -> None:
    async with websockets.connect(
        f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await _recv(ws)
        query = 'subscription { exchangeRateUpdates(base: "USD", quote: "XYZ") { rate } }'
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": query}}))
        message = await _recv(ws)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "XYZ" in errors[0]["message"]


async def test_too_deep_subscription_is_refused_like_on_http(live_server: str) -> None:
    async with websockets.connect(
        f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await _recv(ws)
        many = " ".join(
            f'a{i}: exchangeRateUpdates(base: "USD", quote: "NGN") {{ rate }}' for i in range(16)
        )
        await ws.send(
            json.dumps(
                {"id": "3", "type": "subscribe", "payload": {"query": f"subscription {{ {many} }}"}}
            )
        )
        message = await _recv(ws)
        assert message["type"] == "error"
        assert any("aliases" in e["message"] for e in message["payload"])
