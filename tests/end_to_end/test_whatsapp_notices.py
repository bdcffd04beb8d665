"""A WhatsApp traveller hears about the trip on WhatsApp: free-form with buttons inside the 24-hour
window, an approved template outside it, and answers an airline change or stops SMS by tapping or
typing. Meta's side is signed webhook deliveries and a Cloud API answered at the HTTP layer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conversation.session import State
from conversation.transcript import Transcript
from graphql_api.bootstrap import in_process_executor
from graphql_api.settings import Settings
from tests.end_to_end.test_notifications import airline_change, notifications, notify_settings
from tests.support.harness import CREATE, PAY, Booked, World, running_world
from tests.support.meta import APP_SECRET, PHONE_NUMBER_ID, TRAVELLER, WhatsApp, choices_of
from tests.support.saga import PASSENGER
from tests.support.smtp_server import SmtpTestServer

GRAPH = "https://graph.facebook.com/v26.0"


def whatsapp_notify_settings(
    make_settings: Callable[..., Settings], smtp: SmtpTestServer, **overrides: Any
) -> Settings:
    return notify_settings(
        make_settings,
        smtp,
        whatsapp_api_url=GRAPH,
        whatsapp_access_token="wa-test-token",
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_app_secret=APP_SECRET,
        **overrides,
    )


async def booked_on_whatsapp(world: World) -> Booked:
    """The assistant books and starts the payment on the traveller's behalf; the traveller pays."""
    assert world.app is not None
    services = world.app.state.services
    execute = in_process_executor(world.app.state.executor, lambda: services)
    offer_id = world.duffel.offer["data"]["id"]
    created = await execute(
        CREATE, {"input": {"offerId": offer_id, "passengers": [PASSENGER]}}, wa_id=TRAVELLER
    )
    assert created.errors == [] and created.data is not None, created.errors
    booked = Booked(
        created.data["createBooking"]["booking"]["reference"],
        created.data["createBooking"]["accessToken"],
    )
    started = await execute(
        PAY, {"ref": booked.reference}, wa_id=TRAVELLER, access_token=booked.token
    )
    assert started.data is not None, started.errors
    # As the assistant does when it books: the conversation (if the traveller wrote) keeps it.
    transcript = Transcript(world.deps.store.conversations, world.deps.store.processed_events)
    await transcript.remember(
        TRAVELLER,
        state=State.AWAITING_PAYMENT.value,
        booking_reference=booked.reference,
        access_token=booked.token,
        now=datetime.now(UTC),
    )
    await world.pay(started.data["initializePayment"]["reference"])
    return booked


async def confirmed_in_a_conversation(world: World) -> tuple[WhatsApp, Booked]:
    """The traveller writes (the 24-hour window opens), books and pays; the confirmation came."""
    wa = whatsapp_for(world)
    await wa.say("hi")
    booked = await booked_on_whatsapp(world)
    await wa.wait_for(booked.reference)
    return wa, booked


def whatsapp_for(world: World) -> WhatsApp:
    assert world.app is not None and world.http is not None
    return WhatsApp(world.app, world.http, world.router, GRAPH)


async def test_inside_the_window_a_change_comes_with_buttons_and_a_tap_accepts_it(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(whatsapp_notify_settings(make_settings, smtp_server)) as world:
        wa = whatsapp_for(world)
        await wa.say("hello")  # the traveller writes: the 24-hour window is open
        booked = await booked_on_whatsapp(world)
        await wa.wait_for(booked.reference)  # the confirmation
        change = await airline_change(world, booked, minutes=120)
        told = await wa.wait_for("changed")
        buttons = choices_of(told)
        keep = next(b for b in buttons if b[1] == "Keep new times")
        answered = await wa.tap(keep[0], keep[1], listed=False)
        found = await notifications(world, booked)

    assert told["type"] == "interactive" and len(buttons) == 2
    assert world.duffel.accept.call_count == 1
    [recorded] = found["airlineChanges"]
    assert recorded["id"] == change["id"]
    assert (recorded["answer"], recorded["answeredBy"]) == ("accepted", "whatsapp")
    assert any(booked.reference in str(m) for m in answered)
    on_whatsapp = [n for n in found["notifications"] if n["channel"] == "WHATSAPP"]
    assert {n["kind"] for n in on_whatsapp} >= {"CONFIRMATION", "AIRLINE_CHANGE"}
    assert all(n["status"] == "SENT" for n in on_whatsapp)


async def test_refusing_by_button_cancels_the_booking_with_the_airline_refund(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(whatsapp_notify_settings(make_settings, smtp_server)) as world:
        wa, booked = await confirmed_in_a_conversation(world)
        await airline_change(world, booked)
        told = await wa.wait_for("changed")
        refuse = next(b for b in choices_of(told) if b[1] != "Keep new times")
        await wa.tap(refuse[0], refuse[1], listed=False)
        await world.settle_down(rounds=2)
        status = (await world.booking(booked))["status"]

    assert status == "CANCELLED"
    assert world.duffel.live_orders_for(booked.reference) == []


async def test_outside_the_window_the_change_is_the_approved_template(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(whatsapp_notify_settings(make_settings, smtp_server)) as world:
        wa = whatsapp_for(world)
        booked = await booked_on_whatsapp(world)  # the traveller never wrote: no window
        await wa.wait_for(booked.reference)
        await airline_change(world, booked)
        told = await wa.wait_for("airline_change")

    confirmation = wa.sent[0]
    assert confirmation["type"] == "template"
    assert confirmation["template"]["name"] == "booking_confirmed"
    assert told["type"] == "template" and told["template"]["name"] == "airline_change"
    shown = [p["text"] for p in told["template"]["components"][0]["parameters"]]
    assert shown[0] == booked.reference


@pytest.mark.parametrize("typed", ["stop sms", "STOP SMS please", "no more texts"])
async def test_typing_stop_sms_turns_text_messages_off_for_the_travellers_bookings(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer, typed: str
) -> None:
    async with running_world(whatsapp_notify_settings(make_settings, smtp_server)) as world:
        wa, booked = await confirmed_in_a_conversation(world)
        replies = await wa.say(typed)
        preferences = (await notifications(world, booked))["notificationPreferences"]

    assert preferences == {"sms": False, "emailReminders": True}
    assert replies and booked.reference in str(replies[-1])


async def test_a_tap_on_an_old_change_after_the_airline_deadline_changes_nothing(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(whatsapp_notify_settings(make_settings, smtp_server)) as world:
        wa, booked = await confirmed_in_a_conversation(world)
        await airline_change(world, booked)
        told = await wa.wait_for("changed")
        keep = next(b for b in choices_of(told) if b[1] == "Keep new times")
        await wa.tap(keep[0], keep[1], listed=False)
        again = await wa.tap(keep[0], keep[1], listed=False)  # tapped twice
        world.clock.advance(timedelta(minutes=1))
        found = await notifications(world, booked)

    assert world.duffel.accept.call_count == 1
    assert again  # the traveller is told, not left without an answer
    assert [c["answer"] for c in found["airlineChanges"]] == ["accepted"]
