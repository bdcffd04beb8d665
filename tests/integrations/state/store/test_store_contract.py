"""The storage contract: every test runs against SQLite, PostgreSQL and MongoDB."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from integrations.state.store import (
    ApiKeyRecord,
    BookingRecord,
    ConversationRecord,
    DuplicateKey,
    PaymentRecord,
    Store,
    StoreUnavailable,
    TrustedDocumentRecord,
    open_store,
)

if TYPE_CHECKING:
    from tests.integrations.state.store.conftest import StoreOpener

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

BOOKING_DATA: dict[str, Any] = {
    "offer": {
        "id": "off_0000AgYLO2uc2D6RXu8Ct5",
        "owner": {"iata_code": "P4", "name": "Air Peace"},
        "slices": [{"origin": "LOS", "destination": "ABV", "stops": 0}],
    },
    "passengers": [{"given_name": "Adaeze", "family_name": "Okafor", "born_on": "1990-04-12"}],
    "fx_rate": "1530.25",
    "passenger_count": 1,
    "markup_ratio": 0.125,
    "refundable": False,
    "change_penalty": None,
    "greeting": "Ẹ káàbọ̀ ✈",
}


def make_booking(reference: str = "SF-0001", **overrides: Any) -> BookingRecord:
    values: dict[str, Any] = {
        "reference": reference,
        "status": "PENDING_PAYMENT",
        "channel": "api",
        "partner_id": "partner-a",
        "offer_id": "off_0000AgYLO2uc2D6RXu8Ct5",
        "total_amount": Decimal("125000.50"),
        "total_currency": "NGN",
        "airline_reference": None,
        "airline_order_id": None,
        "pay_by": T0 + 60 * MINUTE,
        "expires_at": T0 + 30 * MINUTE,
        "created_at": T0,
        "updated_at": T0,
        "data": BOOKING_DATA,
    }
    return BookingRecord(**{**values, **overrides})


def make_payment(reference: str = "PAY-0001", **overrides: Any) -> PaymentRecord:
    values: dict[str, Any] = {
        "reference": reference,
        "booking_reference": "SF-0001",
        "status": "PENDING",
        "mode": "SANDBOX",
        "amount_subunits": 12500050,
        "currency": "NGN",
        "authorization_url": "https://checkout.paystack.com/abc123",
        "created_at": T0,
        "updated_at": T0,
        "data": {"channel": "card"},
    }
    return PaymentRecord(**{**values, **overrides})


# --- bookings ---------------------------------------------------------------------------------


async def test_booking_comes_back_exactly_as_created(store: Store) -> None:
    booking = make_booking(airline_reference="ABC123", airline_order_id="ord_1", version=3)

    created = await store.bookings.create(booking)
    fetched = await store.bookings.get("SF-0001")

    assert created == booking
    assert fetched == booking
    assert fetched is not None
    assert str(fetched.total_amount) == "125000.50"
    assert fetched.data == BOOKING_DATA
    assert fetched.created_at.tzinfo is not None
    assert fetched.created_at.utcoffset() == timedelta(0)


async def test_optional_booking_fields_come_back_as_none(store: Store) -> None:
    booking = make_booking(partner_id=None, pay_by=None, expires_at=None, data={})

    await store.bookings.create(booking)

    assert await store.bookings.get("SF-0001") == booking


async def test_datetimes_come_back_in_utc_at_millisecond_precision(store: Store) -> None:
    lagos = timezone(timedelta(hours=1))
    created_at = datetime(2025, 3, 1, 10, 30, 0, 123456, tzinfo=lagos)

    created = await store.bookings.create(make_booking(created_at=created_at))
    fetched = await store.bookings.get("SF-0001")

    expected = datetime(2025, 3, 1, 9, 30, 0, 123000, tzinfo=UTC)
    assert fetched is not None
    assert fetched.created_at == expected
    assert fetched.created_at.tzinfo == UTC
    assert created.created_at == expected


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        await store.bookings.create(make_booking(created_at=datetime(2025, 3, 1, 9, 30)))

    assert await store.bookings.get("SF-0001") is None


async def test_decimal_inside_data_is_refused_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(ValueError, match="store Decimal amounts as strings"):
        await store.bookings.create(make_booking(data={"fx_rate": Decimal("1530.25")}))

    assert await store.bookings.get("SF-0001") is None


async def test_unknown_booking_is_none(store: Store) -> None:
    assert await store.bookings.get("SF-MISSING") is None


async def test_creating_a_booking_with_a_taken_reference_raises_duplicate_key(
    store: Store,
) -> None:
    await store.bookings.create(make_booking())

    with pytest.raises(DuplicateKey):
        await store.bookings.create(make_booking(channel="whatsapp"))

    stored = await store.bookings.get("SF-0001")
    assert stored is not None
    assert stored.channel == "api"


async def test_transition_is_refused_from_a_status_not_listed(store: Store) -> None:
    await store.bookings.create(make_booking())

    refused = await store.bookings.transition(
        "SF-0001", from_statuses=["CONFIRMING"], to_status="CONFIRMED", now=T0 + MINUTE
    )

    assert refused is None
    assert await store.bookings.get("SF-0001") == make_booking()


async def test_transition_of_an_unknown_booking_is_none(store: Store) -> None:
    moved = await store.bookings.transition(
        "SF-MISSING", from_statuses=["PENDING_PAYMENT"], to_status="CONFIRMING", now=T0
    )

    assert moved is None


async def test_transition_moves_status_bumps_version_and_applies_changes(store: Store) -> None:
    await store.bookings.create(make_booking())

    moved = await store.bookings.transition(
        "SF-0001",
        from_statuses=["PENDING_PAYMENT", "CONFIRMING"],
        to_status="CONFIRMED",
        changes={"airline_reference": "XK7Q2P", "data": {"payment_reference": "PAY-0001"}},
        now=T0 + 5 * MINUTE,
    )

    assert moved is not None
    assert moved.status == "CONFIRMED"
    assert moved.version == 2
    assert moved.updated_at == T0 + 5 * MINUTE
    assert moved.created_at == T0
    assert moved.airline_reference == "XK7Q2P"
    assert moved.data == {**BOOKING_DATA, "payment_reference": "PAY-0001"}
    assert await store.bookings.get("SF-0001") == moved


async def test_data_change_replaces_a_top_level_key_whole(store: Store) -> None:
    await store.bookings.create(make_booking())

    moved = await store.bookings.transition(
        "SF-0001",
        from_statuses=["PENDING_PAYMENT"],
        to_status="CONFIRMING",
        changes={"data": {"offer": {"id": "off_new"}, "passenger_count": 2}},
        now=T0 + MINUTE,
    )

    assert moved is not None
    assert moved.data["offer"] == {"id": "off_new"}
    assert moved.data["passenger_count"] == 2
    assert moved.data["fx_rate"] == "1530.25"


async def test_concurrent_transitions_have_exactly_one_winner(
    store: Store, opener: StoreOpener
) -> None:
    # Half the calls go through a second store on the same database, as from another replica.
    other = await opener.open()
    await store.bookings.create(make_booking())

    results = await asyncio.gather(
        *(
            (store if attempt % 2 else other).bookings.transition(
                "SF-0001",
                from_statuses=["PENDING_PAYMENT"],
                to_status="CONFIRMING",
                changes={"data": {"settled_by": f"attempt-{attempt}"}},
                now=T0 + MINUTE,
            )
            for attempt in range(20)
        )
    )

    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    stored = await store.bookings.get("SF-0001")
    assert stored == winners[0]
    assert stored is not None
    assert stored.status == "CONFIRMING"
    assert stored.version == 2


async def test_update_with_the_current_version_applies_and_bumps_it(store: Store) -> None:
    await store.bookings.create(make_booking())

    updated = await store.bookings.update(
        "SF-0001",
        expected_version=1,
        changes={"airline_order_id": "ord_9", "total_amount": Decimal("130000.00")},
        now=T0 + 2 * MINUTE,
    )

    assert updated is not None
    assert updated.version == 2
    assert updated.status == "PENDING_PAYMENT"
    assert updated.airline_order_id == "ord_9"
    assert str(updated.total_amount) == "130000.00"
    assert updated.updated_at == T0 + 2 * MINUTE
    assert await store.bookings.get("SF-0001") == updated


async def test_update_with_a_stale_version_changes_nothing(store: Store) -> None:
    await store.bookings.create(make_booking())
    first = await store.bookings.update(
        "SF-0001", expected_version=1, changes={"airline_order_id": "ord_1"}, now=T0 + MINUTE
    )

    stale = await store.bookings.update(
        "SF-0001", expected_version=1, changes={"airline_order_id": "ord_2"}, now=T0 + MINUTE
    )

    assert stale is None
    assert await store.bookings.get("SF-0001") == first


async def test_changes_outside_the_changeable_fields_are_refused(store: Store) -> None:
    await store.bookings.create(make_booking())

    with pytest.raises(ValueError, match="'status' cannot be changed"):
        await store.bookings.update("SF-0001", expected_version=1, changes={"status": "CONFIRMED"})
    with pytest.raises(ValueError, match="cannot be merged"):
        await store.bookings.update("SF-0001", expected_version=1, changes={"data": {"a.b": 1}})

    assert await store.bookings.get("SF-0001") == make_booking()


async def test_looking_up_a_key_with_a_nul_character_finds_nothing(store: Store) -> None:
    # References and phone numbers come from callers; a NUL in one must not fail the look-up.
    await store.bookings.create(make_booking())
    await store.payments.create(make_payment())
    await store.api_keys.create(make_api_key("key-1"))

    assert await store.bookings.get("SF-0001\x00") is None
    assert await store.payments.get("PAY-0001\x00") is None
    assert await store.payments.get_latest_for_booking("SF-0001\x00") is None
    assert await store.bookings.get_by_airline_order("ord\x00") is None
    assert await store.bookings.list(partner_id="partner-a\x00") == []
    assert await store.bookings.count(status="PENDING_PAYMENT\x00") == 0
    assert await store.api_keys.get_by_hash("sha256:key-1\x00") is None
    assert await store.api_keys.revoke("key-1\x00", T0) is False
    assert await store.conversations.get(PHONE + "\x00") is None
    moved = await store.bookings.transition(
        "SF-0001\x00", from_statuses=["PENDING_PAYMENT"], to_status="CONFIRMING", now=T0
    )
    assert moved is None
    assert await store.bookings.get("SF-0001") == make_booking()


async def test_a_single_status_string_is_refused_as_from_statuses(store: Store) -> None:
    await store.bookings.create(make_booking())

    with pytest.raises(TypeError):
        await store.bookings.transition(
            "SF-0001", from_statuses="PENDING_PAYMENT", to_status="CONFIRMING", now=T0
        )


async def _create_listing(store: Store) -> list[BookingRecord]:
    bookings = [
        make_booking(
            f"SF-{index:04d}",
            # Pairs share a created_at so the reference has to break the tie.
            created_at=T0 + (index // 2) * MINUTE,
            updated_at=T0 + (index // 2) * MINUTE,
            status="CONFIRMED" if index % 3 == 0 else "PENDING_PAYMENT",
            partner_id=[None, "partner-a", "partner-b"][index % 3 if index % 2 else 1],
        )
        for index in range(25)
    ]
    for booking in bookings:
        await store.bookings.create(booking)
    return sorted(bookings, key=lambda b: (b.created_at, b.reference), reverse=True)


async def test_bookings_page_newest_first_with_a_keyset_cursor(store: Store) -> None:
    newest_first = await _create_listing(store)

    pages: list[list[BookingRecord]] = []
    after: tuple[datetime, str] | None = None
    while True:
        page = await store.bookings.list(limit=10, after=after)
        if not page:
            break
        pages.append(page)
        after = (page[-1].created_at, page[-1].reference)

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [booking for page in pages for booking in page] == newest_first


async def test_booking_listing_filters_by_status_and_partner_and_counts_alike(
    store: Store,
) -> None:
    newest_first = await _create_listing(store)

    for status, partner_id in [
        ("CONFIRMED", None),
        (None, "partner-a"),
        ("PENDING_PAYMENT", "partner-b"),
        (None, None),
    ]:
        expected = [
            booking
            for booking in newest_first
            if status in (None, booking.status) and partner_id in (None, booking.partner_id)
        ]
        first_page = await store.bookings.list(status=status, partner_id=partner_id, limit=4)
        rest = await store.bookings.list(
            status=status,
            partner_id=partner_id,
            limit=100,
            after=(first_page[-1].created_at, first_page[-1].reference),
        )

        assert first_page + rest == expected
        assert await store.bookings.count(status=status, partner_id=partner_id) == len(expected)
    assert await store.bookings.count(partner_id="partner-unknown") == 0


async def test_expiry_sweep_finds_unpaid_bookings_whose_offer_expired(store: Store) -> None:
    await store.bookings.create(make_booking("SF-0001", expires_at=T0 + 10 * MINUTE))
    await store.bookings.create(make_booking("SF-0002", expires_at=T0 + 5 * MINUTE))
    await store.bookings.create(make_booking("SF-0003", expires_at=T0 + 20 * MINUTE))
    await store.bookings.create(make_booking("SF-0004", expires_at=None))
    await store.bookings.create(make_booking("SF-0005", status="CONFIRMED", expires_at=T0 + MINUTE))

    due = await store.bookings.list_by_status_before("PENDING_PAYMENT", T0 + 15 * MINUTE)
    first = await store.bookings.list_by_status_before("PENDING_PAYMENT", T0 + 15 * MINUTE, 1)

    assert [booking.reference for booking in due] == ["SF-0002", "SF-0001"]
    assert [booking.reference for booking in first] == ["SF-0002"]


# --- payments ---------------------------------------------------------------------------------


async def test_payment_comes_back_exactly_as_created(store: Store) -> None:
    payment = make_payment(paid_at=T0 + MINUTE)

    assert await store.payments.create(payment) == payment
    assert await store.payments.get("PAY-0001") == payment
    assert await store.payments.get("PAY-MISSING") is None


async def test_creating_a_payment_with_a_taken_reference_raises_duplicate_key(
    store: Store,
) -> None:
    await store.payments.create(make_payment())

    with pytest.raises(DuplicateKey):
        await store.payments.create(make_payment(booking_reference="SF-0002"))


async def test_latest_payment_of_a_booking_is_the_most_recently_created(store: Store) -> None:
    await store.payments.create(make_payment("PAY-0001", created_at=T0))
    await store.payments.create(make_payment("PAY-0003", created_at=T0 + 2 * MINUTE))
    await store.payments.create(make_payment("PAY-0002", created_at=T0 + MINUTE))
    await store.payments.create(
        make_payment("PAY-0004", booking_reference="SF-0002", created_at=T0 + 3 * MINUTE)
    )

    latest = await store.payments.get_latest_for_booking("SF-0001")

    assert latest is not None
    assert latest.reference == "PAY-0003"
    assert await store.payments.get_latest_for_booking("SF-MISSING") is None


async def test_payment_settles_once(store: Store) -> None:
    await store.payments.create(make_payment())

    settled = await store.payments.transition(
        "PAY-0001",
        from_statuses=["PENDING"],
        to_status="SUCCESS",
        changes={"paid_at": T0 + MINUTE, "data": {"gateway_response": "Approved"}},
        now=T0 + MINUTE,
    )
    again = await store.payments.transition(
        "PAY-0001", from_statuses=["PENDING"], to_status="FAILED", now=T0 + 2 * MINUTE
    )

    assert settled is not None
    assert (settled.status, settled.version, settled.paid_at) == ("SUCCESS", 2, T0 + MINUTE)
    assert settled.data == {"channel": "card", "gateway_response": "Approved"}
    assert again is None
    assert await store.payments.get("PAY-0001") == settled


async def test_pending_payment_sweep_finds_payments_created_before(store: Store) -> None:
    await store.payments.create(make_payment("PAY-0001", created_at=T0 + MINUTE))
    await store.payments.create(make_payment("PAY-0002", created_at=T0))
    await store.payments.create(make_payment("PAY-0003", created_at=T0 + 30 * MINUTE))
    await store.payments.create(make_payment("PAY-0004", status="SUCCESS", created_at=T0))

    stale = await store.payments.list_by_status_before("PENDING", T0 + 10 * MINUTE)

    assert [payment.reference for payment in stale] == ["PAY-0002", "PAY-0001"]


# --- ledger, reconciler queue and audit scan ----------------------------------------------------

LEDGER: dict[str, Any] = {
    "captures": [{"payment_reference": "PAY-0001", "amount_subunits": 12500050, "at": "x"}],
    "refunds": [],
    "orders": [{"attempt": 1, "state": "intended", "correlation_id": "sf_1"}],
}


async def test_a_new_booking_has_an_empty_ledger_and_no_check_time(store: Store) -> None:
    await store.bookings.create(make_booking())

    stored = await store.bookings.get("SF-0001")

    assert stored is not None
    assert (stored.ledger, stored.check_at) == ({}, None)


async def test_ledger_and_check_time_come_back_as_written(store: Store) -> None:
    booking = make_booking(ledger=LEDGER, check_at=T0 + 5 * MINUTE)

    await store.bookings.create(booking)

    assert await store.bookings.get("SF-0001") == booking


async def test_update_can_move_the_status_with_the_version_check(store: Store) -> None:
    await store.bookings.create(make_booking())

    moved = await store.bookings.update(
        "SF-0001",
        expected_version=1,
        to_status="CONFIRMING",
        changes={"ledger": LEDGER, "check_at": T0 + 2 * MINUTE},
        now=T0 + MINUTE,
    )
    stale = await store.bookings.update(
        "SF-0001",
        expected_version=1,
        to_status="CANCELLED",
        changes={"check_at": None},
        now=T0 + MINUTE,
    )

    assert moved is not None
    assert (moved.status, moved.version, moved.ledger) == ("CONFIRMING", 2, LEDGER)
    assert moved.check_at == T0 + 2 * MINUTE
    assert stale is None
    assert await store.bookings.get("SF-0001") == moved


async def test_concurrent_version_updates_have_exactly_one_winner(
    store: Store, opener: StoreOpener
) -> None:
    other = await opener.open()
    await store.bookings.create(make_booking())

    results = await asyncio.gather(
        *(
            (store if attempt % 2 else other).bookings.update(
                "SF-0001",
                expected_version=1,
                to_status="CANCELLED" if attempt % 3 else "CONFIRMING",
                changes={"ledger": {"writer": attempt}},
                now=T0 + MINUTE,
            )
            for attempt in range(20)
        )
    )

    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert await store.bookings.get("SF-0001") == winners[0]


async def test_due_bookings_are_those_whose_check_time_has_come_soonest_first(
    store: Store,
) -> None:
    await store.bookings.create(make_booking("SF-0001", check_at=T0 + 10 * MINUTE))
    await store.bookings.create(make_booking("SF-0002", check_at=T0 + 2 * MINUTE))
    await store.bookings.create(make_booking("SF-0003", check_at=None))
    await store.bookings.create(make_booking("SF-0004", check_at=T0 + 5 * MINUTE))
    await store.bookings.create(make_booking("SF-0005", check_at=T0 + 30 * MINUTE))

    due = await store.bookings.list_due(T0 + 10 * MINUTE)
    first = await store.bookings.list_due(T0 + 10 * MINUTE, limit=1)

    assert [b.reference for b in due] == ["SF-0002", "SF-0004", "SF-0001"]
    assert [b.reference for b in first] == ["SF-0002"]
    assert await store.bookings.list_due(T0) == []


async def test_a_booking_is_found_by_its_airline_order(store: Store) -> None:
    await store.bookings.create(make_booking("SF-0001", airline_order_id="ord_A"))
    await store.bookings.create(make_booking("SF-0002", airline_order_id=None))

    found = await store.bookings.get_by_airline_order("ord_A")

    assert found is not None
    assert found.reference == "SF-0001"
    assert await store.bookings.get_by_airline_order("ord_missing") is None


async def test_scan_pages_through_every_booking_in_reference_order(store: Store) -> None:
    for number in (3, 1, 5, 2, 4):
        await store.bookings.create(make_booking(f"SF-000{number}"))

    first = await store.bookings.scan(limit=2)
    second = await store.bookings.scan(after=first[-1].reference, limit=2)
    third = await store.bookings.scan(after=second[-1].reference, limit=2)

    assert [b.reference for b in first + second + third] == [f"SF-000{n}" for n in range(1, 6)]
    assert await store.bookings.scan(after="SF-0005") == []


async def test_payments_of_several_bookings_are_listed_together(store: Store) -> None:
    await store.payments.create(make_payment("PAY-B2", booking_reference="SF-0002"))
    await store.payments.create(make_payment("PAY-A2", created_at=T0 + MINUTE))
    await store.payments.create(make_payment("PAY-A1"))
    await store.payments.create(make_payment("PAY-C1", booking_reference="SF-0003"))

    found = await store.payments.list_for_bookings(["SF-0001", "SF-0002", "SF-MISSING"])

    assert [p.reference for p in found] == ["PAY-A1", "PAY-A2", "PAY-B2"]
    assert await store.payments.list_for_bookings([]) == []


# --- idempotency records ------------------------------------------------------------------------

LEASE = timedelta(minutes=5)
RESULT_TTL = timedelta(hours=72)


async def test_an_idempotency_key_is_claimed_once_then_replays_its_result(store: Store) -> None:
    records = store.idempotency

    first, claimed = await records.claim("k1", fingerprint="in-a", now=T0, lease=LEASE)
    again, claimed_again = await records.claim("k1", fingerprint="in-a", now=T0, lease=LEASE)
    stored = await records.complete(
        "k1", fingerprint="in-a", result={"reference": "SF-0001"}, now=T0, ttl=RESULT_TTL
    )
    done, claimed_done = await records.claim("k1", fingerprint="in-b", now=T0 + MINUTE, lease=LEASE)

    assert claimed and not claimed_again and not claimed_done
    assert (first.state, first.fingerprint, first.result) == ("running", "in-a", None)
    assert again == first
    assert stored is True
    assert (done.state, done.fingerprint, done.result) == ("done", "in-a", {"reference": "SF-0001"})
    assert done.expires_at == T0 + RESULT_TTL


async def test_concurrent_claims_of_one_key_have_exactly_one_winner(
    store: Store, opener: StoreOpener
) -> None:
    other = await opener.open()

    results = await asyncio.gather(
        *(
            (store if attempt % 2 else other).idempotency.claim(
                "k-race", fingerprint=f"in-{attempt}", now=T0, lease=LEASE
            )
            for attempt in range(20)
        )
    )

    winners = [record for record, claimed in results if claimed]
    assert len(winners) == 1
    assert all(record == winners[0] for record, _ in results)


async def test_a_released_or_expired_claim_can_be_taken_again(store: Store) -> None:
    records = store.idempotency
    await records.claim("k2", fingerprint="in-a", now=T0, lease=LEASE)

    await records.release("k2", fingerprint="someone-else")
    _, still_held = await records.claim("k2", fingerprint="in-a", now=T0, lease=LEASE)
    await records.release("k2", fingerprint="in-a")
    _, after_release = await records.claim("k2", fingerprint="in-b", now=T0, lease=LEASE)
    _, after_lease = await records.claim("k2", fingerprint="in-c", now=T0 + LEASE, lease=LEASE)

    assert (still_held, after_release, after_lease) == (False, True, True)


async def test_a_result_is_stored_only_by_the_running_claim(store: Store) -> None:
    records = store.idempotency
    await records.claim("k3", fingerprint="in-a", now=T0, lease=LEASE)

    wrong = await records.complete(
        "k3", fingerprint="in-b", result={"x": 1}, now=T0, ttl=RESULT_TTL
    )
    unknown = await records.complete(
        "k-none", fingerprint="in-a", result={"x": 1}, now=T0, ttl=RESULT_TTL
    )

    assert (wrong, unknown) == (False, False)


async def test_purging_removes_expired_idempotency_records_only(store: Store) -> None:
    records = store.idempotency
    await records.claim("k-old", fingerprint="a", now=T0, lease=MINUTE)
    await records.claim("k-new", fingerprint="a", now=T0, lease=LEASE)

    purged = await records.purge_expired(T0 + 2 * MINUTE)
    _, new_claimed = await records.claim("k-new", fingerprint="b", now=T0 + 2 * MINUTE, lease=LEASE)

    assert purged == 1
    assert new_claimed is False


# --- processed events -------------------------------------------------------------------------


async def test_an_event_is_recorded_once_until_it_expires(store: Store) -> None:
    events = store.processed_events
    ttl = timedelta(hours=1)

    assert await events.record("paystack:evt-1", now=T0, ttl=ttl) is True
    assert await events.record("paystack:evt-1", now=T0 + 59 * MINUTE, ttl=ttl) is False
    assert await events.record("paystack:evt-2", now=T0, ttl=ttl) is True
    assert await events.record("paystack:evt-1", now=T0 + ttl, ttl=ttl) is True
    assert await events.record("paystack:evt-1", now=T0 + ttl + MINUTE, ttl=ttl) is False


async def test_concurrent_deliveries_of_one_event_record_it_exactly_once(
    store: Store, opener: StoreOpener
) -> None:
    other = await opener.open()

    results = await asyncio.gather(
        *(
            (store if attempt % 2 else other).processed_events.record(
                "whatsapp:wamid.HBgN", now=T0, ttl=timedelta(days=1)
            )
            for attempt in range(20)
        )
    )

    assert results.count(True) == 1


async def test_purge_removes_only_expired_events(store: Store) -> None:
    events = store.processed_events
    await events.record("evt-short", now=T0, ttl=MINUTE)
    await events.record("evt-long", now=T0, ttl=timedelta(hours=1))

    purged = await events.purge_expired(T0 + 2 * MINUTE)

    assert purged == 1
    assert await events.purge_expired(T0 + 2 * MINUTE) == 0
    assert await events.record("evt-long", now=T0 + 2 * MINUTE, ttl=MINUTE) is False
    assert await events.record("evt-short", now=T0 + 2 * MINUTE, ttl=MINUTE) is True


# --- API keys ---------------------------------------------------------------------------------


def make_api_key(id: str, **overrides: Any) -> ApiKeyRecord:
    values: dict[str, Any] = {
        "id": id,
        "name": f"partner {id}",
        "key_hash": f"sha256:{id}",
        "prefix": "sf_live_ab",
        "created_at": T0,
    }
    return ApiKeyRecord(**{**values, **overrides})


async def test_api_keys_are_found_by_hash_listed_and_revoked_once(store: Store) -> None:
    first = await store.api_keys.create(make_api_key("key-1"))
    second = await store.api_keys.create(make_api_key("key-2", created_at=T0 + MINUTE))

    assert await store.api_keys.get_by_hash("sha256:key-2") == second
    assert await store.api_keys.get_by_hash("sha256:unknown") is None
    assert await store.api_keys.list() == [first, second]

    assert await store.api_keys.revoke("key-1", T0 + 5 * MINUTE) is True
    assert await store.api_keys.revoke("key-1", T0 + 6 * MINUTE) is False
    assert await store.api_keys.revoke("key-unknown", T0) is False

    revoked = await store.api_keys.get_by_hash("sha256:key-1")
    assert revoked is not None
    assert revoked.revoked_at == T0 + 5 * MINUTE


async def test_an_api_key_hash_names_one_key(store: Store) -> None:
    await store.api_keys.create(make_api_key("key-1"))

    with pytest.raises(DuplicateKey):
        await store.api_keys.create(make_api_key("key-2", key_hash="sha256:key-1"))

    assert [key.id for key in await store.api_keys.list()] == ["key-1"]


# --- conversations ----------------------------------------------------------------------------

PHONE = "+2348012345678"


def message(direction: str, body: str, at: datetime) -> dict[str, Any]:
    return {"direction": direction, "body": body, "at": at.isoformat(), "id": f"wamid.{body}"}


async def test_first_messages_start_a_conversation(store: Store) -> None:
    assert await store.conversations.get(PHONE) is None

    await store.conversations.append_messages(
        PHONE, [message("in", "hi", T0), message("out", "Where to?", T0)], T0
    )

    conversation = await store.conversations.get(PHONE)
    assert conversation == ConversationRecord(
        phone=PHONE,
        state="initial",
        created_at=T0,
        updated_at=T0,
        messages=[message("in", "hi", T0), message("out", "Where to?", T0)],
    )


async def test_messages_accumulate_in_order_and_save_keeps_them(store: Store) -> None:
    await store.conversations.append_messages(PHONE, [message("in", "hi", T0)], T0)
    await store.conversations.append_messages(
        PHONE, [message("in", "LOS to ABV friday", T0 + MINUTE)], T0 + MINUTE
    )

    await store.conversations.save(
        ConversationRecord(
            phone=PHONE,
            state="viewing_results",
            created_at=T0 + 9 * MINUTE,
            updated_at=T0 + 2 * MINUTE,
            data={"search_id": "srch_1", "passengers": {"adults": 1}},
            booking_references=["SF-0001"],
        )
    )

    conversation = await store.conversations.get(PHONE)
    assert conversation is not None
    assert conversation.state == "viewing_results"
    assert conversation.data == {"search_id": "srch_1", "passengers": {"adults": 1}}
    assert conversation.booking_references == ["SF-0001"]
    assert [m["body"] for m in conversation.messages] == ["hi", "LOS to ABV friday"]
    assert conversation.created_at == T0
    assert conversation.updated_at == T0 + 2 * MINUTE


async def test_saving_a_new_conversation_creates_it_without_messages(store: Store) -> None:
    record = ConversationRecord(
        phone=PHONE, state="searching", created_at=T0, updated_at=T0, data={"origin": "LOS"}
    )

    await store.conversations.save(record)

    assert await store.conversations.get(PHONE) == record


async def test_handoff_requests_are_listed_latest_first_without_messages(store: Store) -> None:
    def asked(phone: str, minutes: int) -> ConversationRecord:
        at = T0 + minutes * MINUTE
        return ConversationRecord(
            phone=phone,
            state="initial",
            created_at=T0,
            updated_at=at,
            data={"handoff": {"requested_at": at.isoformat(), "message": f"help {phone}"}},
        )

    await store.conversations.append_messages("+2348000000001", [message("in", "hi", T0)], T0)
    await store.conversations.save(asked("+2348000000001", 5))
    await store.conversations.save(asked("+2348000000002", 9))
    await store.conversations.save(asked("+2348000000003", 1))
    await store.conversations.save(
        ConversationRecord(phone="+2348000000004", state="initial", created_at=T0, updated_at=T0)
    )

    listed = await store.conversations.list_handoffs(limit=2)

    assert [c.phone for c in listed] == ["+2348000000002", "+2348000000001"]
    assert listed[1].data["handoff"]["message"] == "help +2348000000001"
    assert all(c.messages == [] for c in listed)
    everyone = await store.conversations.list_handoffs()
    assert [c.phone for c in everyone] == ["+2348000000002", "+2348000000001", "+2348000000003"]


# --- the store itself -------------------------------------------------------------------------


async def test_records_survive_closing_and_reopening(store: Store, opener: StoreOpener) -> None:
    await store.bookings.create(make_booking())
    await store.conversations.append_messages(PHONE, [message("in", "hi", T0)], T0)
    await store.close()

    reopened = await opener.open()

    assert await reopened.bookings.get("SF-0001") == make_booking()
    conversation = await reopened.conversations.get(PHONE)
    assert conversation is not None
    assert conversation.messages == [message("in", "hi", T0)]


async def test_ping_answers_while_open_and_fails_once_closed(
    store: Store, opener: StoreOpener
) -> None:
    await store.ping()
    assert store.kind == opener.kind

    await store.close()

    with pytest.raises(StoreUnavailable):
        await store.ping()


# --- SQLite specifics -------------------------------------------------------------------------


async def test_sqlite_store_is_a_file_on_disk_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dirs" / "sureflights.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        await store.bookings.create(make_booking())

        with sqlite3.connect(path) as connection:
            (journal_mode,) = connection.execute("PRAGMA journal_mode").fetchone()
            (count,) = connection.execute("SELECT COUNT(*) FROM bookings").fetchone()
        assert store.kind == "sqlite"
        assert journal_mode == "wal"
        assert count == 1
    finally:
        await store.close()


async def test_default_database_url_creates_the_file_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = await open_store("sqlite:///./var/sureflights.db")
    await store.close()

    assert (tmp_path / "var" / "sureflights.db").is_file()


async def test_a_database_file_from_before_the_ledger_gains_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        # The bookings table as the first schema had it, with one booking in it.
        connection.execute(
            "CREATE TABLE bookings (reference TEXT PRIMARY KEY, status TEXT NOT NULL, "
            "channel TEXT NOT NULL, partner_id TEXT, offer_id TEXT NOT NULL, "
            "total_amount TEXT NOT NULL, total_currency TEXT NOT NULL, airline_reference TEXT, "
            "airline_order_id TEXT, pay_by TEXT, expires_at TEXT, created_at TEXT NOT NULL, "
            "updated_at TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)"
        )
        connection.execute(
            "INSERT INTO bookings VALUES ('SF-OLD', 'CONFIRMED', 'api', NULL, 'off_1', '100.00', "
            "'NGN', 'ABC123', 'ord_1', NULL, NULL, '2025-03-01T09:30:00.000+00:00', "
            "'2025-03-01T09:30:00.000+00:00', 3, '{}')"
        )
    store = await open_store(f"sqlite:///{path}")
    try:
        old = await store.bookings.get("SF-OLD")
        await store.bookings.create(make_booking(ledger=LEDGER, check_at=T0))
        assert old is not None
        assert (old.status, old.ledger, old.check_at) == ("CONFIRMED", {}, None)
        assert [b.reference for b in await store.bookings.list_due(T0)] == ["SF-0001"]
    finally:
        await store.close()


async def test_in_memory_sqlite_store_works(tmp_path: Path) -> None:
    store = await open_store("sqlite:///:memory:")
    try:
        await store.bookings.create(make_booking())
        moved = await store.bookings.transition(
            "SF-0001", from_statuses=["PENDING_PAYMENT"], to_status="CONFIRMING", now=T0
        )
        assert moved == await store.bookings.get("SF-0001")
        assert list(tmp_path.iterdir()) == []
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://admin:hunter2@db/sureflights", "unsupported DATABASE_URL scheme 'mysql'"),
        ("sqlite://sureflights.db", "sqlite:/// followed by a file path"),
        ("sqlite:///", "sqlite:/// followed by a file path"),
        ("", "unsupported DATABASE_URL scheme"),
    ],
)
async def test_unusable_database_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        await open_store(url)

    assert "hunter2" not in str(refused.value)


# --- trusted documents ------------------------------------------------------------------------


def make_trusted_document(id: str, **overrides: Any) -> TrustedDocumentRecord:
    values: dict[str, Any] = {
        "id": id,
        "body": f'query Rate{id[-1]} {{ exchangeRate(base: "USD", quote: "NGN") {{ rate }} }}',
        "name": f"Rate{id[-1]}",
        "canonical_id": f"canonical-{id}",
        "created_at": T0,
    }
    return TrustedDocumentRecord(**{**values, **overrides})


async def test_trusted_documents_are_added_once_listed_oldest_first_and_removed(
    store: Store,
) -> None:
    first = make_trusted_document("doc-1")
    second = make_trusted_document("doc-2", created_at=T0 + MINUTE, name=None, canonical_id=None)

    assert await store.trusted_documents.add(second) is True
    assert await store.trusted_documents.add(first) is True
    # The same id again keeps the document first stored.
    assert await store.trusted_documents.add(make_trusted_document("doc-1", body="{ x }")) is False

    assert await store.trusted_documents.get("doc-1") == first
    assert await store.trusted_documents.get("doc-2") == second
    assert await store.trusted_documents.get("doc-unknown") is None
    assert await store.trusted_documents.list() == [first, second]

    assert await store.trusted_documents.remove("doc-1") is True
    assert await store.trusted_documents.remove("doc-1") is False
    assert await store.trusted_documents.list() == [second]


async def test_trusted_documents_are_seen_by_another_store_on_the_same_database(
    opener: StoreOpener,
) -> None:
    writer = await opener.open()
    reader = await opener.open()

    await writer.trusted_documents.add(make_trusted_document("doc-1"))

    assert await reader.trusted_documents.get("doc-1") == make_trusted_document("doc-1")


# --- The notification outbox ---------------------------------------------------------------


def make_notification(id: str = "SF-0001:confirmation:email", **overrides: Any) -> Any:
    from integrations.state.store import NotificationRecord

    values: dict[str, Any] = {
        "id": id,
        "booking_reference": id.split(":")[0],
        "notice_id": "confirmation",
        "kind": "confirmation",
        "channel": id.rsplit(":", 1)[-1],
        "recipient": "adaeze@example.com",
        "status": "pending",
        "next_attempt_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return NotificationRecord(**{**values, **overrides})


async def test_a_notification_is_queued_once_per_id(store: Store) -> None:
    first = make_notification()
    assert await store.notifications.add([first, make_notification("SF-0001:confirmation:sms")])
    again = make_notification(recipient="someone-else@example.com")
    assert await store.notifications.add([again]) == 0
    listed = await store.notifications.list_for_booking("SF-0001")
    assert [(n.id, n.recipient) for n in listed] == [
        ("SF-0001:confirmation:email", "adaeze@example.com"),
        ("SF-0001:confirmation:sms", "adaeze@example.com"),
    ]
    assert await store.notifications.list_for_booking("SF-0002") == []


async def test_due_notifications_are_claimed_once_with_a_lease(store: Store) -> None:
    await store.notifications.add(
        [
            make_notification("SF-0001:a:email", next_attempt_at=T0),
            make_notification("SF-0001:b:email", next_attempt_at=T0 + MINUTE),
            make_notification("SF-0001:c:email", next_attempt_at=T0 + 10 * MINUTE),
            make_notification("SF-0001:d:email", status="skipped", detail="no address"),
        ]
    )
    assert await store.notifications.next_due() == T0
    claimed = await store.notifications.claim_due(T0 + MINUTE, lease=5 * MINUTE, limit=10)
    assert [(n.id, n.status, n.attempts) for n in claimed] == [
        ("SF-0001:a:email", "sending", 1),
        ("SF-0001:b:email", "sending", 1),
    ]
    assert claimed[0].lease_until == T0 + 6 * MINUTE
    # Taken: nobody else gets them while the lease holds, however many ask at once.
    others = await asyncio.gather(
        *(store.notifications.claim_due(T0 + 2 * MINUTE, lease=MINUTE, limit=10) for _ in range(4))
    )
    assert [n for batch in others for n in batch] == []
    assert await store.notifications.next_due() == T0 + 10 * MINUTE


async def test_concurrent_claims_never_take_one_record_twice(store: Store) -> None:
    records = [make_notification(f"SF-0001:n{i:02d}:email") for i in range(30)]
    await store.notifications.add(records)
    batches = await asyncio.gather(
        *(store.notifications.claim_due(T0, lease=MINUTE, limit=7) for _ in range(6))
    )
    taken = [n.id for batch in batches for n in batch]
    assert len(taken) == len(set(taken)) == 30


async def test_a_lapsed_lease_lets_another_caller_take_the_record_and_the_first_one_loses(
    store: Store,
) -> None:
    await store.notifications.add([make_notification()])
    [first] = await store.notifications.claim_due(T0, lease=MINUTE, limit=1)
    [second] = await store.notifications.claim_due(T0 + 2 * MINUTE, lease=MINUTE, limit=1)
    assert (first.attempts, second.attempts) == (1, 2)
    # The first caller's outcome no longer counts; the second caller's does.
    assert not await store.notifications.finish(
        first.id, attempt=1, status="sent", now=T0 + 3 * MINUTE, provider_id="late"
    )
    assert await store.notifications.finish(
        second.id, attempt=2, status="sent", now=T0 + 3 * MINUTE, provider_id="msg-1"
    )
    [stored] = await store.notifications.list_for_booking("SF-0001")
    assert (stored.status, stored.provider_id, stored.sent_at, stored.lease_until) == (
        "sent",
        "msg-1",
        T0 + 3 * MINUTE,
        None,
    )
    assert await store.notifications.next_due() is None


async def test_a_failed_attempt_is_retried_later_with_the_providers_error(store: Store) -> None:
    await store.notifications.add([make_notification()])
    [claimed] = await store.notifications.claim_due(T0, lease=MINUTE, limit=1)
    assert await store.notifications.finish(
        claimed.id,
        attempt=1,
        status="pending",
        now=T0,
        error="421 try again later",
        next_attempt_at=T0 + 5 * MINUTE,
    )
    assert await store.notifications.claim_due(T0 + 4 * MINUTE, lease=MINUTE, limit=1) == []
    [again] = await store.notifications.claim_due(T0 + 5 * MINUTE, lease=MINUTE, limit=1)
    assert (again.attempts, again.error) == (2, "421 try again later")
    assert await store.notifications.finish(
        again.id, attempt=2, status="failed", now=T0 + 5 * MINUTE, error="550 no such user"
    )
    [stored] = await store.notifications.list_for_booking("SF-0001")
    assert (stored.status, stored.error, stored.sent_at) == ("failed", "550 no such user", None)


async def test_bookings_and_payments_are_counted_by_status(store: Store) -> None:
    assert await store.bookings.count_by_status() == {}
    assert await store.payments.count_by_status() == {}
    for number, status in enumerate(["PENDING_PAYMENT", "CONFIRMED", "CONFIRMED", "EXPIRED"]):
        await store.bookings.create(make_booking(f"SF-C{number}", status=status))
    for number, status in enumerate(["PENDING", "SUCCESS", "FAILED", "FAILED"]):
        await store.payments.create(make_payment(f"PAY-C{number}", status=status))
    assert await store.bookings.count_by_status() == {
        "PENDING_PAYMENT": 1,
        "CONFIRMED": 2,
        "EXPIRED": 1,
    }
    assert await store.payments.count_by_status() == {"PENDING": 1, "SUCCESS": 1, "FAILED": 2}
