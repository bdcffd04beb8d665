"""Subscriptions over Server-Sent Events (GraphQL over SSE, distinct connections mode), with the
`graphql-sse` reference client against uvicorn: payment updates reach an admin and a traveller
as they happen, refusals come as the protocol says, and a stopping server ends its streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from graphql_api.sse import SubscriptionStreams
from tests.graphql_api.edge.conftest import NodeStream, run_node, start_node
from tests.support.helpers import free_port
from tests.support.live import SandboxTrips, admin_headers

PAYMENT_UPDATES = "subscription { paymentUpdates { reference status bookingStatus } }"
PAYMENT_STATUS = """
subscription($ref: ID!) { paymentStatus(reference: $ref) { reference status bookingStatus } }
"""


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[tuple[Starlette, str]]:
    """The app on uvicorn on a loopback port; yields the app and host:port."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield app, f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Starlette, str]]:
    async with gateway(settings) as running:
        yield running


def subscription(query: str, variables: dict[str, Any] | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


async def updates_until(
    stream: NodeStream, field: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not done(seen):
        line = await stream.line()
        assert "next" in line, line
        assert "errors" not in line["next"], line
        seen.append(line["next"]["data"][field])
    return seen


async def test_an_admin_follows_every_payment_over_sse(
    served: tuple[Starlette, str], settings: Settings, node_clients: Path
) -> None:
    _, server = served
    url = f"http://{server}/graphql"
    headers = json.dumps(admin_headers(settings))
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        start_node(
            node_clients, "sse_subscribe.mjs", url, subscription(PAYMENT_UPDATES), headers
        ) as stream,
    ):
        trips = SandboxTrips(http)
        assert await stream.line() == {"subscribed": True}
        # No first message says the stream is listening: start payments until one arrives.
        for _ in range(20):
            await trips.book()
            try:
                line = await stream.line(timeout=0.5)
            except TimeoutError:
                continue
            assert "next" in line and "errors" not in line["next"], line
            break
        else:
            raise AssertionError("paymentUpdates never delivered over SSE")
        booked = await trips.book()
        await trips.settle(str(booked.payment))

        def confirmed(updates: list[dict[str, Any]]) -> bool:
            return any(
                u["reference"] == booked.payment and u["bookingStatus"] == "CONFIRMED"
                for u in updates
            )

        updates = await updates_until(stream, "paymentUpdates", confirmed)
    mine = [(u["status"], u["bookingStatus"]) for u in updates if u["reference"] == booked.payment]
    assert mine[0] == ("PENDING", "PENDING_PAYMENT")
    assert mine[-1] == ("SUCCESS", "CONFIRMED")


async def test_a_traveller_follows_their_payment_over_sse(
    served: tuple[Starlette, str], node_clients: Path
) -> None:
    _, server = served
    url = f"http://{server}/graphql"
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http:
        trips = SandboxTrips(http)
        booked = await trips.book()
        query = subscription(PAYMENT_STATUS, {"ref": booked.payment})
        async with start_node(
            node_clients, "sse_subscribe.mjs", url, query, json.dumps(booked.headers)
        ) as stream:
            assert await stream.line() == {"subscribed": True}
            (current,) = await updates_until(stream, "paymentStatus", bool)
            assert (current["status"], current["bookingStatus"]) == ("PENDING", "PENDING_PAYMENT")
            await trips.settle(str(booked.payment))
            changes = await updates_until(
                stream, "paymentStatus", lambda u: bool(u) and u[-1]["bookingStatus"] == "CONFIRMED"
            )
    assert {c["status"] for c in changes} == {"SUCCESS"}


async def test_refusals_come_as_the_protocol_says(
    served: tuple[Starlette, str], node_clients: Path
) -> None:
    _, server = served
    url = f"http://{server}/graphql"
    # Refused by the use case: a `next` event with the error, then `complete`.
    anonymous = await run_node(
        node_clients, "sse_subscribe.mjs", url, subscription(PAYMENT_UPDATES)
    )
    assert anonymous[1]["next"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in anonymous[1]["next"] or anonymous[1]["next"]["data"] is None
    # Refused before execution (the document): the same.
    invalid = await run_node(node_clients, "sse_subscribe.mjs", url, subscription("{ nope }"))
    assert invalid[1]["next"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert invalid[-1] == {"complete": True}
    # Wrong credentials are not GraphQL's to answer: a 401, as on plain HTTP.
    wrong = await run_node(
        node_clients,
        "sse_subscribe.mjs",
        url,
        subscription(PAYMENT_UPDATES),
        json.dumps({"Authorization": "Bearer not-a-token"}),
    )
    assert "401" in wrong[-1]["error"]


async def test_a_query_over_sse_answers_once_then_completes(
    served: tuple[Starlette, str], node_clients: Path
) -> None:
    _, server = served
    query = subscription('{ exchangeRate(base: "USD", quote: "NGN") { base quote } }')
    lines = await run_node(node_clients, "sse_subscribe.mjs", f"http://{server}/graphql", query)
    assert lines[1:] == [
        {"next": {"data": {"exchangeRate": {"base": "USD", "quote": "NGN"}}}},
        {"complete": True},
    ]


async def test_a_stopping_server_ends_its_streams(
    served: tuple[Starlette, str], node_clients: Path
) -> None:
    app, server = served
    streams: SubscriptionStreams = app.state.subscription_streams
    rates = subscription('subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { rate } }')
    async with start_node(
        node_clients, "sse_subscribe.mjs", f"http://{server}/graphql", rates
    ) as stream:
        assert await stream.line() == {"subscribed": True}
        assert "next" in await stream.line()
        assert streams.open_streams == 1
        streams.stop_all()
        assert await stream.line() == {"complete": True}
    for _ in range(50):
        if streams.open_streams == 0:
            break
        await asyncio.sleep(0.02)
    assert streams.open_streams == 0


async def test_a_stream_over_plain_http_is_an_event_stream(served: tuple[Starlette, str]) -> None:
    _, server = served
    headers = {"Accept": "text/event-stream"}
    body = {"query": 'subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { rate } }'}
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        http.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        first = b""
        async for chunk in response.aiter_bytes():
            first += chunk
            if b"\n\n" in first:
                break
    event, data = first.split(b"\n\n")[0].split(b"\n")
    assert event == b"event: next"
    assert json.loads(data.removeprefix(b"data: "))["data"]["exchangeRateUpdates"]["rate"]
