"""Event bus (payment updates and the like): Redis pub/sub across replicas, or in-process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol

import orjson
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from integrations.cancellation import stop_if_cancelled

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1_000
# How long closing waits for the reader to finish.
CLOSE_TIMEOUT_SECONDS = 5.0
# The reader's longest single wait on the socket.
READ_SLICE_SECONDS = 0.5

_Kind = Literal["channel", "pattern"]
_Topic = tuple[_Kind, str]


@dataclass(frozen=True, slots=True)
class BusMessage:
    """A message as a subscriber receives it; `pattern` is the pattern that matched, if any."""

    channel: str
    pattern: str | None
    data: dict[str, Any]


class EventBus(Protocol):
    """Publish JSON messages on named channels; subscribe to channels or glob patterns."""

    async def publish(self, channel: str, message: Mapping[str, Any]) -> int:
        """Send `message` to the channel's subscribers; returns how many got it, where known."""

    def subscribe(self, *channels: str, patterns: Sequence[str] = ()) -> Subscription:
        """A subscription to `channels` and glob `patterns` (`payments:*`), live once entered."""

    async def close(self) -> None:
        """Stop delivering: every open subscription's iteration ends."""


class _Hub(Protocol):
    async def _attach(self, subscription: Subscription) -> None: ...

    async def _detach(self, subscription: Subscription) -> None: ...


class Subscription:
    """Interest in channels and patterns: live inside `async with`, read with `async for`.

    Messages wait in a bounded queue. When the reader falls behind, the oldest are dropped
    (counted in `dropped`, with a warning) so that one slow reader never holds up the others.
    A subscription to a channel and to a pattern matching it receives such a message twice,
    as with Redis.
    """

    def __init__(
        self, hub: _Hub, channels: Sequence[str], patterns: Sequence[str], queue_size: int
    ) -> None:
        if not channels and not patterns:
            raise ValueError("subscribe to at least one channel or pattern")
        self.channels = tuple(dict.fromkeys(channels))
        self.patterns = tuple(dict.fromkeys(patterns))
        self.dropped = 0
        self._hub = hub
        self._queue: asyncio.Queue[BusMessage | None] = asyncio.Queue(maxsize=queue_size)
        self._state: Literal["new", "entered", "ended"] = "new"
        self._lagging = False

    @property
    def _topics(self) -> list[_Topic]:
        return [("channel", c) for c in self.channels] + [("pattern", p) for p in self.patterns]

    async def __aenter__(self) -> Subscription:
        if self._state != "new":
            raise RuntimeError("a subscription can be entered only once")
        await self._hub._attach(self)
        self._state = "entered"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._end()
        await self._hub._detach(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> BusMessage:
        if self._state == "new":
            raise RuntimeError("enter the subscription with `async with` before reading it")
        if self._state == "ended" and self._queue.empty():
            raise StopAsyncIteration
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        if self._queue.empty():
            self._lagging = False
        return message

    def _offer(self, message: BusMessage) -> None:
        """Queue a message without ever waiting: the bus's reader serves every subscriber."""
        if self._state != "ended":
            self._push(message)

    def _end(self) -> None:
        if self._state != "ended":
            self._state = "ended"
            self._push(None)

    def _push(self, item: BusMessage | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if not self._lagging:
                # Once per backlog, not once per message: a stuck reader would flood the log.
                self._lagging = True
                logger.warning(
                    "event bus subscriber to %s is not keeping up; dropping its oldest messages",
                    ", ".join(self.channels + self.patterns),
                )
        self._queue.put_nowait(item)


class _Routes:
    """Which local subscriptions listen on each channel and pattern."""

    def __init__(self) -> None:
        self._listeners: dict[_Topic, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> list[_Topic]:
        """Register `subscription`; returns the topics nobody here listened to before."""
        new = []
        for topic in subscription._topics:
            listeners = self._listeners.setdefault(topic, set())
            if not listeners:
                new.append(topic)
            listeners.add(subscription)
        return new

    def remove(self, subscription: Subscription) -> list[_Topic]:
        """Unregister `subscription`; returns the topics nobody here listens to any more."""
        gone = []
        for topic in subscription._topics:
            listeners = self._listeners.get(topic)
            if listeners is None or subscription not in listeners:
                continue
            listeners.remove(subscription)
            if not listeners:
                del self._listeners[topic]
                gone.append(topic)
        return gone

    def listeners(self, topic: _Topic) -> Collection[Subscription]:
        return self._listeners.get(topic, ())

    def topics(self) -> list[_Topic]:
        return list(self._listeners)

    def patterns(self) -> list[tuple[str, Collection[Subscription]]]:
        return [(name, subs) for (kind, name), subs in self._listeners.items() if kind == "pattern"]

    def clear(self) -> set[Subscription]:
        """Forget every subscription; returns them."""
        everyone = {s for listeners in self._listeners.values() for s in listeners}
        self._listeners.clear()
        return everyone


def _encode(message: Mapping[str, Any]) -> bytes:
    # orjson only serialises real dicts; a message that is not JSON fails here, at publish time.
    return orjson.dumps(message if isinstance(message, dict) else dict(message))


def _fan_out(
    subscriptions: Iterable[Subscription], channel: str, pattern: str | None, payload: bytes
) -> int:
    """Deliver `payload` to each subscription; returns how many got it."""
    delivered = 0
    for subscription in subscriptions:
        # Each subscriber decodes its own copy, so one mutating its data cannot affect another.
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            logger.warning("event bus dropped a message on %s that is not a JSON object", channel)
            return delivered
        subscription._offer(BusMessage(channel, pattern, data))
        delivered += 1
    return delivered


class MemoryEventBus:
    """Event bus inside this process only: subscribers on other replicas hear nothing.

    Same semantics as `RedisEventBus` (JSON messages, glob patterns, bounded per-subscriber
    queues), so code behaves alike on either; patterns go through `fnmatch`, which negates a set
    with `[!x]` where Redis uses `[^x]`. `publish` returns the number of local subscriptions
    that received the message.
    """

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._routes = _Routes()
        self._closed = False

    async def publish(self, channel: str, message: Mapping[str, Any]) -> int:
        payload = _encode(message)
        receivers = _fan_out(self._routes.listeners(("channel", channel)), channel, None, payload)
        for pattern, listeners in self._routes.patterns():
            if fnmatchcase(channel, pattern):
                receivers += _fan_out(listeners, channel, pattern, payload)
        return receivers

    def subscribe(self, *channels: str, patterns: Sequence[str] = ()) -> Subscription:
        return Subscription(self, channels, patterns, self._queue_size)

    async def close(self) -> None:
        self._closed = True
        for subscription in self._routes.clear():
            subscription._end()

    async def _attach(self, subscription: Subscription) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        self._routes.add(subscription)

    async def _detach(self, subscription: Subscription) -> None:
        self._routes.remove(subscription)


class _Confirmation:
    """Completes once Redis has confirmed every topic one subscriber is waiting for."""

    def __init__(self, topics: int) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._remaining = topics
        if topics == 0:
            self.future.set_result(None)

    def confirm(self) -> None:
        self._remaining -= 1
        if self._remaining == 0 and not self.future.done():
            self.future.set_result(None)

    def fail(self, error: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(error)


_COMMANDS: dict[tuple[_Kind, bool], str] = {
    ("channel", True): "SUBSCRIBE",
    ("pattern", True): "PSUBSCRIBE",
    ("channel", False): "UNSUBSCRIBE",
    ("pattern", False): "PUNSUBSCRIBE",
}
_CONFIRMED_KIND: dict[bytes, _Kind] = {b"subscribe": "channel", b"psubscribe": "pattern"}


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


class RedisEventBus:
    """Event bus over Redis pub/sub: a message published on one replica reaches every replica.

    All local subscribers share ONE pub/sub connection per bus. SUBSCRIBE/PSUBSCRIBE go out when
    the first local subscriber of a channel or pattern arrives, UNSUBSCRIBE when the last one
    leaves, and a background reader fans messages out to the subscribers' bounded queues. A lost
    connection is reopened with exponential backoff and everything re-subscribed; messages
    published meanwhile are lost, as pub/sub keeps nothing. Entering a subscription raises a redis
    error while Redis is unreachable or does not confirm within `subscribe_timeout`. `publish`
    returns the number of Redis pub/sub connections that received the message (one per replica,
    not per local subscriber).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        subscribe_timeout: float = 10.0,
        health_check_interval: float = 30.0,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 10.0,
        client_name: str | None = None,
        namespace: str = "",
    ) -> None:
        self._redis = redis
        # Pub/sub ignores Redis's database number, so channels carry a namespace instead:
        # deployments sharing one server (on different databases) never see each other's events.
        self._prefix = f"{namespace}:" if namespace else ""
        self._queue_size = queue_size
        self._subscribe_timeout = subscribe_timeout
        self._health_check_interval = health_check_interval
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._client_name = client_name
        self._routes = _Routes()
        # One entry per SUBSCRIBE/PSUBSCRIBE sent on the current connection and not yet confirmed,
        # oldest first. Redis confirms commands in order, so a topic's next confirmation completes
        # its oldest entry; an entry lists the subscribers waiting on it.
        self._unconfirmed: dict[_Topic, deque[list[_Confirmation]]] = {}
        self._connection: AbstractConnection | None = None
        self._connection_error: Exception | None = None
        self._first_attempt_done = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    async def publish(self, channel: str, message: Mapping[str, Any]) -> int:
        return await self._redis.publish(self._prefix + channel, _encode(message))

    def _local(self, raw: Any) -> str:
        """A channel or pattern name as local subscribers know it (without the namespace)."""
        name = _text(raw)
        return name[len(self._prefix) :] if name.startswith(self._prefix) else name

    def subscribe(self, *channels: str, patterns: Sequence[str] = ()) -> Subscription:
        return Subscription(self, channels, patterns, self._queue_size)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, CLOSE_TIMEOUT_SECONDS)
        await self._disconnected(RedisConnectionError("the event bus is closed"))
        for subscription in self._routes.clear():
            subscription._end()

    async def _attach(self, subscription: Subscription) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="event-bus-reader")
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await self._first_attempt_done.wait()
            async with self._send_lock:
                connection = self._connection
                if connection is None:
                    raise RedisConnectionError(
                        "the event bus is not connected to Redis"
                    ) from self._connection_error
                new = self._routes.add(subscription)
                for topic in new:
                    self._unconfirmed.setdefault(topic, deque()).append([])
                # A topic already subscribed may still await its confirmation: wait for it too.
                pending = [
                    self._unconfirmed[t][-1] for t in subscription._topics if t in self._unconfirmed
                ]
                confirmation = _Confirmation(len(pending))
                for waiters in pending:
                    waiters.append(confirmation)
                await self._send(connection, new, subscribe=True)
            async with asyncio.timeout(self._subscribe_timeout):
                await confirmation.future
        except TimeoutError as exc:
            await self._detach(subscription)
            raise RedisTimeoutError(
                f"Redis did not confirm the subscription within {self._subscribe_timeout} s"
            ) from exc
        except BaseException:
            await self._detach(subscription)
            raise

    async def _detach(self, subscription: Subscription) -> None:
        async with self._send_lock:
            gone = self._routes.remove(subscription)
            if not gone or self._connection is None:
                return
            try:
                await self._send(self._connection, gone, subscribe=False)
            except RedisConnectionError:
                # The reader sees the same broken connection and, once reconnected, subscribes
                # only to what is still wanted, so there is nothing left to undo here.
                logger.debug("event bus could not unsubscribe; the reconnect will", exc_info=True)

    async def _send(
        self, connection: AbstractConnection, topics: Sequence[_Topic], *, subscribe: bool
    ) -> None:
        # A closed connection would silently reconnect on send, without the subscriptions.
        if not connection.is_connected:
            raise RedisConnectionError("the event bus's Redis connection is closed")
        for kind in ("channel", "pattern"):
            names = [self._prefix + name for k, name in topics if k == kind]
            # Never send a bare UNSUBSCRIBE: without names it drops every subscription.
            if names:
                await connection.send_command(
                    _COMMANDS[kind, subscribe], *names, check_health=False
                )

    async def _read_forever(self) -> None:
        delay = self._reconnect_delay
        while not self._closed:
            stop_if_cancelled()
            try:
                connection = await self._connect()
                delay = self._reconnect_delay
                await self._read(connection)
            except Exception as exc:  # the reader must outlive any one failure
                if self._closed:
                    return
                await self._disconnected(exc)
                logger.warning(
                    "event bus lost its Redis pub/sub connection (%s); reconnecting in %.1f s",
                    exc,
                    delay,
                )
                # Jitter keeps a fleet of replicas from reconnecting in lockstep.
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311
                delay = min(delay * 2, self._max_reconnect_delay)

    async def _connect(self) -> AbstractConnection:
        pool = self._redis.connection_pool
        options = {
            key: value
            for key, value in pool.connection_kwargs.items()
            if key != "maint_notifications_pool_handler"
        }
        options.update(
            # Reconnecting is this bus's job (with backoff and re-subscribing), and the reader
            # parses RESP2 pub/sub frames as bytes whatever the shared client is configured for;
            # RESP2 rules out maintenance push notifications, which the reconnect covers anyway.
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            decode_responses=False,
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        if self._client_name is not None:
            options["client_name"] = self._client_name
        connection = pool.connection_class(**options)
        try:
            await connection.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
            async with self._send_lock:
                topics = self._routes.topics()
                for topic in topics:
                    self._unconfirmed.setdefault(topic, deque()).append([])
                await self._send(connection, topics, subscribe=True)
                self._connection = connection
                self._connection_error = None
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        self._first_attempt_done.set()
        return connection

    async def _read(self, connection: AbstractConnection) -> None:
        awaiting_pong = False
        quiet = 0.0
        # Short reads, so the reader notices `close()` promptly even where a cancellation is
        # absorbed inside redis-py's read timeout; a health check still waits for real quiet.
        while not self._closed:
            response = await connection.read_response(timeout=READ_SLICE_SECONDS)
            stop_if_cancelled()
            if response is not None:
                awaiting_pong = False
                quiet = 0.0
                self._dispatch(response)
                continue
            quiet += READ_SLICE_SECONDS
            if quiet < self._health_check_interval:
                continue
            quiet = 0.0
            if awaiting_pong:
                raise RedisConnectionError("Redis did not answer the event bus's health check")
            # A quiet connection may be a dead one (no FIN from a vanished host): ask.
            async with self._send_lock:
                await connection.send_command("PING", check_health=False)
            awaiting_pong = True

    def _dispatch(self, response: Any) -> None:
        if not isinstance(response, list) or not response:
            return  # a PONG outside subscribed mode
        kind = response[0]
        if kind == b"message":
            channel = self._local(response[1])
            _fan_out(self._routes.listeners(("channel", channel)), channel, None, response[2])
        elif kind == b"pmessage":
            pattern, channel = self._local(response[1]), self._local(response[2])
            _fan_out(self._routes.listeners(("pattern", pattern)), channel, pattern, response[3])
        elif kind in _CONFIRMED_KIND:
            topic: _Topic = (_CONFIRMED_KIND[kind], self._local(response[1]))
            entries = self._unconfirmed.get(topic)
            if entries:
                for confirmation in entries.popleft():
                    confirmation.confirm()
                if not entries:
                    del self._unconfirmed[topic]
        # Unsubscribe confirmations and health-check pongs need nothing.

    async def _disconnected(self, error: Exception) -> None:
        """Drop the current connection and fail the subscribers still waiting on it."""
        async with self._send_lock:
            connection, self._connection = self._connection, None
            self._connection_error = error
            unconfirmed, self._unconfirmed = self._unconfirmed, {}
        for entries in unconfirmed.values():
            for waiters in entries:
                for confirmation in waiters:
                    confirmation.fail(RedisConnectionError(f"event bus connection lost: {error}"))
        if connection is not None:
            await connection.disconnect(nowait=True)
        self._first_attempt_done.set()
