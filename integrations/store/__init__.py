"""Persistence: one repository per aggregate, stored in SQLite (embedded default) or MongoDB."""

from __future__ import annotations

from integrations.store.base import (
    BOOKING_CHANGEABLE_FIELDS,
    NEW_CONVERSATION_STATE,
    PAYMENT_CHANGEABLE_FIELDS,
    ApiKeyRecord,
    ApiKeyRepository,
    BookingRecord,
    BookingRepository,
    ConversationRecord,
    ConversationRepository,
    DuplicateKey,
    PaymentRecord,
    PaymentRepository,
    ProcessedEventRepository,
    Store,
    StoreUnavailable,
    TrustedDocumentRecord,
    TrustedDocumentRepository,
)
from integrations.store.mongo import MongoStore
from integrations.store.sqlite import SqliteStore

__all__ = [
    "BOOKING_CHANGEABLE_FIELDS",
    "NEW_CONVERSATION_STATE",
    "PAYMENT_CHANGEABLE_FIELDS",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "BookingRecord",
    "BookingRepository",
    "ConversationRecord",
    "ConversationRepository",
    "DuplicateKey",
    "MongoStore",
    "PaymentRecord",
    "PaymentRepository",
    "ProcessedEventRepository",
    "SqliteStore",
    "Store",
    "StoreUnavailable",
    "TrustedDocumentRecord",
    "TrustedDocumentRepository",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"


async def open_store(database_url: str) -> Store:
    """Open the store `database_url` names and create its schema or indexes.

    `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or `sqlite:///:memory:` select
    SQLite; `mongodb://…` and `mongodb+srv://…` select MongoDB (database from the URL path,
    default "sureflights").
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
    if scheme in ("mongodb", "mongodb+srv"):
        return await MongoStore.open(database_url)
    # Only the scheme is echoed: the rest of the URL may carry a password.
    raise ValueError(
        f"unsupported DATABASE_URL scheme {scheme!r}: "
        "use sqlite:///path/to/file.db, mongodb://… or mongodb+srv://…"
    )
