"""PostgreSQL storage through psycopg 3 (async) and psycopg_pool, for production deployments.

Documents (`data`, `ledger`, conversation messages, idempotency results) are JSONB; identity,
status, amounts and times are columns of their own, so every query below has an index:

- bookings: `reference` (primary key: get, transition, update, scan); `bookings_by_created`
  (created_at, reference: the unfiltered listing, newest first, with its keyset cursor);
  `bookings_by_status` (status, created_at, reference: listing and counting by status);
  `bookings_by_partner` (partner_id, created_at, reference: listing and counting by partner, and
  by partner and status with the status as a filter); `bookings_expiring` (status, expires_at,
  reference, partial on expires_at: the expiry sweep); `bookings_by_airline_order`
  (airline_order_id, created_at, partial: airline webhooks name orders); `bookings_due`
  (check_at, reference, partial: the reconciler's queue).
- payments: `reference` (primary key); `payments_by_booking` (booking_reference, created_at,
  reference: a booking's latest payment and the payments of several bookings);
  `payments_by_status` (status, created_at, reference: the sweep for payments left pending).
- conversations: `phone` (primary key); `conversation_messages_by_phone` (phone, id).
- api_keys: `id` (primary key: revoke); `key_hash` (unique: authentication); `api_keys_by_created`
  (created_at, id: the listing).
- processed_events and idempotency_records: `key` (primary key: record, claim, complete,
  release); `…_by_expiry` (expires_at: purging).

Every compare-and-set is one `UPDATE … WHERE <condition> RETURNING`: PostgreSQL re-checks the
condition on the newest row version after waiting for a concurrent writer, so of racing callers
exactly one sees it hold. Under REPEATABLE READ or SERIALIZABLE (a server default some
operators set) the losers get a serialization failure instead, and are retried.

The schema is created and changed by the numbered migrations of `postgres_schema`, applied at
start-up in one transaction under an advisory lock and recorded in `schema_migrations`, so two
processes starting together never both apply one.
"""

from __future__ import annotations

import asyncio
import builtins  # `builtins.list` where a class defines a `list` method of its own
import dataclasses
import logging
import random
import select
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from integrations.ports.errors import UpstreamUnavailable
from integrations.state.store.base import (
    BOOKING_CHANGEABLE_FIELDS,
    NEW_CONVERSATION_STATE,
    PAYMENT_CHANGEABLE_FIELDS,
    ApiKeyRecord,
    ApiKeyRepository,
    BookingRecord,
    BookingRepository,
    Codec,
    ConversationRecord,
    ConversationRepository,
    DuplicateKey,
    IdempotencyRecord,
    IdempotencyRepository,
    NotificationRecord,
    NotificationRepository,
    PaymentRecord,
    PaymentRepository,
    ProcessedEventRepository,
    StoreUnavailable,
    TrustedDocumentRecord,
    TrustedDocumentRepository,
    check_json,
    check_limit,
    check_ttl,
    status_list,
)
from integrations.state.store.postgres_schema import migrate

log = logging.getLogger("sureflights.store")

DEFAULT_POOL_SIZE = 10
DEFAULT_POOL_TIMEOUT_SECONDS = 5.0
DEFAULT_START_TIMEOUT_SECONDS = 30.0

# A serialization failure or deadlock rolls the whole transaction back, so running it again is
# safe for every operation here; a few attempts with a short random pause settle a race.
RETRY_ATTEMPTS = 5
_RETRY_PAUSE_SECONDS = 0.005

# Connection settings the URL may override: a name to find our sessions by in
# pg_stat_activity, and TCP keepalives so a dead peer is noticed on an idle connection.
_CONNECTION_DEFAULTS = {
    "application_name": "sureflights",
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}

# Refusals the server sends at connection time that waiting can cure. Any other refusal (bad
# credentials, an unknown role or database, no pg_hba.conf entry, TLS refused) fails at once; a
# server that does not answer at all (refused, timed out) is waited for until the deadline.
_TRANSIENT_REFUSALS = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "too many clients",
    "remaining connection slots are reserved",
)

Connection = psycopg.AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Connection]
T = TypeVar("T")
R = TypeVar("R", BookingRecord, PaymentRecord)


class PostgresUnavailable(StoreUnavailable, UpstreamUnavailable):
    """PostgreSQL did not answer, or kept refusing: the edge answers `UPSTREAM_UNAVAILABLE`
    (it is an `UpstreamUnavailable` of the upstream "database") and readiness says 503."""

    def __init__(self, detail: str) -> None:
        super().__init__("database", detail)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError as error:  # an int beyond 64 bits, which MongoDB refuses too
        raise ValueError(f"cannot store this JSON value in PostgreSQL: {error}") from error


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=_dumps)


# psycopg reads timestamptz as aware datetimes and JSONB as Python values already; the codec
# still puts datetimes in UTC at millisecond precision, as every store answers.
_CODEC = Codec(encode_json=_jsonb)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text.removeprefix("connection failed: ") or type(error).__name__


def _cannot_store(error: psycopg.Error) -> ValueError:
    return ValueError(f"PostgreSQL cannot store this value: {_one_line(error)}")


def _unmatchable(*keys: str | None) -> bool:
    """True when a key holds a NUL character, which no PostgreSQL text value can: nothing is
    stored under it, so a look-up finds nothing (rather than failing to send the query)."""
    return any(key is not None and "\x00" in key for key in keys)


async def _alive(connection: Connection) -> None:
    """The pool's check before it lends a connection.

    A connection the server has ended (a restart, a failover, `pg_terminate_backend`, an idle
    timeout) has the server's last message and the end of the stream waiting to be read, so only
    then is the server asked: a quiet connection costs no round trip.
    """
    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(connection)


def _log_notice(diagnostic: psycopg.errors.Diagnostic) -> None:
    """A NOTICE or WARNING the server sent with an answer, kept at debug level."""
    log.debug("postgresql %s", diagnostic.severity, extra={"notice": diagnostic.message_primary})


async def _configure(connection: Connection) -> None:
    set_json_loads(orjson.loads, connection)
    connection.add_notice_handler(_log_notice)


Params = Sequence[Any] | Mapping[str, Any]


class _Database:
    """The pool, and each statement run through it with the errors the store promises."""

    def __init__(self, pool: Pool, pool_timeout: float) -> None:
        self.pool = pool
        self._pool_timeout = pool_timeout

    async def fetch(self, sql: str, params: Params = (), *, write: bool = False) -> list[DictRow]:
        """Run one statement (its own transaction) and return the rows it yields."""

        async def work(connection: Connection) -> list[DictRow]:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

        return await self.run(work, write=write)

    async def rowcount(self, sql: str, params: Params = ()) -> int:
        """Run one write and return how many rows it touched."""

        async def work(connection: Connection) -> int:
            return (await connection.execute(sql, params)).rowcount

        return await self.run(work, write=True)

    async def run(self, work: Callable[[Connection], Awaitable[T]], *, write: bool) -> T:
        """`work` on a pooled connection, with PostgreSQL's errors as the store's.

        A serialization failure or deadlock rolled the transaction back, so `work` runs again (a
        few times); a read also runs once more after a lost connection. A write whose answer was
        lost may have been applied, so it is never sent again: the caller hears
        `PostgresUnavailable`, and the saga looks at what is stored before acting again.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.pool.connection() as connection:
                    return await work(connection)
            except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as error:
                if attempt >= RETRY_ATTEMPTS:
                    raise PostgresUnavailable(
                        f"still conflicting after {attempt} attempts: {_one_line(error)}"
                    ) from error
                log.info(
                    "database conflict, retrying",
                    extra={"sqlstate": error.sqlstate, "attempt": attempt},
                )
                pause = random.uniform(0, _RETRY_PAUSE_SECONDS * 2**attempt)  # noqa: S311
                await asyncio.sleep(pause)
            except PoolClosed as error:
                raise PostgresUnavailable("the store is closed") from error
            except PoolTimeout as error:
                raise PostgresUnavailable(
                    f"no connection to PostgreSQL within {self._pool_timeout:g} s"
                ) from error
            except pg_errors.UniqueViolation as error:
                raise DuplicateKey(_one_line(error)) from error
            except (
                psycopg.DataError,
                pg_errors.NotNullViolation,
                pg_errors.CheckViolation,
            ) as error:
                raise _cannot_store(error) from error
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                lost_read = (
                    not write and attempt == 1 and not isinstance(error, pg_errors.QueryCanceled)
                )
                if not lost_read:
                    raise PostgresUnavailable(_one_line(error)) from error

    async def ping(self) -> None:
        async def work(connection: Connection) -> None:
            await connection.execute("SELECT 1")

        await self.run(work, write=False)


def _field_names(record_type: type[Any]) -> list[str]:
    return [record_field.name for record_field in dataclasses.fields(record_type)]


def _select_list(record_type: type[Any]) -> str:
    # Named columns, never `*`: a statement psycopg has prepared keeps its result type when a
    # later migration, run by another process, adds a column.
    return ", ".join(_field_names(record_type))


def _insert_sql(table: str, record_type: type[Any]) -> str:
    names = _field_names(record_type)
    placeholders = ", ".join(f"%({name})s" for name in names)
    # Table and column names come from the record classes, never from callers; values are bound.
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders}) "  # noqa: S608
        f"RETURNING {_select_list(record_type)}"
    )


class _VersionedTable(Generic[R]):
    """What bookings and payments share: create, get, and the compare-and-set status change."""

    def __init__(
        self, db: _Database, table: str, record_type: type[R], changeable: frozenset[str]
    ) -> None:
        self._db = db
        self._table = table
        self._record_type: type[R] = record_type
        self._changeable = changeable
        self._columns = _select_list(record_type)
        self._insert = _insert_sql(table, record_type)

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._db.fetch(
            f"SELECT status, count(*) AS n FROM {self._table} GROUP BY status",  # noqa: S608
            [],
        )
        return {str(row["status"]): int(row["n"]) for row in rows}

    def _decode(self, rows: Sequence[DictRow]) -> list[R]:
        return [_CODEC.decode(self._record_type, row) for row in rows]

    async def _select(self, where: str, params: Sequence[Any], order: str, limit: int) -> list[R]:
        rows = await self._db.fetch(
            # Fixed fragments written in this module; every value is bound.
            f"SELECT {self._columns} FROM {self._table} WHERE {where} "  # noqa: S608
            f"ORDER BY {order} LIMIT %s",
            [*params, check_limit(limit)],
        )
        return self._decode(rows)

    async def create(self, record: R) -> R:
        rows = await self._db.fetch(self._insert, _CODEC.encode(record), write=True)
        return self._decode(rows)[0]

    async def get(self, reference: str) -> R | None:
        if _unmatchable(reference):
            return None
        found = await self._select("reference = %s", [reference], "reference", 1)
        return found[0] if found else None

    async def transition(
        self,
        reference: str,
        *,
        from_statuses: Collection[str],
        to_status: str,
        changes: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> R | None:
        return await self._update(
            reference,
            condition="status = ANY(%s)",
            condition_params=[status_list(from_statuses)],
            to_status=to_status,
            changes=changes,
            now=now,
        )

    async def _update(
        self,
        reference: str,
        *,
        condition: str,
        condition_params: Sequence[Any],
        to_status: str | None,
        changes: Mapping[str, Any] | None,
        now: datetime,
    ) -> R | None:
        # One UPDATE … WHERE <condition> RETURNING: the check and the write are one statement.
        encoded = _CODEC.encode_changes(self._record_type, changes, self._changeable)
        if _unmatchable(reference):
            return None
        assignments = [f"{name} = %s" for name in encoded.fields]
        params: list[Any] = list(encoded.fields.values())
        if encoded.data:
            # `||` replaces the named top-level keys whole and keeps every other key.
            assignments.append("data = data || %s")
            params.append(_jsonb({key: value.obj for key, value in encoded.data.items()}))
        if to_status is not None:
            assignments.append("status = %s")
            params.append(to_status)
        assignments += ["version = version + 1", "updated_at = %s"]
        params.append(_CODEC.encode_instant(now))
        rows = await self._db.fetch(
            # Names come from the changeable-field lists; every value is bound.
            f"UPDATE {self._table} SET {', '.join(assignments)} "  # noqa: S608
            f"WHERE reference = %s AND {condition} RETURNING {self._columns}",
            [*params, reference, *condition_params],
            write=True,
        )
        return self._decode(rows)[0] if rows else None


def _booking_filters(status: str | None, partner_id: str | None) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if status is not None:
        conditions.append("status = %s")
        params.append(status)
    if partner_id is not None:
        conditions.append("partner_id = %s")
        params.append(partner_id)
    return conditions, params


def _where(conditions: Sequence[str]) -> str:
    return " AND ".join(conditions) if conditions else "TRUE"


class PostgresBookingRepository(_VersionedTable[BookingRecord]):
    def __init__(self, db: _Database) -> None:
        super().__init__(db, "bookings", BookingRecord, BOOKING_CHANGEABLE_FIELDS)

    async def update(
        self,
        reference: str,
        *,
        expected_version: int,
        changes: Mapping[str, Any],
        now: datetime | None = None,
        to_status: str | None = None,
    ) -> BookingRecord | None:
        return await self._update(
            reference,
            condition="version = %s",
            condition_params=[expected_version],
            to_status=to_status,
            changes=changes,
            now=now or datetime.now(UTC),
        )

    async def list(
        self,
        *,
        status: str | None = None,
        partner_id: str | None = None,
        limit: int = 20,
        after: tuple[datetime, str] | None = None,
    ) -> builtins.list[BookingRecord]:
        check_limit(limit)
        if _unmatchable(status, partner_id):
            return []
        conditions, params = _booking_filters(status, partner_id)
        if after is not None:
            # A row comparison, so the (…, created_at, reference) indexes serve the cursor. No
            # stored reference holds a NUL, so "before x\0…" is "at or before x".
            last, nul, _ = after[1].partition("\x00")
            conditions.append(f"(created_at, reference) {'<=' if nul else '<'} (%s, %s)")
            params += [_CODEC.encode_instant(after[0]), last]
        return await self._select(
            _where(conditions), params, "created_at DESC, reference DESC", limit
        )

    async def count(self, *, status: str | None = None, partner_id: str | None = None) -> int:
        if _unmatchable(status, partner_id):
            return 0
        conditions, params = _booking_filters(status, partner_id)
        rows = await self._db.fetch(
            f"SELECT count(*) AS n FROM bookings WHERE {_where(conditions)}",  # noqa: S608
            params,
        )
        return int(rows[0]["n"])

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> builtins.list[BookingRecord]:
        check_limit(limit)
        if _unmatchable(status):
            return []
        return await self._select(
            "status = %s AND expires_at < %s",
            [status, _CODEC.encode_instant(before)],
            "expires_at, reference",
            limit,
        )

    async def get_by_airline_order(self, order_id: str) -> BookingRecord | None:
        if _unmatchable(order_id):
            return None
        found = await self._select("airline_order_id = %s", [order_id], "created_at", 1)
        return found[0] if found else None

    async def list_due(self, before: datetime, limit: int = 100) -> builtins.list[BookingRecord]:
        return await self._select(
            "check_at IS NOT NULL AND check_at <= %s",
            [_CODEC.encode_instant(before)],
            "check_at, reference",
            limit,
        )

    async def scan(
        self, *, after: str | None = None, limit: int = 500
    ) -> builtins.list[BookingRecord]:
        # No stored reference holds a NUL, so "after x\0…" and "after x" mean the same.
        start = (after or "").partition("\x00")[0]
        return await self._select("reference > %s", [start], "reference", limit)


class PostgresPaymentRepository(_VersionedTable[PaymentRecord]):
    def __init__(self, db: _Database) -> None:
        super().__init__(db, "payments", PaymentRecord, PAYMENT_CHANGEABLE_FIELDS)

    async def get_latest_for_booking(self, booking_reference: str) -> PaymentRecord | None:
        if _unmatchable(booking_reference):
            return None
        latest = await self._select(
            "booking_reference = %s",
            [booking_reference],
            "created_at DESC, reference DESC",
            1,
        )
        return latest[0] if latest else None

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> list[PaymentRecord]:
        check_limit(limit)
        if _unmatchable(status):
            return []
        return await self._select(
            "status = %s AND created_at < %s",
            [status, _CODEC.encode_instant(before)],
            "created_at, reference",
            limit,
        )

    async def list_for_bookings(self, booking_references: Sequence[str]) -> list[PaymentRecord]:
        wanted = [reference for reference in booking_references if not _unmatchable(reference)]
        if not wanted:
            return []
        rows = await self._db.fetch(
            f"SELECT {self._columns} FROM payments WHERE booking_reference = ANY(%s) "  # noqa: S608
            "ORDER BY booking_reference, created_at, reference",
            [wanted],
        )
        return self._decode(rows)


class PostgresConversationRepository:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def get(self, phone: str) -> ConversationRecord | None:
        if _unmatchable(phone):
            return None
        # One statement, so the conversation and its messages come from one snapshot.
        rows = await self._db.fetch(
            "SELECT phone, state, data, booking_references, created_at, updated_at, "
            "COALESCE((SELECT jsonb_agg(m.body ORDER BY m.id) FROM conversation_messages m "
            "WHERE m.phone = c.phone), '[]') AS messages "
            "FROM conversations c WHERE phone = %s",
            [phone],
        )
        return _CODEC.decode(ConversationRecord, rows[0]) if rows else None

    async def save(self, record: ConversationRecord) -> None:
        values = _CODEC.encode(record)
        await self._db.fetch(
            "INSERT INTO conversations "
            "(phone, state, data, booking_references, created_at, updated_at) "
            "VALUES (%(phone)s, %(state)s, %(data)s, %(booking_references)s, %(created_at)s, "
            "%(updated_at)s) "
            "ON CONFLICT (phone) DO UPDATE SET state = EXCLUDED.state, data = EXCLUDED.data, "
            "booking_references = EXCLUDED.booking_references, "
            "updated_at = EXCLUDED.updated_at",
            values,
            write=True,
        )

    async def append_messages(
        self, phone: str, messages: Sequence[Mapping[str, Any]], now: datetime
    ) -> None:
        bodies = []
        for index, message in enumerate(messages):
            body = dict(message)
            check_json(body, f"messages[{index}]")
            bodies.append((phone, _jsonb(body)))
        stamp = _CODEC.encode_instant(now)

        async def work(connection: Connection) -> None:
            # Both statements in one transaction: the upsert takes the conversation's row lock,
            # so concurrent first messages for one phone all land, in one conversation.
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO conversations "
                    "(phone, state, data, booking_references, created_at, updated_at) "
                    "VALUES (%s, %s, '{}', '[]', %s, %s) "
                    "ON CONFLICT (phone) DO UPDATE SET updated_at = EXCLUDED.updated_at",
                    [phone, NEW_CONVERSATION_STATE, stamp, stamp],
                )
                if bodies:
                    async with connection.cursor() as cursor:
                        await cursor.executemany(
                            "INSERT INTO conversation_messages (phone, body) VALUES (%s, %s)",
                            bodies,
                        )

        await self._db.run(work, write=True)

    async def list_handoffs(self, limit: int = 20) -> builtins.list[ConversationRecord]:
        rows = await self._db.fetch(
            "SELECT phone, state, data, booking_references, created_at, updated_at, "
            "'[]'::jsonb AS messages FROM conversations "
            "WHERE data -> 'handoff' ->> 'requested_at' IS NOT NULL "
            "ORDER BY data -> 'handoff' ->> 'requested_at' DESC, phone LIMIT %s",
            [check_limit(limit)],
        )
        return [_CODEC.decode(ConversationRecord, row) for row in rows]


class PostgresApiKeyRepository:
    def __init__(self, db: _Database) -> None:
        self._db = db
        self._columns = _select_list(ApiKeyRecord)

    async def create(self, record: ApiKeyRecord) -> ApiKeyRecord:
        rows = await self._db.fetch(
            _insert_sql("api_keys", ApiKeyRecord), _CODEC.encode(record), write=True
        )
        return _CODEC.decode(ApiKeyRecord, rows[0])

    async def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        if _unmatchable(key_hash):
            return None
        rows = await self._db.fetch(
            f"SELECT {self._columns} FROM api_keys WHERE key_hash = %s",  # noqa: S608
            [key_hash],
        )
        return _CODEC.decode(ApiKeyRecord, rows[0]) if rows else None

    async def list(self) -> builtins.list[ApiKeyRecord]:
        rows = await self._db.fetch(
            f"SELECT {self._columns} FROM api_keys ORDER BY created_at, id"  # noqa: S608
        )
        return [_CODEC.decode(ApiKeyRecord, row) for row in rows]

    async def revoke(self, id: str, now: datetime) -> bool:
        if _unmatchable(id):
            return False
        revoked = await self._db.rowcount(
            "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
            [_CODEC.encode_instant(now), id],
        )
        return revoked == 1


class PostgresProcessedEventRepository:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def record(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        # One statement on the primary key: a new key inserts, an expired one is taken over, a
        # live one (or a concurrent winner's) is left alone and RETURNING yields nothing.
        rows = await self._db.fetch(
            "INSERT INTO processed_events (key, expires_at) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at "
            "WHERE processed_events.expires_at <= %s RETURNING key",
            [key, _CODEC.encode_instant(now + check_ttl(ttl)), _CODEC.encode_instant(now)],
            write=True,
        )
        return bool(rows)

    async def purge_expired(self, now: datetime) -> int:
        return await self._db.rowcount(
            "DELETE FROM processed_events WHERE expires_at <= %s", [_CODEC.encode_instant(now)]
        )


_IDEMPOTENCY_COLUMNS = _select_list(IdempotencyRecord)
# One statement on the primary key: a new key inserts, an expired record is taken over, a live
# one is left as it is and RETURNING yields nothing.
_CLAIM = (
    "INSERT INTO idempotency_records "  # noqa: S608 - fixed column names
    "(key, fingerprint, state, result, created_at, expires_at) "
    "VALUES (%s, %s, 'running', NULL, %s, %s) "
    "ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
    "state = EXCLUDED.state, result = NULL, created_at = EXCLUDED.created_at, "
    "expires_at = EXCLUDED.expires_at "
    f"WHERE idempotency_records.expires_at <= %s RETURNING {_IDEMPOTENCY_COLUMNS}"
)


class PostgresIdempotencyRepository:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def claim(
        self, key: str, *, fingerprint: str, now: datetime, lease: timedelta
    ) -> tuple[IdempotencyRecord, bool]:
        stamp = _CODEC.encode_instant(now)
        expires = _CODEC.encode_instant(now + check_ttl(lease))
        rows = await self._db.fetch(
            _CLAIM,
            [key, fingerprint, stamp, expires, stamp],
            write=True,
        )
        if rows:
            return _CODEC.decode(IdempotencyRecord, rows[0]), True
        held = await self._db.fetch(
            f"SELECT {_IDEMPOTENCY_COLUMNS} FROM idempotency_records WHERE key = %s",  # noqa: S608
            [key],
        )
        if not held:  # purged between the two statements: claim again
            return await self.claim(key, fingerprint=fingerprint, now=now, lease=lease)
        return _CODEC.decode(IdempotencyRecord, held[0]), False

    async def complete(
        self,
        key: str,
        *,
        fingerprint: str,
        result: Mapping[str, Any],
        now: datetime,
        ttl: timedelta,
    ) -> bool:
        body = dict(result)
        check_json(body, "result")
        expires = _CODEC.encode_instant(now + check_ttl(ttl))
        if _unmatchable(key, fingerprint):
            return False
        done = await self._db.rowcount(
            "UPDATE idempotency_records SET state = 'done', result = %s, expires_at = %s "
            "WHERE key = %s AND fingerprint = %s AND state = 'running'",
            [_jsonb(body), expires, key, fingerprint],
        )
        return done == 1

    async def release(self, key: str, *, fingerprint: str) -> None:
        if _unmatchable(key, fingerprint):
            return
        await self._db.rowcount(
            "DELETE FROM idempotency_records WHERE key = %s AND fingerprint = %s "
            "AND state = 'running'",
            [key, fingerprint],
        )

    async def purge_expired(self, now: datetime) -> int:
        return await self._db.rowcount(
            "DELETE FROM idempotency_records WHERE expires_at <= %s",
            [_CODEC.encode_instant(now)],
        )


class PostgresTrustedDocumentRepository:
    def __init__(self, db: _Database) -> None:
        self._db = db
        self._columns = _select_list(TrustedDocumentRecord)

    async def add(self, record: TrustedDocumentRecord) -> bool:
        rows = await self._db.fetch(
            "INSERT INTO trusted_documents (id, body, name, canonical_id, created_at) "
            "VALUES (%(id)s, %(body)s, %(name)s, %(canonical_id)s, %(created_at)s) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            _CODEC.encode(record),
            write=True,
        )
        return bool(rows)

    async def get(self, id: str) -> TrustedDocumentRecord | None:
        if _unmatchable(id):
            return None
        rows = await self._db.fetch(
            f"SELECT {self._columns} FROM trusted_documents WHERE id = %s",  # noqa: S608
            [id],
        )
        return _CODEC.decode(TrustedDocumentRecord, rows[0]) if rows else None

    async def list(self) -> builtins.list[TrustedDocumentRecord]:
        rows = await self._db.fetch(
            f"SELECT {self._columns} FROM trusted_documents ORDER BY created_at, id"  # noqa: S608
        )
        return [_CODEC.decode(TrustedDocumentRecord, row) for row in rows]

    async def remove(self, id: str) -> bool:
        if _unmatchable(id):
            return False
        removed = await self._db.rowcount("DELETE FROM trusted_documents WHERE id = %s", [id])
        return removed == 1


_NOTIFICATION_COLUMNS = _select_list(NotificationRecord)


class PostgresNotificationRepository:
    def __init__(self, db: _Database) -> None:
        self._db = db
        self._insert = _insert_sql("notifications", NotificationRecord).replace(
            " RETURNING ", " ON CONFLICT (id) DO NOTHING RETURNING ", 1
        )

    async def add(self, records: Sequence[NotificationRecord]) -> int:
        added = 0
        for record in records:
            rows = await self._db.fetch(self._insert, _CODEC.encode(record), write=True)
            added += len(rows)
        return added

    async def claim_due(
        self, now: datetime, *, lease: timedelta, limit: int
    ) -> builtins.list[NotificationRecord]:
        stamp = _CODEC.encode_instant(now)
        # SKIP LOCKED: concurrent dispatchers each take different records, none waits.
        rows = await self._db.fetch(
            "UPDATE notifications SET status = 'sending', lease_until = %s, "  # noqa: S608
            "attempts = attempts + 1, updated_at = %s WHERE id IN ("
            "SELECT id FROM notifications WHERE (status = 'pending' AND next_attempt_at <= %s) "
            "OR (status = 'sending' AND lease_until <= %s) ORDER BY next_attempt_at, id "
            f"LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {_NOTIFICATION_COLUMNS}",
            [_CODEC.encode_instant(now + lease), stamp, stamp, stamp, check_limit(limit)],
            write=True,
        )
        claimed = [_CODEC.decode(NotificationRecord, row) for row in rows]
        return sorted(claimed, key=lambda r: (r.next_attempt_at, r.id))

    async def finish(
        self,
        id: str,
        *,
        attempt: int,
        status: str,
        now: datetime,
        provider_id: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        if _unmatchable(id):
            return False
        stamp = _CODEC.encode_instant(now)
        done = await self._db.rowcount(
            "UPDATE notifications SET status = %s, lease_until = NULL, updated_at = %s, "
            "provider_id = COALESCE(%s, provider_id), error = %s, "
            "next_attempt_at = COALESCE(%s, next_attempt_at), "
            "sent_at = CASE WHEN %s = 'sent' THEN %s ELSE sent_at END "
            "WHERE id = %s AND status = 'sending' AND attempts = %s",
            [
                status,
                stamp,
                provider_id,
                error,
                _CODEC.encode_instant(next_attempt_at) if next_attempt_at else None,
                status,
                stamp,
                id,
                attempt,
            ],
        )
        return done == 1

    async def list_for_booking(self, booking_reference: str) -> builtins.list[NotificationRecord]:
        if _unmatchable(booking_reference):
            return []
        rows = await self._db.fetch(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications "  # noqa: S608
            "WHERE booking_reference = %s ORDER BY created_at, id",
            [booking_reference],
        )
        return [_CODEC.decode(NotificationRecord, row) for row in rows]

    async def next_due(self) -> datetime | None:
        rows = await self._db.fetch(
            "SELECT next_attempt_at FROM notifications WHERE status = 'pending' "
            "ORDER BY next_attempt_at LIMIT 1"
        )
        return rows[0]["next_attempt_at"] if rows else None


# --- opening ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Where a DATABASE_URL points, for messages; never the password."""

    conninfo: str
    where: str
    password: str | None

    def tell(self, text: str) -> str:
        """`text` with the password blanked, in case a driver message ever echoed it."""
        return text.replace(self.password, "***") if self.password else text


def _target(url: str) -> _Target:
    password = urlsplit(url).password
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        message = _one_line(error)
        raise ValueError(
            f"DATABASE_URL is not a usable PostgreSQL URL: "
            f"{message.replace(password, '***') if password else message}"
        ) from None
    for name, value in _CONNECTION_DEFAULTS.items():
        params.setdefault(name, value)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    database = str(params.get("dbname") or params.get("user") or "")
    return _Target(make_conninfo("", **params), f"{host}:{port}/{database}", password)


def _waiting_cannot_help(message: str) -> bool:
    return "FATAL:" in message and not any(phrase in message for phrase in _TRANSIENT_REFUSALS)


async def _first_connection(target: _Target, start_timeout: float) -> psycopg.AsyncConnection[Any]:
    """A connection for the migrations, trying until `start_timeout` has passed (plus the last
    attempt's own connect_timeout) while the server does not answer; a refusal that waiting
    cannot change (credentials, an unknown database) fails at once."""
    deadline = time.monotonic() + start_timeout
    pause = 0.1
    while True:
        try:
            return await psycopg.AsyncConnection.connect(target.conninfo, autocommit=True)
        except psycopg.OperationalError as error:
            reason = target.tell(_one_line(error))
            if _waiting_cannot_help(reason):
                raise PostgresUnavailable(
                    f"PostgreSQL at {target.where} refused the connection: {reason}"
                ) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PostgresUnavailable(
                    f"PostgreSQL at {target.where} did not answer within "
                    f"{start_timeout:g} s: {reason}"
                ) from None
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 1.0)


class PostgresStore:
    """Every repository over one PostgreSQL database (the schema first on its search_path)."""

    kind = "postgresql"

    def __init__(self, db: _Database, where: str) -> None:
        self.where = where
        self._db = db
        self.bookings: BookingRepository = PostgresBookingRepository(db)
        self.payments: PaymentRepository = PostgresPaymentRepository(db)
        self.conversations: ConversationRepository = PostgresConversationRepository(db)
        self.api_keys: ApiKeyRepository = PostgresApiKeyRepository(db)
        self.processed_events: ProcessedEventRepository = PostgresProcessedEventRepository(db)
        self.idempotency: IdempotencyRepository = PostgresIdempotencyRepository(db)
        self.trusted_documents: TrustedDocumentRepository = PostgresTrustedDocumentRepository(db)
        self.notifications: NotificationRepository = PostgresNotificationRepository(db)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
        start_timeout: float = DEFAULT_START_TIMEOUT_SECONDS,
    ) -> PostgresStore:
        """Connect (waiting up to `start_timeout` seconds for the server), apply the migrations
        the database lacks, and open a pool of `pool_size` connections; an operation waits up to
        `pool_timeout` seconds for one of them.

        Raises `PostgresUnavailable` with one line saying why when the server cannot be reached
        in time or refuses us, and ValueError when the URL itself is unusable.
        """
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        target = _target(url)
        started = time.monotonic()
        first = await _first_connection(target, start_timeout)
        try:
            await migrate(first)
        except psycopg.Error as error:
            raise PostgresUnavailable(
                f"migrating PostgreSQL at {target.where} failed: {target.tell(_one_line(error))}"
            ) from None
        finally:
            await first.close()
        pool: Pool = AsyncConnectionPool(
            target.conninfo,
            connection_class=psycopg.AsyncConnection[DictRow],
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=pool_size,
            max_size=pool_size,
            open=False,
            name="sureflights",
            configure=_configure,
            check=_alive,
            timeout=pool_timeout,
            # Give up a failing reconnection soon: the next operation starts a fresh attempt,
            # so the pool is back within moments of the server, not after a long back-off.
            reconnect_timeout=pool_timeout,
        )
        remaining = max(start_timeout - (time.monotonic() - started), pool_timeout)
        try:
            await pool.open(wait=True, timeout=remaining)
        except PoolTimeout:
            raise PostgresUnavailable(
                f"PostgreSQL at {target.where} did not open {pool_size} connections "
                f"(DATABASE_POOL_SIZE) within {remaining:.0f} s"
            ) from None
        return cls(_Database(pool, pool_timeout), target.where)

    def pool_status(self) -> dict[str, int]:
        """The pool as readiness reports it: its size, idle connections, callers waiting."""
        stats = self._db.pool.get_stats()
        return {
            "size": stats.get("pool_size", 0),
            "idle": stats.get("pool_available", 0),
            "waiting": stats.get("requests_waiting", 0),
            "max": stats.get("pool_max", 0),
        }

    async def ping(self) -> None:
        await self._db.ping()

    async def close(self) -> None:
        await self._db.pool.close()
