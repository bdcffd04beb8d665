"""SQLite storage through aiosqlite: the embedded default, one database file in WAL mode."""

from __future__ import annotations

import asyncio
import builtins  # `builtins.list` where a class defines a `list` method of its own
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite
import orjson

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
from integrations.state.store.sqlite_schema import SCHEMA, migrate

MEMORY = ":memory:"


# Datetimes are TEXT columns; `stored_datetime` has already put them in UTC at millisecond
# precision, so this fixed-width form compares as text in the same order as the instants.
def _encode_json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson leaves to json
        return json.dumps(value, separators=(",", ":"), allow_nan=False)


_CODEC = Codec(
    encode_datetime=lambda value: value.isoformat(timespec="milliseconds"),
    decode_datetime=datetime.fromisoformat,
    encode_json=_encode_json,
    decode_json=orjson.loads,
)

_UNIQUE_VIOLATIONS = frozenset({"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})

Row = sqlite3.Row
R = TypeVar("R", BookingRecord, PaymentRecord)


class _Connections:
    """One writer connection behind a lock, and a reader that WAL lets run alongside it."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        # Every write takes the lock: a statement issued while another task holds a transaction
        # open on the shared writer would silently become part of that transaction.
        self._write_lock = asyncio.Lock()

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._reader.execute_fetchall(sql, params))

    async def write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        """Run one statement in its own transaction; returns what its RETURNING clause yields."""
        async with self._write_lock:
            try:
                return list(await self._writer.execute_fetchall(sql, params))
            except sqlite3.IntegrityError as error:
                if error.sqlite_errorname in _UNIQUE_VIOLATIONS:
                    raise DuplicateKey(str(error)) from error
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer inside BEGIN IMMEDIATE, committed on success and rolled back on error."""
        async with self._write_lock:
            try:
                await self._writer.execute_fetchall("BEGIN IMMEDIATE")
                yield self._writer
                await self._writer.execute_fetchall("COMMIT")
            except BaseException:
                # Never leave the shared writer inside a transaction the next write would join,
                # even when the task was cancelled while BEGIN or COMMIT was on its way: the
                # connection's thread runs them anyway, so a ROLLBACK is queued after them.
                await asyncio.shield(self._roll_back())
                raise

    async def _roll_back(self) -> None:
        # OperationalError: no transaction was open (it committed, or BEGIN never ran).
        with contextlib.suppress(sqlite3.OperationalError):
            await self._writer.execute_fetchall("ROLLBACK")

    async def ping(self) -> None:
        try:
            await self._writer.execute_fetchall("SELECT 1")
            await self._reader.execute_fetchall("SELECT 1")
        # aiosqlite says ValueError once a connection is closed.
        except (sqlite3.Error, ValueError) as error:
            raise StoreUnavailable(f"sqlite: {error}") from error

    async def close(self) -> None:
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()


def _insert_sql(table: str, columns: Iterable[str]) -> str:
    names = list(columns)
    placeholders = ", ".join(f":{name}" for name in names)
    # Table and column names come from the record classes, never from callers; values are bound.
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders}) RETURNING *"  # noqa: S608


class _VersionedTable(Generic[R]):
    """What bookings and payments share: create, get, and the compare-and-set status change."""

    def __init__(
        self, db: _Connections, table: str, record_type: type[R], changeable: frozenset[str]
    ) -> None:
        self._db = db
        self._table = table
        self._record_type: type[R] = record_type
        self._changeable = changeable

    async def create(self, record: R) -> R:
        values = _CODEC.encode(record)
        rows = await self._db.write(_insert_sql(self._table, values), values)
        return _CODEC.decode(self._record_type, rows[0])

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._db.read(
            f"SELECT status, COUNT(*) FROM {self._table} GROUP BY status",  # noqa: S608 - fixed
            [],
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def get(self, reference: str) -> R | None:
        rows = await self._db.read(
            f"SELECT * FROM {self._table} WHERE reference = ?",  # noqa: S608 - fixed table name
            [reference],
        )
        return _CODEC.decode(self._record_type, rows[0]) if rows else None

    async def transition(
        self,
        reference: str,
        *,
        from_statuses: Collection[str],
        to_status: str,
        changes: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> R | None:
        statuses = status_list(from_statuses)
        return await self._update(
            reference,
            condition=f"status IN ({', '.join('?' for _ in statuses)})",
            condition_params=statuses,
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
        # A single UPDATE ... WHERE <condition> RETURNING: the check and the write are one atomic
        # statement, so of several racing callers exactly one sees its condition hold.
        encoded = _CODEC.encode_changes(self._record_type, changes, self._changeable)
        assignments = [f"{name} = ?" for name in encoded.fields]
        params: list[Any] = list(encoded.fields.values())
        if encoded.data:
            assignments.append("data = json_set(data" + ", ?, json(?)" * len(encoded.data) + ")")
            for key, value in encoded.data.items():
                params += [f'$."{key}"', value]
        if to_status is not None:
            assignments.append("status = ?")
            params.append(to_status)
        assignments += ["version = version + 1", "updated_at = ?"]
        params.append(_CODEC.encode_instant(now))
        rows = await self._db.write(
            # Names come from the changeable-field lists; every value is bound.
            f"UPDATE {self._table} SET {', '.join(assignments)} "  # noqa: S608
            f"WHERE reference = ? AND {condition} RETURNING *",
            [*params, reference, *condition_params],
        )
        return _CODEC.decode(self._record_type, rows[0]) if rows else None


def _booking_filters(status: str | None, partner_id: str | None) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if status is not None:
        conditions.append("status = ?")
        params.append(status)
    if partner_id is not None:
        conditions.append("partner_id = ?")
        params.append(partner_id)
    return conditions, params


def _where(conditions: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


class SqliteBookingRepository(_VersionedTable[BookingRecord]):
    def __init__(self, db: _Connections) -> None:
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
            condition="version = ?",
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
        conditions, params = _booking_filters(status, partner_id)
        if after is not None:
            conditions.append("(created_at, reference) < (?, ?)")
            params += [_CODEC.encode_instant(after[0]), after[1]]
        rows = await self._db.read(
            f"SELECT * FROM bookings {_where(conditions)} "  # noqa: S608 - fixed fragments
            "ORDER BY created_at DESC, reference DESC LIMIT ?",
            [*params, check_limit(limit)],
        )
        return [_CODEC.decode(BookingRecord, row) for row in rows]

    async def count(self, *, status: str | None = None, partner_id: str | None = None) -> int:
        conditions, params = _booking_filters(status, partner_id)
        rows = await self._db.read(
            f"SELECT COUNT(*) FROM bookings {_where(conditions)}",  # noqa: S608 - fixed fragments
            params,
        )
        return int(rows[0][0])

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> builtins.list[BookingRecord]:
        rows = await self._db.read(
            "SELECT * FROM bookings WHERE status = ? AND expires_at < ? "
            "ORDER BY expires_at, reference LIMIT ?",
            [status, _CODEC.encode_instant(before), check_limit(limit)],
        )
        return [_CODEC.decode(BookingRecord, row) for row in rows]

    async def get_by_airline_order(self, order_id: str) -> BookingRecord | None:
        rows = await self._db.read(
            "SELECT * FROM bookings WHERE airline_order_id = ? ORDER BY created_at LIMIT 1",
            [order_id],
        )
        return _CODEC.decode(BookingRecord, rows[0]) if rows else None

    async def list_due(self, before: datetime, limit: int = 100) -> builtins.list[BookingRecord]:
        rows = await self._db.read(
            "SELECT * FROM bookings WHERE check_at IS NOT NULL AND check_at <= ? "
            "ORDER BY check_at, reference LIMIT ?",
            [_CODEC.encode_instant(before), check_limit(limit)],
        )
        return [_CODEC.decode(BookingRecord, row) for row in rows]

    async def scan(
        self, *, after: str | None = None, limit: int = 500
    ) -> builtins.list[BookingRecord]:
        rows = await self._db.read(
            "SELECT * FROM bookings WHERE reference > ? ORDER BY reference LIMIT ?",
            [after or "", check_limit(limit)],
        )
        return [_CODEC.decode(BookingRecord, row) for row in rows]


class SqlitePaymentRepository(_VersionedTable[PaymentRecord]):
    def __init__(self, db: _Connections) -> None:
        super().__init__(db, "payments", PaymentRecord, PAYMENT_CHANGEABLE_FIELDS)

    async def get_latest_for_booking(self, booking_reference: str) -> PaymentRecord | None:
        rows = await self._db.read(
            "SELECT * FROM payments WHERE booking_reference = ? "
            "ORDER BY created_at DESC, reference DESC LIMIT 1",
            [booking_reference],
        )
        return _CODEC.decode(PaymentRecord, rows[0]) if rows else None

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> list[PaymentRecord]:
        rows = await self._db.read(
            "SELECT * FROM payments WHERE status = ? AND created_at < ? "
            "ORDER BY created_at, reference LIMIT ?",
            [status, _CODEC.encode_instant(before), check_limit(limit)],
        )
        return [_CODEC.decode(PaymentRecord, row) for row in rows]

    async def list_for_bookings(self, booking_references: Sequence[str]) -> list[PaymentRecord]:
        if not booking_references:
            return []
        found: list[PaymentRecord] = []
        # SQLite binds at most 999 parameters in older builds; stay well under.
        for start in range(0, len(booking_references), 500):
            chunk = list(booking_references[start : start + 500])
            rows = await self._db.read(
                "SELECT * FROM payments WHERE booking_reference IN "  # noqa: S608 - placeholders
                f"({', '.join('?' for _ in chunk)}) "
                "ORDER BY booking_reference, created_at, reference",
                chunk,
            )
            found += [_CODEC.decode(PaymentRecord, row) for row in rows]
        return found


class SqliteConversationRepository:
    def __init__(self, db: _Connections) -> None:
        self._db = db

    async def get(self, phone: str) -> ConversationRecord | None:
        rows = await self._db.read("SELECT * FROM conversations WHERE phone = ?", [phone])
        if not rows:
            return None
        bodies = await self._db.read(
            "SELECT body FROM conversation_messages WHERE phone = ? ORDER BY id", [phone]
        )
        messages = [_CODEC.decode_json(body["body"]) for body in bodies]
        return _CODEC.decode(ConversationRecord, rows[0], messages=messages)

    async def save(self, record: ConversationRecord) -> None:
        await self._db.write(
            "INSERT INTO conversations "
            "(phone, state, data, booking_references, created_at, updated_at) "
            "VALUES (:phone, :state, :data, :booking_references, :created_at, :updated_at) "
            "ON CONFLICT (phone) DO UPDATE SET state = excluded.state, data = excluded.data, "
            "booking_references = excluded.booking_references, updated_at = excluded.updated_at",
            _CODEC.encode(record),
        )

    async def append_messages(
        self, phone: str, messages: Sequence[Mapping[str, Any]], now: datetime
    ) -> None:
        bodies = []
        for index, message in enumerate(messages):
            body = dict(message)
            check_json(body, f"messages[{index}]")
            bodies.append((phone, _CODEC.encode_json(body)))
        stamp = _CODEC.encode_instant(now)
        async with self._db.transaction() as writer:
            await writer.execute_fetchall(
                "INSERT INTO conversations "
                "(phone, state, data, booking_references, created_at, updated_at) "
                "VALUES (?, ?, '{}', '[]', ?, ?) "
                "ON CONFLICT (phone) DO UPDATE SET updated_at = excluded.updated_at",
                [phone, NEW_CONVERSATION_STATE, stamp, stamp],
            )
            await writer.executemany(
                "INSERT INTO conversation_messages (phone, body) VALUES (?, ?)", bodies
            )

    async def list_handoffs(self, limit: int = 20) -> list[ConversationRecord]:
        rows = await self._db.read(
            "SELECT * FROM conversations "
            "WHERE json_extract(data, '$.handoff.requested_at') IS NOT NULL "
            "ORDER BY json_extract(data, '$.handoff.requested_at') DESC, phone LIMIT ?",
            [limit],
        )
        return [_CODEC.decode(ConversationRecord, row, messages=[]) for row in rows]


class SqliteApiKeyRepository:
    def __init__(self, db: _Connections) -> None:
        self._db = db

    async def create(self, record: ApiKeyRecord) -> ApiKeyRecord:
        values = _CODEC.encode(record)
        rows = await self._db.write(_insert_sql("api_keys", values), values)
        return _CODEC.decode(ApiKeyRecord, rows[0])

    async def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        rows = await self._db.read("SELECT * FROM api_keys WHERE key_hash = ?", [key_hash])
        return _CODEC.decode(ApiKeyRecord, rows[0]) if rows else None

    async def list(self) -> builtins.list[ApiKeyRecord]:
        rows = await self._db.read("SELECT * FROM api_keys ORDER BY created_at, id")
        return [_CODEC.decode(ApiKeyRecord, row) for row in rows]

    async def revoke(self, id: str, now: datetime) -> bool:
        rows = await self._db.write(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id",
            [_CODEC.encode_instant(now), id],
        )
        return bool(rows)


class SqliteProcessedEventRepository:
    def __init__(self, db: _Connections) -> None:
        self._db = db

    async def record(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        # One statement against the primary key: a new key inserts, an expired one is taken over,
        # a live one is left alone and RETURNING yields nothing.
        rows = await self._db.write(
            "INSERT INTO processed_events (key, expires_at) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
            "WHERE processed_events.expires_at <= ? RETURNING key",
            [key, _CODEC.encode_instant(now + check_ttl(ttl)), _CODEC.encode_instant(now)],
        )
        return bool(rows)

    async def purge_expired(self, now: datetime) -> int:
        rows = await self._db.write(
            "DELETE FROM processed_events WHERE expires_at <= ? RETURNING key",
            [_CODEC.encode_instant(now)],
        )
        return len(rows)


def _idempotency_record(row: Row) -> IdempotencyRecord:
    return _CODEC.decode(IdempotencyRecord, row)


class SqliteIdempotencyRepository:
    def __init__(self, db: _Connections) -> None:
        self._db = db

    async def claim(
        self, key: str, *, fingerprint: str, now: datetime, lease: timedelta
    ) -> tuple[IdempotencyRecord, bool]:
        stamp = _CODEC.encode_instant(now)
        expires = _CODEC.encode_instant(now + check_ttl(lease))
        # One statement on the primary key: a new key inserts, an expired record is taken over,
        # a live one is left as it is and RETURNING yields nothing.
        rows = await self._db.write(
            "INSERT INTO idempotency_records "
            "(key, fingerprint, state, result, created_at, expires_at) "
            "VALUES (?, ?, 'running', NULL, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "state = excluded.state, result = NULL, created_at = excluded.created_at, "
            "expires_at = excluded.expires_at "
            "WHERE idempotency_records.expires_at <= ? RETURNING *",
            [key, fingerprint, stamp, expires, stamp],
        )
        if rows:
            return _idempotency_record(rows[0]), True
        held = await self._db.read("SELECT * FROM idempotency_records WHERE key = ?", [key])
        if not held:  # purged between the two statements: claim again
            return await self.claim(key, fingerprint=fingerprint, now=now, lease=lease)
        return _idempotency_record(held[0]), False

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
        rows = await self._db.write(
            "UPDATE idempotency_records SET state = 'done', result = ?, expires_at = ? "
            "WHERE key = ? AND fingerprint = ? AND state = 'running' RETURNING key",
            [
                _CODEC.encode_json(body),
                _CODEC.encode_instant(now + check_ttl(ttl)),
                key,
                fingerprint,
            ],
        )
        return bool(rows)

    async def release(self, key: str, *, fingerprint: str) -> None:
        await self._db.write(
            "DELETE FROM idempotency_records WHERE key = ? AND fingerprint = ? "
            "AND state = 'running'",
            [key, fingerprint],
        )

    async def purge_expired(self, now: datetime) -> int:
        rows = await self._db.write(
            "DELETE FROM idempotency_records WHERE expires_at <= ? RETURNING key",
            [_CODEC.encode_instant(now)],
        )
        return len(rows)


class SqliteNotificationRepository:
    def __init__(self, db: _Connections) -> None:
        self._db = db

    async def add(self, records: Sequence[NotificationRecord]) -> int:
        added = 0
        for record in records:
            values = _CODEC.encode(record)
            columns = ", ".join(values)
            rows = await self._db.write(
                f"INSERT INTO notifications ({columns}) "  # noqa: S608 - the record's fields
                f"VALUES ({', '.join(':' + name for name in values)}) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                values,
            )
            added += len(rows)
        return added

    async def claim_due(
        self, now: datetime, *, lease: timedelta, limit: int
    ) -> builtins.list[NotificationRecord]:
        stamp = _CODEC.encode_instant(now)
        # One statement: SQLite runs writes one at a time, so no two callers take a record.
        rows = await self._db.write(
            "UPDATE notifications SET status = 'sending', lease_until = ?, "
            "attempts = attempts + 1, updated_at = ? WHERE id IN ("
            "SELECT id FROM notifications WHERE (status = 'pending' AND next_attempt_at <= ?) "
            "OR (status = 'sending' AND lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?"
            ") RETURNING *",
            [_CODEC.encode_instant(now + lease), stamp, stamp, stamp, check_limit(limit)],
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
        stamp = _CODEC.encode_instant(now)
        rows = await self._db.write(
            "UPDATE notifications SET status = ?, lease_until = NULL, updated_at = ?, "
            "provider_id = COALESCE(?, provider_id), error = ?, "
            "next_attempt_at = COALESCE(?, next_attempt_at), "
            "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
            "WHERE id = ? AND status = 'sending' AND attempts = ? RETURNING id",
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
        return bool(rows)

    async def list_for_booking(self, booking_reference: str) -> builtins.list[NotificationRecord]:
        rows = await self._db.read(
            "SELECT * FROM notifications WHERE booking_reference = ? ORDER BY created_at, id",
            [booking_reference],
        )
        return [_CODEC.decode(NotificationRecord, row) for row in rows]

    async def next_due(self) -> datetime | None:
        rows = await self._db.read(
            "SELECT MIN(next_attempt_at) AS due FROM notifications WHERE status = 'pending'"
        )
        due = rows[0]["due"] if rows else None
        return None if due is None else _CODEC.decode_datetime(due)


class SqliteTrustedDocumentRepository:
    def __init__(self, db: _Connections) -> None:
        self._db = db

    async def add(self, record: TrustedDocumentRecord) -> bool:
        values = _CODEC.encode(record)
        rows = await self._db.write(
            "INSERT INTO trusted_documents (id, body, name, canonical_id, created_at) "
            "VALUES (:id, :body, :name, :canonical_id, :created_at) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            values,
        )
        return bool(rows)

    async def get(self, id: str) -> TrustedDocumentRecord | None:
        rows = await self._db.read("SELECT * FROM trusted_documents WHERE id = ?", [id])
        return _CODEC.decode(TrustedDocumentRecord, rows[0]) if rows else None

    async def list(self) -> builtins.list[TrustedDocumentRecord]:
        rows = await self._db.read("SELECT * FROM trusted_documents ORDER BY created_at, id")
        return [_CODEC.decode(TrustedDocumentRecord, row) for row in rows]

    async def remove(self, id: str) -> bool:
        rows = await self._db.write("DELETE FROM trusted_documents WHERE id = ? RETURNING id", [id])
        return bool(rows)


async def _connect(path: str, *, reader: bool) -> aiosqlite.Connection:
    # isolation_level=None: each statement commits on its own; multi-statement writes say BEGIN.
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        connection.row_factory = aiosqlite.Row
        # Wait for another process's write lock rather than fail at once with "database is locked".
        await connection.execute_fetchall("PRAGMA busy_timeout = 5000")
        await connection.execute_fetchall("PRAGMA foreign_keys = ON")
        if reader:
            await connection.execute_fetchall("PRAGMA query_only = ON")
        else:
            # WAL lets readers (this process's and others') run while a write is in progress; the
            # mode is stored in the file. NORMAL sync is durable enough in WAL and much faster.
            await connection.execute_fetchall("PRAGMA journal_mode = WAL")
            await connection.execute_fetchall("PRAGMA synchronous = NORMAL")
    except BaseException:
        await connection.close()
        raise
    return connection


class SqliteStore:
    """Every repository over one SQLite database file (or one in-memory database)."""

    kind = "sqlite"

    def __init__(self, db: _Connections, path: str) -> None:
        self.path = path
        self._db = db
        self.bookings: BookingRepository = SqliteBookingRepository(db)
        self.payments: PaymentRepository = SqlitePaymentRepository(db)
        self.conversations: ConversationRepository = SqliteConversationRepository(db)
        self.api_keys: ApiKeyRepository = SqliteApiKeyRepository(db)
        self.processed_events: ProcessedEventRepository = SqliteProcessedEventRepository(db)
        self.idempotency: IdempotencyRepository = SqliteIdempotencyRepository(db)
        self.trusted_documents: TrustedDocumentRepository = SqliteTrustedDocumentRepository(db)
        self.notifications: NotificationRepository = SqliteNotificationRepository(db)

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        """Open (creating the file, its parent folders and the schema if needed) the database
        at `path`, relative to the working directory unless absolute; ":memory:" keeps it in
        memory for the life of the store."""
        if path != MEMORY:
            await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
        writer = await _connect(path, reader=False)
        try:
            await writer.executescript(SCHEMA)
            await migrate(writer)
            # A second connection to ":memory:" would be a different, empty database.
            reader = writer if path == MEMORY else await _connect(path, reader=True)
        except BaseException:
            await writer.close()
            raise
        return cls(_Connections(writer, reader), path)

    async def ping(self) -> None:
        await self._db.ping()

    async def close(self) -> None:
        await self._db.close()
