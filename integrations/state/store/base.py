"""Storage records, repository interfaces, and the encoding rules both stores share."""

from __future__ import annotations

import builtins  # `builtins.list` where a class defines a `list` method of its own
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeVar

# What both stores promise about values (the contract tests pin it):
# - Datetimes must be timezone-aware; they come back in UTC, truncated to milliseconds, which is
#   what a BSON date holds, so SQLite truncates too and both stores answer alike.
# - Decimals are stored as their exact string ("125000.50" keeps its trailing zero).
# - `data`, `messages` and `booking_references` hold JSON values only: str, int, finite float,
#   bool, None, lists, and dicts with str keys. A Decimal, datetime or tuple inside raises
#   ValueError rather than coming back as something else: keep amounts in `data` as strings.

NEW_CONVERSATION_STATE = "initial"
"""The state a conversation starts in when `append_messages` creates it."""


class DuplicateKey(Exception):
    """A record with the same unique key (reference, id, key hash, phone) already exists."""


class StoreUnavailable(Exception):
    """The database did not answer a ping (unreachable, or the store is closed)."""


@dataclass(frozen=True, kw_only=True)
class BookingRecord:
    """A booking as stored; `data` carries the offer snapshot, passengers, FX rate and the like."""

    reference: str
    status: str
    channel: str
    offer_id: str
    total_amount: Decimal
    total_currency: str
    created_at: datetime
    updated_at: datetime
    partner_id: str | None = None
    """The partner whose API key created the booking; None for travellers and admins."""
    airline_reference: str | None = None
    airline_order_id: str | None = None
    pay_by: datetime | None = None
    expires_at: datetime | None = None
    """When the offer behind the booking expires; unpaid bookings expire with it."""
    version: int = 1
    data: dict[str, Any] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)
    """The booking's money and airline-order ledger (`resolvers.ledger.Ledger` as JSON)."""
    check_at: datetime | None = None
    """When the reconciler should next look at the booking; None while nothing is pending."""


@dataclass(frozen=True, kw_only=True)
class PaymentRecord:
    """A payment attempt for a booking; amounts are integer subunits (kobo, cents)."""

    reference: str
    booking_reference: str
    status: str
    mode: str
    amount_subunits: int
    currency: str
    created_at: datetime
    updated_at: datetime
    authorization_url: str | None = None
    paid_at: datetime | None = None
    version: int = 1
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ConversationRecord:
    """A WhatsApp conversation, keyed by the traveller's phone number."""

    phone: str
    state: str
    created_at: datetime
    updated_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Oldest first; each a dict such as {"direction": "in", "body": "...", "at": "<ISO time>"}."""
    booking_references: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class IdempotencyRecord:
    """A mutation run once per Idempotency-Key: running until its result is stored, then done.

    `key` is already scoped (caller, mutation) and hashed; `fingerprint` identifies the input the
    key was first used with. A running record's `expires_at` is its lease (a crashed request frees
    the key then); a done record's is when its result stops being replayed.
    """

    key: str
    fingerprint: str
    state: str
    created_at: datetime
    expires_at: datetime
    result: dict[str, Any] | None = None


IDEMPOTENCY_RUNNING = "running"
IDEMPOTENCY_DONE = "done"


@dataclass(frozen=True, kw_only=True)
class ApiKeyRecord:
    """A partner API key; only its hash is stored, `prefix` is shown to tell keys apart."""

    id: str
    name: str
    key_hash: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class TrustedDocumentRecord:
    """A GraphQL document operators allow, addressed by the SHA-256 (hex) of its exact text."""

    id: str
    body: str
    created_at: datetime
    name: str | None = None
    """The operation's name, for lists; None for an anonymous operation."""
    canonical_id: str | None = None
    """SHA-256 of the document as graphql-core prints it, so clients that re-print documents
    before sending them (`gql` does) are recognised too."""


# Fields `transition` and `update` may change; identity, status, version and timestamps are the
# repository's to manage. A `data` change merges its top-level keys into the stored `data`.
@dataclass(frozen=True, kw_only=True)
class NotificationRecord:
    """One message to one traveller on one channel, in the notification outbox.

    The id is `{booking}:{notice}:{channel}`, so a notice is queued once per channel however
    often it is queued. A record is `pending` until a dispatcher claims it (`sending`, with a
    lease), then `sent`, `pending` again with a later `next_attempt_at` after a failure worth
    retrying, `failed` for good, or `skipped` (never sent, `detail` says why).
    """

    id: str
    booking_reference: str
    notice_id: str
    kind: str
    channel: str
    recipient: str
    status: str
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    provider_id: str | None = None
    error: str | None = None
    """The provider's error of the last failed attempt."""
    detail: str | None = None
    """Why a record was skipped."""


NOTIFICATION_PENDING = "pending"
NOTIFICATION_SENDING = "sending"
NOTIFICATION_SENT = "sent"
NOTIFICATION_FAILED = "failed"
NOTIFICATION_SKIPPED = "skipped"


BOOKING_CHANGEABLE_FIELDS = frozenset(
    {
        "channel",
        "partner_id",
        "offer_id",
        "total_amount",
        "total_currency",
        "airline_reference",
        "airline_order_id",
        "pay_by",
        "expires_at",
        "data",
        "ledger",
        "check_at",
    }
)
PAYMENT_CHANGEABLE_FIELDS = frozenset(
    {"mode", "amount_subunits", "currency", "authorization_url", "paid_at", "data"}
)


class BookingRepository(Protocol):
    """Bookings, with status changes as compare-and-set so racing settlements apply once."""

    async def create(self, record: BookingRecord) -> BookingRecord:
        """Store a new booking and return it as stored; DuplicateKey if the reference exists."""
        ...

    async def get(self, reference: str) -> BookingRecord | None: ...

    async def transition(
        self,
        reference: str,
        *,
        from_statuses: Collection[str],
        to_status: str,
        changes: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> BookingRecord | None:
        """Move to `to_status` only if the status is one of `from_statuses`, atomically.

        Applies `changes` (see BOOKING_CHANGEABLE_FIELDS), bumps `version`, sets `updated_at`
        to `now` and returns the updated booking; None when the booking is unknown or its
        status did not allow the move (the loser of a race gets None).
        """
        ...

    async def update(
        self,
        reference: str,
        *,
        expected_version: int,
        changes: Mapping[str, Any],
        now: datetime | None = None,
        to_status: str | None = None,
    ) -> BookingRecord | None:
        """Apply `changes` (and move to `to_status`, if given) only if the stored version is
        still `expected_version`, atomically; else None. Bumps `version` like `transition`."""
        ...

    async def list(
        self,
        *,
        status: str | None = None,
        partner_id: str | None = None,
        limit: int = 20,
        after: tuple[datetime, str] | None = None,
    ) -> builtins.list[BookingRecord]:
        """Newest first (created_at, then reference, descending); None filters are not applied.

        `after` is the (created_at, reference) of the last booking of the previous page.
        """
        ...

    async def count(self, *, status: str | None = None, partner_id: str | None = None) -> int: ...

    async def count_by_status(self) -> dict[str, int]:
        """How many bookings are in each status (those with none are left out)."""
        ...

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> builtins.list[BookingRecord]:
        """Bookings in `status` whose offer expired before `before` (`expires_at` < before)."""
        ...

    async def get_by_airline_order(self, order_id: str) -> BookingRecord | None:
        """The booking whose `airline_order_id` is `order_id` (airline webhooks name orders)."""
        ...

    async def list_due(self, before: datetime, limit: int = 100) -> builtins.list[BookingRecord]:
        """Bookings whose `check_at` is at or before `before`, soonest first."""
        ...

    async def scan(
        self, *, after: str | None = None, limit: int = 500
    ) -> builtins.list[BookingRecord]:
        """Every booking in reference order, a page at a time: those after reference `after`."""
        ...


class PaymentRepository(Protocol):
    """Payments, with the same compare-and-set status changes as bookings."""

    async def create(self, record: PaymentRecord) -> PaymentRecord: ...

    async def get(self, reference: str) -> PaymentRecord | None: ...

    async def get_latest_for_booking(self, booking_reference: str) -> PaymentRecord | None:
        """The booking's most recently created payment."""
        ...

    async def transition(
        self,
        reference: str,
        *,
        from_statuses: Collection[str],
        to_status: str,
        changes: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> PaymentRecord | None:
        """As BookingRepository.transition, with PAYMENT_CHANGEABLE_FIELDS."""
        ...

    async def list_by_status_before(
        self, status: str, before: datetime, limit: int = 100
    ) -> list[PaymentRecord]:
        """Payments in `status` created before `before`, oldest first (for abandonment sweeps)."""
        ...

    async def count_by_status(self) -> dict[str, int]:
        """How many payments are in each status (those with none are left out)."""
        ...

    async def list_for_bookings(self, booking_references: Sequence[str]) -> list[PaymentRecord]:
        """Every payment of the given bookings, each booking's oldest first."""
        ...


class ConversationRepository(Protocol):
    """WhatsApp conversations: state and slots saved whole, messages appended."""

    async def get(self, phone: str) -> ConversationRecord | None: ...

    async def save(self, record: ConversationRecord) -> None:
        """Create or update state, data and booking_references; `messages` is left as stored."""
        ...

    async def append_messages(
        self, phone: str, messages: Sequence[Mapping[str, Any]], now: datetime
    ) -> None:
        """Append to the conversation, creating it in NEW_CONVERSATION_STATE if absent."""
        ...

    async def list_handoffs(self, limit: int = 20) -> builtins.list[ConversationRecord]:
        """Conversations whose traveller asked for a person (`data["handoff"]`, with its ISO
        `requested_at`), the latest request first; their `messages` are left out."""
        ...


class ApiKeyRepository(Protocol):
    """Partner API keys, looked up by the hash of the presented key."""

    async def create(self, record: ApiKeyRecord) -> ApiKeyRecord: ...

    async def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """Revoked keys are returned too: callers check `revoked_at`."""
        ...

    async def list(self) -> builtins.list[ApiKeyRecord]:
        """Oldest first."""
        ...

    async def revoke(self, id: str, now: datetime) -> bool:
        """True when revoked now; False when the key is unknown or already revoked."""
        ...


class TrustedDocumentRepository(Protocol):
    """The trusted documents every replica accepts (see graphql_api.documents)."""

    async def add(self, record: TrustedDocumentRecord) -> bool:
        """Store a document; False (and the stored one kept) when its id is already there."""
        ...

    async def get(self, id: str) -> TrustedDocumentRecord | None: ...

    async def list(self) -> builtins.list[TrustedDocumentRecord]:
        """Oldest first."""
        ...

    async def remove(self, id: str) -> bool:
        """True when the document was there and is now gone."""
        ...


class ProcessedEventRepository(Protocol):
    """Keys of webhook events already handled, so redeliveries are recognised."""

    async def record(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """True when `key` is newly recorded (or its earlier record expired), else False.

        Concurrent calls with one key: exactly one gets True.
        """
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Delete records expired at `now`; returns how many."""
        ...


class IdempotencyRepository(Protocol):
    """Idempotency-Key records, kept in the database so a cache flush cannot forget them."""

    async def claim(
        self, key: str, *, fingerprint: str, now: datetime, lease: timedelta
    ) -> tuple[IdempotencyRecord, bool]:
        """Start running `key` unless a live record holds it; (record, True) when this call
        claimed it (a new key, or one whose record expired), else (the live record, False).

        Concurrent claims of one key: exactly one gets True.
        """
        ...

    async def complete(
        self,
        key: str,
        *,
        fingerprint: str,
        result: Mapping[str, Any],
        now: datetime,
        ttl: timedelta,
    ) -> bool:
        """Store the result of the running claim with this fingerprint; False if it is gone."""
        ...

    async def release(self, key: str, *, fingerprint: str) -> None:
        """Drop the running claim with this fingerprint (the attempt failed; it may be retried)."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Delete records expired at `now`; returns how many."""
        ...


class NotificationRepository(Protocol):
    """The notification outbox: what to send to whom, and what became of it."""

    async def add(self, records: Sequence[NotificationRecord]) -> int:
        """Store the records whose id is not there yet; how many were new."""
        ...

    async def claim_due(
        self, now: datetime, *, lease: timedelta, limit: int
    ) -> builtins.list[NotificationRecord]:
        """Take up to `limit` records due by `now` (pending and due, or sending with a lapsed
        lease) for this caller: each becomes `sending` until `now + lease`, its `attempts` one
        more. Each record is taken by one caller only, across every replica."""
        ...

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
        """Record the outcome of attempt number `attempt`: `sent`, `failed`, or `pending` again
        at `next_attempt_at`. False when the record is no longer this attempt's (its lease
        lapsed and another caller took it)."""
        ...

    async def list_for_booking(self, booking_reference: str) -> builtins.list[NotificationRecord]:
        """Oldest first."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest pending record falls due; None when none is pending."""
        ...


class Store(Protocol):
    """Every repository over one database."""

    kind: str
    """"sqlite" or "mongodb"."""
    bookings: BookingRepository
    payments: PaymentRepository
    conversations: ConversationRepository
    api_keys: ApiKeyRepository
    processed_events: ProcessedEventRepository
    idempotency: IdempotencyRepository
    trusted_documents: TrustedDocumentRepository
    notifications: NotificationRepository

    async def ping(self) -> None:
        """Return when the database answers; StoreUnavailable otherwise (also once closed)."""
        ...

    async def close(self) -> None: ...


def stored_datetime(value: datetime) -> datetime:
    """`value` in UTC at millisecond precision, as both stores hold it; naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def check_json(value: object, where: str = "value") -> None:
    """Raise ValueError unless `value` is made of JSON values only (see the notes above)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not a JSON number")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            check_json(item, f"{where}.{key}")
        return
    hint = "; store Decimal amounts as strings" if isinstance(value, Decimal) else ""
    raise ValueError(f"{where}: {type(value).__name__} is not a JSON value{hint}")


def check_data_key(key: object) -> str:
    """A top-level `data` key a change may set: it has to fit in a MongoDB field path and a
    SQLite JSON path, so no dots, double quotes or leading `$`."""
    if not isinstance(key, str) or not key or "." in key or '"' in key or key.startswith("$"):
        raise ValueError(f"data key {key!r} cannot be merged: use a plain name")
    return key


def status_list(statuses: Collection[str]) -> list[str]:
    """`from_statuses` as a list; a bare string is refused since it would match its letters."""
    if isinstance(statuses, str):
        raise TypeError("from_statuses takes a collection of statuses, not a single string")
    return list(statuses)


def check_limit(limit: int) -> int:
    """Refuse limits below 1: MongoDB reads a limit of 0 as no limit at all."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return limit


def check_ttl(ttl: timedelta) -> timedelta:
    if ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive, got {ttl}")
    return ttl


_FieldKind = Literal["decimal", "datetime", "json", "plain"]


_FIELD_KINDS: dict[type[Any], dict[str, _FieldKind]] = {}


def _field_kinds(record_type: type[Any]) -> dict[str, _FieldKind]:
    """How each field of a record class is stored, read off its annotations once."""
    known = _FIELD_KINDS.get(record_type)
    if known is not None:
        return known
    hints = typing.get_type_hints(record_type)
    kinds: dict[str, _FieldKind] = {}
    for record_field in dataclasses.fields(record_type):
        hint = hints[record_field.name]
        members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if Decimal in members:
            kinds[record_field.name] = "decimal"
        elif datetime in members:
            kinds[record_field.name] = "datetime"
        elif any(typing.get_origin(member) in (dict, list) for member in members):
            kinds[record_field.name] = "json"
        else:
            kinds[record_field.name] = "plain"
    _FIELD_KINDS[record_type] = kinds
    return kinds


def _unchanged(value: Any) -> Any:
    return value


class RawRecord(Protocol):
    """A stored row or document: a SQLite row or a BSON document read as a dict."""

    def __getitem__(self, key: str, /) -> Any: ...


def _present(raw: RawRecord) -> Collection[str] | None:
    """The names a stored row or document holds, where it can say."""
    keys = getattr(raw, "keys", None)
    return set(keys()) if callable(keys) else None


R = TypeVar("R")


@dataclass(frozen=True)
class EncodedChanges:
    """Validated changes, encoded: whole fields, and top-level keys to merge into `data`."""

    fields: dict[str, Any]
    data: dict[str, Any]


@dataclass(frozen=True)
class Codec:
    """Record <-> stored values, given how a store keeps datetimes and JSON values.

    Decimals (as strings) and the checks on values are common to both stores; the defaults suit
    BSON, which holds datetimes, dicts and lists natively.
    """

    encode_datetime: Callable[[datetime], Any] = _unchanged
    decode_datetime: Callable[[Any], datetime] = _unchanged
    encode_json: Callable[[Any], Any] = _unchanged
    decode_json: Callable[[Any], Any] = _unchanged

    def encode(self, record: object) -> dict[str, Any]:
        """All fields of `record`, by field name, ready to store."""
        return {
            name: self._encode_value(kind, getattr(record, name), name)
            for name, kind in _field_kinds(type(record)).items()
        }

    def decode(self, record_type: type[R], raw: RawRecord, **decoded: Any) -> R:
        """A record from its stored values; `decoded` supplies fields read separately.

        A field a stored document lacks (written before the field existed) takes its default.
        """
        values = dict(decoded)
        present = _present(raw)
        for name, kind in _field_kinds(record_type).items():
            if name in values:
                continue
            if present is not None and name not in present:
                continue  # the dataclass default applies
            values[name] = self._decode_value(kind, raw[name])
        return record_type(**values)

    def encode_instant(self, value: datetime) -> Any:
        """A datetime as stored, for comparing against stored datetimes in queries."""
        return self.encode_datetime(stored_datetime(value))

    def encode_changes(
        self,
        record_type: type[Any],
        changes: Mapping[str, Any] | None,
        changeable: frozenset[str],
    ) -> EncodedChanges:
        kinds = _field_kinds(record_type)
        fields: dict[str, Any] = {}
        data: dict[str, Any] = {}
        for name, value in (changes or {}).items():
            if name not in changeable:
                allowed = ", ".join(sorted(changeable))
                raise ValueError(f"{name!r} cannot be changed here; changeable: {allowed}")
            if name == "data":
                if not isinstance(value, Mapping):
                    raise ValueError("a data change is a mapping of top-level keys to merge")
                for key, item in value.items():
                    check_json(item, f"data.{check_data_key(key)}")
                    data[key] = self.encode_json(item)
            else:
                fields[name] = self._encode_value(kinds[name], value, name)
        return EncodedChanges(fields=fields, data=data)

    def _encode_value(self, kind: _FieldKind, value: Any, name: str) -> Any:
        if value is None:
            return None
        if kind == "decimal":
            if not isinstance(value, Decimal):
                raise ValueError(f"{name} must be a Decimal, got {type(value).__name__}")
            return str(value)
        if kind == "datetime":
            return self.encode_instant(value)
        if kind == "json":
            check_json(value, name)
            return self.encode_json(value)
        return value

    def _decode_value(self, kind: _FieldKind, value: Any) -> Any:
        if value is None:
            return None
        if kind == "decimal":
            return Decimal(value)
        if kind == "datetime":
            return stored_datetime(self.decode_datetime(value))
        if kind == "json":
            return self.decode_json(value)
        return value
