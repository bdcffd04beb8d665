"""The sandbox payment provider: checkout, settlement, refunds, and state shared by replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.ports.errors import UpstreamError, UpstreamRejected
from integrations.ports.payments import DuplicatePaymentReference, PaymentNotFound
from integrations.sandbox.payments import RECORD_TTL_SECONDS, SandboxPayments
from integrations.state.cache import MemoryCache

CHECKOUT = "http://localhost:8000"
REFERENCE = "SF7KQ2-pay-1"
AMOUNT = 12_500_050  # ₦125,000.50 in kobo
STARTED = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


class Clock:
    """A settable time, so `paid_at` is known and can be shown not to move."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingCache(MemoryCache):
    """A `MemoryCache` that remembers the ttl each key was last stored with."""

    def __init__(self) -> None:
        super().__init__()
        self.ttls: dict[str, float | None] = {}

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        self.ttls[key] = ttl_seconds
        await super().set(key, value, ttl_seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(STARTED)


@pytest.fixture
def cache() -> RecordingCache:
    return RecordingCache()


@pytest.fixture
def sandbox(cache: RecordingCache, clock: Clock) -> SandboxPayments:
    return SandboxPayments(cache, checkout_base_url=f"{CHECKOUT}/", clock=clock)


async def _initialize(sandbox: SandboxPayments, reference: str = REFERENCE) -> None:
    await sandbox.initialize(
        email="ada@example.com",
        amount_subunits=AMOUNT,
        currency="ngn",
        reference=reference,
        callback_url=None,
        metadata={"booking_reference": "SF7KQ2"},
    )


async def test_initialize_answers_the_sandbox_checkout_url_and_a_pending_payment(
    sandbox: SandboxPayments,
) -> None:
    payment = await sandbox.initialize(
        email="ada@example.com",
        amount_subunits=AMOUNT,
        currency="NGN",
        reference=REFERENCE,
        callback_url=None,
        metadata={},
    )

    assert sandbox.mode == "SANDBOX"
    assert payment.reference == REFERENCE
    assert payment.authorization_url == f"{CHECKOUT}/sandbox/checkout/{REFERENCE}"
    verified = await sandbox.verify(REFERENCE)
    assert (verified.status, verified.amount_subunits, verified.currency) == (
        "pending",
        AMOUNT,
        "NGN",
    )
    assert (verified.paid_at, verified.channel) == (None, None)


async def test_initialize_keeps_the_transaction_for_thirty_days(
    sandbox: SandboxPayments, cache: RecordingCache
) -> None:
    await _initialize(sandbox)

    assert RECORD_TTL_SECONDS == 30 * 24 * 3600
    assert list(cache.ttls.values()) == [RECORD_TTL_SECONDS]


async def test_initialize_with_a_used_reference_raises_duplicate_payment_reference(
    sandbox: SandboxPayments,
) -> None:
    await _initialize(sandbox)

    with pytest.raises(DuplicatePaymentReference):
        await _initialize(sandbox)


async def test_initialize_refuses_an_amount_that_is_not_whole_subunits(
    sandbox: SandboxPayments,
) -> None:
    with pytest.raises(UpstreamRejected) as raised:
        await sandbox.initialize(
            email="ada@example.com",
            amount_subunits=1250.5,  # type: ignore[arg-type]
            currency="NGN",
            reference=REFERENCE,
            callback_url=None,
            metadata={},
        )

    assert raised.value.field == "amount_subunits"
    assert await sandbox.get(REFERENCE) is None


async def test_paying_at_checkout_makes_verify_report_success_with_the_amount(
    sandbox: SandboxPayments, clock: Clock
) -> None:
    await _initialize(sandbox)
    clock.now = STARTED + timedelta(minutes=3)

    completed = await sandbox.complete(REFERENCE, succeed=True)
    verified = await sandbox.verify(REFERENCE)

    assert verified == completed
    assert verified.status == "success"
    assert verified.amount_subunits == AMOUNT
    assert verified.currency == "NGN"
    assert verified.paid_at == STARTED + timedelta(minutes=3)
    assert verified.channel == "sandbox"
    assert verified.transaction_id


async def test_completing_twice_keeps_the_first_outcome(
    sandbox: SandboxPayments, clock: Clock
) -> None:
    await _initialize(sandbox)
    first = await sandbox.complete(REFERENCE, succeed=True)
    clock.now = STARTED + timedelta(hours=1)

    again = await sandbox.complete(REFERENCE, succeed=True)
    declined_after = await sandbox.complete(REFERENCE, succeed=False)

    assert again == first
    assert declined_after == first
    assert (await sandbox.verify(REFERENCE)).paid_at == STARTED


async def test_declining_at_checkout_fails_the_payment(sandbox: SandboxPayments) -> None:
    await _initialize(sandbox)

    declined = await sandbox.complete(REFERENCE, succeed=False)
    paid_after = await sandbox.complete(REFERENCE, succeed=True)

    assert declined.status == "failed"
    assert declined.paid_at is None
    assert paid_after.status == "failed"
    assert (await sandbox.verify(REFERENCE)).status == "failed"


async def test_a_full_refund_is_processed_and_reverses_the_payment(
    sandbox: SandboxPayments,
) -> None:
    await _initialize(sandbox)
    await sandbox.complete(REFERENCE, succeed=True)

    refund = await sandbox.refund(reference=REFERENCE, idempotency_note="refund SF7KQ2")

    assert refund.status == "processed"
    assert refund.amount_subunits == AMOUNT
    assert refund.currency == "NGN"
    assert refund.transaction_reference == REFERENCE
    assert await sandbox.get_refund(refund.id) == refund
    assert (await sandbox.verify(REFERENCE)).status == "reversed"


async def test_a_partial_refund_leaves_the_payment_successful_until_the_rest_is_refunded(
    sandbox: SandboxPayments,
) -> None:
    await _initialize(sandbox)
    await sandbox.complete(REFERENCE, succeed=True)

    first = await sandbox.refund(reference=REFERENCE, amount_subunits=2_500_000)
    after_first = await sandbox.verify(REFERENCE)
    rest = await sandbox.refund(reference=REFERENCE)

    assert first.amount_subunits == 2_500_000
    assert after_first.status == "success"
    assert rest.amount_subunits == AMOUNT - 2_500_000
    assert rest.id != first.id
    assert (await sandbox.verify(REFERENCE)).status == "reversed"


async def test_refunding_more_than_was_paid_is_rejected_and_changes_nothing(
    sandbox: SandboxPayments,
) -> None:
    await _initialize(sandbox)
    await sandbox.complete(REFERENCE, succeed=True)

    with pytest.raises(UpstreamRejected) as raised:
        await sandbox.refund(reference=REFERENCE, amount_subunits=AMOUNT + 1)

    assert raised.value.field == "amount_subunits"
    assert (await sandbox.verify(REFERENCE)).status == "success"
    # The whole amount is still there to refund.
    assert (await sandbox.refund(reference=REFERENCE)).amount_subunits == AMOUNT


async def test_a_fully_refunded_payment_cannot_be_refunded_again(
    sandbox: SandboxPayments,
) -> None:
    await _initialize(sandbox)
    await sandbox.complete(REFERENCE, succeed=True)
    await sandbox.refund(reference=REFERENCE)

    with pytest.raises(UpstreamRejected):
        await sandbox.refund(reference=REFERENCE, amount_subunits=1)


@pytest.mark.parametrize("succeed", [None, False], ids=["pending", "failed"])
async def test_an_unpaid_payment_cannot_be_refunded(
    sandbox: SandboxPayments, succeed: bool | None
) -> None:
    await _initialize(sandbox)
    if succeed is not None:
        await sandbox.complete(REFERENCE, succeed=succeed)

    with pytest.raises(UpstreamRejected):
        await sandbox.refund(reference=REFERENCE)


async def test_replicas_sharing_one_cache_see_the_same_payment(clock: Clock) -> None:
    shared = MemoryCache()
    replica_a = SandboxPayments(shared, checkout_base_url=CHECKOUT, clock=clock)
    replica_b = SandboxPayments(shared, checkout_base_url=CHECKOUT, clock=clock)

    await _initialize(replica_a)
    await replica_b.complete(REFERENCE, succeed=True)
    refund = await replica_a.refund(reference=REFERENCE, amount_subunits=1_000)

    assert (await replica_a.verify(REFERENCE)).status == "success"
    assert await replica_b.get_refund(refund.id) == refund
    with pytest.raises(DuplicatePaymentReference):
        await _initialize(replica_b)


async def test_replicas_with_their_own_caches_do_not_share_payments(clock: Clock) -> None:
    replica_a = SandboxPayments(MemoryCache(), checkout_base_url=CHECKOUT, clock=clock)
    replica_b = SandboxPayments(MemoryCache(), checkout_base_url=CHECKOUT, clock=clock)

    await _initialize(replica_a)

    assert await replica_b.get(REFERENCE) is None


async def test_an_unknown_reference_is_payment_not_found(sandbox: SandboxPayments) -> None:
    assert await sandbox.get("SF-unknown-1") is None
    with pytest.raises(PaymentNotFound):
        await sandbox.verify("SF-unknown-1")
    with pytest.raises(PaymentNotFound):
        await sandbox.complete("SF-unknown-1", succeed=True)
    with pytest.raises(PaymentNotFound):
        await sandbox.refund(reference="SF-unknown-1")
    with pytest.raises(PaymentNotFound):
        await sandbox.get_refund("sandbox-refund-0000")


async def test_get_answers_the_current_state_or_none(sandbox: SandboxPayments) -> None:
    await _initialize(sandbox)
    await sandbox.complete(REFERENCE, succeed=True)

    current = await sandbox.get(REFERENCE)

    assert current is not None
    assert current == await sandbox.verify(REFERENCE)


async def test_a_corrupt_record_is_an_upstream_error(
    sandbox: SandboxPayments, cache: RecordingCache
) -> None:
    await _initialize(sandbox)
    [key] = cache.ttls
    await cache.set(key, b"not json")

    with pytest.raises(UpstreamError):
        await sandbox.verify(REFERENCE)
