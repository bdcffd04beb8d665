"""Persisted documents: Apollo's automatic persisted queries, and the trusted documents operators
allow (`sureflights documents add FILE|list|remove`).

A client may send `extensions.persistedQuery.sha256Hash` instead of the document: a known hash
runs its document, an unknown one answers `PERSISTED_QUERY_NOT_FOUND`, and the client sends the
hash with the document once to register it (automatic persisted queries, kept in the shared
cache). Trusted documents live in the database, so every replica sees them; with
`GRAPHQL_TRUSTED_DOCUMENTS_ONLY=true`, anonymous callers and travellers may run only those, by
hash or by text, while partners and admins keep ad-hoc queries.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    parse,
    print_ast,
    separate_operations,
)

from integrations.state.cache import Cache, ExpiringMap
from integrations.state.store import TrustedDocumentRecord, TrustedDocumentRepository

log = logging.getLogger("sureflights.documents")

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
# The message Apollo Client and other APQ clients look for, besides the code.
PERSISTED_QUERY_NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
APQ_VERSION = 1
# Registered documents are kept this long after their last registration.
APQ_TTL_SECONDS = 24 * 3_600
TRUSTED_REFRESH_SECONDS = 10.0
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def document_hash(text: str) -> str:
    """The SHA-256 (hex) of a document's exact text: its id in both protocols."""
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_hash(document: DocumentNode) -> str:
    """The SHA-256 of the document as graphql-core prints it, whatever its spacing."""
    return document_hash(print_ast(document))


class PersistedQueryNotFound(Exception):
    """The hash names no document this gateway knows; the client should send the document."""


class PersistedQueryError(Exception):
    """A `persistedQuery` extension that cannot be honoured (a bad hash, version or document)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class PersistedQuery:
    """The `persistedQuery` extension of a request."""

    sha256_hash: str

    @classmethod
    def of(cls, extensions: dict[str, Any] | None) -> PersistedQuery | None:
        """The extension, None when the request has none; PersistedQueryError when it is bad."""
        if not extensions or "persistedQuery" not in extensions:
            return None
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, dict):
            raise PersistedQueryError("extensions.persistedQuery must be an object.")
        if persisted.get("version", APQ_VERSION) != APQ_VERSION:
            raise PersistedQueryError(f"Only persisted query version {APQ_VERSION} is supported.")
        sha256_hash = persisted.get("sha256Hash")
        if not isinstance(sha256_hash, str) or not _SHA256_HEX.match(sha256_hash.lower()):
            raise PersistedQueryError(
                "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits."
            )
        return cls(sha256_hash.lower())


class PersistedQueries:
    """Documents registered by automatic persisted queries: the shared cache, and a small memo."""

    def __init__(self, cache: Cache, *, ttl_seconds: float = APQ_TTL_SECONDS) -> None:
        self._cache = cache
        self._ttl_seconds = ttl_seconds
        self._memo: ExpiringMap[str] = ExpiringMap(2_048)

    async def get(self, sha256_hash: str) -> str | None:
        text = self._memo.get(sha256_hash)
        if text is not None:
            return text
        try:
            raw = await self._cache.get(f"apq:{sha256_hash}")
        except Exception:
            log.warning("persisted query lookup failed", exc_info=True)
            return None
        if raw is None:
            return None
        text = raw.decode()
        self._memo.set(sha256_hash, text, self._ttl_seconds)
        return text

    async def register(self, sha256_hash: str, text: str) -> None:
        self._memo.set(sha256_hash, text, self._ttl_seconds)
        try:
            await self._cache.set(f"apq:{sha256_hash}", text.encode(), self._ttl_seconds)
        except Exception:
            # The request still runs; the client only registers again next time.
            log.warning("persisted query registration failed", exc_info=True)


class TrustedDocuments:
    """The trusted documents, read from the database every `refresh_seconds` (and on a miss), so
    documents added or removed on any replica, or with the CLI, count within that long."""

    def __init__(
        self,
        repository: TrustedDocumentRepository,
        *,
        refresh_seconds: float = TRUSTED_REFRESH_SECONDS,
    ) -> None:
        self._repository = repository
        self._refresh_seconds = refresh_seconds
        self._bodies: dict[str, str] = {}
        self._canonical: set[str] = set()
        self._loaded_at = -float("inf")
        self._loading: asyncio.Task[None] | None = None
        self._missing: ExpiringMap[bool] = ExpiringMap(10_000)

    async def refresh(self) -> None:
        records = await self._repository.list()
        self._bodies = {r.id: r.body for r in records}
        self._canonical = {r.canonical_id for r in records if r.canonical_id}
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at < self._refresh_seconds:
            return
        if self._loading is None:
            self._loading = asyncio.create_task(self.refresh())
        loading = self._loading
        try:
            await asyncio.shield(loading)
        except Exception:
            # The last list read stays in force while the database does not answer.
            log.warning("trusted documents could not be read", exc_info=True)
        finally:
            if self._loading is loading and loading.done():
                self._loading = None

    async def get(self, sha256_hash: str) -> str | None:
        """The body of the trusted document with this id, None when there is none."""
        await self._fresh()
        body = self._bodies.get(sha256_hash)
        if body is not None or self._missing.get(sha256_hash):
            return body
        # Added since the last read: look it up once, and remember a miss until the next read.
        try:
            record = await self._repository.get(sha256_hash)
        except Exception:
            log.warning("trusted document lookup failed", exc_info=True)
            return None
        if record is None:
            self._missing.set(sha256_hash, True, self._refresh_seconds)
            return None
        self._bodies[record.id] = record.body
        if record.canonical_id:
            self._canonical.add(record.canonical_id)
        return record.body

    async def trusts(self, text_hash: str, canonical: str | None) -> bool:
        """Whether a document, by the hash of its text or of its printed form, is trusted."""
        await self._fresh()
        if text_hash in self._bodies or (canonical is not None and canonical in self._canonical):
            return True
        return await self.get(text_hash) is not None


# --- what `sureflights documents add` reads ----------------------------------------------------


class DocumentFileError(Exception):
    """A documents file that cannot be added; the message says what to fix."""


def _operation_name(document: DocumentNode) -> str | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name:
            return definition.name.value
    return None


Check = Callable[[str], Sequence[GraphQLError]]
"""The errors a document has against the gateway's schema and limits (GraphQLExecutor.check)."""


def _checked(
    body: str, check: Check, where: str, now: datetime, given_id: str | None = None
) -> TrustedDocumentRecord:
    try:
        document = parse(body)
    except GraphQLError as error:
        raise DocumentFileError(f"{where}: {error.message}") from error
    errors = check(body)
    if errors:
        raise DocumentFileError(f"{where}: {errors[0].message}")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise DocumentFileError(f"{where}: a trusted document holds exactly one operation")
    text_id = document_hash(body)
    if given_id is not None and given_id.lower() != text_id:
        raise DocumentFileError(
            f"{where}: the id {given_id} is not the SHA-256 of the body ({text_id})"
        )
    return TrustedDocumentRecord(
        id=text_id,
        body=body,
        name=_operation_name(document),
        canonical_id=canonical_hash(document),
        created_at=now,
    )


def read_documents(
    text: str, check: Check, *, source: str, now: datetime
) -> builtins.list[TrustedDocumentRecord]:
    """The documents a file holds, each checked against the schema.

    A GraphQL file gives one document per operation (with the fragments it uses), printed as
    graphql-core prints it; an Apollo persisted query manifest (`generate-persisted-query-
    manifest`) gives its operations' bodies exactly, under their ids.
    """
    try:
        manifest = json.loads(text)
    except ValueError:
        manifest = None  # GraphQL (a query's `{ … }` shorthand is no JSON object)
    if manifest is not None:
        return _read_manifest(manifest, check, source=source, now=now)
    try:
        document = parse(text)
    except GraphQLError as error:
        raise DocumentFileError(f"{source}: {error.message}") from error
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise DocumentFileError(f"{source}: no operation to add")
    if len(operations) > 1 and any(o.name is None for o in operations):
        raise DocumentFileError(f"{source}: name every operation of a file with several")
    parts: Sequence[DocumentNode] = (
        [document] if len(operations) == 1 else list(separate_operations(document).values())
    )
    return [
        _checked(print_ast(part), check, f"{source} ({_operation_name(part) or 'anonymous'})", now)
        for part in parts
    ]


def _read_manifest(
    manifest: Any, check: Check, *, source: str, now: datetime
) -> builtins.list[TrustedDocumentRecord]:
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != "apollo-persisted-query-manifest"
    ):
        raise DocumentFileError(f"{source}: not an Apollo persisted query manifest")
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise DocumentFileError(f"{source}: the manifest has no operations list")
    records = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("body"), str):
            raise DocumentFileError(f"{source}: operations[{index}] has no body")
        given = operation.get("id")
        records.append(
            _checked(
                operation["body"],
                check,
                f"{source} operations[{index}]",
                now,
                given if isinstance(given, str) else None,
            )
        )
    return records
