"""Limits of the transport, on a real uvicorn: oversized and slow bodies, WebSocket message
size, the legacy `graphql-ws` subprotocol, suggestions over WebSocket, CORS preflights."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets

from graphql_api.settings import Settings
from tests.graphql_api.auth import PRODUCTION
from tests.support.live import LEGACY_WS, TRANSPORT_WS, GraphQLSocket, serving

TWO_MIB = 2 * 1_048_576
RATE = '{ exchangeRate(base: "USD", quote: "NGN") { rate } }'


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes, bytes]:
    """Status line, headers and body of one HTTP/1.1 response with a Content-Length."""
    status = await reader.readline()
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head.lower())
    assert length is not None, head
    return status, head, await reader.readexactly(int(length.group(1)))


def _post(server: str, body: bytes, content_length: int | None = None) -> bytes:
    length = len(body) if content_length is None else content_length
    return (
        b"POST /graphql HTTP/1.1\r\n"
        + f"Host: {server}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {length}\r\n\r\n".encode()
        + body
    )


@pytest.fixture
async def server(make_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    async with serving(make_settings(request_body_timeout_seconds=1.0)) as address:
        yield address


async def test_a_two_mib_post_on_a_kept_alive_connection_gets_the_413(server: str) -> None:
    body = b'{"query": "{ __typename }", "padding": "' + b"x" * TWO_MIB + b'"}'
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http:
        warm = await http.post("/graphql", json={"query": RATE})
        assert warm.status_code == 200
        refused = await http.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 413, refused.text
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        again = await http.post("/graphql", json={"query": RATE})
        assert again.status_code == 200


async def test_the_connection_serves_the_next_request_after_a_413(server: str) -> None:
    host, port = server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(_post(server, b"x" * TWO_MIB))
        await writer.drain()
        async with asyncio.timeout(10):
            status, _, _ = await _read_response(reader)
            assert status.startswith(b"HTTP/1.1 413"), status
            writer.write(_post(server, json.dumps({"query": RATE}).encode()))
            await writer.drain()
            status, _, answer = await _read_response(reader)
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 200"), status
    assert b'"exchangeRate"' in answer


async def test_a_chunked_body_over_the_limit_gets_the_413(server: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "padding": "'
        for _ in range(32):
            yield b"x" * 65_536
        yield b'"}'

    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http:
        refused = await http.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 413
        assert (await http.post("/graphql", json={"query": RATE})).status_code == 200


async def test_a_body_slower_than_the_limit_gets_408(server: str) -> None:
    host, port = server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        # Ten bytes of a hundred, then nothing.
        writer.write(_post(server, b'{"query": ', content_length=100))
        await writer.drain()
        async with asyncio.timeout(10):
            status, _, body = await _read_response(reader)
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 408"), status
    assert b"did not arrive within 1 seconds" in body
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http:
        assert (await http.post("/graphql", json={"query": RATE})).status_code == 200


async def test_a_websocket_message_over_64_kib_closes_with_1009(server: str) -> None:
    async with GraphQLSocket.connect(server) as socket:
        query = 'subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { rate } }'
        padding = "#" + "x" * 70_000 + "\n"
        await socket.ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": padding + query}})
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await socket.ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    assert "65536" in closed.value.rcvd.reason


async def test_a_message_under_the_limit_still_runs(server: str) -> None:
    async with GraphQLSocket.connect(server) as socket:
        query = 'subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { rate } }'
        await socket.subscribe("1", "#" + "x" * 60_000 + "\n" + query, {})
        event = await socket.receive("1")
        assert event.kind == "next", event
        assert float(event.data["exchangeRateUpdates"]["rate"]) > 0  # type: ignore[index]


async def _legacy(server: str, query: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """Every message the legacy protocol sends about one operation, up to its end."""
    async with GraphQLSocket.connect(server, LEGACY_WS) as socket:
        await socket.subscribe("1", query, variables or {})
        messages = []
        while True:
            event = await socket.receive("1")
            messages.append(event)
            if event.kind in ("complete", "error"):
                return messages


async def test_a_query_over_the_legacy_subprotocol_is_answered(server: str) -> None:
    first, last = await _legacy(server, RATE)
    assert first.kind == "next", first
    assert not first.errors, first
    assert float(first.data["exchangeRate"]["rate"]) > 0  # type: ignore[index]
    assert last.kind == "complete"


async def test_a_bad_query_over_the_legacy_subprotocol_is_the_clients_error(server: str) -> None:
    (event,) = await _legacy(server, "{ exchangeRat { rate } }")
    assert event.kind == "error"
    assert event.codes == ["BAD_USER_INPUT"]
    assert "INTERNAL" not in event.text


async def test_a_domain_error_over_the_legacy_subprotocol_keeps_its_code(server: str) -> None:
    first, last = await _legacy(server, '{ exchangeRate(base: "USD", quote: "XYZ") { rate } }')
    assert first.kind == "next"
    assert first.codes == ["BAD_USER_INPUT"], first
    assert last.kind == "complete"


TYPO = 'subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { rat } }'


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_production_hides_field_suggestions_over_websocket(
    make_settings: Callable[..., Settings], protocol: str
) -> None:
    async with (
        serving(make_settings(**PRODUCTION)) as production,
        GraphQLSocket.connect(production, protocol) as socket,
    ):
        await socket.subscribe("1", TYPO, {})
        event = await socket.receive("1")
    assert event.codes == ["BAD_USER_INPUT"], event
    assert "Cannot query field 'rat'" in event.errors[0]["message"]
    assert "Did you mean" not in event.text


async def test_development_still_suggests_over_websocket(server: str) -> None:
    async with GraphQLSocket.connect(server) as socket:
        await socket.subscribe("1", TYPO, {})
        event = await socket.receive("1")
    assert "Did you mean 'rate'" in event.errors[0]["message"]


TRACING_AND_APOLLO = [
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-api-key",
    "authorization",
    "content-type",
]


async def test_a_preflight_with_tracing_and_apollo_headers_is_allowed(
    make_settings: Callable[..., Settings],
) -> None:
    origin = "https://partner.example"
    async with (
        serving(make_settings(cors_origins=origin)) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http,
    ):
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": ",".join(TRACING_AND_APOLLO),
            },
        )
        assert preflight.status_code == 200, preflight.text
        allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert set(TRACING_AND_APOLLO) <= {h.lower() for h in allowed}
        unknown = await http.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-not-allowed",
            },
        )
        assert unknown.status_code == 400


async def test_the_allowed_headers_are_a_setting(make_settings: Callable[..., Settings]) -> None:
    origin = "https://partner.example"
    settings = make_settings(cors_origins=origin, cors_allow_headers="content-type, X-Custom")
    async with (
        serving(settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http,
    ):
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-custom",
            },
        )
        assert preflight.status_code == 200
        traced = await http.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "traceparent",
            },
        )
        assert traced.status_code == 400
