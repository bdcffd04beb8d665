"""The PostgreSQL schema: numbered migrations, applied at start-up in one transaction under an
advisory lock and recorded in `schema_migrations`, so two processes starting together never both
apply one. The indexes each query of `postgres` relies on are listed in that module's docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

log = logging.getLogger("sureflights.store")

# The key of the advisory lock that migrations run under (any constant; it names the lock).
_MIGRATION_LOCK = 0x5F_1A_7E_57_0001


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema; applied once, in order, in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


# Key columns use the "C" collation: bytewise order, as SQLite and MongoDB compare strings, and
# the same on every server whatever its default locale.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "bookings, payments, conversations, API keys, processed events, idempotency records",
        (
            """
            CREATE TABLE bookings (
                reference text COLLATE "C" PRIMARY KEY,
                status text COLLATE "C" NOT NULL,
                channel text NOT NULL,
                partner_id text COLLATE "C",
                offer_id text NOT NULL,
                total_amount numeric NOT NULL,
                total_currency text NOT NULL,
                airline_reference text,
                airline_order_id text COLLATE "C",
                pay_by timestamptz,
                expires_at timestamptz,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL,
                data jsonb NOT NULL,
                ledger jsonb NOT NULL DEFAULT '{}',
                check_at timestamptz
            )
            """,
            "CREATE INDEX bookings_by_created ON bookings (created_at, reference)",
            "CREATE INDEX bookings_by_status ON bookings (status, created_at, reference)",
            "CREATE INDEX bookings_by_partner ON bookings (partner_id, created_at, reference)",
            "CREATE INDEX bookings_expiring ON bookings (status, expires_at, reference) "
            "WHERE expires_at IS NOT NULL",
            "CREATE INDEX bookings_by_airline_order ON bookings (airline_order_id, created_at) "
            "WHERE airline_order_id IS NOT NULL",
            "CREATE INDEX bookings_due ON bookings (check_at, reference) "
            "WHERE check_at IS NOT NULL",
            """
            CREATE TABLE payments (
                reference text COLLATE "C" PRIMARY KEY,
                booking_reference text COLLATE "C" NOT NULL,
                status text COLLATE "C" NOT NULL,
                mode text NOT NULL,
                amount_subunits bigint NOT NULL,
                currency text NOT NULL,
                authorization_url text,
                paid_at timestamptz,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL,
                data jsonb NOT NULL
            )
            """,
            "CREATE INDEX payments_by_booking ON payments "
            "(booking_reference, created_at, reference)",
            "CREATE INDEX payments_by_status ON payments (status, created_at, reference)",
            """
            CREATE TABLE conversations (
                phone text COLLATE "C" PRIMARY KEY,
                state text NOT NULL,
                data jsonb NOT NULL,
                booking_references jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )
            """,
            # Messages get their own rows so appending does not rewrite a growing conversation.
            """
            CREATE TABLE conversation_messages (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                phone text COLLATE "C" NOT NULL
                    REFERENCES conversations (phone) ON DELETE CASCADE,
                body jsonb NOT NULL
            )
            """,
            "CREATE INDEX conversation_messages_by_phone ON conversation_messages (phone, id)",
            """
            CREATE TABLE api_keys (
                id text COLLATE "C" PRIMARY KEY,
                name text NOT NULL,
                key_hash text COLLATE "C" NOT NULL UNIQUE,
                prefix text NOT NULL,
                created_at timestamptz NOT NULL,
                revoked_at timestamptz
            )
            """,
            "CREATE INDEX api_keys_by_created ON api_keys (created_at, id)",
            """
            CREATE TABLE processed_events (
                key text COLLATE "C" PRIMARY KEY,
                expires_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX processed_events_by_expiry ON processed_events (expires_at)",
            """
            CREATE TABLE idempotency_records (
                key text COLLATE "C" PRIMARY KEY,
                fingerprint text NOT NULL,
                state text NOT NULL CHECK (state IN ('running', 'done')),
                result jsonb,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expires_at)",
        ),
    ),
    Migration(
        2,
        "travellers who asked for a person, latest first",
        (
            "CREATE INDEX conversations_handoffs ON conversations "
            "(((data -> 'handoff' ->> 'requested_at')) DESC, phone) "
            "WHERE data -> 'handoff' ->> 'requested_at' IS NOT NULL",
        ),
    ),
    Migration(
        3,
        "trusted GraphQL documents",
        (
            """
            CREATE TABLE trusted_documents (
                id text COLLATE "C" PRIMARY KEY,
                body text NOT NULL,
                name text,
                canonical_id text COLLATE "C",
                created_at timestamptz NOT NULL
            )
            """,
        ),
    ),
    Migration(
        4,
        "the notification outbox",
        (
            """
            CREATE TABLE notifications (
                id text COLLATE "C" PRIMARY KEY,
                booking_reference text COLLATE "C" NOT NULL,
                notice_id text NOT NULL,
                kind text NOT NULL,
                channel text NOT NULL,
                recipient text NOT NULL,
                status text COLLATE "C" NOT NULL
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
                attempts integer NOT NULL,
                next_attempt_at timestamptz NOT NULL,
                lease_until timestamptz,
                sent_at timestamptz,
                provider_id text,
                error text,
                detail text,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX notifications_due ON notifications (next_attempt_at, id) "
            "WHERE status = 'pending'",
            "CREATE INDEX notifications_leased ON notifications (lease_until) "
            "WHERE status = 'sending'",
            "CREATE INDEX notifications_by_booking ON notifications "
            "(booking_reference, created_at, id)",
        ),
    ),
)


async def migrate(
    connection: psycopg.AsyncConnection[Any], migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Apply the migrations the database lacks, in order; returns the versions applied.

    All of it is one transaction under a transaction-scoped advisory lock: a process starting
    alongside waits for the lock, then finds the versions recorded and applies nothing, and a
    migration that fails leaves the database as it was.
    """
    applied: list[int] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version integer PRIMARY KEY, description text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        present = {int(row[0]) for row in await cursor.fetchall()}
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in present:
                continue
            for statement in migration.statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                [migration.version, migration.description],
            )
            applied.append(migration.version)
    known = max((m.version for m in migrations), default=0)
    if present and max(present) > known:
        log.warning(
            "the database schema is newer than this gateway knows",
            extra={"schema_version": max(present), "known_version": known},
        )
    if applied:
        log.info("database migrated", extra={"versions": applied})
    return applied
