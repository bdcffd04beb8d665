"""Persistence: one repository per aggregate, stored in SQLite (embedded default), PostgreSQL or
MongoDB."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.state.store.base import (
    BOOKING_CHANGEABLE_FIELDS,
    NEW_CONVERSATION_STATE,
    NOTIFICATION_FAILED,
    NOTIFICATION_PENDING,
    NOTIFICATION_SENDING,
    NOTIFICATION_SENT,
    NOTIFICATION_SKIPPED,
    PAYMENT_CHANGEABLE_FIELDS,
    ApiKeyRecord,
    ApiKeyRepository,
    BookingRecord,
    BookingRepository,
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
    Store,
    StoreUnavailable,
    TrustedDocumentRecord,
    TrustedDocumentRepository,
)
from integrations.state.store.mongo import MongoStore
from integrations.state.store.postgres import (
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_TIMEOUT_SECONDS,
    DEFAULT_START_TIMEOUT_SECONDS,
    PostgresStore,
    PostgresUnavailable,
)
from integrations.state.store.sqlite import SqliteStore

__all__ = [
    "BOOKING_CHANGEABLE_FIELDS",
    "NEW_CONVERSATION_STATE",
    "NOTIFICATION_FAILED",
    "NOTIFICATION_PENDING",
    "NOTIFICATION_SENDING",
    "NOTIFICATION_SENT",
    "NOTIFICATION_SKIPPED",
    "PAYMENT_CHANGEABLE_FIELDS",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "BookingRecord",
    "BookingRepository",
    "ConversationRecord",
    "ConversationRepository",
    "DuplicateKey",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "MongoStore",
    "NotificationRecord",
    "NotificationRepository",
    "PaymentRecord",
    "PaymentRepository",
    "PoolOptions",
    "PostgresStore",
    "PostgresUnavailable",
    "ProcessedEventRepository",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "TrustedDocumentRecord",
    "TrustedDocumentRepository",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class PoolOptions:
    """How PostgreSQL pools its connections (SQLite and MongoDB ignore it), and how long
    MongoDB looks for a server before an operation fails."""

    size: int = DEFAULT_POOL_SIZE
    """Connections each process keeps open."""
    timeout_seconds: float = DEFAULT_POOL_TIMEOUT_SECONDS
    """The longest an operation waits for a free connection before StoreUnavailable."""
    start_timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS
    """How long opening waits for the server to answer at all."""
    mongodb_server_selection_seconds: float = 10.0
    """MongoDB's serverSelectionTimeoutMS, unless the URL sets its own."""


async def open_store(database_url: str, pool: PoolOptions | None = None) -> Store:
    """Open the store `database_url` names and create or migrate its schema or indexes.

    `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or `sqlite:///:memory:` select
    SQLite; `postgresql://…` and `postgres://…` select PostgreSQL (any libpq URL: TLS and the
    rest as query parameters); `mongodb://…` and `mongodb+srv://…` select MongoDB (database from
    the URL path, default "sureflights").
    """
    scheme = database_url.partition("://")[0].lower()
    if scheme == "sqlite":
        path = database_url[len(_SQLITE_PREFIX) :]
        if not database_url.lower().startswith(_SQLITE_PREFIX) or not path:
            raise ValueError(
                "a SQLite DATABASE_URL is sqlite:/// followed by a file path, "
                "e.g. sqlite:///./var/sureflights.db"
            )
        return await SqliteStore.open(path)
    if scheme in ("postgresql", "postgres"):
        options = pool or PoolOptions()
        return await PostgresStore.open(
            database_url,
            pool_size=options.size,
            pool_timeout=options.timeout_seconds,
            start_timeout=options.start_timeout_seconds,
        )
    if scheme in ("mongodb", "mongodb+srv"):
        options = pool or PoolOptions()
        return await MongoStore.open(
            database_url, server_selection_seconds=options.mongodb_server_selection_seconds
        )
    # Only the scheme is echoed: the rest of the URL may carry a password.
    raise ValueError(
        f"unsupported DATABASE_URL scheme {scheme!r}: "
        "use sqlite:///path/to/file.db, postgresql://…, mongodb://… or mongodb+srv://…"
    )
