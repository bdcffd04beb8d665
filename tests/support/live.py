"""What the access and live-payment tests share: bookings made and paid through the sandbox,
partner and admin credentials, WebSocket clients of either subprotocol, gateways on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import uvicorn
import websockets
from websockets.typing import Subprotocol

from graphql_api.app import create_app
from graphql_api.settings import Settings
from integrations.state.store import open_store
from resolvers.auth import create_api_key, issue_admin_token
from tests.support.helpers import free_port, graphql
from tests.support.saga import PASSENGER, bearer

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
# How long a test waits for any one message before it counts the feature as broken.
WAIT_SECONDS = 10.0

SEARCH = """
query($input: FlightSearchInput!) {
  searchFlights(input: $input) { offers(first: 1) { id } }
}
"""
CREATE = """
mutation($input: CreateBookingInput!) {
  createBooking(input: $input) { accessToken booking { reference channel } }
}
"""
START_PAYMENT = """
mutation($ref: ID!) { initializePayment(bookingReference: $ref) { reference status } }
"""


@dataclass(frozen=True, slots=True)
class Booked:
    """A booking made through the gateway, with what only its traveller was given."""

    reference: str
    token: str
    family_name: str
    email: str
    payment: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def secrets(self) -> list[str]:
        """What of this booking no other caller may ever see in a response."""
        found = [self.reference, self.family_name, self.email]
        return [*found, self.payment] if self.payment else found


@dataclass(slots=True)
class SandboxTrips:
    """Books Lagos to Abuja and pays through the sandbox checkout, over any client of a gateway."""

    http: httpx.AsyncClient
    _offer_id: str | None = field(default=None, init=False)

    async def offer_id(self) -> str:
        if self._offer_id is None:
            departure = (date.today() + timedelta(days=5)).isoformat()
            body = await self._ok(
                SEARCH,
                {
                    "input": {
                        "slices": [
                            {"origin": "LOS", "destination": "ABV", "departureDate": departure}
                        ]
                    }
                },
            )
            self._offer_id = body["searchFlights"]["offers"][0]["id"]
        return self._offer_id

    async def book(
        self, headers: dict[str, str] | None = None, *, start_payment: bool = True
    ) -> Booked:
        """A new booking whose passenger's name and email belong to it alone."""
        suffix = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
        family_name = f"Bakare{suffix}"
        email = f"tunde.{suffix}@example.com"
        passenger = {**PASSENGER, "familyName": family_name, "email": email}
        created = await self._ok(
            CREATE,
            {"input": {"offerId": await self.offer_id(), "passengers": [passenger]}},
            headers,
        )
        booked = Booked(
            reference=created["createBooking"]["booking"]["reference"],
            token=created["createBooking"]["accessToken"],
            family_name=family_name,
            email=email,
        )
        if not start_payment:
            return booked
        started = await self._ok(START_PAYMENT, {"ref": booked.reference}, booked.headers)
        return Booked(
            reference=booked.reference,
            token=booked.token,
            family_name=family_name,
            email=email,
            payment=started["initializePayment"]["reference"],
        )

    async def settle(self, payment_reference: str, action: str = "pay") -> None:
        """Press Pay (or Decline) on the sandbox checkout page."""
        response = await self.http.post(f"/sandbox/checkout/{payment_reference}/{action}")
        assert response.status_code == 200, response.text

    async def _ok(
        self, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = (await graphql(self.http, query, variables, headers)).json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


def admin_headers(settings: Settings) -> dict[str, str]:
    """An admin's bearer token, as `sureflights admin-token` prints it."""
    token, _ = issue_admin_token(settings.secret_key, now=datetime.now(UTC))
    return bearer(token)


async def partner_headers(settings: Settings, name: str) -> dict[str, str]:
    """A new partner API key in the gateway's database, as `sureflights apikey create` makes."""
    store = await open_store(settings.database_url)
    try:
        key, _ = await create_api_key(store.api_keys, name, datetime.now(UTC))
    finally:
        await store.close()
    return {"X-API-Key": key}


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app on a real uvicorn on a loopback port, as `live_server` runs it; yields host:port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def http_to(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=WAIT_SECONDS) as http:
        yield http


@dataclass(frozen=True, slots=True)
class Event:
    """One message about a subscription, the same whichever subprotocol carried it."""

    kind: str  # "next", "error" or "complete"
    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    # The message as it came over the wire, to look for what must not be in it.
    text: str = ""

    @property
    def codes(self) -> list[str]:
        return [(e.get("extensions") or {}).get("code", "") for e in self.errors]


class GraphQLSocket:
    """A client connection to WebSocket `/graphql`, speaking either subprotocol.

    Messages for other subscriptions of the connection are kept until asked for, and every
    wait is bounded, so a feature that stays silent fails the test instead of hanging it.
    """

    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self._pending: dict[str, list[dict[str, Any]]] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, server: str, protocol: str = TRANSPORT_WS, payload: dict[str, Any] | None = None
    ) -> AsyncIterator[GraphQLSocket]:
        """A connection already acknowledged; `payload` is the `connection_init` payload."""
        url = f"ws://{server}/graphql"
        async with websockets.connect(url, subprotocols=[Subprotocol(protocol)]) as ws:
            assert ws.subprotocol == protocol
            socket = cls(ws, protocol)
            await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
            ack = await socket._read()
            assert ack["type"] == "connection_ack", ack
            yield socket

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables}
        await self.ws.send(json.dumps({"id": op_id, "type": kind, "payload": payload}))

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.ws.send(json.dumps({"id": op_id, "type": kind}))

    async def receive(self, op_id: str, timeout: float = WAIT_SECONDS) -> Event:
        """The next message about subscription `op_id`."""
        queued = self._pending.get(op_id)
        message = queued.pop(0) if queued else None
        while message is None:
            read = await self._read(timeout)
            if read.get("id") == op_id:
                message = read
            elif "id" in read:
                self._pending.setdefault(read["id"], []).append(read)
        return _event(message, json.dumps(message))

    async def _read(self, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
            elif message["type"] not in ("ka", "pong"):
                return message


def _event(message: dict[str, Any], text: str) -> Event:
    kind = message["type"]
    payload: Any = message.get("payload")
    if kind in ("next", "data"):
        return Event("next", payload.get("data"), payload.get("errors") or [], text)
    if kind == "error":
        errors = payload if isinstance(payload, list) else [payload]
        return Event("error", None, errors, text)
    assert kind == "complete", message
    return Event("complete", text=text)


async def refused(socket: GraphQLSocket, op_id: str, hidden: list[str]) -> str:
    """The code a subscription is refused with; no payment data, nor any of `hidden`, came."""
    event = await socket.receive(op_id)
    assert event.kind in ("next", "error"), event
    assert event.errors, event
    assert event.data is None or all(value is None for value in event.data.values()), event
    for secret in hidden:
        assert secret not in event.text, f"{secret} leaked: {event.text}"
    (code,) = set(event.codes)
    return code
