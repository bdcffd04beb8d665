"""Travellers' notifications end to end: a signed webhook moves a booking, the outbox takes the
notice, the dispatcher sends it to a real SMTP server (and Termii and the Cloud API at the HTTP
layer), once, whatever fails on the way."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pypdfium2
import zxingcpp
from icalendar import Calendar

from graphql_api.app import create_app
from graphql_api.settings import Settings
from resolvers import reconciliation
from tests.support.harness import (
    Booked,
    World,
    duffel_event,
    live_settings,
    running_world,
)
from tests.support.helpers import REDIS_TEST_URL, upstream_fixture
from tests.support.smtp_server import SmtpTestServer

TERMII = "https://api.ng.termii.com/api/sms/send"
NOTIFICATIONS = """
query($ref: ID!) {
  booking(reference: $ref) {
    status airlineReference
    slices { segments { departingAt flightNumber } }
    notifications { kind channel status recipient attempts error detail providerId }
    airlineChanges {
      id summary answer answeredBy availableActions respondBy
      before { segments { departingAt } } after { segments { departingAt } }
    }
    notificationPreferences { sms emailReminders }
  }
}
"""
ACCEPT = """
mutation($ref: ID!, $change: ID!) {
  acceptAirlineChange(bookingReference: $ref, changeId: $change) {
    status slices { segments { departingAt } }
  }
}
"""
REFUSE = """
mutation($ref: ID!, $change: ID!) {
  cancelForAirlineChange(bookingReference: $ref, changeId: $change) { status }
}
"""
PREFERENCES = """
mutation($ref: ID!, $sms: Boolean, $reminders: Boolean) {
  updateNotificationPreferences(bookingReference: $ref, sms: $sms, emailReminders: $reminders) {
    notificationPreferences { sms emailReminders }
  }
}
"""


def notify_settings(
    make_settings: Callable[..., Settings], smtp: SmtpTestServer, **overrides: Any
) -> Settings:
    return live_settings(
        make_settings,
        smtp_url=smtp.url,
        email_from="SureFlights <no-reply@sureflights.example>",
        public_base_url="https://sureflights.example",
        support_contact="help@sureflights.example",
        **overrides,
    )


def qr_codes_in(pdf: bytes) -> list[str]:
    """The QR codes on the PDF's first page, as a scanner reads them from the rendered page."""
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=3).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image) if code.format.name == "QRCode"]


async def confirmed(world: World) -> Booked:
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.pay(payment)
    assert (await world.booking(booked))["status"] == "CONFIRMED"
    return booked


async def notifications(world: World, booked: Booked) -> dict[str, Any]:
    data = await world.ok(NOTIFICATIONS, {"ref": booked.reference}, world.admin)
    booking: dict[str, Any] = data["booking"]
    return booking


async def settled(world: World, booked: Booked, count: int) -> list[dict[str, Any]]:
    """The booking's notifications once `count` of them are no longer waiting to be sent."""
    for _ in range(200):
        found = (await notifications(world, booked))["notifications"]
        if sum(n["status"] not in ("PENDING", "SENDING") for n in found) >= count:
            return list(found)
        await asyncio.sleep(0.05)
    raise AssertionError(f"notifications still waiting: {found}")


def with_subject(smtp: SmtpTestServer, pattern: str) -> list[Any]:
    return [m for m in smtp.received if re.search(pattern, m.subject)]


# --- Confirmation ------------------------------------------------------------------------------


async def test_a_paid_booking_is_confirmed_by_email_with_itinerary_receipt_and_calendar(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await confirmed(world)
        [email] = await smtp_server.wait_for(1)
        booking = await notifications(world, booked)
        found = await settled(world, booked, 1)

    airline_ref = booking["airlineReference"]
    assert email.recipients == ["tunde@example.com"]
    assert (
        email.subject
        == f"Your flight is booked: {booked.reference} (airline reference {airline_ref})"
    )
    text = email.part("text/plain").replace("\r\n", "\n")
    segments = [s for piece in booking["slices"] for s in piece["segments"]]
    for segment in segments:
        assert segment["flightNumber"] in text
        departs = datetime.fromisoformat(segment["departingAt"])
        assert departs.strftime("%a %d %b %Y, %H:%M") in text  # the airport's local time
    # Charged in naira for a fare in pounds: the receipt says at what rate.
    receipt = (
        r"Receipt: paid ₦[\d,]+\.\d\d "
        r"\(the airline's fare of £[\d.,]+ at 1 GBP = [\d,.]+ NGN\)"
    )
    assert re.search(receipt, text)
    assert "Mr Tunde Bakare" in text
    attachments = email.attachments()
    pdf = attachments[f"itinerary-{booked.reference}.pdf"]
    assert pdf.startswith(b"%PDF") and booked.reference.encode() in pdf
    assert qr_codes_in(pdf) == [booked.reference]  # what a desk agent's scanner reads
    calendar = Calendar.from_ical(attachments[f"flights-{booked.reference}.ics"])
    events = calendar.walk("VEVENT")
    assert [e.decoded("dtstart") for e in events] == [
        datetime.fromisoformat(s["departingAt"]).astimezone(UTC) for s in segments
    ]
    assert [(n["kind"], n["channel"], n["status"]) for n in found] == [
        ("CONFIRMATION", "EMAIL", "SENT")
    ]
    assert found[0]["providerId"] == email.message["Message-ID"]


async def test_a_redelivered_payment_webhook_sends_nothing_twice(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await world.book()
        payment = await world.start_payment(booked)
        world.paystack.pay(payment)
        webhook = world.paystack.charge_success(payment)
        for _ in range(3):
            assert (await world.paystack_webhook(*webhook)).status_code == 200
        await smtp_server.wait_for(1)
        await world.settle_down(rounds=3)
        await asyncio.sleep(0.3)
    assert len(with_subject(smtp_server, "Your flight is booked")) == 1


async def test_an_sms_goes_too_when_sms_is_on_and_stops_when_the_traveller_opts_out(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    settings = notify_settings(
        make_settings,
        smtp_server,
        sms_notifications=True,
        termii_api_key="TLtermii-test-key",
        termii_sender_id="SureFlight",
    )
    async with running_world(settings) as world:
        termii = world.router.post(TERMII).respond(
            200, json=upstream_fixture("termii_send_sms_response.json")
        )
        first = await confirmed(world)
        await settled(world, first, 2)
        second = await world.book(family_name="Okafor")
        await world.ok(PREFERENCES, {"ref": second.reference, "sms": False}, second.headers)
        await world.pay(await world.start_payment(second))
        found = await settled(world, second, 2)

    [sent] = [json.loads(call.request.content) for call in termii.calls]
    assert sent["to"] == "2348012345678" and sent["from"] == "SureFlight"
    assert first.reference in sent["sms"] and len(sent["sms"]) <= 306  # two segments at most
    sms = next(n for n in found if n["channel"] == "SMS")
    assert (sms["status"], sms["detail"]) == ("SKIPPED", "opted out of SMS")


# --- Held bookings: reminder, then expiry ---------------------------------------------------


async def test_a_held_booking_is_reminded_before_pay_by_then_told_it_expired(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server), hold=True) as world:
        booked = await world.book()
        data = await world.ok(
            "query($ref: ID!) { booking(reference: $ref) { payBy } }",
            {"ref": booked.reference},
            booked.headers,
        )
        pay_by = datetime.fromisoformat(data["booking"]["payBy"])
        # The offer holds for 30 minutes, less than the three hours a reminder is sent ahead:
        # it goes halfway there.
        assert pay_by - datetime.now(UTC) < timedelta(minutes=31)
        await world.reconcile()
        assert smtp_server.received == []
        world.clock.offset = (pay_by - datetime.now(UTC)) / 2 + timedelta(seconds=5)
        await world.reconcile()
        [reminder] = await smtp_server.wait_for(1)
        world.clock.offset = pay_by - datetime.now(UTC) + timedelta(minutes=1)
        await world.settle_down(rounds=2)
        emails = await smtp_server.wait_for(2)

    assert reminder.subject.startswith("Pay by ") and booked.reference in reminder.subject
    unsubscribe = reminder.message["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<https://sureflights.example/trip/{booked.reference}?token=")
    assert reminder.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert emails[1].subject == f"Booking {booked.reference} has expired"


async def test_a_traveller_who_stopped_reminders_by_email_still_hears_the_booking_expired(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server), hold=True) as world:
        booked = await world.book()
        await world.ok(PREFERENCES, {"ref": booked.reference, "reminders": False}, booked.headers)
        world.clock.advance(timedelta(minutes=20))  # the reminder's time: skipped
        await world.settle_down(rounds=2)
        world.clock.advance(timedelta(days=3))
        await world.settle_down(rounds=3)
        [expired] = await smtp_server.wait_for(1)
        found = await settled(world, booked, 2)

    assert expired.subject == f"Booking {booked.reference} has expired"
    reminder = next(n for n in found if n["kind"] == "PAYMENT_REMINDER")
    assert (reminder["status"], reminder["detail"]) == (
        "SKIPPED",
        "opted out of reminders by email",
    )


# --- Refunds -------------------------------------------------------------------------------


async def test_a_failed_booking_is_refunded_in_full_then_told_when_the_refund_is_processed(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        world.duffel.create_mode = "refuse"
        booked = await world.book()
        payment = await world.start_payment(booked)
        await world.pay(payment)
        await world.settle_down(rounds=3)
        [refund] = await smtp_server.wait_for(1)
        body, signature = world.paystack.refund_event(payment, "refund.processed")
        assert (await world.paystack_webhook(body, signature)).status_code == 200
        emails = await smtp_server.wait_for(2)

    assert refund.subject.startswith("A refund of ₦") and "is on its way" in refund.subject
    assert "refunded in full" in refund.part("text/plain")
    assert emails[1].subject.startswith("Your refund of ₦")
    assert "is processed" in emails[1].subject


# --- Airline changes ---------------------------------------------------------------------------


async def airline_change(world: World, booked: Booked, minutes: int = 90) -> dict[str, Any]:
    [order] = world.duffel.issued_orders_for(booked.reference)
    change = world.duffel.change_flights(order["id"], minutes)
    event = duffel_event(
        "order.airline_initiated_change_detected", {"id": order["id"], "aic_id": change["id"]}
    )
    assert (await world.duffel_webhook(event)).status_code == 200
    return change


async def test_an_airline_change_is_told_by_email_and_accepting_keeps_the_new_times(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await confirmed(world)
        await smtp_server.wait_for(1)
        change = await airline_change(world, booked)
        emails = await smtp_server.wait_for(2)
        before = await notifications(world, booked)
        accepted = await world.ok(
            ACCEPT, {"ref": booked.reference, "change": change["id"]}, booked.headers
        )
        after = await notifications(world, booked)

    told = emails[1]
    assert told.subject == f"The airline changed your flight: {booked.reference}"
    text = told.part("text/plain")
    assert "Before:" in text and "Now:" in text and "1h30m later" in text
    assert f"https://sureflights.example/trip/{booked.reference}?token=" in text
    [recorded] = before["airlineChanges"]
    assert recorded["availableActions"] == ["accept", "cancel"]
    assert recorded["answer"] is None
    old = datetime.fromisoformat(recorded["before"][0]["segments"][0]["departingAt"])
    new = datetime.fromisoformat(recorded["after"][0]["segments"][0]["departingAt"])
    assert new - old == timedelta(minutes=90)
    # The airline was told, and the booking now shows the times it will fly.
    assert world.duffel.accept.call_count == 1
    assert (
        accepted["acceptAirlineChange"]["slices"][0]["segments"][0]["departingAt"]
        == (recorded["after"][0]["segments"][0]["departingAt"])
    )
    [answered] = after["airlineChanges"]
    assert (answered["answer"], answered["answeredBy"]) == ("accepted", "traveller")


async def test_refusing_an_airline_change_cancels_with_the_refund_the_airline_allows(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await confirmed(world)
        change = await airline_change(world, booked)
        await smtp_server.wait_for(2)
        refused = await world.ok(
            REFUSE, {"ref": booked.reference, "change": change["id"]}, booked.headers
        )
        await world.settle_down(rounds=2)
        emails = await smtp_server.wait_for(4)
        captured, refunded = world.money_at_paystack(booked)

    assert refused["cancelForAirlineChange"]["status"] == "CANCELLED"
    assert world.duffel.live_orders_for(booked.reference) == []
    assert 0 < refunded <= captured  # what the airline's cancellation quote returns
    subjects = [e.subject for e in emails]
    assert f"Booking {booked.reference} is cancelled" in subjects
    assert any(s.startswith("A refund of ₦") for s in subjects)


async def test_the_link_in_the_email_answers_the_change_with_a_post_never_a_get(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await confirmed(world)
        change = await airline_change(world, booked)
        emails = await smtp_server.wait_for(2)
        link = re.search(r"https://sureflights\.example(/trip/\S+)", emails[1].part("text/plain"))
        assert link is not None
        page = await world.client.get(link.group(1))
        assert world.duffel.accept.call_count == 0  # reading the page changes nothing
        posted = await world.client.post(
            link.group(1), data={"action": "accept_change", "change": change["id"]}
        )
        stranger = await world.client.get(f"/trip/{booked.reference}?token=not-a-token")
        answered = (await notifications(world, booked))["airlineChanges"][0]

    assert page.status_code == 200 and "Keep the new times" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert posted.status_code == 200 and "you keep the new times" in posted.text
    assert answered["answer"] == "accepted"
    assert stranger.status_code == 403


async def test_a_lost_change_webhook_is_caught_by_the_periodic_check(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await confirmed(world)
        await smtp_server.wait_for(1)
        [order] = world.duffel.issued_orders_for(booked.reference)
        world.duffel.change_flights(order["id"], -45)  # its webhook never arrives
        await world.reconcile(timedelta(hours=5))
        assert len(smtp_server.received) == 1
        await world.reconcile(timedelta(hours=1, minutes=5))
        emails = await smtp_server.wait_for(2)

    assert emails[1].subject == f"The airline changed your flight: {booked.reference}"
    assert "0h45m earlier" in emails[1].part("text/plain")


async def test_the_check_in_reminder_comes_a_day_before_departure(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    settings = notify_settings(make_settings, smtp_server, airline_change_check_hours=0)
    async with running_world(settings) as world:
        booked = await confirmed(world)
        await smtp_server.wait_for(1)
        booking = await notifications(world, booked)
        departs = datetime.fromisoformat(booking["slices"][0]["segments"][0]["departingAt"])
        world.clock.offset = departs - datetime.now(UTC) - timedelta(hours=24, minutes=1)
        await world.reconcile()
        assert len(smtp_server.received) == 1
        world.clock.advance(timedelta(minutes=2))
        await world.reconcile()
        emails = await smtp_server.wait_for(2)

    assert emails[1].subject.startswith("Check in for your flight")
    assert booking["airlineReference"] in emails[1].subject


# --- Faults ------------------------------------------------------------------------------------


async def test_an_smtp_outage_is_retried_until_the_server_is_back(
    make_settings: Callable[..., Settings],
) -> None:
    smtp = SmtpTestServer()  # not listening yet
    async with running_world(notify_settings(make_settings, smtp)) as world:
        booked = await confirmed(world)
        failed: dict[str, Any] = {}
        for _ in range(200):
            found = (await notifications(world, booked))["notifications"]
            if found and found[0]["attempts"] >= 1 and found[0]["status"] == "PENDING":
                failed = found[0]
                break
            await asyncio.sleep(0.05)
        smtp.start()
        try:
            world.clock.advance(timedelta(minutes=1))  # past the first retry's wait
            [email] = await smtp.wait_for(1)
            [sent] = await settled(world, booked, 1)
        finally:
            smtp.stop()

    assert failed["status"] == "PENDING" and failed["error"].startswith("smtp: ")
    assert email.subject.startswith("Your flight is booked")
    assert (sent["status"], sent["attempts"], sent["error"]) == ("SENT", 2, None)


async def test_a_crash_right_after_the_confirmation_loses_no_notification(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server)) as world:
        booked = await world.book()
        payment = await world.start_payment(booked)
        world.pauses.crash("notices.written")
        await world.pay(payment)  # confirmed, then the process stops before telling anyone
        await asyncio.sleep(0.3)
        assert smtp_server.received == []
        await world.restart()
        await world.reconcile()
        [email] = await smtp_server.wait_for(1)
    assert email.subject.startswith("Your flight is booked")
    assert ("notices.written", booked.reference) in world.pauses.seen


async def test_two_replicas_sharing_redis_and_the_database_send_each_notification_once(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    settings = notify_settings(make_settings, smtp_server, redis_url=REDIS_TEST_URL)
    async with running_world(settings) as world:
        replica = create_app(settings, saga_hooks=world.pauses, clock=world.clock)
        async with (
            replica.router.lifespan_context(replica),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=replica), base_url="http://replica"
            ) as other,
        ):
            booked = await world.book()
            payment = await world.start_payment(booked)
            world.paystack.pay(payment)
            body, signature = world.paystack.charge_success(payment)
            headers = {"content-type": "application/json", "x-paystack-signature": signature}
            answers = await asyncio.gather(
                world.paystack_webhook(body, signature),
                other.post("/webhooks/paystack", content=body, headers=headers),
            )
            assert [a.status_code for a in answers] == [200, 200]
            await smtp_server.wait_for(1)
            await asyncio.gather(
                world.reconcile(), reconciliation.reconcile(replica.state.services.bookings.deps)
            )
            await asyncio.sleep(1.5)  # both dispatchers have had every chance to send again
    assert len(with_subject(smtp_server, "Your flight is booked")) == 1


async def test_the_unsubscribe_post_of_mail_clients_is_one_click(
    make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> None:
    async with running_world(notify_settings(make_settings, smtp_server), hold=True) as world:
        booked = await world.book()
        link = f"/trip/{booked.reference}?token={booked.token}&stop=reminders"
        answer = await world.client.post(
            link,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        preferences = (await notifications(world, booked))["notificationPreferences"]
    assert answer.status_code == 200
    assert preferences == {"sms": True, "emailReminders": False}
