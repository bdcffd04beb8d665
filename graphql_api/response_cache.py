"""The response cache: answers to public reads served again, byte for byte, while they hold.

An operation is cacheable only when every field it selects is on the allow-list below: public
reads of rates, places and cached searches. Anything not listed (bookings, payments, the ledger,
admin fields, introspection, fields added later) makes the whole operation uncacheable, so a
field nobody reviewed here is never served from cache.

An entry lives no longer than the data behind it (see `resolvers.validity`: the rate table's next
update, the cached search's earliest offer expiry) and at most its root fields' ceiling, and is
dropped when that data changes (`invalidate` with the data's tag). Only answers without errors
are kept, and never one that reported fresh upstream work (`cached: false`). Entries are kept in
this process within `max_bytes`, least recently used first out, and, when the cache is shared,
in Redis too, so a replica serves what another one computed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from redis.asyncio import Redis

from integrations.state.cache import as_bytes, require_bytes_client

log = logging.getLogger("sureflights.response_cache")


@dataclass(frozen=True, slots=True)
class PublicRoot:
    """A root field whose answers may be cached.

    `ceiling_seconds` bounds an entry even when the answer names no data it rests on;
    `needs_dependency` keeps answers that name none out of the cache; `per_caller_class` keys
    the entry by the kind of caller, for an answer that differs between them.
    """

    ceiling_seconds: float
    needs_dependency: bool = False
    per_caller_class: bool = False


PUBLIC_ROOT_FIELDS: Mapping[str, PublicRoot] = {
    "exchangeRate": PublicRoot(86_400, needs_dependency=True),
    # A same-currency conversion reads no rate: pure arithmetic, kept an hour.
    "convert": PublicRoot(3_600),
    # Airport and city names; the airline's list changes rarely.
    "places": PublicRoot(3_600),
    "searchFlights": PublicRoot(1_800, needs_dependency=True),
    "flightSearch": PublicRoot(1_800, needs_dependency=True),
}
_PLACE = frozenset({"iataCode", "name", "cityName", "countryCode", "timeZone", "type"})
PUBLIC_FIELDS: Mapping[str, frozenset[str]] = {
    "ExchangeRate": frozenset({"base", "quote", "rate", "asOf", "source"}),
    "Money": frozenset({"amount", "currency", "formatted"}),
    "Place": _PLACE,
    "Carrier": frozenset({"iataCode", "name", "logoUrl"}),
    "FlightSearch": frozenset({"id", "createdAt", "cached", "totalOffers", "offers"}),
    "FlightOffer": frozenset(
        {
            "id",
            "mode",
            "totalAmount",
            "price",
            "owner",
            "slices",
            "passengerCount",
            "expiresAt",
            "conditions",
            "requiresInstantPayment",
        }
    ),
    "OfferConditions": frozenset({"refundable", "refundPenalty", "changeable", "changePenalty"}),
    "Slice": frozenset({"origin", "destination", "durationMinutes", "stops", "segments"}),
    "Segment": frozenset(
        {
            "id",
            "origin",
            "destination",
            "departingAt",
            "arrivingAt",
            "durationMinutes",
            "marketingCarrier",
            "operatingCarrier",
            "flightNumber",
            "aircraft",
        }
    ),
}


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How an operation's answers are cached: at most `ceiling_seconds`, and so on."""

    ceiling_seconds: float
    needs_dependency: bool
    per_caller_class: bool


class _NotPublic(Exception):
    pass


def cache_policy(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    *,
    roots: Mapping[str, PublicRoot] = PUBLIC_ROOT_FIELDS,
    fields: Mapping[str, frozenset[str]] = PUBLIC_FIELDS,
) -> CachePolicy | None:
    """The policy for a valid query's answers, None when any field it selects is not public."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return None
    query = schema.query_type
    if query is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    used: list[PublicRoot] = []

    def walk(
        selection_set: SelectionSetNode, parent: GraphQLObjectType, seen: frozenset[str]
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name == "__typename":
                    continue
                if parent is query:
                    root = roots.get(name)
                    if root is None:
                        raise _NotPublic
                    used.append(root)
                elif name not in fields.get(parent.name, ()):
                    raise _NotPublic
                field = parent.fields.get(name)
                named = get_named_type(field.type) if field is not None else None
                if selection.selection_set is not None:
                    if not isinstance(named, GraphQLObjectType):
                        raise _NotPublic
                    walk(selection.selection_set, named, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != parent.name:
                    raise _NotPublic
                walk(selection.selection_set, parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is None or fragment.type_condition.name.value != parent.name:
                    raise _NotPublic
                if fragment.name.value not in seen:
                    walk(fragment.selection_set, parent, seen | {fragment.name.value})

    try:
        walk(operations[0].selection_set, query, frozenset())
    except _NotPublic:
        return None
    if not used:
        return None
    return CachePolicy(
        ceiling_seconds=min(r.ceiling_seconds for r in used),
        needs_dependency=any(r.needs_dependency for r in used),
        per_caller_class=any(r.per_caller_class for r in used),
    )


def cache_key(
    document_hash: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> str:
    """The key of an operation's answers: the document's hash, the operation, the variables."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(document_hash.encode())
    digest.update(b"\0")
    digest.update((operation_name or "").encode())
    digest.update(b"\0")
    digest.update(orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer: the body as sent, its ETag, and when it stops holding (epoch seconds)."""

    body: bytes
    etag: bytes
    expires_at: float
    tags: tuple[str, ...]

    def max_age(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


def etag_of(body: bytes) -> bytes:
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


_TAG_TTL_SECONDS = int(max(r.ceiling_seconds for r in PUBLIC_ROOT_FIELDS.values()))
# What an entry costs besides its body: key, ETag, tags, bookkeeping.
_ENTRY_OVERHEAD = 256


class ResponseCache:
    """Answers by key, in this process within `max_bytes`, and in Redis when `redis` is given."""

    def __init__(
        self, max_bytes: int, *, redis: Redis | None = None, prefix: str = "sf:rc:"
    ) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self._bytes = 0
        self._redis = require_bytes_client(redis) if redis is not None else None
        self._prefix = prefix
        self._background: set[asyncio.Task[None]] = set()
        # Answers served from here, and lookups that found nothing (for tests and metrics).
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get_local(self, key: str, now: float) -> Entry | None:
        """The entry in this process, if it still holds."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def get(self, key: str) -> Entry | None:
        now = time.time()
        entry = self.get_local(key, now)
        if entry is None and self._redis is not None:
            entry = await self._shared(key, now)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    async def _shared(self, key: str, now: float) -> Entry | None:
        assert self._redis is not None
        try:
            raw = as_bytes(await self._redis.get(self._prefix + key))
        except Exception:
            log.warning("shared response cache read failed", exc_info=True)
            return None
        if raw is None:
            return None
        try:
            head, _, body = raw.partition(b"\n")
            meta = orjson.loads(head)
            entry = Entry(body, meta["etag"].encode(), float(meta["until"]), tuple(meta["tags"]))
        except (ValueError, KeyError, TypeError):
            return None
        if entry.expires_at <= now:
            return None
        self._keep(key, entry)
        return entry

    def clear(self) -> None:
        """Forget every entry held in this process."""
        self._entries.clear()
        self._by_tag.clear()
        self._bytes = 0

    async def put(self, key: str, body: bytes, expires_at: float, tags: tuple[str, ...]) -> Entry:
        entry = Entry(body, etag_of(body), expires_at, tags)
        self._keep(key, entry)
        if self._redis is not None:
            ttl_ms = int((expires_at - time.time()) * 1000)
            if ttl_ms > 0:
                await self._share(key, entry, ttl_ms)
        return entry

    async def _share(self, key: str, entry: Entry, ttl_ms: int) -> None:
        assert self._redis is not None
        head = orjson.dumps(
            {"etag": entry.etag.decode(), "until": entry.expires_at, "tags": entry.tags}
        )
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._prefix + key, head + b"\n" + entry.body, px=ttl_ms)
                for tag in entry.tags:
                    pipe.sadd(f"{self._prefix}tag:{tag}", key)
                    # As long as the longest entry can live, so no entry outlives its index.
                    pipe.expire(f"{self._prefix}tag:{tag}", _TAG_TTL_SECONDS)
                await pipe.execute()
        except Exception:
            log.warning("shared response cache write failed", exc_info=True)

    def invalidate(self, tag: str) -> int:
        """Drop every entry resting on the data `tag` (here at once, in Redis shortly)."""
        keys = self._by_tag.pop(tag, set())
        for key in list(keys):
            self._drop(key)
        if self._redis is not None:
            task = asyncio.get_running_loop().create_task(self._unshare(tag))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return len(keys)

    async def _unshare(self, tag: str) -> None:
        assert self._redis is not None
        tag_key = f"{self._prefix}tag:{tag}"
        try:
            keys = await self._redis.smembers(tag_key)
            stale = [self._prefix + bytes(k).decode() for k in keys if isinstance(k, bytes)]
            await self._redis.delete(tag_key, *stale)
        except Exception:
            log.warning("shared response cache invalidation failed", exc_info=True)

    def _keep(self, key: str, entry: Entry) -> None:
        size = len(entry.body) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += size
        for tag in entry.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= len(entry.body) + _ENTRY_OVERHEAD
        for tag in entry.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
