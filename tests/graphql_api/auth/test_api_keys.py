"""Partner API keys: what a key authenticates as, and how soon a revocation is seen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.state.store import ApiKeyRecord, Store, open_store
from resolvers.access import CallerKind
from resolvers.auth import (
    CachedApiKeys,
    authenticate_api_key,
    caller_from_credentials,
    create_api_key,
    hash_api_key,
    issue_traveller_token,
    new_api_key,
)
from resolvers.errors import BadUserInput, Unauthenticated
from tests.graphql_api.auth import SECRET_KEY

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/keys.db")
    yield opened
    await opened.close()


def test_new_keys_are_random_and_only_their_hash_and_prefix_are_kept() -> None:
    key, stored = new_api_key()
    other, _ = new_api_key()
    assert key != other
    assert key.startswith("sfk_")
    assert len(key) == 4 + 43
    assert stored.key_hash == hash_api_key(key)
    assert len(stored.key_hash) == 64
    assert stored.prefix == key[:12]


async def test_a_created_key_authenticates_as_its_partner(store: Store) -> None:
    key, record = await create_api_key(store.api_keys, "  Acme Travel ", NOW)
    assert record.name == "Acme Travel"
    caller = await authenticate_api_key(store.api_keys, key)
    assert caller is not None
    assert caller.kind is CallerKind.PARTNER
    assert caller.partner_id == record.id
    assert caller.identity == f"partner:{record.id}"
    assert await authenticate_api_key(store.api_keys, key + "x") is None
    await store.api_keys.revoke(record.id, NOW)
    assert await authenticate_api_key(store.api_keys, key) is None


async def test_names_must_be_given(store: Store) -> None:
    with pytest.raises(BadUserInput):
        await create_api_key(store.api_keys, " ", NOW)
    with pytest.raises(BadUserInput):
        await create_api_key(store.api_keys, "x" * 101, NOW)


async def test_a_revocation_elsewhere_is_seen_once_the_cache_expires(store: Store) -> None:
    keys = CachedApiKeys(store.api_keys, ttl_seconds=0.3)
    key, record = await create_api_key(keys, "Acme", NOW)
    assert await authenticate_api_key(keys, key) is not None
    # Revoked by the CLI or another replica: this gateway still trusts what it looked up.
    await store.api_keys.revoke(record.id, NOW)
    assert await authenticate_api_key(keys, key) is not None
    await asyncio.sleep(0.4)
    assert await authenticate_api_key(keys, key) is None


async def test_revoking_through_the_cache_is_seen_at_once(store: Store) -> None:
    keys = CachedApiKeys(store.api_keys)
    key, record = await create_api_key(keys, "Acme", NOW)
    assert await authenticate_api_key(keys, key) is not None
    assert await keys.revoke(record.id, NOW)
    assert await authenticate_api_key(keys, key) is None


async def test_a_key_works_as_soon_as_it_is_created_even_after_a_miss(store: Store) -> None:
    keys = CachedApiKeys(store.api_keys)
    key, stored = new_api_key()
    assert await authenticate_api_key(keys, key) is None
    await store.api_keys.create(
        ApiKeyRecord(
            id="k1", name="Late", key_hash=stored.key_hash, prefix=stored.prefix, created_at=NOW
        )
    )
    assert await authenticate_api_key(keys, key) is not None


@pytest.mark.parametrize(("authorization", "api_key"), [(None, None), ("", ""), ("  ", None)])
async def test_no_credentials_make_an_anonymous_caller_named_by_address(
    store: Store, authorization: str | None, api_key: str | None
) -> None:
    caller = await caller_from_credentials(
        authorization=authorization,
        api_key=api_key,
        secret=SECRET_KEY,
        api_keys=store.api_keys,
        client="203.0.113.9",
        now=NOW,
    )
    assert caller.kind is CallerKind.ANONYMOUS
    assert caller.identity == "ip:203.0.113.9"


async def test_a_bearer_scheme_is_case_insensitive_but_required(store: Store) -> None:
    token = issue_traveller_token(SECRET_KEY, "SF-XYZ", now=NOW)
    caller = await caller_from_credentials(
        authorization=f"bearer {token}",
        api_key=None,
        secret=SECRET_KEY,
        api_keys=store.api_keys,
        client="c",
        now=NOW,
    )
    assert (caller.kind, caller.booking_reference, caller.identity) == (
        CallerKind.TRAVELLER,
        "SF-XYZ",
        "booking:SF-XYZ",
    )
    with pytest.raises(Unauthenticated):
        await caller_from_credentials(
            authorization=token,
            api_key=None,
            secret=SECRET_KEY,
            api_keys=store.api_keys,
            client="c",
            now=NOW,
        )
