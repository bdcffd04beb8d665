"""The event bus, on Redis pub/sub and in-process, and what only the Redis bus promises."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from integrations.state.bus import BusMessage, EventBus, RedisEventBus, Subscription


async def next_message(subscription: Subscription, timeout: float = 3.0) -> BusMessage:
    async with asyncio.timeout(timeout):
        return await anext(subscription)


async def assert_nothing_arrives(subscription: Subscription, wait: float = 0.2) -> None:
    with contextlib.suppress(TimeoutError):
        message = await next_message(subscription, timeout=wait)
        raise AssertionError(f"unexpected message {message}")


async def pubsub_connections(redis: Redis, client_name: str) -> list[dict[str, Any]]:
    """The server's view of the connections a bus opened under `client_name`."""
    return [c for c in await redis.client_list() if c["name"] == client_name]


async def test_subscriber_receives_what_is_published_on_its_channel_only(
    bus: EventBus, prefix: str
) -> None:
    async with bus.subscribe(f"{prefix}payments:ref_1") as subscription:
        await bus.publish(f"{prefix}payments:ref_2", {"status": "SUCCESS"})
        receivers = await bus.publish(f"{prefix}payments:ref_1", {"status": "FAILED", "n": 1.5})

        assert receivers == 1
        assert await next_message(subscription) == BusMessage(
            channel=f"{prefix}payments:ref_1", pattern=None, data={"status": "FAILED", "n": 1.5}
        )
        await assert_nothing_arrives(subscription)


async def test_pattern_subscriber_receives_every_matching_channel(
    bus: EventBus, prefix: str
) -> None:
    async with bus.subscribe(patterns=[f"{prefix}payments:*"]) as subscription:
        await bus.publish(f"{prefix}payments:ref_1", {"n": 1})
        await bus.publish(f"{prefix}bookings:bkg_1", {"n": 2})
        await bus.publish(f"{prefix}payments:ref_2", {"n": 3})

        first, second = await next_message(subscription), await next_message(subscription)
        await assert_nothing_arrives(subscription)

    assert first == BusMessage(f"{prefix}payments:ref_1", f"{prefix}payments:*", {"n": 1})
    assert second == BusMessage(f"{prefix}payments:ref_2", f"{prefix}payments:*", {"n": 3})


async def test_a_message_published_right_after_subscribing_is_received(
    bus: EventBus, prefix: str
) -> None:
    for n in range(20):
        async with bus.subscribe(
            f"{prefix}payments:ref_{n}", patterns=[f"{prefix}bookings:{n}:*"]
        ) as subscription:
            await bus.publish(f"{prefix}payments:ref_{n}", {"n": n})
            await bus.publish(f"{prefix}bookings:{n}:confirmed", {"n": n})

            assert (await next_message(subscription)).channel == f"{prefix}payments:ref_{n}"
            assert (await next_message(subscription)).pattern == f"{prefix}bookings:{n}:*"


async def test_leaving_the_subscription_stops_delivery(bus: EventBus, prefix: str) -> None:
    async with bus.subscribe(f"{prefix}payments:ref_1", patterns=[f"{prefix}p:*"]) as sub:
        pass

    assert await bus.publish(f"{prefix}payments:ref_1", {"n": 1}) == 0
    assert await bus.publish(f"{prefix}p:1", {"n": 2}) == 0
    assert [message async for message in sub] == []


async def test_one_of_two_subscribers_leaving_keeps_the_other_subscribed(
    bus: EventBus, prefix: str
) -> None:
    channel = f"{prefix}payments:ref_1"
    async with bus.subscribe(channel) as staying:
        async with bus.subscribe(channel) as leaving:
            await bus.publish(channel, {"n": 1})
            assert (await next_message(leaving)).data == {"n": 1}

        await bus.publish(channel, {"n": 2})

        assert [(await next_message(staying)).data for _ in range(2)] == [{"n": 1}, {"n": 2}]


async def test_a_slow_subscriber_loses_its_oldest_messages_without_holding_up_a_fast_one(
    make_bus: Callable[..., EventBus], prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = make_bus(queue_size=5)
    channel = f"{prefix}payments:*"
    with caplog.at_level(logging.WARNING, logger="integrations.state.bus"):
        async with bus.subscribe(channel) as slow, bus.subscribe(channel) as fast:
            for n in range(50):
                await bus.publish(channel, {"n": n})
                assert (await next_message(fast)).data == {"n": n}

            assert [(await next_message(slow)).data["n"] for _ in range(5)] == [45, 46, 47, 48, 49]
            assert slow.dropped == 45
            assert fast.dropped == 0

    assert len([r for r in caplog.records if "not keeping up" in r.getMessage()]) == 1


async def test_each_subscriber_gets_its_own_copy_of_the_data(bus: EventBus, prefix: str) -> None:
    channel = f"{prefix}payments:ref_1"
    async with bus.subscribe(channel) as first, bus.subscribe(channel) as second:
        await bus.publish(channel, {"status": "SUCCESS"})

        (await next_message(first)).data["status"] = "changed by the first subscriber"

        assert (await next_message(second)).data == {"status": "SUCCESS"}


async def test_closing_the_bus_ends_open_subscriptions(bus: EventBus, prefix: str) -> None:
    async with bus.subscribe(f"{prefix}payments:ref_1") as subscription:
        await bus.close()

        assert [message async for message in subscription] == []


async def test_a_message_that_is_not_json_is_refused_when_published(
    bus: EventBus, prefix: str
) -> None:
    with pytest.raises(TypeError):
        await bus.publish(f"{prefix}payments:ref_1", {"amount": object()})


def test_a_subscription_needs_a_channel_or_a_pattern(bus: EventBus) -> None:
    with pytest.raises(ValueError, match="at least one"):
        bus.subscribe()


async def test_a_message_published_on_one_replica_reaches_a_subscriber_on_another(
    redis_client: Redis,
    other_redis_client: Redis,
    closing: Callable[[RedisEventBus], RedisEventBus],
    prefix: str,
) -> None:
    replica_a = closing(RedisEventBus(redis_client))
    replica_b = closing(RedisEventBus(other_redis_client))
    async with (
        replica_a.subscribe(patterns=[f"{prefix}payments:*"]) as on_a,
        replica_b.subscribe(f"{prefix}payments:ref_1") as on_b,
    ):
        assert await replica_a.publish(f"{prefix}payments:ref_1", {"status": "SUCCESS"}) == 2

        assert (await next_message(on_b)).data == {"status": "SUCCESS"}
        assert (await next_message(on_a)).data == {"status": "SUCCESS"}

        await replica_b.publish(f"{prefix}payments:ref_2", {"status": "FAILED"})

        assert (await next_message(on_a)).channel == f"{prefix}payments:ref_2"


async def test_deployments_on_other_databases_of_one_server_do_not_hear_each_other(
    redis_client: Redis,
    other_redis_client: Redis,
    closing: Callable[[RedisEventBus], RedisEventBus],
    prefix: str,
) -> None:
    staging = closing(RedisEventBus(redis_client, namespace="db1"))
    production = closing(RedisEventBus(other_redis_client, namespace="db0"))
    also_production = closing(RedisEventBus(redis_client, namespace="db0"))
    async with (
        staging.subscribe(patterns=[f"{prefix}payments:*"]) as on_staging,
        also_production.subscribe(patterns=[f"{prefix}payments:*"]) as on_production,
    ):
        await production.publish(f"{prefix}payments:ref_1", {"status": "SUCCESS"})

        arrived = await next_message(on_production)
        # Subscribers see the channel without the namespace.
        assert (arrived.channel, arrived.pattern) == (
            f"{prefix}payments:ref_1",
            f"{prefix}payments:*",
        )
        await assert_nothing_arrives(on_staging)


@contextlib.asynccontextmanager
async def relayed_redis(redis: Redis) -> AsyncIterator[tuple[Redis, asyncio.Event]]:
    """A client reaching Redis through a local TCP relay, and the switch that lets its commands
    through: while cleared, what the client sends waits in the relay (Redis answers nothing)."""
    options = redis.connection_pool.connection_kwargs
    commands_flow = asyncio.Event()
    commands_flow.set()
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, gate: asyncio.Event | None
    ) -> None:
        try:
            while data := await source.read(65_536):
                if gate is not None:
                    await gate.wait()
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()

    async def relay(client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(options["host"], options["port"])
        pipes.add(asyncio.create_task(pipe(client_in, server_out, commands_flow)))
        pipes.add(asyncio.create_task(pipe(server_in, client_out, None)))

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    client = Redis(
        host="127.0.0.1",
        port=server.sockets[0].getsockname()[1],
        db=options.get("db", 0),
        username=options.get("username"),
        password=options.get("password"),
    )
    try:
        yield client, commands_flow
    finally:
        await client.aclose()
        server.close()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


async def test_entering_a_subscription_waits_until_redis_has_confirmed_it(
    redis_client: Redis, prefix: str
) -> None:
    async with relayed_redis(redis_client) as (client, commands_flow):
        bus = RedisEventBus(client)
        try:
            async with bus.subscribe(f"{prefix}warm-up"):
                commands_flow.clear()
                asyncio.get_running_loop().call_later(0.3, commands_flow.set)
                started = asyncio.get_running_loop().time()
                async with bus.subscribe(f"{prefix}payments:ref_1") as subscription:
                    waited = asyncio.get_running_loop().time() - started
                    await bus.publish(f"{prefix}payments:ref_1", {"status": "SUCCESS"})

                    assert waited >= 0.25
                    assert (await next_message(subscription)).data == {"status": "SUCCESS"}
        finally:
            await bus.close()


async def test_two_hundred_local_subscribers_share_one_pubsub_connection(
    redis_client: Redis, closing: Callable[[RedisEventBus], RedisEventBus], prefix: str
) -> None:
    client_name = f"{prefix}bus"
    bus = closing(RedisEventBus(redis_client, client_name=client_name))
    subscriptions = [bus.subscribe(f"{prefix}ref_{n}", f"{prefix}ops") for n in range(200)]

    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(s) for s in subscriptions))

        [connection] = await pubsub_connections(redis_client, client_name)
        assert connection["sub"] == "201"
        assert await redis_client.pubsub_numsub(f"{prefix}ops") == [(f"{prefix}ops".encode(), 1)]

        assert await bus.publish(f"{prefix}ops", {"notice": "maintenance"}) == 1
        received = await asyncio.gather(*(next_message(s) for s in subscriptions))
        assert {m.data["notice"] for m in received} == {"maintenance"}

        await bus.publish(f"{prefix}ref_7", {"status": "SUCCESS"})
        assert (await next_message(subscriptions[7])).channel == f"{prefix}ref_7"
        await assert_nothing_arrives(subscriptions[8])

    # Leaving does not wait for Redis to confirm the UNSUBSCRIBEs: give it a moment.
    async with asyncio.timeout(3):
        while (await pubsub_connections(redis_client, client_name))[0]["sub"] != "0":
            await asyncio.sleep(0.02)


async def test_subscriptions_survive_the_pubsub_connection_being_killed(
    redis_client: Redis, closing: Callable[[RedisEventBus], RedisEventBus], prefix: str
) -> None:
    client_name = f"{prefix}bus"
    bus = closing(RedisEventBus(redis_client, client_name=client_name, reconnect_delay=0.05))

    async def publish_until_received(subscription: Subscription, channel: str) -> BusMessage:
        # What is published while the bus reconnects is lost (pub/sub keeps nothing): retry.
        async with asyncio.timeout(5):
            while True:
                await bus.publish(channel, {"status": "SUCCESS"})
                with contextlib.suppress(TimeoutError):
                    message = await next_message(subscription, timeout=0.1)
                    if message.channel == channel:
                        return message

    async with bus.subscribe(f"{prefix}payments:ref_1", patterns=[f"{prefix}bookings:*"]) as sub:
        [before] = await pubsub_connections(redis_client, client_name)
        await redis_client.client_kill_filter(_id=before["id"])

        await publish_until_received(sub, f"{prefix}payments:ref_1")
        await publish_until_received(sub, f"{prefix}bookings:bkg_1")

        [after] = await pubsub_connections(redis_client, client_name)
        assert after["id"] != before["id"]
        assert (after["sub"], after["psub"]) == ("1", "1")


async def test_a_quiet_pubsub_connection_passes_its_health_checks(
    redis_client: Redis, closing: Callable[[RedisEventBus], RedisEventBus], prefix: str
) -> None:
    client_name = f"{prefix}bus"
    bus = closing(RedisEventBus(redis_client, client_name=client_name, health_check_interval=0.1))
    async with bus.subscribe(f"{prefix}payments:ref_1") as subscription:
        [before] = await pubsub_connections(redis_client, client_name)

        await asyncio.sleep(0.6)
        await bus.publish(f"{prefix}payments:ref_1", {"status": "SUCCESS"})

        assert (await next_message(subscription)).data == {"status": "SUCCESS"}
        [after] = await pubsub_connections(redis_client, client_name)
        assert after["id"] == before["id"]


async def test_subscribing_while_redis_is_unreachable_raises_a_redis_error(
    unreachable_redis_url: str, closing: Callable[[RedisEventBus], RedisEventBus]
) -> None:
    redis = Redis.from_url(unreachable_redis_url)
    bus = closing(RedisEventBus(redis))
    try:
        with pytest.raises(RedisError):
            async with bus.subscribe("payments:ref_1"):
                pass
    finally:
        await redis.aclose()
