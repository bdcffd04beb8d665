"""Who sees which booking: every surface that reads a booking or its payment, asked by each
kind of caller of the contract (anonymous, a traveller, a partner, an admin).

A refusal carries its code and nothing of the booking: not in `data`, not in the messages.
Bookings are made through the sandbox (flights, airline and checkout page).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graphql_api.settings import Settings
from tests.support.helpers import graphql
from tests.support.live import (
    Booked,
    GraphQLSocket,
    SandboxTrips,
    admin_headers,
    http_to,
    partner_headers,
    refused,
)

ALLOWED = "allowed"

BOOKING = """
query($ref: ID!) {
  booking(reference: $ref) {
    reference status channel owner { iataCode name }
    slices { origin { iataCode } destination { iataCode } segments { flightNumber } }
    passengers { type title givenName familyName gender bornOn email phoneNumber }
    totalAmount { amount currency formatted } airlineReference payBy
    payment { reference bookingReference status mode amount { amount currency } authorizationUrl }
    createdAt updatedAt
  }
}
"""
PAYMENT = """
query($ref: ID!) {
  payment(reference: $ref) {
    reference bookingReference status mode amount { amount currency } authorizationUrl paidAt
  }
}
"""
INITIALIZE = """
mutation($ref: ID!) {
  initializePayment(bookingReference: $ref) {
    reference bookingReference status amount { amount currency } authorizationUrl
  }
}
"""
VERIFY = """
mutation($ref: ID!) {
  verifyPayment(reference: $ref) { reference bookingReference status amount { amount } }
}
"""
CANCEL = """
mutation($ref: ID!) {
  cancelBooking(reference: $ref) { reference status passengers { familyName } }
}
"""
BOOKINGS = """
query($status: BookingStatus, $first: Int, $after: String) {
  bookings(status: $status, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { reference status channel createdAt passengers { familyName } } }
  }
}
"""
PAYMENT_STATUS = """
subscription($ref: ID!) {
  paymentStatus(reference: $ref) { reference bookingReference status bookingStatus }
}
"""
PAYMENT_UPDATES = "subscription { paymentUpdates { reference bookingReference status } }"


@dataclass(frozen=True, slots=True)
class Surface:
    """One field of the API that reads a booking: its document, and the reference it takes."""

    document: str
    field: str
    reference: Callable[[Booked], str]

    def booking_of(self, data: dict[str, Any]) -> str:
        """The booking reference in a successful answer."""
        found: dict[str, Any] = data[self.field]
        return str(found.get("bookingReference") or found["reference"])


SURFACES = {
    "booking": Surface(BOOKING, "booking", lambda b: b.reference),
    "payment": Surface(PAYMENT, "payment", lambda b: str(b.payment)),
    "initializePayment": Surface(INITIALIZE, "initializePayment", lambda b: b.reference),
    "verifyPayment": Surface(VERIFY, "verifyPayment", lambda b: str(b.payment)),
    "cancelBooking": Surface(CANCEL, "cancelBooking", lambda b: b.reference),
}

# Who asks about whose booking, and what they get. "its traveller" holds the accessToken
# `createBooking` returned for that booking; "the partner" holds the key the partner's
# bookings were made with.
WHO_SEES_WHAT = [
    # caller,              booking,                  outcome
    ("anonymous",          "a traveller's",          "UNAUTHENTICATED"),
    ("anonymous",          "the partner's",          "UNAUTHENTICATED"),
    ("another traveller",  "a traveller's",          "FORBIDDEN"),
    ("another traveller",  "the partner's",          "FORBIDDEN"),
    ("its traveller",      "a traveller's",          ALLOWED),
    ("its traveller",      "the partner's",          ALLOWED),
    ("the partner",        "the partner's",          ALLOWED),
    ("the partner",        "a traveller's",          "FORBIDDEN"),
    ("the partner",        "another partner's",      "FORBIDDEN"),
    ("admin",              "a traveller's",          ALLOWED),
    ("admin",              "the partner's",          ALLOWED),
    ("admin",              "another partner's",      ALLOWED),
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class World:
    """Four bookings, each with a pending payment, and the credentials of every caller."""

    bookings: dict[str, Booked]
    partner: dict[str, str]
    other_partner: dict[str, str]
    admin: dict[str, str]

    def headers(self, caller: str, booking: Booked) -> dict[str, str] | None:
        return {
            "anonymous": None,
            "another traveller": self.bookings["another traveller's"].headers,
            "its traveller": booking.headers,
            "the partner": self.partner,
            "the other partner": self.other_partner,
            "admin": self.admin,
        }[caller]


async def make_world(trips: SandboxTrips, settings: Settings) -> World:
    partner = await partner_headers(settings, "Acme Travel")
    other_partner = await partner_headers(settings, "Globex Tours")
    return World(
        bookings={
            "a traveller's": await trips.book(),
            "another traveller's": await trips.book(),
            "the partner's": await trips.book(partner),
            "another partner's": await trips.book(other_partner),
        },
        partner=partner,
        other_partner=other_partner,
        admin=admin_headers(settings),
    )


@pytest.fixture
async def world(client: httpx.AsyncClient, settings: Settings) -> World:
    return await make_world(SandboxTrips(client), settings)


async def ask(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await graphql(http, query, variables, headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_refused(body: dict[str, Any], code: str, hidden: list[str]) -> None:
    """`code`, no data, and none of `hidden` anywhere in the response."""
    assert [e["extensions"]["code"] for e in body.get("errors", [])] == [code], body
    data = body.get("data")
    assert data is None or all(value is None for value in data.values()), body
    text = json.dumps(body)
    for secret in hidden:
        assert secret not in text, f"{secret} leaked: {text}"


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(("caller", "whose", "outcome"), WHO_SEES_WHAT)
async def test_who_may_read_pay_and_cancel_which_booking(
    client: httpx.AsyncClient, world: World, surface: str, caller: str, whose: str, outcome: str
) -> None:
    target = world.bookings[whose]
    used = SURFACES[surface]
    body = await ask(
        client, used.document, {"ref": used.reference(target)}, world.headers(caller, target)
    )
    if outcome == ALLOWED:
        assert "errors" not in body, body
        assert used.booking_of(body["data"]) == target.reference
    else:
        assert_refused(body, outcome, target.secrets())


async def test_a_refused_caller_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    target = world.bookings["a traveller's"]
    # Paid at the provider but not yet applied: a verifyPayment would confirm the booking.
    await app.state.services.payment_provider.complete(target.payment, succeed=True)
    for caller in ("anonymous", "another traveller", "the partner"):
        headers = world.headers(caller, target)
        await ask(client, CANCEL, {"ref": target.reference}, headers)
        await ask(client, VERIFY, {"ref": target.payment}, headers)
    body = await ask(client, BOOKING, {"ref": target.reference}, target.headers)
    assert body["data"]["booking"]["status"] == "PENDING_PAYMENT"
    assert body["data"]["booking"]["payment"]["status"] == "PENDING"

    verified = await ask(client, VERIFY, {"ref": target.payment}, target.headers)
    assert verified["data"]["verifyPayment"]["status"] == "SUCCESS"


# Each field of a Booking, selected alone, so that no field resolver can bypass the check.
FIELDS = {
    "reference": "reference",
    "status": "status",
    "channel": "channel",
    "owner": "owner { iataCode name logoUrl }",
    "slices": "slices { origin { iataCode } destination { iataCode } durationMinutes }",
    "passengers": "passengers { givenName familyName email phoneNumber bornOn }",
    "totalAmount": "totalAmount { amount currency formatted }",
    "airlineReference": "airlineReference",
    "payBy": "payBy",
    "payment": "payment { reference status paidAt amount { amount } }",
    "createdAt": "createdAt",
    "updatedAt": "updatedAt",
}


def one_booking(*selections: str) -> str:
    return f"query($ref: ID!) {{ booking(reference: $ref) {{ {' '.join(selections)} }} }}"


WHO_SEES_A_CONFIRMED_PARTNER_BOOKING = [
    ("anonymous", "UNAUTHENTICATED"),
    ("another traveller", "FORBIDDEN"),
    ("the other partner", "FORBIDDEN"),
    ("its traveller", ALLOWED),
    ("the partner", ALLOWED),
    ("admin", ALLOWED),
]


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize(("caller", "outcome"), WHO_SEES_A_CONFIRMED_PARTNER_BOOKING)
async def test_each_booking_field_is_shown_only_to_those_who_may_read_the_booking(
    client: httpx.AsyncClient, world: World, field: str, caller: str, outcome: str
) -> None:
    target = world.bookings["the partner's"]
    await SandboxTrips(client).settle(str(target.payment))
    body = await ask(client, one_booking(*FIELDS.values()), {"ref": target.reference}, world.admin)
    full = body["data"]["booking"]
    assert full["status"] == "CONFIRMED"
    assert full["channel"] == "partner"
    assert full["passengers"][0]["familyName"] == target.family_name
    assert full["payment"]["reference"] == target.payment
    airline_reference = full["airlineReference"]
    assert airline_reference

    headers = world.headers(caller, target)
    body = await ask(client, one_booking(FIELDS[field]), {"ref": target.reference}, headers)
    if outcome == ALLOWED:
        assert body == {"data": {"booking": {field: full[field]}}}
    else:
        assert_refused(body, outcome, [*target.secrets(), airline_reference])


# Listing bookings: travellers never list, partners list their own, admins list all.
WHO_LISTS_WHAT = [
    # caller,               outcome or the bookings listed
    ("anonymous",           "UNAUTHENTICATED"),
    ("its traveller",       "FORBIDDEN"),
    ("another traveller",   "FORBIDDEN"),
    ("the partner",         ["the partner's", "the partner's second"]),
    ("the other partner",   ["another partner's"]),
    ("admin",               ["a traveller's", "another traveller's", "the partner's",
                             "the partner's second", "another partner's"]),
]  # fmt: skip


@pytest.mark.parametrize(("caller", "outcome"), WHO_LISTS_WHAT)
async def test_bookings_lists_only_what_the_caller_may_read(
    client: httpx.AsyncClient, world: World, caller: str, outcome: str | list[str]
) -> None:
    world.bookings["the partner's second"] = await SandboxTrips(client).book(world.partner)
    own = world.bookings["a traveller's"]
    body = await ask(client, BOOKINGS, {"first": 20}, world.headers(caller, own))
    if isinstance(outcome, str):
        everything = [s for booked in world.bookings.values() for s in booked.secrets()]
        assert_refused(body, outcome, everything)
        return
    assert "errors" not in body, body
    listed = body["data"]["bookings"]
    expected = {world.bookings[name].reference for name in outcome}
    references = [edge["node"]["reference"] for edge in listed["edges"]]
    assert sorted(references) == sorted(expected)
    assert listed["totalCount"] == len(expected)
    assert listed["pageInfo"]["hasNextPage"] is False
    text = json.dumps(body)
    for name, booked in world.bookings.items():
        if name not in outcome:
            assert booked.reference not in text
            assert booked.family_name not in text


@pytest.mark.parametrize(
    ("caller", "status", "expected"),
    [
        ("the partner", "CONFIRMED", ["the partner's"]),
        ("the partner", "PENDING_PAYMENT", []),
        ("the partner", "CANCELLED", ["the partner's second"]),
        ("admin", "CONFIRMED", ["a traveller's", "the partner's"]),
        ("admin", "CANCELLED", ["the partner's second"]),
        ("admin", "PENDING_PAYMENT", ["another traveller's", "another partner's"]),
        ("admin", "EXPIRED", []),
    ],
)
async def test_bookings_filtered_by_status(
    client: httpx.AsyncClient, world: World, caller: str, status: str, expected: list[str]
) -> None:
    trips = SandboxTrips(client)
    second = world.bookings["the partner's second"] = await trips.book(world.partner)
    await ask(client, CANCEL, {"ref": second.reference}, world.partner)
    for name in ("a traveller's", "the partner's"):
        await trips.settle(str(world.bookings[name].payment))
    own = world.bookings["a traveller's"]
    body = await ask(client, BOOKINGS, {"status": status, "first": 20}, world.headers(caller, own))
    assert "errors" not in body, body
    listed = body["data"]["bookings"]
    assert {edge["node"]["status"] for edge in listed["edges"]} <= {status}
    references = sorted(edge["node"]["reference"] for edge in listed["edges"])
    assert references == sorted(world.bookings[name].reference for name in expected)
    assert listed["totalCount"] == len(expected)


async def test_admin_pages_through_bookings_newest_first(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    trips = SandboxTrips(client)
    made = {(await trips.book(start_payment=False)).reference for _ in range(7)}
    admin = admin_headers(settings)
    pages: list[dict[str, Any]] = []
    after = None
    for _ in range(4):  # one more than needed, so a missing last page cannot loop forever
        body = await ask(client, BOOKINGS, {"first": 3, "after": after}, admin)
        assert "errors" not in body, body
        pages.append(body["data"]["bookings"])
        if not pages[-1]["pageInfo"]["hasNextPage"]:
            break
        after = pages[-1]["pageInfo"]["endCursor"]

    assert [len(page["edges"]) for page in pages] == [3, 3, 1]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, False]
    assert [page["totalCount"] for page in pages] == [7, 7, 7]
    for page in pages:
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    nodes = [edge["node"] for page in pages for edge in page["edges"]]
    references = [node["reference"] for node in nodes]
    assert len(set(references)) == 7
    assert set(references) == made
    moments = [node["createdAt"] for node in nodes]
    assert moments == sorted(moments, reverse=True)
    # The pages, one after another, are exactly the list in one page.
    whole = await ask(client, BOOKINGS, {"first": 20}, admin)
    assert [e["node"]["reference"] for e in whole["data"]["bookings"]["edges"]] == references


async def test_the_last_cursor_gives_an_empty_page(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    trips = SandboxTrips(client)
    for _ in range(2):
        await trips.book(start_payment=False)
    admin = admin_headers(settings)
    first = (await ask(client, BOOKINGS, {"first": 2}, admin))["data"]["bookings"]
    assert first["pageInfo"]["hasNextPage"] is False
    after = first["pageInfo"]["endCursor"]
    rest = (await ask(client, BOOKINGS, {"first": 2, "after": after}, admin))["data"]["bookings"]
    assert rest == {
        "totalCount": 2,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


UNKNOWN_BOOKING = "SFZZZZZZ"
UNKNOWN_PAYMENT = "SFZZZZZZ-00000000"

# A reference nobody has: admins learn it does not exist; anyone else learns no more than
# they would of someone else's booking.
WHO_LEARNS_A_REFERENCE_IS_UNKNOWN = [
    # caller,            surface,              reference,        outcome
    ("admin",            "booking",            UNKNOWN_BOOKING,  None),
    ("admin",            "payment",            UNKNOWN_PAYMENT,  None),
    ("admin",            "initializePayment",  UNKNOWN_BOOKING,  "NOT_FOUND"),
    ("admin",            "verifyPayment",      UNKNOWN_PAYMENT,  "NOT_FOUND"),
    ("admin",            "cancelBooking",      UNKNOWN_BOOKING,  "NOT_FOUND"),
    ("anonymous",        "booking",            UNKNOWN_BOOKING,  "UNAUTHENTICATED"),
    ("anonymous",        "payment",            UNKNOWN_PAYMENT,  "UNAUTHENTICATED"),
    ("its traveller",    "booking",            UNKNOWN_BOOKING,  "FORBIDDEN"),
    ("its traveller",    "payment",            UNKNOWN_PAYMENT,  "FORBIDDEN"),
    ("its traveller",    "cancelBooking",      UNKNOWN_BOOKING,  "FORBIDDEN"),
    ("the partner",      "booking",            UNKNOWN_BOOKING,  "FORBIDDEN"),
    ("the partner",      "payment",            UNKNOWN_PAYMENT,  "FORBIDDEN"),
    ("the partner",      "verifyPayment",      UNKNOWN_PAYMENT,  "FORBIDDEN"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("caller", "surface", "reference", "outcome"), WHO_LEARNS_A_REFERENCE_IS_UNKNOWN
)
async def test_unknown_references(
    client: httpx.AsyncClient,
    world: World,
    caller: str,
    surface: str,
    reference: str,
    outcome: str | None,
) -> None:
    used = SURFACES[surface]
    headers = world.headers(caller, world.bookings["a traveller's"])
    body = await ask(client, used.document, {"ref": reference}, headers)
    if outcome is None:
        assert body == {"data": {used.field: None}}
    else:
        assert_refused(body, outcome, [])


# --- Subscriptions, over WebSocket on a real server ------------------------------------------


@pytest.fixture
async def live_world(live_server: str, settings: Settings) -> AsyncIterator[World]:
    async with http_to(live_server) as http:
        yield await make_world(SandboxTrips(http), settings)


def init_payload(headers: dict[str, str] | None) -> dict[str, str]:
    """The `connection_init` payload that carries the same credentials as HTTP headers."""
    if headers is None:
        return {}
    if "X-API-Key" in headers:
        return {"X-API-Key": headers["X-API-Key"]}
    return {"authorization": headers["Authorization"]}


@pytest.mark.parametrize(("caller", "whose", "outcome"), WHO_SEES_WHAT)
async def test_who_may_follow_which_payment(
    live_server: str, live_world: World, caller: str, whose: str, outcome: str
) -> None:
    target = live_world.bookings[whose]
    payload = init_payload(live_world.headers(caller, target))
    async with GraphQLSocket.connect(live_server, payload=payload) as socket:
        await socket.subscribe("1", PAYMENT_STATUS, {"ref": target.payment})
        if outcome != ALLOWED:
            assert await refused(socket, "1", target.secrets()) == outcome
            return
        event = await socket.receive("1")
        assert event.errors == []
        assert event.data == {
            "paymentStatus": {
                "reference": target.payment,
                "bookingReference": target.reference,
                "status": "PENDING",
                "bookingStatus": "PENDING_PAYMENT",
            }
        }


@pytest.mark.parametrize(
    ("caller", "outcome"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("its traveller", "FORBIDDEN"),
        ("the partner", "FORBIDDEN"),
    ],
)
async def test_only_admins_follow_every_payment(
    live_server: str, live_world: World, caller: str, outcome: str
) -> None:
    target = live_world.bookings["the partner's"]
    payload = init_payload(live_world.headers(caller, target))
    async with GraphQLSocket.connect(live_server, payload=payload) as socket:
        await socket.subscribe("1", PAYMENT_UPDATES, {})
        assert await refused(socket, "1", target.secrets()) == outcome
