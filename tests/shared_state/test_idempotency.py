"""Idempotency keys, on Redis and in-process: one claim wins, a result replaces it, ttls end it."""

from __future__ import annotations

import asyncio

import pytest

from integrations.idempotency import IdempotencyStore


async def test_first_claim_wins_and_a_second_is_refused(idempotency: IdempotencyStore) -> None:
    assert await idempotency.claim("evt_1", b"first", ttl_seconds=5)
    assert not await idempotency.claim("evt_1", b"second", ttl_seconds=5)

    assert await idempotency.get("evt_1") == b"first"


async def test_exactly_one_of_twenty_concurrent_claims_wins(idempotency: IdempotencyStore) -> None:
    outcomes = await asyncio.gather(
        *(idempotency.claim("charge.success:ref_1", f"worker-{n}".encode(), 5) for n in range(20))
    )

    winners = [n for n, won in enumerate(outcomes) if won]
    assert len(winners) == 1
    assert await idempotency.get("charge.success:ref_1") == f"worker-{winners[0]}".encode()


async def test_a_claim_expires_after_its_ttl_and_can_be_claimed_again(
    idempotency: IdempotencyStore,
) -> None:
    assert await idempotency.claim("evt_1", b"crashed-worker", ttl_seconds=0.2)

    await asyncio.sleep(0.35)

    assert await idempotency.get("evt_1") is None
    assert await idempotency.claim("evt_1", b"retry", ttl_seconds=5)


async def test_put_replaces_the_claim_with_the_result(idempotency: IdempotencyStore) -> None:
    await idempotency.claim("evt_1", b"processing", ttl_seconds=5)

    await idempotency.put("evt_1", b'{"order":"ord_1"}', ttl_seconds=5)

    assert await idempotency.get("evt_1") == b'{"order":"ord_1"}'
    assert not await idempotency.claim("evt_1", b"duplicate", ttl_seconds=5)


async def test_a_put_result_expires_after_its_ttl(idempotency: IdempotencyStore) -> None:
    await idempotency.put("evt_1", b"done", ttl_seconds=0.2)

    await asyncio.sleep(0.35)

    assert await idempotency.get("evt_1") is None


async def test_release_lets_a_later_attempt_claim_the_key(idempotency: IdempotencyStore) -> None:
    await idempotency.claim("evt_1", b"failed-attempt", ttl_seconds=5)

    await idempotency.release("evt_1")

    assert await idempotency.get("evt_1") is None
    assert await idempotency.claim("evt_1", b"retry", ttl_seconds=5)


async def test_a_claim_without_a_positive_ttl_is_refused(idempotency: IdempotencyStore) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await idempotency.claim("evt_1", b"x", ttl_seconds=0)

    assert await idempotency.get("evt_1") is None
