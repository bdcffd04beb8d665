"""What must not be lost lives in the database: Redis flushed, restarted empty or down changes
nothing a traveller is owed. Run against a Redis server of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from graphql_api.app import create_app
from graphql_api.bootstrap import in_process_executor
from graphql_api.settings import Settings
from tests.support.harness import CREATE, PAY, World, live_settings, running_world
from tests.support.helpers import graphql, upstream_fixture
from tests.support.redis_server import RedisServer
from tests.support.saga import PASSENGER

GRAPH = "https://graph.facebook.com/v26.0"
PHONE_NUMBER_ID = "106540352242922"
TRAVELLER = "2348031234567"


class CloudApi:
    """Meta's Cloud API: records what the gateway sends travellers."""

    def __init__(self, world: World) -> None:
        self.sent: list[dict[str, Any]] = []
        world.router.post(f"{GRAPH}/{PHONE_NUMBER_ID}/messages").mock(side_effect=self._sent)

    def _sent(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("status") != "read":
            self.sent.append(body)
        return httpx.Response(200, json=upstream_fixture("whatsapp_send_message_response.json"))

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while len(self.sent) < count:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # and nothing more follows
        return self.sent


def whatsapp_settings(make_settings: Callable[..., Settings], redis_url: str) -> Settings:
    return live_settings(
        make_settings,
        redis_url=redis_url,
        whatsapp_api_url=GRAPH,
        whatsapp_access_token="wa-test-token",
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret="wa-test-secret",
    )


async def test_a_whatsapp_traveller_hears_of_the_confirmation_after_redis_forgot_everything(
    make_settings: Callable[..., Settings], private_redis: RedisServer
) -> None:
    async with running_world(whatsapp_settings(make_settings, private_redis.url)) as world:
        cloud = CloudApi(world)
        assert world.app is not None
        services = world.app.state.services
        execute = in_process_executor(world.app.state.executor, lambda: services)
        # The assistant books on the traveller's behalf, as in a conversation.
        offer_id = world.duffel.offer["data"]["id"]
        created = await execute(
            CREATE, {"input": {"offerId": offer_id, "passengers": [PASSENGER]}}, wa_id=TRAVELLER
        )
        assert created.errors == [], created.errors
        assert created.data is not None
        reference = created.data["createBooking"]["booking"]["reference"]
        token = created.data["createBooking"]["accessToken"]
        started = await execute(PAY, {"ref": reference}, wa_id=TRAVELLER, access_token=token)
        assert started.data is not None
        payment = started.data["initializePayment"]["reference"]
        private_redis.flush()
        await world.pay(payment)
        sent = await cloud.wait_for(1)
        # Delivered again (Paystack retries), or settled by a second replica: one message only.
        await world.paystack_webhook(*world.paystack.charge_success(payment))
        await asyncio.sleep(0.2)
    assert len(sent) == 1
    (message,) = sent
    assert message["to"] == TRAVELLER
    assert message["type"] == "template"
    assert message["template"]["name"] == "booking_confirmed"
    shown = [p["text"] for p in message["template"]["components"][0]["parameters"]]
    issued = world.duffel.issued_orders_for(reference)[0]
    assert shown == [reference, issued["booking_reference"]]


async def test_an_idempotency_key_survives_redis_restarting_empty(
    make_settings: Callable[..., Settings], private_redis: RedisServer
) -> None:
    settings = live_settings(make_settings, redis_url=private_redis.url)
    async with running_world(settings) as world:
        offer_id = world.duffel.offer["data"]["id"]
        variables = {"input": {"offerId": offer_id, "passengers": [PASSENGER]}}
        key = {"Idempotency-Key": "phone-retry-1"}
        first = await world.ok(CREATE, variables, key)
        private_redis.restart_empty()
        retries = [await world.call(CREATE, variables, key) for _ in range(20)]
        other = await world.call(CREATE, {"input": {**variables["input"], "currency": "USD"}}, key)
        count = await world.deps.store.bookings.count()
    assert all(r.get("data") == first for r in retries), retries[0]
    assert count == 1
    assert other["errors"][0]["extensions"]["code"] == "CONFLICT"


async def test_with_redis_down_bookings_and_sign_in_work_and_readiness_says_so(
    make_settings: Callable[..., Settings],
    private_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = live_settings(
        make_settings, redis_url=private_redis.url, admin_pass="a-long-admin-pass"
    )
    async with running_world(settings) as world:
        private_redis.stop()
        with caplog.at_level(logging.WARNING):
            booked = await world.book()
            await world.pay(await world.start_payment(booked))
            login = await world.ok(
                'mutation { adminLogin(password: "a-long-admin-pass") { token } }', {}
            )
            rate = await world.call('{ exchangeRate(base: "GBP", quote: "NGN") { rate } }', {})
            down = await world.client.get("/health/ready")
        private_redis.start()
        up = await world.client.get("/health/ready")
        booking = await world.booking(booked)
    assert booking["status"] == "CONFIRMED"
    assert login["adminLogin"]["token"]
    assert "errors" not in rate, rate
    assert (down.status_code, up.status_code) == (503, 200)
    assert down.json()["dependencies"]["redis"]["status"] == "down"
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert tracebacks == []


async def test_with_redis_down_a_sandbox_search_runs_without_the_shared_cache(
    make_settings: Callable[..., Settings], unreachable_redis_url: str
) -> None:
    app = create_app(make_settings(redis_url=unreachable_redis_url))
    query = """
    query($input: FlightSearchInput!) { searchFlights(input: $input) { totalOffers } }
    """
    departure = (date.today() + timedelta(days=9)).isoformat()
    variables = {
        "input": {"slices": [{"origin": "LOS", "destination": "ABV", "departureDate": departure}]}
    }
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        )
        body = (await graphql(http, query, variables)).json()
    assert "errors" not in body, body
    assert body["data"]["searchFlights"]["totalOffers"] > 0


# --- Who may book how often ------------------------------------------------------------------


async def test_anonymous_bookings_are_limited_per_address_with_rate_limit_headers(
    make_settings: Callable[..., Settings],
) -> None:
    settings = live_settings(make_settings, booking_rate_limit="3/hour")
    async with running_world(settings) as world:
        offer_id = world.duffel.offer["data"]["id"]
        variables = {"input": {"offerId": offer_id, "passengers": [PASSENGER]}}
        answers = [await graphql(world.client, CREATE, variables) for _ in range(4)]
        holds = world.duffel.create.call_count
    assert [a.json().get("errors") is None for a in answers] == [True, True, True, False]
    assert answers[0].headers["ratelimit-limit"] == "3"
    assert answers[2].headers["ratelimit-remaining"] == "0"
    refused = answers[3].json()["errors"][0]
    assert refused["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < refused["extensions"]["retryAfterSeconds"] <= 3600
    assert answers[3].headers["retry-after"] == str(refused["extensions"]["retryAfterSeconds"])
    assert holds == 0  # instant offers; the refused one never reached the airline


async def test_partners_have_their_own_booking_limit(
    make_settings: Callable[..., Settings],
) -> None:
    from tests.support.live import partner_headers

    settings = live_settings(
        make_settings, booking_rate_limit="1/hour", partner_booking_rate_limit="2/hour"
    )
    key = await partner_headers(settings, "Lagos Travel Co")
    async with running_world(settings) as world:
        offer_id = world.duffel.offer["data"]["id"]
        variables = {"input": {"offerId": offer_id, "passengers": [PASSENGER]}}
        partner = [(await world.call(CREATE, variables, key)) for _ in range(3)]
        anonymous = [(await world.call(CREATE, variables)) for _ in range(2)]
    codes = [
        (r.get("errors") or [{"extensions": {"code": "OK"}}])[0]["extensions"]["code"]
        for r in partner + anonymous
    ]
    assert codes == ["OK", "OK", "RATE_LIMITED", "OK", "RATE_LIMITED"]


async def test_too_many_anonymous_holds_never_reach_the_airline(
    make_settings: Callable[..., Settings],
) -> None:
    settings = live_settings(make_settings, booking_rate_limit="5/hour")
    async with running_world(settings, hold=True) as world:
        for _ in range(30):
            await world.call(
                CREATE,
                {"input": {"offerId": world.duffel.offer["data"]["id"],
                           "passengers": [PASSENGER]}},
            )  # fmt: skip
        holds = len(world.duffel.orders)
    assert holds == 5


async def test_with_redis_down_a_payment_subscription_says_unavailable_and_no_more(
    make_settings: Callable[..., Settings], private_redis: RedisServer
) -> None:
    from tests.support.live import GraphQLSocket, SandboxTrips, http_to, serving

    settings = make_settings(redis_url=private_redis.url)
    async with serving(settings) as server, http_to(server) as http:
        booked = await SandboxTrips(http).book()
        private_redis.stop()
        async with GraphQLSocket.connect(
            server, payload={"authorization": f"Bearer {booked.token}"}
        ) as socket:
            await socket.subscribe(
                "1",
                "subscription($ref: ID!) { paymentStatus(reference: $ref) { status } }",
                {"ref": booked.payment},
            )
            event = await socket.receive("1")
        private_redis.start()
    assert event.codes == ["UPSTREAM_UNAVAILABLE"]
    assert "Traceback" not in event.text
