"""The SQLite schema: created in one transaction when a database file is opened, and brought up to
date in place (columns and indexes added since the first version) for a file an earlier version
wrote."""

from __future__ import annotations

import aiosqlite

# One transaction, so two processes starting together cannot see half a schema.
SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS bookings (
    reference TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    channel TEXT NOT NULL,
    partner_id TEXT,
    offer_id TEXT NOT NULL,
    total_amount TEXT NOT NULL,
    total_currency TEXT NOT NULL,
    airline_reference TEXT,
    airline_order_id TEXT,
    pay_by TEXT,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    ledger TEXT NOT NULL DEFAULT '{}',
    check_at TEXT
);
-- The three booking listings (everything, by status, by partner) page newest first; the status
-- index also serves the expiry sweep, which only ever scans the few unpaid bookings.
CREATE INDEX IF NOT EXISTS bookings_by_created ON bookings (created_at, reference);
CREATE INDEX IF NOT EXISTS bookings_by_status ON bookings (status, created_at, reference);
CREATE INDEX IF NOT EXISTS bookings_by_partner ON bookings (partner_id, created_at, reference);
-- Airline webhooks name the order, not our reference.
CREATE INDEX IF NOT EXISTS bookings_by_airline_order ON bookings (airline_order_id)
    WHERE airline_order_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS payments (
    reference TEXT PRIMARY KEY,
    booking_reference TEXT NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    amount_subunits INTEGER NOT NULL,
    currency TEXT NOT NULL,
    authorization_url TEXT,
    paid_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_by_booking ON payments (booking_reference, created_at);
CREATE INDEX IF NOT EXISTS payments_by_status ON payments (status, created_at);

CREATE TABLE IF NOT EXISTS conversations (
    phone TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    booking_references TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Messages get their own rows so appending does not rewrite a growing conversation.
CREATE TABLE IF NOT EXISTS conversation_messages (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL REFERENCES conversations (phone) ON DELETE CASCADE,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_messages_by_phone ON conversation_messages (phone, id);

CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE IF NOT EXISTS processed_events (
    key TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS processed_events_by_expiry ON processed_events (expires_at);

CREATE TABLE IF NOT EXISTS idempotency_records (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_records_by_expiry ON idempotency_records (expires_at);
CREATE TABLE IF NOT EXISTS trusted_documents (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    name TEXT,
    canonical_id TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY,
    booking_reference TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    sent_at TEXT,
    provider_id TEXT,
    error TEXT,
    detail TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS notifications_leased ON notifications (status, lease_until);
CREATE INDEX IF NOT EXISTS notifications_by_booking
    ON notifications (booking_reference, created_at, id);
COMMIT;
"""

# Columns added since the first schema, added in place to a database file that lacks them.
_ADDED_COLUMNS = {
    "bookings": [
        ("ledger", "TEXT NOT NULL DEFAULT '{}'"),
        ("check_at", "TEXT"),
    ]
}
# Indexes on added columns, created once the columns exist. The reconciler's queue: only
# bookings with something pending carry a check time, so the partial index stays small.
_INDEXES_ON_ADDED_COLUMNS = [
    "CREATE INDEX IF NOT EXISTS bookings_due ON bookings (check_at, reference) "
    "WHERE check_at IS NOT NULL",
]


async def migrate(writer: aiosqlite.Connection) -> None:
    """Bring a database file written by an earlier version up to the current columns."""
    await writer.execute_fetchall("BEGIN IMMEDIATE")
    try:
        for table, columns in _ADDED_COLUMNS.items():
            present = {
                row[1] for row in await writer.execute_fetchall(f"PRAGMA table_info({table})")
            }
            for name, definition in columns:
                if name not in present:
                    # Names and definitions are the constants above, never input.
                    await writer.execute_fetchall(
                        f"ALTER TABLE {table} ADD COLUMN {name} {definition}"
                    )
        for statement in _INDEXES_ON_ADDED_COLUMNS:
            await writer.execute_fetchall(statement)
        await writer.execute_fetchall("COMMIT")
    except BaseException:
        if writer.in_transaction:
            await writer.execute_fetchall("ROLLBACK")
        raise
