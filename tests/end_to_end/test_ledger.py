"""The ledger operators read: refunds followed to the end (by webhook or look-up), disputes,
refunds whose outcome was not seen, the audit over the whole store, and bookings stored before
the ledger existed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from integrations.state.store import BookingRecord, PaymentRecord, open_store
from resolvers.lifecycle import BookingStatus, PaymentStatus
from tests.graphql_api.test_cli import run_cli
from tests.support.harness import LEDGER, Booked, World
from tests.support.saga import sign


async def refunded_booking(world: World) -> tuple[Booked, str]:
    """A paid booking the airline refused: its whole payment is being refunded."""
    world.duffel.create_mode = "refuse"
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.pay(payment)
    assert (await world.booking(booked))["status"] == "REFUNDED"
    return booked, payment


async def test_refund_processed_moves_the_ledger_and_the_traveller_hears_it(
    world: World,
) -> None:
    booked, payment = await refunded_booking(world)
    async with world.deps.bus.subscribe(patterns=["bookings:*"]) as news:
        response = await world.paystack_webhook(
            *world.paystack.refund_event(payment, "refund.processed")
        )
        heard = await asyncio.wait_for(news.__anext__(), 5)
    assert response.status_code == 200
    ledger = await world.ledger(booked)
    assert [r["state"] for r in ledger["refunds"]] == ["PROCESSED"]
    assert heard.data["kind"] == "refund_processed"
    assert heard.data["amount"].startswith("₦")
    # Redelivered: nothing changes, nothing is told twice.
    again = await world.paystack_webhook(*world.paystack.refund_event(payment, "refund.processed"))
    assert again.status_code == 200
    assert (await world.ledger(booked))["refunds"] == ledger["refunds"]


async def test_a_failed_refund_is_a_violation_that_needs_a_person(
    world: World, tmp_path: Path
) -> None:
    booked, payment = await refunded_booking(world)
    await world.paystack_webhook(*world.paystack.refund_event(payment, "refund.failed"))
    ledger = await world.ledger(booked)
    assert [r["state"] for r in ledger["refunds"]] == ["FAILED"]
    assert [(v["kind"], v["repairable"]) for v in ledger["violations"]] == [
        ("REFUND_FAILED", False)
    ]
    audit = await world.ok(
        "{ moneyAudit { checked violations { bookingReference kind repairable } } }",
        {},
        world.admin,
    )
    assert audit["moneyAudit"]["violations"] == [
        {"bookingReference": booked.reference, "kind": "REFUND_FAILED", "repairable": False}
    ]
    # The reconciler does not refund it again on its own.
    await world.settle_down()
    assert world.paystack.refund.call_count == 1


async def test_a_refund_made_in_paystacks_dashboard_is_recorded(world: World) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.pay(payment)
    transaction = world.paystack.transactions[payment]
    # An operator refunds half by hand at Paystack.
    transaction.refunds.append(
        {
            "id": 9_999_001,
            "amount": transaction.amount // 2,
            "currency": "NGN",
            "transaction": {"id": 1, "reference": payment},
            "status": "processed",
        }
    )
    await world.paystack_webhook(*world.paystack.refund_event(payment, "refund.processed"))
    ledger = await world.ledger(booked)
    assert [(r["reason"], r["state"]) for r in ledger["refunds"]] == [
        ("refunded at the provider", "PROCESSED")
    ]
    # Refunded while the order stands: the ledger says so, for a person to look at.
    assert [v["kind"] for v in ledger["violations"]] == ["REFUNDED_WHILE_ORDER_STANDS"]


async def test_a_dispute_is_recorded_for_operators(world: World) -> None:
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.pay(payment)
    event = {
        "event": "charge.dispute.create",
        "data": {
            "id": 358950,
            "refund_amount": 10000,
            "currency": "NGN",
            "status": "awaiting-merchant-feedback",
            "transaction": {"reference": payment, "amount": 10000},
        },
    }
    body = json.dumps(event).encode()
    assert (await world.paystack_webhook(body, sign(body))).status_code == 200
    ledger = await world.ledger(booked)
    assert ledger["disputes"] == [
        {"id": "358950", "status": "awaiting-merchant-feedback", "event": "charge.dispute.create"}
    ]


@pytest.mark.parametrize("mode", ["timeout_after_refund", "error_after_refund"])
async def test_a_refund_whose_answer_was_lost_is_found_not_made_twice(
    world: World, mode: str
) -> None:
    world.paystack.refund_mode = mode
    world.duffel.create_mode = "refuse"
    booked = await world.book()
    payment = await world.start_payment(booked)
    await world.pay(payment)
    assert (await world.booking(booked))["status"] == "FAILED"
    world.paystack.refund_mode = "ok"
    await world.settle_down()
    assert (await world.booking(booked))["status"] == "REFUNDED"
    assert world.paystack.refund.call_count == 1
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0


async def test_a_refund_that_never_reached_paystack_is_asked_again(world: World) -> None:
    world.paystack.refund_mode = "unreachable"
    world.duffel.create_mode = "refuse"
    booked = await world.book()
    await world.pay(await world.start_payment(booked))
    world.paystack.refund_mode = "ok"
    await world.settle_down()
    captured, refunded = world.money_at_paystack(booked)
    assert captured == refunded > 0
    assert (await world.booking(booked))["status"] == "REFUNDED"


async def test_the_ledger_is_for_admins_only(world: World) -> None:
    booked = await world.book()
    traveller = await world.call(LEDGER, {"ref": booked.reference}, booked.headers)
    anonymous = await world.call(LEDGER, {"ref": booked.reference})
    assert traveller["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_audit_command_passes_a_sound_store_and_fails_a_broken_one(
    world: World,
) -> None:
    booked = await world.book()
    await world.pay(await world.start_payment(booked))
    env = {"DATABASE_URL": world.settings.database_url}
    sound = run_cli("audit", env=env)
    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert "checked 1 bookings" in sound.stderr
    assert "every one holds the invariant" in sound.stderr
    # A refund the provider could not make breaks it.
    broken_booking, payment = await refunded_booking(world)
    await world.paystack_webhook(*world.paystack.refund_event(payment, "refund.failed"))
    broken = run_cli("audit", "--json", env=env)
    assert broken.returncode == 1
    (line,) = broken.stdout.splitlines()
    assert json.loads(line) | {"detail": ""} == {
        "booking": broken_booking.reference,
        "status": "REFUNDED",
        "kind": "refund_failed",
        "repairable": False,
        "detail": "",
    }


# --- Bookings stored before the ledger --------------------------------------------------------


def _old_booking(reference: str, status: BookingStatus, **data: object) -> BookingRecord:
    now = datetime.now(UTC)
    return BookingRecord(
        reference=reference,
        status=status,
        channel="api",
        offer_id="off_0000AJjwEHhflaMRlEm9NA",
        total_amount=Decimal("1000000.00"),
        total_currency="NGN",
        created_at=now - timedelta(hours=1),
        updated_at=now - timedelta(hours=1),
        airline_order_id="ord_0000old" if status is BookingStatus.CONFIRMED else None,
        airline_reference="OLD123" if status is BookingStatus.CONFIRMED else None,
        data={
            "passengers": [{"family_name": "Bakare", "offer_passenger_id": "pas_1"}],
            "airline_total": {"amount": "524.30", "currency": "GBP"},
            **data,
        },
    )


def _old_payment(
    reference: str, booking: str, status: PaymentStatus, **data: object
) -> PaymentRecord:
    now = datetime.now(UTC)
    return PaymentRecord(
        reference=reference,
        booking_reference=booking,
        status=status,
        mode="LIVE",
        amount_subunits=100000000,
        currency="NGN",
        created_at=now - timedelta(hours=1),
        updated_at=now - timedelta(hours=1),
        paid_at=now - timedelta(hours=1),
        data=dict(data),
    )


async def test_bookings_stored_before_the_ledger_are_accounted_for_not_refunded(
    world: World,
) -> None:
    store = await open_store(world.settings.database_url)
    try:
        await store.bookings.create(
            _old_booking(
                "SFOLD001",
                BookingStatus.CONFIRMED,
                paid_with="SFOLD001-AAAA",
                order_intent={"type": "instant", "correlation_id": "sf_old", "state": "created"},
            )
        )
        await store.payments.create(
            _old_payment("SFOLD001-AAAA", "SFOLD001", PaymentStatus.SUCCESS)
        )
        await store.bookings.create(
            _old_booking("SFOLD002", BookingStatus.REFUNDED, paid_with="SFOLD002-BBBB")
        )
        await store.payments.create(
            _old_payment(
                "SFOLD002-BBBB",
                "SFOLD002",
                PaymentStatus.REFUNDED,
                refund={
                    "amount_subunits": 100000000,
                    "state": "issued",
                    "id": "1",
                    "status": "processed",
                },
            )
        )
    finally:
        await store.close()
    from resolvers import reconciliation

    for reference in ("SFOLD001", "SFOLD002"):
        await reconciliation.drive(world.deps, reference, source="reconciler")
    checked, violations = await reconciliation.money_audit(
        world.deps.store, timings=world.deps.timings, now=world.clock()
    )
    assert (checked, violations) == (2, [])
    confirmed = await world.ok(LEDGER, {"ref": "SFOLD001"}, world.admin)
    assert [c["role"] for c in confirmed["ledger"]["captures"]] == ["BACKING"]
    assert [o["state"] for o in confirmed["ledger"]["orders"]] == ["CONFIRMED"]
    assert world.paystack.refund.call_count == 0
    assert world.duffel.create.call_count == 0
