"""What operators see and do through GraphQL: the work queue, each action (admins only, with a
reason, audited in the booking), the bookings search and the health report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphql_api.settings import Settings
from integrations.state.store import ConversationRecord
from tests.support.harness import Booked, World, duffel_event, live_settings, running_world

QUEUE = """
query { workQueue { id kind summary actions bookingReference paymentReference refundId changeId
  phone amount { amount currency } } }
"""
APPROVE = """
mutation($b: ID!, $p: ID!, $reason: String!) {
  approveHeldPayment(bookingReference: $b, paymentReference: $p, reason: $reason) {
    reference status auditLog { by action subject reason outcome } payment { status }
  }
}
"""
APPROVE_WITHOUT_REASON = """
mutation($b: ID!, $p: ID!) {
  approveHeldPayment(bookingReference: $b, paymentReference: $p) { reference }
}
"""
REFUND_HELD = """
mutation($b: ID!, $p: ID!, $reason: String!) {
  refundHeldPayment(bookingReference: $b, paymentReference: $p, reason: $reason) {
    reference status auditLog { action subject reason outcome }
  }
}
"""
RETRY = """
mutation($b: ID!, $r: ID!, $reason: String!) {
  retryRefund(bookingReference: $b, refundId: $r, reason: $reason) {
    reference auditLog { action subject reason outcome }
  }
}
"""
ACKNOWLEDGE = """
mutation($id: ID!, $reason: String!) {
  acknowledgeWorkItem(id: $id, reason: $reason) { reference auditLog { action subject reason } }
}
"""
ANSWER = """
mutation($b: ID!, $c: ID!, $answer: AirlineChangeAnswer!, $reason: String!) {
  answerAirlineChange(bookingReference: $b, changeId: $c, answer: $answer, reason: $reason) {
    status airlineChanges { answer answeredBy } auditLog { action subject reason }
  }
}
"""
RESOLVE = """
mutation($phone: String!, $reason: String!) {
  resolveHandoff(phone: $phone, reason: $reason) { by action subject reason }
}
"""
AUDIT = "query($r: ID!) { booking(reference: $r) { status auditLog { action reason } } }"
LEDGER_AUDIT = """
query($r: ID!) { ledger(bookingReference: $r) { audit { by action subject reason } refunds { id
  state } captures { role } } }
"""
BOOKINGS = """
query($status: BookingStatus, $channel: String, $from: DateTime, $to: DateTime, $search: String,
      $first: Int, $after: String) {
  bookings(status: $status, channel: $channel, createdFrom: $from, createdTo: $to,
           search: $search, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { reference } }
  }
}
"""
HEALTH = """
query { opsHealth { ready dependencies { name status mode } reconciler { enabled passes
  lastPassAt repaired { step count } } } }
"""


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return live_settings(make_settings)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def held_payment(world: World, short_by: int = 100_00) -> tuple[Booked, str]:
    """A booking whose traveller paid the wrong amount: the capture is held for review."""
    booked = await world.book()
    payment = await world.start_payment(booked)
    world.paystack.transactions[payment].amount -= short_by
    await world.pay(payment)
    return booked, payment


async def queue(world: World) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await world.ok(QUEUE, {}, world.admin))["workQueue"]
    return items


async def test_a_held_payment_is_queued_and_approving_it_confirms_the_booking_with_an_audit(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        booked, payment = await held_payment(world)
        [item] = await queue(world)
        approved = await world.ok(
            APPROVE,
            {"b": booked.reference, "p": payment, "reason": "Short by ₦100, agreed on the phone"},
            world.admin,
        )
        after = await queue(world)
        ledger = (await world.ok(LEDGER_AUDIT, {"r": booked.reference}, world.admin))["ledger"]

    assert item["kind"] == "HELD_PAYMENT"
    assert item["actions"] == ["approve", "refund"]
    assert (item["bookingReference"], item["paymentReference"]) == (booked.reference, payment)
    assert "expected" in item["summary"]
    booking = approved["approveHeldPayment"]
    assert booking["status"] == "CONFIRMED"
    assert booking["payment"]["status"] == "SUCCESS"
    [entry] = booking["auditLog"]
    assert entry == {
        "by": "admin",
        "action": "approve_held_payment",
        "subject": payment,
        "reason": "Short by ₦100, agreed on the phone",
        "outcome": "",
    }
    assert ledger["audit"][0]["action"] == "approve_held_payment"
    assert [c["role"] for c in ledger["captures"]] == ["BACKING"]
    assert after == []


async def test_refunding_a_held_payment_returns_the_money_and_keeps_the_booking_open(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        booked, payment = await held_payment(world)
        refunded = await world.ok(
            REFUND_HELD,
            {"b": booked.reference, "p": payment, "reason": "Traveller wants to pay again"},
            world.admin,
        )
        money = world.money_at_paystack(booked)
        after = await queue(world)

    booking = refunded["refundHeldPayment"]
    assert booking["status"] == "PENDING_PAYMENT"
    [entry] = booking["auditLog"]
    assert entry["action"] == "refund_held_payment"
    assert entry["reason"] == "Traveller wants to pay again"
    assert entry["outcome"] == f"{payment}-R1"
    captured, back = money
    assert captured == back > 0
    assert after == []


@pytest.mark.parametrize("mutation", ["approve", "refund"])
async def test_held_payment_actions_are_for_admins_with_a_reason_and_change_nothing_otherwise(
    settings: Settings, mutation: str
) -> None:
    document = APPROVE if mutation == "approve" else REFUND_HELD
    async with running_world(settings) as world:
        booked, payment = await held_payment(world)
        before = await world.ok(LEDGER_AUDIT, {"r": booked.reference}, world.admin)
        variables = {"b": booked.reference, "p": payment, "reason": "because"}
        anonymous = await world.call(document, variables)
        traveller = await world.call(document, variables, booked.headers)
        blank = await world.call(document, {**variables, "reason": "   "}, world.admin)
        missing = await world.call(
            APPROVE_WITHOUT_REASON, {"b": booked.reference, "p": payment}, world.admin
        )
        after = await world.ok(LEDGER_AUDIT, {"r": booked.reference}, world.admin)
        items = await queue(world)
        money = world.money_at_paystack(booked)

    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert codes(traveller) == ["FORBIDDEN"]
    assert codes(blank) == ["BAD_USER_INPUT"]
    assert codes(missing) == ["BAD_USER_INPUT"]
    assert after == before
    assert after["ledger"]["audit"] == []
    assert [i["kind"] for i in items] == ["HELD_PAYMENT"]
    assert money[1] == 0


async def test_approving_what_is_not_held_is_a_conflict(settings: Settings) -> None:
    async with running_world(settings) as world:
        booked = await world.book()
        payment = await world.start_payment(booked)
        await world.pay(payment)
        body = await world.call(
            APPROVE, {"b": booked.reference, "p": payment, "reason": "why not"}, world.admin
        )
        unknown = await world.call(
            APPROVE, {"b": "SFNOSUCH", "p": payment, "reason": "why not"}, world.admin
        )

    assert codes(body) == ["CONFLICT"]
    assert codes(unknown) == ["NOT_FOUND"]


async def test_a_failed_refund_is_queued_retried_with_a_reason_and_audited(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        booked, payment = await held_payment(world)
        await world.ok(
            REFUND_HELD,
            {"b": booked.reference, "p": payment, "reason": "wrong amount"},
            world.admin,
        )
        body, signature = world.paystack.refund_event(payment, "refund.failed")
        assert (await world.paystack_webhook(body, signature)).status_code == 200
        [failed] = await queue(world)
        traveller = await world.call(
            RETRY, {"b": booked.reference, "r": failed["refundId"], "reason": "x"}, booked.headers
        )
        blank = await world.call(
            RETRY, {"b": booked.reference, "r": failed["refundId"], "reason": ""}, world.admin
        )
        retried = await world.ok(
            RETRY,
            {"b": booked.reference, "r": failed["refundId"], "reason": "Bank fixed the account"},
            world.admin,
        )
        ledger = (await world.ok(LEDGER_AUDIT, {"r": booked.reference}, world.admin))["ledger"]
        after = await queue(world)

    assert failed["kind"] == "REFUND_FAILED"
    assert failed["actions"] == ["retry", "acknowledge"]
    assert codes(traveller) == ["FORBIDDEN"]
    assert codes(blank) == ["BAD_USER_INPUT"]
    entries = retried["retryRefund"]["auditLog"]
    assert [e["action"] for e in entries] == ["refund_held_payment", "retry_refund"]
    assert entries[-1]["subject"] == failed["refundId"]
    assert entries[-1]["outcome"] == f"{payment}-R2"
    assert [r["state"] for r in ledger["refunds"]] == ["FAILED", "ISSUED"]
    assert after == []


async def test_acknowledging_a_failed_refund_takes_it_off_the_queue_with_the_reason(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        booked, payment = await held_payment(world)
        await world.ok(
            REFUND_HELD,
            {"b": booked.reference, "p": payment, "reason": "wrong amount"},
            world.admin,
        )
        body, signature = world.paystack.refund_event(payment, "refund.failed")
        assert (await world.paystack_webhook(body, signature)).status_code == 200
        [failed] = await queue(world)
        partner = await world.call(ACKNOWLEDGE, {"id": failed["id"], "reason": "x"})
        blank = await world.call(ACKNOWLEDGE, {"id": failed["id"], "reason": " "}, world.admin)
        not_an_item = await world.call(
            ACKNOWLEDGE, {"id": f"held:{booked.reference}:{payment}", "reason": "x"}, world.admin
        )
        done = await world.ok(
            ACKNOWLEDGE,
            {"id": failed["id"], "reason": "Paid back by bank transfer, ticket 42"},
            world.admin,
        )
        again = await world.call(ACKNOWLEDGE, {"id": failed["id"], "reason": "x"}, world.admin)
        after = await queue(world)

    assert codes(partner) == ["UNAUTHENTICATED"]
    assert codes(blank) == ["BAD_USER_INPUT"]
    assert codes(not_an_item) == ["BAD_USER_INPUT"]
    assert codes(again) == ["CONFLICT"]
    last = done["acknowledgeWorkItem"]["auditLog"][-1]
    assert last == {
        "action": "acknowledge",
        "subject": failed["id"],
        "reason": "Paid back by bank transfer, ticket 42",
    }
    assert after == []


async def confirmed(world: World) -> Booked:
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.pay(payment)
    return booked


async def test_an_airline_change_is_queued_and_an_operator_answers_it_with_a_reason(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        booked = await confirmed(world)
        [order] = world.duffel.issued_orders_for(booked.reference)
        change = world.duffel.change_flights(order["id"], 90)
        event = duffel_event(
            "order.airline_initiated_change_detected", {"id": order["id"], "aic_id": change["id"]}
        )
        assert (await world.duffel_webhook(event)).status_code == 200
        [item] = await queue(world)
        variables = {"b": booked.reference, "c": item["changeId"], "answer": "ACCEPT"}
        traveller = await world.call(ANSWER, {**variables, "reason": "ok"}, booked.headers)
        blank = await world.call(ANSWER, {**variables, "reason": ""}, world.admin)
        answered = await world.ok(
            ANSWER, {**variables, "reason": "Traveller said yes on WhatsApp"}, world.admin
        )
        after = await queue(world)

    assert item["kind"] == "AIRLINE_CHANGE"
    assert item["actions"] == ["accept", "cancel"]
    assert codes(traveller) == ["FORBIDDEN"]
    assert codes(blank) == ["BAD_USER_INPUT"]
    booking = answered["answerAirlineChange"]
    assert booking["airlineChanges"][0]["answer"] == "accepted"
    assert booking["auditLog"] == [
        {
            "action": "airline_change_accept",
            "subject": item["changeId"],
            "reason": "Traveller said yes on WhatsApp",
        }
    ]
    assert after == []


async def test_a_whatsapp_traveller_who_asked_for_a_person_is_queued_until_resolved(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        booked = await confirmed(world)
        store = world.app.state.services.store  # type: ignore[union-attr]
        now = datetime.now(UTC)
        handoff = {"requested_at": now.isoformat(), "message": "I need a human", "reason": "asked"}
        await store.conversations.save(
            ConversationRecord(
                phone="2348031234567",
                state="confirmed",
                created_at=now,
                updated_at=now,
                data={"handoff": {**handoff, "profile_name": "Tunde"}},
                booking_references=[booked.reference],
            )
        )
        [item] = await queue(world)
        traveller = await world.call(
            RESOLVE, {"phone": "2348031234567", "reason": "x"}, booked.headers
        )
        blank = await world.call(RESOLVE, {"phone": "2348031234567", "reason": ""}, world.admin)
        unknown = await world.call(RESOLVE, {"phone": "2348000000000", "reason": "x"}, world.admin)
        resolved = await world.ok(
            RESOLVE, {"phone": "2348031234567", "reason": "Called back, rebooked"}, world.admin
        )
        after = await queue(world)
        audit = (await world.ok(AUDIT, {"r": booked.reference}, world.admin))["booking"]

    assert item["kind"] == "HANDOFF"
    assert item["phone"] == "2348031234567"
    assert item["bookingReference"] == booked.reference
    assert "I need a human" in item["summary"]
    assert codes(traveller) == ["FORBIDDEN"]
    assert codes(blank) == ["BAD_USER_INPUT"]
    assert codes(unknown) == ["NOT_FOUND"]
    assert resolved["resolveHandoff"] == {
        "by": "admin",
        "action": "resolve_handoff",
        "subject": "2348031234567",
        "reason": "Called back, rebooked",
    }
    assert after == []
    assert audit["auditLog"] == [{"action": "resolve_handoff", "reason": "Called back, rebooked"}]


async def test_the_work_queue_and_audit_log_are_for_admins_only(settings: Settings) -> None:
    async with running_world(settings) as world:
        booked, _ = await held_payment(world)
        anonymous = await world.call(QUEUE, {})
        traveller = await world.call(QUEUE, {}, booked.headers)
        audit = await world.call(AUDIT, {"r": booked.reference}, booked.headers)
        health = await world.call(HEALTH, {}, booked.headers)

    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert codes(traveller) == ["FORBIDDEN"]
    assert codes(audit) == ["FORBIDDEN"]
    assert codes(health) == ["FORBIDDEN"]


async def test_bookings_are_found_by_reference_email_phone_channel_and_date(
    settings: Settings,
) -> None:
    async with running_world(settings) as world:
        first = await world.book("Adeyemi")
        second = await world.book("Okafor")
        third = await world.book("Okafor")

        async def found(**variables: Any) -> dict[str, Any]:
            data = await world.ok(BOOKINGS, variables, world.admin)
            return dict(data["bookings"])

        def refs(page: dict[str, Any]) -> list[str]:
            return [e["node"]["reference"] for e in page["edges"]]

        by_reference = await found(search=second.reference.lower())
        by_phone = await found(search="+234 801 234 5678")
        by_channel = await found(channel="partner")
        api = await found(channel="api", first=2)
        rest = await found(channel="api", first=2, after=api["pageInfo"]["endCursor"])
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        future = await found(**{"from": tomorrow})
        today = await found(**{"from": yesterday, "to": tomorrow})
        too_many = await world.call(BOOKINGS, {"search": "x", "first": 500}, world.admin)

    assert refs(by_reference) == [second.reference]
    # Every test passenger shares one phone number, in local or international form.
    assert by_phone["totalCount"] == 3
    assert by_channel["totalCount"] == 0
    assert refs(api) == [third.reference, second.reference]
    assert api["pageInfo"]["hasNextPage"] is True
    assert api["totalCount"] == 3
    assert refs(rest) == [first.reference]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert future["totalCount"] == 0
    assert today["totalCount"] == 3
    assert codes(too_many) == ["BAD_USER_INPUT"]


async def test_ops_health_names_each_dependency_and_the_reconciler(settings: Settings) -> None:
    async with running_world(settings) as world:
        health = (await world.ok(HEALTH, {}, world.admin))["opsHealth"]

    names = {d["name"]: d for d in health["dependencies"]}
    assert {"database", "redis", "duffel", "paystack", "fx", "whatsapp"} <= set(names)
    assert names["database"]["status"] == "ok"
    assert names["paystack"]["mode"] == "live"
    assert health["ready"] is True
    assert health["reconciler"] == {
        "enabled": False,
        "passes": 0,
        "lastPassAt": None,
        "repaired": [],
    }
