"""A booking taken through the sandbox as a traveller would: search, book, pay on the sandbox
checkout page. Shared by the tests and the benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.saga import CREATE, PASSENGER, PAY, bearer, ok

SEARCH = """
query($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    offers(first: 50) { id requiresInstantPayment totalAmount { amount currency } }
  }
}
"""
STATUS = """
query($ref: ID!) {
  booking(reference: $ref) {
    status airlineReference payBy channel
    payment { reference status mode authorizationUrl }
  }
}
"""


async def sandbox_offer(client: httpx.AsyncClient, *, instant: bool) -> dict[str, Any]:
    when = (datetime.now(UTC) + timedelta(days=12)).date().isoformat()
    for destination in ("ABV", "LHR", "ACC", "JFK", "DXB"):
        data = await ok(
            client,
            SEARCH,
            {"input": {"slices": [{"origin": "LOS", "destination": destination,
                                   "departureDate": when}]}},
        )  # fmt: skip
        for offer in data["searchFlights"]["offers"]:
            if offer["requiresInstantPayment"] is instant:
                found: dict[str, Any] = offer
                return found
    raise AssertionError("the sandbox offered nothing of that kind")


async def book(
    client: httpx.AsyncClient, offer: dict[str, Any], passenger: dict[str, Any] = PASSENGER
) -> tuple[str, str]:
    data = await ok(client, CREATE, {"input": {"offerId": offer["id"], "passengers": [passenger]}})
    return data["createBooking"]["booking"]["reference"], data["createBooking"]["accessToken"]


async def status(client: httpx.AsyncClient, reference: str, token: str) -> dict[str, Any]:
    booking: dict[str, Any] = (await ok(client, STATUS, {"ref": reference}, bearer(token)))[
        "booking"
    ]
    return booking


async def confirmed_in_the_sandbox(client: httpx.AsyncClient) -> str:
    offer = await sandbox_offer(client, instant=True)
    reference, token = await book(client, offer)
    payment = (await ok(client, PAY, {"ref": reference}, bearer(token)))["initializePayment"]
    assert (await client.post(f"/sandbox/checkout/{payment['reference']}/pay")).status_code == 200
    return reference
