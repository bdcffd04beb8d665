"""How fast one settled payment reaches 1,000 `paymentUpdates` subscribers (goal: p99 < 250 ms),
and how many settlements a second the Paystack webhook drives to a CONFIRMED booking (goal: 20/s
on each database).

    .venv/bin/python bench/fanout.py [--subscribers 1000] [--client-processes 1]
        [--settlements 3] [--webhooks 200] [--webhook-concurrency 16] [--redis]
        [--no-compression] [--py-spy PATH] [--skip-fanout] [--skip-webhooks]
        [--webhook-databases sqlite,postgresql] [--postgres-url URL] [--time-limit 300]

Fan-out: starts the gateway with `sureflights serve` (one worker, loopback, sandbox upstreams,
SQLite in a temporary directory, a random SECRET_KEY, the reconciler off, Redis only with
`--redis`). Subscriber processes open the WebSocket connections (graphql-transport-ws, an admin
bearer token in `connection_init`), each subscribing to `paymentUpdates`. For every settlement a
booking and its payment are created through GraphQL; the payment's PENDING event reaching every
subscriber shows that all of them are listening. Then `POST /sandbox/checkout/{ref}/pay` settles
it, `t0` taken just before the request, and each subscriber notes when its first SUCCESS message
for that payment arrived. Arrival minus `t0` (wall clock, one machine) gives p50, p99 and max.
Next to them: the gateway's event-loop thread from `t0` to the last arrival, time on a core and
time waiting for one (from /proc: a large wait means other processes had the core; time on a
core far above the other settlements' usually means a full garbage collection), and the gateway's
resident memory before and after the settlements. `--py-spy PATH` samples the gateway during
the settlements (py-spy on PATH or next to the interpreter; collapsed stacks).

Webhooks: a second gateway with PAYSTACK_SECRET_KEY set, so payments are live, talks to the
tests' Paystack double (`tests.support.servers.paystack_app`) in its own uvicorn process (the
recorded initialize and verify bodies, adapted to our reference, amount and currency); Duffel
stays in sandbox, so the sandbox
airline issues the orders. `--webhooks` bookings and payments are created first, then one signed
`charge.success` event each (the recorded body) is sent with bounded concurrency, and
`bookings(status: CONFIRMED) { totalCount }` is polled until every booking is confirmed.
Prints settlements/s end to end and the webhook endpoint's own response time p50 and p99. The
settlements run once per database in `--webhook-databases`, one after the other with a fresh
gateway each: SQLite in the temporary directory, and PostgreSQL in a database created for the
run on `--postgres-url`'s server (default postgresql://postgres@127.0.0.1:5432/postgres) and
dropped after it. The PostgreSQL server is not pinned: its backends run on either core.

On two cores or more the gateway is pinned to one core and everything else (subscribers, the
fake Paystack, this process) to another, so the gateway is what is measured. The run is bounded:
every wait has a timeout and an alarm ends it after `--time-limit` seconds. With `--redis` the
gateways use REDIS_URL=redis://127.0.0.1:6379/14 and leave their keys there (all with a TTL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

# Run as a script, this directory comes first on the path, where a module of the same name as one
# of the gateway's packages (another benchmark) would shadow it.
sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    HOST,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    Goal,
    Goals,
    bench_database,
    clean_env,
    http_get_answers,
    load_average,
    percentile,
    pick_cpus,
    random_secret,
    run_loop,
    serving,
    start_py_spy,
    stop,
    stop_py_spy,
    sureflights_command,
    time_limit,
    usable_cores,
    uvicorn_command,
)
from tests.support.saga import charge_success, sign

TARGET_P99_MS = 250.0
FANOUT_GOAL = Goal("fan-out to every subscriber, worst p99", TARGET_P99_MS, "ms")
# Settling by webhook, end to end on one worker at concurrency 16: a booking confirmed every 50 ms.
SETTLEMENT_GOAL_PER_SECOND = 20.0

SUBSCRIPTION = "subscription { paymentUpdates { reference status bookingStatus updatedAt } }"
SEARCH = """
query($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    offers(first: 20) { id requiresInstantPayment totalAmount { amount currency } }
  }
}
"""
CREATE_BOOKING = """
mutation($input: CreateBookingInput!) {
  createBooking(input: $input) { booking { reference status } }
}
"""
INITIALIZE_PAYMENT = """
mutation($ref: ID!) {
  initializePayment(bookingReference: $ref) {
    reference status mode amount { amount currency }
  }
}
"""
COUNT_BY_STATUS = """
{
  confirmed: bookings(status: CONFIRMED, first: 1) { totalCount }
  confirming: bookings(status: CONFIRMING, first: 1) { totalCount }
  failed: bookings(status: FAILED, first: 1) { totalCount }
}
"""
PASSENGER = {
    "type": "ADULT",
    "title": "MS",
    "givenName": "Amaka",
    "familyName": "Okafor",
    "gender": "F",
    "bornOn": "1991-04-02",
    "email": "amaka@example.com",
    "phoneNumber": "08031234567",
}


# --- subscribers (run in their own processes) -------------------------------------------------


class Subscribers:
    """`count` WebSocket connections, each subscribed to `paymentUpdates`; first arrivals noted."""

    def __init__(self, url: str, token: str, count: int, compression: bool) -> None:
        self.url = url
        self.token = token
        self.count = count
        self.compression = compression
        self.acked = 0
        self.failures: list[str] = []
        self.sockets: list[Any] = []
        # (payment reference, status) -> time.time() of each connection's first such message.
        self.arrivals: dict[tuple[str, str], list[float]] = {}
        self._wanted: dict[tuple[str, str], tuple[int, asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, seconds: float) -> None:
        """Connect everyone (a few at a time, as clients trickle in) and wait for their acks."""
        gate = asyncio.Semaphore(50)
        ready: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        for _ in range(self.count):
            future: asyncio.Future[None] = loop.create_future()
            ready.append(future)
            self._tasks.append(asyncio.create_task(self._subscriber(gate, future)))
        done, _ = await asyncio.wait(ready, timeout=seconds)
        if len(done) < len(ready):
            self.failures.append(f"{len(ready) - len(done)} not connected within {seconds:g}s")

    async def _subscriber(self, gate: asyncio.Semaphore, ready: asyncio.Future[None]) -> None:
        from websockets.asyncio.client import connect

        try:
            async with gate:
                ws = await connect(
                    self.url,
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    compression="deflate" if self.compression else None,
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                )
                self.sockets.append(ws)
                init = {"type": "connection_init", "payload": {"authorization": self.token}}
                await ws.send(json.dumps(init))
                ack = json.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
                await ws.send(json.dumps(subscribe))
            self.acked += 1
            ready.set_result(None)
        except Exception as error:
            self.failures.append(repr(error))
            if not ready.done():
                ready.set_result(None)
            return
        seen: set[tuple[str, str]] = set()
        try:
            async for raw in ws:
                arrived = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    update = message["payload"]["data"]["paymentUpdates"]
                    key = (update["reference"], update["status"])
                    if key not in seen:
                        seen.add(key)
                        self._note(key, arrived)
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif kind in ("error", "complete"):
                    self.failures.append(f"subscription ended: {message}")
                    return
        except Exception as error:
            self.failures.append(f"connection lost: {error!r}")

    def _note(self, key: tuple[str, str], arrived: float) -> None:
        times = self.arrivals.setdefault(key, [])
        times.append(arrived)
        wanted = self._wanted.get(key)
        if wanted is not None and len(times) >= wanted[0]:
            wanted[1].set()

    async def wait_for(self, key: tuple[str, str], seconds: float) -> int:
        """Wait until every acked subscriber has a message for `key`; how many have one."""
        event = asyncio.Event()
        self._wanted[key] = (self.acked, event)
        if len(self.arrivals.get(key, ())) >= self.acked:
            event.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
        del self._wanted[key]
        return len(self.arrivals.get(key, ()))

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _serve_commands(subscribers: Subscribers, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        match command:
            case ("wait", reference, status, timeout):
                pipe.send(await subscribers.wait_for((reference, status), timeout))
            case ("arrivals", reference, status):
                pipe.send(subscribers.arrivals.get((reference, status), []))
            case ("failures",):
                pipe.send(list(subscribers.failures))
            case ("stop",):
                await subscribers.close()
                pipe.send("stopped")
                return


def subscriber_process(
    url: str, token: str, count: int, compression: bool, cpu: int | None, pipe: Connection
) -> None:
    """A process's share of the subscribers, driven by the commands it reads from `pipe`."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def run() -> None:
        subscribers = Subscribers(url, token, count, compression)
        await subscribers.open(seconds=120)
        pipe.send(("ready", subscribers.acked, subscribers.failures[:5]))
        await _serve_commands(subscribers, pipe)

    run_loop(run())


class SubscriberPool:
    """The subscriber processes, seen from here as one group."""

    def __init__(self, pipes: Sequence[Connection]) -> None:
        self.pipes = pipes

    def ask(self, *command: Any, timeout: float = 60) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        return [receive(pipe, timeout) for pipe in self.pipes]


def receive(pipe: Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError(f"a subscriber process did not answer within {timeout:g}s")
    return pipe.recv()


@contextlib.contextmanager
def subscriber_pool(
    port: int, token: str, total: int, processes: int, compression: bool, cpu: int | None
) -> Iterator[tuple[SubscriberPool, int, list[str]]]:
    """Start the subscriber processes; yields the pool, how many acked and the first failures."""
    context = multiprocessing.get_context("spawn")
    shares = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    pipes: list[Connection] = []
    children = []
    url = f"ws://{HOST}:{port}/graphql"
    for share in shares:
        ours, theirs = context.Pipe()
        child = context.Process(
            target=subscriber_process,
            args=(url, f"Bearer {token}", share, compression, cpu, theirs),
            daemon=True,
        )
        child.start()
        pipes.append(ours)
        children.append(child)
    pool = SubscriberPool(pipes)
    try:
        acked = 0
        failures: list[str] = []
        for pipe in pipes:
            _, count, first_failures = receive(pipe, 180)
            acked += count
            failures += first_failures
        yield pool, acked, failures
    finally:
        for pipe in pipes:
            try:
                pipe.send(("stop",))
                receive(pipe, 20)
            except (OSError, EOFError, TimeoutError):
                pass
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
                child.join()


# --- the gateway and the fake Paystack --------------------------------------------------------


def gateway(
    workdir: Path,
    name: str,
    secret: str,
    redis: bool,
    cpu: int | None,
    database_url: str | None = None,
    **extra: str,
) -> contextlib.AbstractContextManager[tuple[int, int]]:
    """`sureflights serve`, one worker on loopback, configured by `extra` and nothing else; its
    database is `database_url`, else an SQLite file in `workdir`."""
    env = clean_env(
        DATABASE_URL=database_url or f"sqlite:///{workdir}/{name}.db",
        SECRET_KEY=secret,
        RECONCILE_INTERVAL_SECONDS="0",
        # Warnings only: uvicorn's access log is off, so the gateway's time goes to the requests.
        LOG_LEVEL="WARNING",
        **({"REDIS_URL": REDIS_URL} if redis else {}),
        **extra,
    )
    return serving(name, sureflights_command(), env, workdir, http_get_answers("/health/live"), cpu)


@contextlib.contextmanager
def notification_worker(
    workdir: Path, secret: str, database_url: str, cpu: int | None
) -> Iterator[None]:
    """`sureflights notify worker` beside the gateway (NOTIFICATION_DISPATCHER=worker), on the
    same database and Redis, pinned to `cpu` (the clients' core)."""
    env = clean_env(
        DATABASE_URL=database_url,
        SECRET_KEY=secret,
        REDIS_URL=REDIS_URL,
        RECONCILE_INTERVAL_SECONDS="0",
        LOG_LEVEL="WARNING",
    )
    sureflights = Path(sys.executable).with_name("sureflights")
    with (workdir / "notification-worker.log").open("wb") as log:
        process = subprocess.Popen(
            [str(sureflights), "notify", "worker"], cwd=workdir, env=env, stdout=log, stderr=log
        )
    try:
        if cpu is not None:
            os.sched_setaffinity(process.pid, {cpu})
        yield
    finally:
        stop(process)


def fake_paystack(
    workdir: Path, cpu: int | None
) -> contextlib.AbstractContextManager[tuple[int, int]]:
    command = uvicorn_command(
        "tests.support.servers:paystack_app",
        "--host",
        HOST,
        "--no-access-log",
        "--log-level",
        "warning",
    )
    return serving("paystack", command, clean_env(), workdir, http_get_answers("/"), cpu)


def admin_token(secret: str) -> str:
    from resolvers.auth import issue_admin_token

    token, _ = issue_admin_token(secret, now=datetime.now(UTC), ttl=timedelta(hours=1))
    return token


# --- GraphQL over HTTP ------------------------------------------------------------------------


def data_of(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(f"the gateway answered {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def search_variables() -> dict[str, Any]:
    departure = (datetime.now(UTC).date() + timedelta(days=21)).isoformat()
    return {
        "input": {"slices": [{"origin": "LOS", "destination": "ABV", "departureDate": departure}]}
    }


def pick_offer(data: dict[str, Any]) -> dict[str, Any]:
    """An offer paid at once if there is one: the settlement then places the airline order."""
    offers: list[dict[str, Any]] = data["searchFlights"]["offers"]
    if not offers:
        raise RuntimeError("the sandbox search found no offers")
    instant = [o for o in offers if o["requiresInstantPayment"]]
    return (instant or offers)[0]


def booking_input(offer: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"offerId": offer["id"], "passengers": [PASSENGER]}}


@dataclass(frozen=True, slots=True)
class Payment:
    reference: str
    mode: str
    amount_subunits: int
    currency: str


def subunits(amount: str, currency: str) -> int:
    from decimal import Decimal

    from resolvers.money import to_subunits

    return to_subunits(Decimal(amount), currency)


def payment_of(data: dict[str, Any]) -> Payment:
    started = data["initializePayment"]
    amount = started["amount"]
    return Payment(
        started["reference"],
        started["mode"],
        subunits(amount["amount"], amount["currency"]),
        amount["currency"],
    )


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FanOut:
    settlement: int
    payment: str
    armed: int
    received: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    settle_request_ms: float
    # The gateway's event-loop thread from t0 to the last arrival: on a core, and waiting for one.
    cpu_ms: float | None
    run_queue_ms: float | None


@dataclass(frozen=True, slots=True)
class FanOutRun:
    subscribed: int
    failures: list[str]
    settlements: list[FanOut]
    # The gateway's resident memory in MB with everyone subscribed, before and after settling.
    memory_mb: tuple[float | None, float | None]


@dataclass(frozen=True, slots=True)
class Webhooks:
    bookings: int
    confirmed: int
    failed: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_200: int


# --- the gateway's CPU time -------------------------------------------------------------------


def resident_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


class CpuSampler:
    """The gateway's event-loop thread, sampled from /proc every 2 ms: time on a core and time
    waiting for one. The second says how much of a latency other processes caused."""

    def __init__(self, pid: int) -> None:
        self._path = Path(f"/proc/{pid}/task/{pid}/schedstat")
        self._samples: list[tuple[float, int, int]] = []
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._path.exists()

    def _read(self) -> tuple[float, int, int]:
        on_cpu, waiting, _ = self._path.read_text().split()
        return time.time(), int(on_cpu), int(waiting)

    def _run(self) -> None:
        while self._running.is_set():
            self._samples.append(self._read())
            time.sleep(0.002)

    def start(self) -> None:
        self._samples = []
        if self.available:
            self._running.set()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def between(self, start: float, end: float) -> tuple[float, float] | None:
        """(ms on a core, ms waiting for a core) from `start` to `end`, from the samples."""
        before = [s for s in self._samples if s[0] <= start]
        after = [s for s in self._samples if s[0] >= end]
        if not before or not after:
            return None
        first, last = before[-1], after[0]
        return (last[1] - first[1]) / 1e6, (last[2] - first[2]) / 1e6


# --- fan-out ----------------------------------------------------------------------------------


def run_fanout(args: argparse.Namespace, workdir: Path, cpus: tuple[int, int] | None) -> FanOutRun:
    secret = random_secret()
    token = admin_token(secret)
    server_cpu, client_cpu = cpus if cpus else (None, None)
    with gateway(workdir, "fanout-gateway", secret, args.redis, server_cpu) as (port, pid):
        print(f"fan-out gateway: pid {pid}, port {port}", flush=True)
        with (
            subscriber_pool(
                port,
                token,
                args.subscribers,
                args.client_processes,
                not args.no_compression,
                client_cpu,
            ) as (pool, acked, failures),
            httpx.Client(
                base_url=f"http://{HOST}:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as http,
        ):
            search = http.post("/graphql", json=graphql(SEARCH, search_variables()))
            offer = pick_offer(data_of(search))
            memory_before = resident_mb(pid)
            sampler = CpuSampler(pid)
            profiler = start_py_spy(pid, args.py_spy, 250) if args.py_spy else None
            results = []
            for number in range(1, args.settlements + 1):
                result = settle_once(number, http, pool, sampler, offer)
                print(fanout_row(result), flush=True)
                results.append(result)
            if profiler is not None and stop_py_spy(profiler):
                print(
                    f"gateway profile (py-spy, collapsed stacks) written to {args.py_spy}",
                    flush=True,
                )
            memory = (memory_before, resident_mb(pid))
            failures += [f for share in pool.ask("failures") for f in share]
    return FanOutRun(acked, failures, results, memory)


def settle_once(
    number: int,
    http: httpx.Client,
    pool: SubscriberPool,
    sampler: CpuSampler,
    offer: dict[str, Any],
) -> FanOut:
    """Book and start paying, wait until every subscriber has heard so, then settle and time it."""
    booking = data_of(http.post("/graphql", json=graphql(CREATE_BOOKING, booking_input(offer))))
    reference = booking["createBooking"]["booking"]["reference"]
    started = http.post("/graphql", json=graphql(INITIALIZE_PAYMENT, {"ref": reference}))
    payment = payment_of(data_of(started))
    # Everyone has the PENDING event: every subscription is registered on the bus.
    armed = sum(pool.ask("wait", payment.reference, "PENDING", 30.0, timeout=40))
    time.sleep(0.5)  # the PENDING fan-out's last writes drain
    sampler.start()
    time.sleep(0.01)
    t0 = time.time()
    response = http.post(f"/sandbox/checkout/{payment.reference}/pay")
    settle_ms = (time.time() - t0) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"settling answered {response.status_code}")
    pool.ask("wait", payment.reference, "SUCCESS", 30.0, timeout=40)
    sampler.stop()
    arrived = sorted(
        t for share in pool.ask("arrivals", payment.reference, "SUCCESS") for t in share
    )
    if not arrived:
        raise RuntimeError("no subscriber heard the settlement")
    latencies = [(t - t0) * 1000 for t in arrived]
    cpu = sampler.between(t0, arrived[-1])
    return FanOut(
        number,
        payment.reference,
        armed,
        len(latencies),
        percentile(latencies, 50),
        percentile(latencies, 99),
        latencies[-1],
        settle_ms,
        cpu[0] if cpu else None,
        cpu[1] if cpu else None,
    )


def graphql(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"query": query, "variables": variables or {}}


def fanout_row(r: FanOut) -> str:
    verdict = "ok" if r.p99_ms < TARGET_P99_MS else "OVER"
    return (
        f"settlement {r.settlement} ({r.payment}): armed {r.armed}, received {r.received}, "
        f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms "
        f"[{verdict}]; settle request {r.settle_request_ms:.0f} ms"
        + (
            f"; gateway loop until the last arrival: {r.cpu_ms:.0f} ms on a core, "
            f"{r.run_queue_ms:.0f} ms waiting for one"
            if r.cpu_ms is not None and r.run_queue_ms is not None
            else ""
        )
    )


# --- webhooks ---------------------------------------------------------------------------------


async def create_payments(http: httpx.AsyncClient, count: int, concurrency: int) -> list[Payment]:
    offer = pick_offer(
        data_of(await http.post("/graphql", json=graphql(SEARCH, search_variables())))
    )
    gate = asyncio.Semaphore(concurrency)

    async def one() -> Payment:
        async with gate:
            booking = data_of(
                await http.post("/graphql", json=graphql(CREATE_BOOKING, booking_input(offer)))
            )["createBooking"]["booking"]
            started = await http.post(
                "/graphql", json=graphql(INITIALIZE_PAYMENT, {"ref": booking["reference"]})
            )
            return payment_of(data_of(started))

    payments = await asyncio.gather(*(one() for _ in range(count)))
    if any(p.mode != "LIVE" for p in payments):
        raise RuntimeError("payments are not LIVE: the gateway is not talking to the fake Paystack")
    return list(payments)


async def counts(http: httpx.AsyncClient) -> dict[str, int]:
    data = data_of(await http.post("/graphql", json=graphql(COUNT_BY_STATUS)))
    return {name: int(found["totalCount"]) for name, found in data.items()}


async def fire_webhooks(
    port: int, token: str, paystack_secret: str, count: int, concurrency: int
) -> Webhooks:
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        limits=limits,
    ) as http:
        payments = await create_payments(http, count, concurrency=8)
        before = await counts(http)
        events = [
            (body, sign(body, paystack_secret))
            for body in (
                charge_success(p.reference, p.amount_subunits, p.currency) for p in payments
            )
        ]
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        non_200 = 0

        async def deliver(body: bytes, signature: str) -> None:
            nonlocal non_200
            async with gate:
                started = time.perf_counter()
                response = await http.post(
                    "/webhooks/paystack",
                    content=body,
                    headers={"content-type": "application/json", "x-paystack-signature": signature},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    non_200 += 1

        started = time.perf_counter()
        sending = asyncio.gather(*(deliver(body, signature) for body, signature in events))
        deadline = started + 120
        now = before
        while True:
            await asyncio.sleep(0.025)
            now = await counts(http)
            done = now["confirmed"] - before["confirmed"] + now["failed"] - before["failed"]
            if done >= count or time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - started
        await sending
    latencies.sort()
    return Webhooks(
        bookings=count,
        confirmed=now["confirmed"] - before["confirmed"],
        failed=now["failed"] - before["failed"],
        seconds=elapsed,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        non_200=non_200,
    )


def run_webhooks(
    args: argparse.Namespace, workdir: Path, cpus: tuple[int, int] | None, database_url: str
) -> Webhooks:
    secret = random_secret()
    paystack_secret = f"sk_test_{secrets.token_hex(20)}"
    token = admin_token(secret)
    server_cpu, client_cpu = cpus if cpus else (None, None)
    with contextlib.ExitStack() as stack:
        paystack_port, _ = stack.enter_context(fake_paystack(workdir, client_cpu))
        port, pid = stack.enter_context(
            gateway(
                workdir,
                "webhook-gateway",
                secret,
                args.redis,
                server_cpu,
                database_url,
                PAYSTACK_SECRET_KEY=paystack_secret,
                PAYSTACK_API_URL=f"http://{HOST}:{paystack_port}",
                NOTIFICATION_DISPATCHER=args.notifications,
            )
        )
        if args.notifications == "worker":
            stack.enter_context(notification_worker(workdir, secret, database_url, client_cpu))
        print(f"webhook gateway: pid {pid}, port {port}, {database_url.split(':')[0]}", flush=True)
        return asyncio.run(
            fire_webhooks(port, token, paystack_secret, args.webhooks, args.webhook_concurrency)
        )


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--settlements", type=int, default=3)
    parser.add_argument("--webhooks", type=int, default=200, help="bookings settled by webhook")
    parser.add_argument("--webhook-concurrency", type=int, default=16)
    parser.add_argument("--redis", action="store_true", help=f"run the gateways with {REDIS_URL}")
    parser.add_argument(
        "--no-compression", action="store_true", help="subscribers do not offer permessage-deflate"
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="sample the fan-out gateway with py-spy during the settlements (collapsed stacks)",
    )
    parser.add_argument(
        "--webhook-databases",
        default="sqlite,postgresql",
        help="databases the webhook settlements run on, one after the other (comma-separated)",
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_ADMIN_URL,
        help="a PostgreSQL server and role that may create the run's database (dropped after)",
    )
    parser.add_argument(
        "--notifications",
        choices=("in-process", "worker"),
        default="in-process",
        help="who sends the confirmations the settlements cause: the gateway itself (the "
        "default), or a `sureflights notify worker` process on the clients' core (needs Redis: "
        "implies --redis)",
    )
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument("--time-limit", type=int, default=300, metavar="SECONDS")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a run of seconds: 20 subscribers, 1 settlement, 20 webhooks per database",
    )
    args = parser.parse_args()
    if args.smoke:
        args.subscribers, args.settlements, args.webhooks = 20, 1, 20
        args.webhook_concurrency = min(args.webhook_concurrency, 8)
        args.time_limit = min(args.time_limit, 120)

    if args.notifications == "worker":
        args.redis = True
    usable = usable_cores()
    cpus = pick_cpus()
    if cpus:
        os.sched_setaffinity(0, {cpus[1]})
    print(f"cores: {os.cpu_count()} (usable here: {usable})", flush=True)
    print(f"load average before: {load_average()}", flush=True)
    print(
        "pinning: "
        + (f"gateway on core {cpus[0]}, clients on core {cpus[1]}" if cpus else "not pinned"),
        flush=True,
    )
    print(f"event bus: {'Redis ' + REDIS_URL if args.redis else 'in-process'}", flush=True)
    print(f"notifications sent by: {args.notifications}", flush=True)
    fanout: FanOutRun | None = None
    webhooks: dict[str, Webhooks] = {}
    databases = [name.strip() for name in args.webhook_databases.split(",") if name.strip()]
    if unknown := set(databases) - {"sqlite", "postgresql"}:
        parser.error(f"unknown --webhook-databases {sorted(unknown)}: sqlite, postgresql")
    with time_limit(args.time_limit), tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        workdir = Path(tmp)
        if not args.skip_fanout:
            fanout = run_fanout(args, workdir, cpus)
        if not args.skip_webhooks:
            for kind in databases:
                with bench_database(kind, workdir, args.postgres_url) as url:
                    webhooks[kind] = run_webhooks(args, workdir, cpus, url)

    print()
    print(f"cores: {os.cpu_count()} (usable here: {usable}); load average after: {load_average()}")
    goals = Goals()
    if fanout is not None:
        compression = "off" if args.no_compression else "permessage-deflate offered"
        print(
            f"fan-out: {fanout.subscribed}/{args.subscribers} subscribers connected and "
            f"subscribed ({args.client_processes} client process(es), compression {compression})"
        )
        for result in fanout.settlements:
            print("  " + fanout_row(result))
        goals.check(FANOUT_GOAL, max(r.p99_ms for r in fanout.settlements))
        before, after = fanout.memory_mb
        if before is not None and after is not None:
            print(
                f"  gateway resident memory: {before:.0f} MB with everyone subscribed, "
                f"{after:.0f} MB after {len(fanout.settlements)} settlement(s)"
            )
        if fanout.failures:
            print(f"  subscriber failures ({len(fanout.failures)}): {fanout.failures[:5]}")
    for kind, w in webhooks.items():
        print(
            f"webhooks on {kind}: {w.bookings} charge.success events at concurrency "
            f"{args.webhook_concurrency}: {w.confirmed} CONFIRMED, {w.failed} FAILED in "
            f"{w.seconds:.2f} s = {w.confirmed / w.seconds:.1f} settlements/s end to end"
        )
        print(
            f"  webhook response p50 {w.p50_ms:.1f} ms, p99 {w.p99_ms:.1f} ms"
            + (f", {w.non_200} not 200" if w.non_200 else "")
        )
        goal = Goal(f"settlements by webhook on {kind}", SETTLEMENT_GOAL_PER_SECOND, "/s", True)
        goals.check(goal, w.confirmed / w.seconds)
    failed = fanout is not None and bool(fanout.failures)
    unsettled = any(w.confirmed < w.bookings or w.non_200 for w in webhooks.values())
    if failed or unsettled:
        print("some subscribers failed or some bookings were not confirmed")
        return 1
    return goals.exit_code()


if __name__ == "__main__":
    sys.exit(main())
