"""MongoDB storage through PyMongo's async API (AsyncMongoClient), for production deployments."""

from __future__ import annotations

import builtins  # `builtins.list` where a class defines a `list` method of its own
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from integrations.state.store.base import (
    BOOKING_CHANGEABLE_FIELDS,
    NEW_CONVERSATION_STATE,
    NOTIFICATION_PENDING,
    NOTIFICATION_SENDING,
    NOTIFICATION_SENT,
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

DEFAULT_DATABASE = "sureflights"

# BSON holds datetimes, dicts and lists as they are; the client is tz_aware so dates come back
# aware, and the codec still converts them to datetime.UTC.
_CODEC = Codec()

# A booking or payment write is acknowledged once a majority of the replica set has it, so a
# failover cannot roll back a confirmed payment or booking.
_MAJORITY = WriteConcern(w="majority")

Document = dict[str, Any]
R = TypeVar("R", BookingRecord, PaymentRecord)


async def _create_indexes(database: AsyncDatabase[Document]) -> None:
    """Create the indexes the queries below rely on; existing ones are left as they are."""
    await database.get_collection("bookings").create_indexes(
        [
            # A booking reference names one booking.
            IndexModel([("reference", ASCENDING)], unique=True),
            # The three booking listings (everything, by status, by partner) page newest first by
            # (created_at, reference). The status index also serves the expiry sweep, which only
            # scans the few unpaid bookings.
            IndexModel([("created_at", DESCENDING), ("reference", DESCENDING)]),
            IndexModel(
                [("status", ASCENDING), ("created_at", DESCENDING), ("reference", DESCENDING)]
            ),
            IndexModel(
                [("partner_id", ASCENDING), ("created_at", DESCENDING), ("reference", DESCENDING)]
            ),
            # Airline webhooks name the order, not our reference.
            IndexModel(
                [("airline_order_id", ASCENDING)],
                name="bookings_by_airline_order",
                partialFilterExpression={"airline_order_id": {"$type": "string"}},
            ),
            # The reconciler's queue: only bookings with something pending carry a check time.
            IndexModel(
                [("check_at", ASCENDING), ("reference", ASCENDING)],
                name="bookings_due",
                partialFilterExpression={"check_at": {"$type": "date"}},
            ),
        ]
    )
    await database.get_collection("payments").create_indexes(
        [
            # A payment reference (also Paystack's transaction reference) names one payment.
            IndexModel([("reference", ASCENDING)], unique=True),
            # A booking's latest payment.
            IndexModel([("booking_reference", ASCENDING), ("created_at", DESCENDING)]),
            # The sweep for payments left pending.
            IndexModel([("status", ASCENDING), ("created_at", ASCENDING)]),
        ]
    )
    await database.get_collection("conversations").create_indexes(
        [
            # One conversation per phone number; concurrent first messages upsert into one.
            IndexModel([("phone", ASCENDING)], unique=True),
            # Operators' list of travellers who asked for a person.
            IndexModel([("data.handoff.requested_at", DESCENDING)], sparse=True),
        ]
    )
    await database.get_collection("api_keys").create_indexes(
        [
            IndexModel([("id", ASCENDING)], unique=True),
            # Authentication looks keys up by hash; a hash names one key.
            IndexModel([("key_hash", ASCENDING)], unique=True),
        ]
    )
    await database.get_collection("processed_events").create_indexes(
        [
            # The uniqueness that makes `record` say True once per key.
            IndexModel([("key", ASCENDING)], unique=True),
            # TTL: the server deletes a record once its expires_at has passed (checked about
            # every minute); `purge_expired` and the expiry check in `record` do not wait for it.
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
        ]
    )
    await database.get_collection("idempotency_records").create_indexes(
        [
            # One record per scoped key: what makes a claim succeed once.
            IndexModel([("key", ASCENDING)], unique=True),
            # Expired leases and results go away on their own; `claim` never waits for it.
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
        ]
    )
    await database.get_collection("trusted_documents").create_indexes(
        # A document's id is the hash of its text: one document per id.
        [IndexModel([("id", ASCENDING)], unique=True)]
    )
    await database.get_collection("notifications").create_indexes(
        [
            # One record per booking, notice and channel.
            IndexModel([("id", ASCENDING)], unique=True),
            IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)]),
            IndexModel([("booking_reference", ASCENDING), ("created_at", ASCENDING)]),
        ]
    )


class _VersionedCollection(Generic[R]):
    """What bookings and payments share: create, get, and the compare-and-set status change."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        record_type: type[R],
        changeable: frozenset[str],
    ) -> None:
        self._collection = collection
        self._record_type: type[R] = record_type
        self._changeable = changeable

    async def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        pipeline: list[Document] = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        async for row in await self._collection.aggregate(pipeline):
            counts[str(row["_id"])] = int(row["n"])
        return counts

    async def create(self, record: R) -> R:
        document = _CODEC.encode(record)
        try:
            await self._collection.insert_one(document)
        except DuplicateKeyError as error:
            raise DuplicateKey(f"{self._collection.name} {record.reference} exists") from error
        return _CODEC.decode(self._record_type, document)

    async def get(self, reference: str) -> R | None:
        document = await self._collection.find_one({"reference": reference})
        return None if document is None else _CODEC.decode(self._record_type, document)

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
            {"reference": reference, "status": {"$in": status_list(from_statuses)}},
            to_status=to_status,
            changes=changes,
            now=now,
        )

    async def _update(
        self,
        condition: Mapping[str, Any],
        *,
        to_status: str | None,
        changes: Mapping[str, Any] | None,
        now: datetime,
    ) -> R | None:
        # find_one_and_update matches and modifies one document atomically: of several racing
        # callers exactly one sees `condition` hold.
        encoded = _CODEC.encode_changes(self._record_type, changes, self._changeable)
        assignments = {
            **encoded.fields,
            **{f"data.{key}": value for key, value in encoded.data.items()},
            "updated_at": _CODEC.encode_instant(now),
        }
        if to_status is not None:
            assignments["status"] = to_status
        document = await self._collection.find_one_and_update(
            condition,
            {"$set": assignments, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _CODEC.decode(self._record_type, document)

    async def _find(
        self, query: Mapping[str, Any], sort: Sequence[tuple[str, int]], limit: int
    ) -> list[R]:
        cursor = self._collection.find(query).sort(list(sort)).limit(check_limit(limit))
        return [_CODEC.decode(self._record_type, document) async for document in cursor]


def _booking_filter(status: str | None, partner_id: str | None) -> Document:
    query: Document = {}
    if status is not None:
        query["status"] = status
    if partner_id is not None:
        query["partner_id"] = partner_id
    return query


_NEWEST_FIRST = [("created_at", DESCENDING), ("reference", DESCENDING)]


class MongoBookingRepository(_VersionedCollection[BookingRecord]):
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        collection = database.get_collection("bookings", write_concern=_MAJORITY)
        super().__init__(collection, BookingRecord, BOOKING_CHANGEABLE_FIELDS)

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
            {"reference": reference, "version": expected_version},
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
        query = _booking_filter(status, partner_id)
        if after is not None:
            created_at = _CODEC.encode_instant(after[0])
            query["$or"] = [
                {"created_at": {"$lt": created_at}},
                {"created_at": created_at, "reference": {"$lt": after[1]}},
            ]
        return await self._find(query, _NEWEST_FIRST, limit)

    async def count(self, *, status: str | None = None, partner_id: str | None = None) -> int:
        return await self._collection.count_documents(_booking_filter(status, partner_id))

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> builtins.list[BookingRecord]:
        query = {"status": status, "expires_at": {"$lt": _CODEC.encode_instant(before)}}
        return await self._find(query, [("expires_at", ASCENDING), ("reference", ASCENDING)], limit)

    async def get_by_airline_order(self, order_id: str) -> BookingRecord | None:
        found = await self._find({"airline_order_id": order_id}, [("created_at", ASCENDING)], 1)
        return found[0] if found else None

    async def list_due(self, before: datetime, limit: int = 100) -> builtins.list[BookingRecord]:
        query = {"check_at": {"$type": "date", "$lte": _CODEC.encode_instant(before)}}
        return await self._find(query, [("check_at", ASCENDING), ("reference", ASCENDING)], limit)

    async def scan(
        self, *, after: str | None = None, limit: int = 500
    ) -> builtins.list[BookingRecord]:
        query = {"reference": {"$gt": after or ""}}
        return await self._find(query, [("reference", ASCENDING)], limit)


class MongoPaymentRepository(_VersionedCollection[PaymentRecord]):
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        collection = database.get_collection("payments", write_concern=_MAJORITY)
        super().__init__(collection, PaymentRecord, PAYMENT_CHANGEABLE_FIELDS)

    async def get_latest_for_booking(self, booking_reference: str) -> PaymentRecord | None:
        latest = await self._find({"booking_reference": booking_reference}, _NEWEST_FIRST, 1)
        return latest[0] if latest else None

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> list[PaymentRecord]:
        query = {"status": status, "created_at": {"$lt": _CODEC.encode_instant(before)}}
        return await self._find(query, [("created_at", ASCENDING), ("reference", ASCENDING)], limit)

    async def list_for_bookings(self, booking_references: Sequence[str]) -> list[PaymentRecord]:
        if not booking_references:
            return []
        cursor = self._collection.find(
            {"booking_reference": {"$in": list(booking_references)}}
        ).sort([("booking_reference", ASCENDING), ("created_at", ASCENDING), ("reference", 1)])
        return [_CODEC.decode(PaymentRecord, document) async for document in cursor]


class MongoConversationRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database.get_collection("conversations")

    async def get(self, phone: str) -> ConversationRecord | None:
        document = await self._collection.find_one({"phone": phone})
        return None if document is None else _CODEC.decode(ConversationRecord, document)

    async def save(self, record: ConversationRecord) -> None:
        document = _CODEC.encode(record)
        await self._collection.update_one(
            {"phone": record.phone},
            {
                "$set": {
                    name: document[name]
                    for name in ("state", "data", "booking_references", "updated_at")
                },
                "$setOnInsert": {"created_at": document["created_at"], "messages": []},
            },
            upsert=True,
        )

    async def append_messages(
        self, phone: str, messages: Sequence[Mapping[str, Any]], now: datetime
    ) -> None:
        bodies = [dict(message) for message in messages]
        check_json(bodies, "messages")
        stamp = _CODEC.encode_instant(now)
        # An upsert whose filter is only the unique phone: the server retries the insert that
        # loses a race for a new phone as an update, so concurrent first messages all land.
        await self._collection.update_one(
            {"phone": phone},
            {
                "$push": {"messages": {"$each": bodies}},
                "$set": {"updated_at": stamp},
                "$setOnInsert": {
                    "state": NEW_CONVERSATION_STATE,
                    "data": {},
                    "booking_references": [],
                    "created_at": stamp,
                },
            },
            upsert=True,
        )

    async def list_handoffs(self, limit: int = 20) -> list[ConversationRecord]:
        cursor = (
            self._collection.find(
                {"data.handoff.requested_at": {"$exists": True}}, projection={"messages": False}
            )
            .sort([("data.handoff.requested_at", DESCENDING), ("phone", ASCENDING)])
            .limit(limit)
        )
        return [
            _CODEC.decode(ConversationRecord, {**document, "messages": []})
            async for document in cursor
        ]


class MongoApiKeyRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database.get_collection("api_keys")

    async def create(self, record: ApiKeyRecord) -> ApiKeyRecord:
        document = _CODEC.encode(record)
        try:
            await self._collection.insert_one(document)
        except DuplicateKeyError as error:
            raise DuplicateKey(f"api key {record.id} or its hash exists") from error
        return _CODEC.decode(ApiKeyRecord, document)

    async def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        document = await self._collection.find_one({"key_hash": key_hash})
        return None if document is None else _CODEC.decode(ApiKeyRecord, document)

    async def list(self) -> builtins.list[ApiKeyRecord]:
        cursor = self._collection.find().sort([("created_at", ASCENDING), ("id", ASCENDING)])
        return [_CODEC.decode(ApiKeyRecord, document) async for document in cursor]

    async def revoke(self, id: str, now: datetime) -> bool:
        result = await self._collection.update_one(
            {"id": id, "revoked_at": None},
            {"$set": {"revoked_at": _CODEC.encode_instant(now)}},
        )
        return result.modified_count == 1


class MongoProcessedEventRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database.get_collection("processed_events")

    async def record(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        # Matches only an expired record, which it takes over. Otherwise the upsert inserts: a new
        # key succeeds, and a live one (or a concurrent winner's) hits the unique index. The
        # filter is more than an equality on the key, so the server does not retry that insert.
        try:
            await self._collection.update_one(
                {"key": key, "expires_at": {"$lte": _CODEC.encode_instant(now)}},
                {"$set": {"expires_at": _CODEC.encode_instant(now + check_ttl(ttl))}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def purge_expired(self, now: datetime) -> int:
        result = await self._collection.delete_many(
            {"expires_at": {"$lte": _CODEC.encode_instant(now)}}
        )
        return result.deleted_count


class MongoIdempotencyRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database.get_collection("idempotency_records", write_concern=_MAJORITY)

    async def claim(
        self, key: str, *, fingerprint: str, now: datetime, lease: timedelta
    ) -> tuple[IdempotencyRecord, bool]:
        stamp = _CODEC.encode_instant(now)
        # Matches only an expired record, which it takes over; otherwise the upsert inserts, and a
        # live record (or a concurrent winner's) hits the unique index.
        try:
            document = await self._collection.find_one_and_update(
                {"key": key, "expires_at": {"$lte": stamp}},
                {
                    "$set": {
                        "fingerprint": fingerprint,
                        "state": "running",
                        "result": None,
                        "created_at": stamp,
                        "expires_at": _CODEC.encode_instant(now + check_ttl(lease)),
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            held = await self._collection.find_one({"key": key})
            if held is None:  # expired and removed in the meantime: claim again
                return await self.claim(key, fingerprint=fingerprint, now=now, lease=lease)
            return _CODEC.decode(IdempotencyRecord, held), False
        assert document is not None  # an upsert returning the document after always has one
        return _CODEC.decode(IdempotencyRecord, document), True

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
        done = await self._collection.update_one(
            {"key": key, "fingerprint": fingerprint, "state": "running"},
            {
                "$set": {
                    "state": "done",
                    "result": body,
                    "expires_at": _CODEC.encode_instant(now + check_ttl(ttl)),
                }
            },
        )
        return done.modified_count == 1

    async def release(self, key: str, *, fingerprint: str) -> None:
        await self._collection.delete_one(
            {"key": key, "fingerprint": fingerprint, "state": "running"}
        )

    async def purge_expired(self, now: datetime) -> int:
        result = await self._collection.delete_many(
            {"expires_at": {"$lte": _CODEC.encode_instant(now)}}
        )
        return result.deleted_count


class MongoTrustedDocumentRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database.get_collection("trusted_documents")

    async def add(self, record: TrustedDocumentRecord) -> bool:
        try:
            await self._collection.insert_one(_CODEC.encode(record))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, id: str) -> TrustedDocumentRecord | None:
        document = await self._collection.find_one({"id": id})
        return None if document is None else _CODEC.decode(TrustedDocumentRecord, document)

    async def list(self) -> builtins.list[TrustedDocumentRecord]:
        cursor = self._collection.find().sort([("created_at", ASCENDING), ("id", ASCENDING)])
        return [_CODEC.decode(TrustedDocumentRecord, document) async for document in cursor]

    async def remove(self, id: str) -> bool:
        result = await self._collection.delete_one({"id": id})
        return result.deleted_count == 1


class MongoNotificationRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._collection = database.get_collection("notifications", write_concern=_MAJORITY)

    async def add(self, records: Sequence[NotificationRecord]) -> int:
        added = 0
        for record in records:
            try:
                await self._collection.insert_one(_CODEC.encode(record))
            except DuplicateKeyError:
                continue
            added += 1
        return added

    async def claim_due(
        self, now: datetime, *, lease: timedelta, limit: int
    ) -> builtins.list[NotificationRecord]:
        stamp = _CODEC.encode_instant(now)
        due = {
            "$or": [
                {"status": NOTIFICATION_PENDING, "next_attempt_at": {"$lte": stamp}},
                {"status": NOTIFICATION_SENDING, "lease_until": {"$lte": stamp}},
            ]
        }
        claimed: builtins.list[NotificationRecord] = []
        # Each find-and-modify takes one record atomically: no two callers get the same one.
        for _ in range(check_limit(limit)):
            document = await self._collection.find_one_and_update(
                due,
                {
                    "$set": {
                        "status": NOTIFICATION_SENDING,
                        "lease_until": _CODEC.encode_instant(now + lease),
                        "updated_at": stamp,
                    },
                    "$inc": {"attempts": 1},
                },
                sort=[("next_attempt_at", ASCENDING), ("id", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if document is None:
                break
            claimed.append(_CODEC.decode(NotificationRecord, document))
        return claimed

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
        changes: dict[str, Any] = {
            "status": status,
            "lease_until": None,
            "updated_at": stamp,
            "error": error,
        }
        if provider_id is not None:
            changes["provider_id"] = provider_id
        if next_attempt_at is not None:
            changes["next_attempt_at"] = _CODEC.encode_instant(next_attempt_at)
        if status == NOTIFICATION_SENT:
            changes["sent_at"] = stamp
        result = await self._collection.update_one(
            {"id": id, "status": NOTIFICATION_SENDING, "attempts": attempt}, {"$set": changes}
        )
        return result.modified_count == 1

    async def list_for_booking(self, booking_reference: str) -> builtins.list[NotificationRecord]:
        cursor = self._collection.find({"booking_reference": booking_reference}).sort(
            [("created_at", ASCENDING), ("id", ASCENDING)]
        )
        return [_CODEC.decode(NotificationRecord, document) async for document in cursor]

    async def next_due(self) -> datetime | None:
        document = await self._collection.find_one(
            {"status": NOTIFICATION_PENDING}, sort=[("next_attempt_at", ASCENDING)]
        )
        return (
            None
            if document is None
            else _CODEC.decode(NotificationRecord, document).next_attempt_at
        )


class MongoStore:
    """Every repository over one MongoDB database."""

    kind = "mongodb"

    def __init__(self, client: AsyncMongoClient[Document], database: AsyncDatabase[Document]):
        self.client = client
        self.database = database
        self.bookings: BookingRepository = MongoBookingRepository(database)
        self.payments: PaymentRepository = MongoPaymentRepository(database)
        self.conversations: ConversationRepository = MongoConversationRepository(database)
        self.api_keys: ApiKeyRepository = MongoApiKeyRepository(database)
        self.processed_events: ProcessedEventRepository = MongoProcessedEventRepository(database)
        self.idempotency: IdempotencyRepository = MongoIdempotencyRepository(database)
        self.trusted_documents: TrustedDocumentRepository = MongoTrustedDocumentRepository(database)
        self.notifications: NotificationRepository = MongoNotificationRepository(database)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        database_name: str | None = None,
        server_selection_seconds: float = 10.0,
    ) -> MongoStore:
        """Connect and create the indexes; the database is `database_name`, else the one in the
        URL path, else "sureflights". No server within `server_selection_seconds` (or the URL's
        own serverSelectionTimeoutMS) is `StoreUnavailable`, in one line."""
        options: dict[str, Any] = {}
        if "serverselectiontimeoutms" not in url.lower():
            options["serverSelectionTimeoutMS"] = int(server_selection_seconds * 1000)
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, tz_aware=True, **options)
        try:
            database = (
                client.get_database(database_name)
                if database_name
                else client.get_default_database(DEFAULT_DATABASE)
            )
            await _create_indexes(database)
        except PyMongoError as error:
            await client.close()
            raise StoreUnavailable(
                f"mongodb at {_hosts(url)} did not answer ({type(error).__name__})"
            ) from error
        except BaseException:
            await client.close()
            raise
        return cls(client, database)

    async def ping(self) -> None:
        try:
            await self.database.command("ping")
        except PyMongoError as error:
            raise StoreUnavailable(f"mongodb: {error}") from error

    async def close(self) -> None:
        await self.client.close()


def _hosts(url: str) -> str:
    """The URL's hosts, without the credentials before them or the options after."""
    rest = url.partition("://")[2]
    return rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2] or "?"
