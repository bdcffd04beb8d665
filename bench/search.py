"""What a cached 50-offer `searchFlights` costs, in process and over HTTP, executed and answered
from the response cache (goals: executed p50 <= 20 ms; from the response cache over HTTP on one
worker p50 <= 2 ms and >= 1,000 requests/s).

    .venv/bin/python bench/search.py [--requests 300] [--profile [PATH]] [--wrk SECONDS]
                                     [--no-http]

Builds the gateway in process with sandbox settings (SQLite in a temporary directory), finds a
LOS-LHR return search that answers 50 offers of at most one stop per slice, runs it once to fill
the search cache, then measures the same cached request, every field of `FlightOffer` selected:

- in process, with the response cache off so every request is executed, through
  `httpx.ASGITransport` (what a test client sees) and as a bare ASGI call (the gateway's own
  time: middleware, request parsing, execution, serialization);
- the gateway's parts timed directly: `GraphQLExecutor.prepare`, `GraphQLExecutor.execute` with a
  context built as the HTTP endpoint builds it, and `orjson.dumps` of the result;
- over HTTP against one uvicorn worker (access log off) with a sequential keep-alive client, and
  with wrk for throughput when it is installed: once executed (response cache off) and once
  answered from the response cache.

On a machine with two cores or more the in-process run and the server are pinned to one core and
the HTTP client to another, so "on one core" is what is measured. `--profile` adds a pyinstrument
profile of the in-process cached path (printed, and written to PATH when given). The run stops by
itself: every phase is bounded and an alarm ends it after `--time-limit` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import Message

# Run as a script, this directory comes first on the path, where a module of the same name as one
# of the gateway's packages (another benchmark) would shadow it.
sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    HOST,
    UVICORN_OPTIONS,
    Goal,
    Goals,
    Measurement,
    clean_env,
    cpu_seconds,
    percentile,
    pick_cpus,
    run_wrk,
    serving,
    time_limit,
    usable_cores,
    uvicorn_command,
)
from graphql_api.app import create_app
from graphql_api.context import RequestContext
from graphql_api.errors import format_error
from graphql_api.middleware import new_request_id
from graphql_api.settings import Settings
from resolvers.access import Caller

PATH = "/graphql"
OFFERS = 50
TARGET_P50_MS = 20.0
TARGET_CACHED_P50_MS = 2.0
TARGET_CACHED_RPS = 1_000.0
# Every request comes from one address: a budget large enough never to refuse one.
UNLIMITED = {"GRAPHQL_COST_BUDGET_ANONYMOUS": "1000000000/minute"}
# Enough samples to rank the hot spots; rendering a longer profile takes longer than taking it.
PROFILED_REQUESTS = 100
PROFILE_TOP_LINES = 30
LAGOS = ZoneInfo("Africa/Lagos")

MONEY = "{ amount currency formatted }"
PLACE = "{ iataCode name cityName countryCode timeZone type }"
CARRIER = "{ iataCode name logoUrl }"
# Every field of FlightOffer, nested types included.
OFFER = f"""
  id mode passengerCount expiresAt requiresInstantPayment
  totalAmount {MONEY}
  price {MONEY}
  usd: price(currency: "USD") {MONEY}
  owner {CARRIER}
  conditions {{
    refundable changeable refundPenalty {MONEY} changePenalty {MONEY}
  }}
  slices {{
    durationMinutes stops origin {PLACE} destination {PLACE}
    segments {{
      id departingAt arrivingAt durationMinutes flightNumber aircraft
      origin {PLACE} destination {PLACE}
      marketingCarrier {CARRIER} operatingCarrier {CARRIER}
    }}
  }}
"""
QUERY = f"""
query Search($input: FlightSearchInput!, $first: Int!, $maxStops: Int) {{
  searchFlights(input: $input) {{
    id createdAt cached totalOffers
    offers(first: $first, maxStops: $maxStops) {{ {OFFER} }}
  }}
}}
"""
REQUEST_HEADERS = [
    (b"host", b"bench"),
    (b"content-type", b"application/json"),
    (b"accept", b"application/json"),
]


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """How many requests a phase measures, and for how long at most (a busy machine is slow)."""

    requests: int
    seconds: float

    def rounds(self) -> Iterator[int]:
        deadline = time.monotonic() + self.seconds
        for index in range(self.requests):
            if index and time.monotonic() > deadline:
                return
            yield index

    def warmup(self) -> Plan:
        return Plan(max(10, self.requests // 10), self.seconds / 5)


def _percentile(samples: list[float], q: float) -> float:
    return percentile(sorted(samples), q * 100) * 1000


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds per request, wall clock and the event loop thread's CPU time, shown in ms.

    On a machine shared with other work the wall clock also counts the time the process waited
    for a core; the CPU time does not, so it is the steadier figure to compare runs by.
    """

    samples: list[float]
    cpu: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return _percentile(self.samples, q)

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) * 1000

    @property
    def cpu_p50(self) -> float | None:
        return _percentile(self.cpu, 0.50) if self.cpu else None


def row(
    name: str,
    count: int | None,
    p50: float,
    p99: float | None,
    mean: float,
    cpu_p50: float | None,
    share: float | None = None,
) -> str:
    count_text = f"{count:5d}" if count is not None else f"{'':5}"
    p99_text = f"{p99:8.2f}" if p99 is not None else f"{'':8}"
    cpu_text = f"{cpu_p50:8.2f}" if cpu_p50 is not None else f"{'':8}"
    share_text = f"{share:6.0%}" if share is not None else ""
    return f"  {name:<42} {count_text} {p50:8.2f} {p99_text} {mean:8.2f} {cpu_text} {share_text}"


def header() -> str:
    return (
        f"  {'':<42} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'cpu p50':>8} "
        f"{'share':>6}"
    )


# --- the search -------------------------------------------------------------------------------


def search_input(outbound: date, inbound: date) -> dict[str, Any]:
    return {
        "slices": [
            {"origin": "LOS", "destination": "LHR", "departureDate": outbound.isoformat()},
            {"origin": "LHR", "destination": "LOS", "departureDate": inbound.isoformat()},
        ],
    }


def variables_for(input_: dict[str, Any]) -> dict[str, Any]:
    return {"input": input_, "first": OFFERS, "maxStops": 1}


def request_body(variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": QUERY, "variables": variables, "operationName": "Search"})


def check_answer(body: bytes, *, cached: bool | None) -> dict[str, Any]:
    """The search in `body`, after checking it is the page the goal names."""
    answer = orjson.loads(body)
    if answer.get("errors"):
        raise RuntimeError(f"the search answered errors: {answer['errors']}")
    found: dict[str, Any] = answer["data"]["searchFlights"]
    offers = found["offers"]
    if len(offers) != OFFERS:
        raise RuntimeError(f"expected {OFFERS} offers, got {len(offers)}")
    for offer in offers:
        assert offer["mode"] == "SANDBOX", "the bench runs against the sandbox provider only"
        assert len(offer["slices"]) == 2
        assert all(len(s["segments"]) <= 2 for s in offer["slices"])
    if cached is not None and found["cached"] is not cached:
        raise RuntimeError(f"expected cached={cached}, got {found['cached']}")
    return found


async def find_search(client: httpx.AsyncClient) -> tuple[dict[str, Any], bytes]:
    """A return search 3-5 weeks ahead with 50 offers of one stop at most per slice."""
    today = datetime.now(LAGOS).date()
    for days in range(21, 36):
        for stay in (14, 7, 10):
            outbound = today + timedelta(days=days)
            variables = variables_for(search_input(outbound, outbound + timedelta(days=stay)))
            body = request_body(variables)
            response = await client.post(PATH, content=body, headers=dict(_str_headers()))
            response.raise_for_status()
            found = orjson.loads(response.content)["data"]["searchFlights"]
            if len(found["offers"]) == OFFERS:
                check_answer(response.content, cached=False)
                return variables, body
    raise RuntimeError("no LOS-LHR return search 3-5 weeks ahead has 50 offers")


def _str_headers() -> Iterator[tuple[str, str]]:
    for name, value in REQUEST_HEADERS[1:]:
        yield name.decode(), value.decode()


# --- in process -------------------------------------------------------------------------------


async def timed(plan: Plan, call: Callable[[], Awaitable[object]]) -> Timings:
    samples, cpu = [], []
    for _ in plan.rounds():
        started, cpu_started = time.perf_counter(), time.thread_time()
        await call()
        cpu.append(time.thread_time() - cpu_started)
        samples.append(time.perf_counter() - started)
    return Timings(samples, cpu)


def asgi_call(app: Starlette, body: bytes) -> Callable[[], Awaitable[bytes]]:
    """One POST straight into the ASGI app, the way a server hands it over, with no client."""

    async def call() -> bytes:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [*REQUEST_HEADERS, (b"content-length", b"%d" % len(body))],
            "client": (HOST, 50_000),
            "server": (HOST, 8_000),
        }
        sent = False
        chunks: list[bytes] = []
        status = 0

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Future()  # a client that stays connected
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"the gateway answered {status}")
        return b"".join(chunks)

    return call


@dataclass(frozen=True, slots=True)
class Parts:
    prepare: Timings
    execute: Timings
    serialize: Timings


async def time_parts(app: Starlette, variables: dict[str, Any], plan: Plan) -> Parts:
    """The endpoint's steps called one by one, with a context built as the endpoint builds it."""
    executor = app.state.executor
    services = app.state.services
    headers = Headers(raw=REQUEST_HEADERS)
    steps: tuple[list[float], ...] = ([], [], [], [], [], [])
    for _ in plan.rounds():
        c0, t0 = time.thread_time(), time.perf_counter()
        prepared = executor.prepare(QUERY)
        c1, t1 = time.thread_time(), time.perf_counter()
        context = RequestContext(
            services=services,
            request_id=new_request_id(),
            caller=Caller(identity=f"ip:{HOST}"),
            headers=headers,
        )
        result = await executor.execute(
            prepared, context=context, variables=variables, operation_name="Search"
        )
        c2, t2 = time.thread_time(), time.perf_counter()
        if result.errors:
            errors = [format_error(e, context.request_id) for e in result.errors]
            body = orjson.dumps({"errors": errors, "data": result.data})
        else:
            body = orjson.dumps({"data": result.data})
        c3, t3 = time.thread_time(), time.perf_counter()
        lap = (t1 - t0, c1 - c0, t2 - t1, c2 - c1, t3 - t2, c3 - c2)
        for step, value in zip(steps, lap, strict=True):
            step.append(value)
    check_answer(body, cached=True)
    prepare, prepare_cpu, execute, execute_cpu, serialize, serialize_cpu = steps
    return Parts(
        Timings(prepare, prepare_cpu),
        Timings(execute, execute_cpu),
        Timings(serialize, serialize_cpu),
    )


@dataclass(frozen=True, slots=True)
class InProcess:
    client: Timings
    gateway: Timings
    parts: Parts
    response_bytes: int
    search: dict[str, Any]
    variables: dict[str, Any]
    full_collections: int
    profile: str | None


async def run_in_process(workdir: Path, plan: Plan, profile: bool) -> InProcess:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{workdir}/bench.db",
        response_cache_max_bytes=0,
        graphql_cost_budget_anonymous=UNLIMITED["GRAPHQL_COST_BUDGET_ANONYMOUS"],
    )
    app = create_app(settings)
    # The app's logging setup shows every request the in-process client makes.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            variables, body = await find_search(client)
            headers = dict(_str_headers())

            async def through_client() -> None:
                response = await client.post(PATH, content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"the gateway answered {response.status_code}")

            answer = (await client.post(PATH, content=body, headers=headers)).content
            found = check_answer(answer, cached=True)
            await timed(plan.warmup(), through_client)
            collections = gc.get_stats()[2]["collections"]
            client_timings = await timed(plan, through_client)
            full_collections = gc.get_stats()[2]["collections"] - collections
            gateway_call = asgi_call(app, body)
            check_answer(await gateway_call(), cached=True)
            await timed(plan.warmup(), gateway_call)
            gateway_timings = await timed(plan, gateway_call)
            parts = await time_parts(app, variables, plan)
            profiled = Plan(PROFILED_REQUESTS, plan.seconds)
            report = await profile_cached_path(through_client, profiled) if profile else None
    return InProcess(
        client_timings,
        gateway_timings,
        parts,
        len(answer),
        found,
        variables,
        full_collections,
        report,
    )


async def profile_cached_path(call: Callable[[], Awaitable[None]], plan: Plan) -> str:
    """pyinstrument's text report of cached requests through the in-process client."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="enabled")
    with profiler:
        for _ in plan.rounds():
            await call()
    tree = profiler.output_text(unicode=True, time="percent_of_total")
    # The tree folds graphql-core's and Strawberry's frames away; the flat list names them.
    flat = profiler.output_text(unicode=True, time="percent_of_total", flat=True)
    entries = [line for line in flat.splitlines() if line[:1].isdigit()]
    top = "\n".join(entries[:PROFILE_TOP_LINES])
    return f"{tree}\n--- functions by own time ---\n{top}\n"


# --- over HTTP --------------------------------------------------------------------------------


class KeepAliveClient:
    """A sequential HTTP/1.1 client on one connection: the least a client can add to a request."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        status_line = self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length = 0
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), self.reader.read(length)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def answers_live(port: int) -> bool:
    """GET /health/live answers 200 on a keep-alive connection."""
    probe = KeepAliveClient(port, timeout=1.0)
    try:
        status, _ = probe.request("GET", "/health/live")
    finally:
        probe.close()
    return status == 200


def uvicorn_server(
    workdir: Path, cpu: int | None, response_cache: bool
) -> AbstractContextManager[tuple[int, int]]:
    """One uvicorn worker serving the gateway (sandbox, access log off); yields port and pid."""
    name = "cached" if response_cache else "executed"
    env = clean_env(DATABASE_URL=f"sqlite:///{workdir}/{name}.db", **UNLIMITED)
    if not response_cache:
        env["RESPONSE_CACHE_MAX_BYTES"] = "0"
    command = uvicorn_command("graphql_api.app:create_app", *UVICORN_OPTIONS)
    return serving(f"uvicorn-{name}", command, env, workdir, answers_live, cpu)


WRK_CONNECTIONS = 4


@dataclass(frozen=True, slots=True)
class OverHttp:
    sequential: Timings
    server_cpu_ms: float | None  # the server's CPU time per sequential request, on average
    wrk: Measurement | None


def run_over_http(
    workdir: Path,
    variables: dict[str, Any],
    plan: Plan,
    wrk_seconds: int,
    cpus: tuple[int, int] | None,
    response_cache: bool,
) -> OverHttp:
    server_cpu, client_cpu = cpus if cpus else (None, None)
    body = request_body(variables)
    with uvicorn_server(workdir, server_cpu, response_cache) as (port, pid):
        client = KeepAliveClient(port)
        try:
            status, answer = client.request("POST", PATH, body)
            if status != 200:
                raise RuntimeError(f"the server answered {status}: {answer[:500]!r}")
            check_answer(answer, cached=False)
            for _ in plan.warmup().rounds():
                status, answer = client.request("POST", PATH, body)
            check_answer(answer, cached=True)
            samples = []
            cpu_before = cpu_seconds(pid)
            for _ in plan.rounds():
                started = time.perf_counter()
                status, answer = client.request("POST", PATH, body)
                samples.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"the server answered {status}")
            cpu_after = cpu_seconds(pid)
        finally:
            client.close()
        server_cpu_ms = None
        if cpu_before is not None and cpu_after is not None:
            server_cpu_ms = (cpu_after - cpu_before) / len(samples) * 1000
        wrk = None
        if wrk_seconds > 0 and shutil.which("wrk"):
            script = workdir / "search.lua"
            wrk = run_wrk(port, PATH, body, wrk_seconds, WRK_CONNECTIONS, script, client_cpu)
    return OverHttp(Timings(samples), server_cpu_ms, wrk)


# --- the run ----------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    load: tuple[float, float, float],
    usable: int,
    cpus: tuple[int, int] | None,
    in_process: InProcess,
    over_http: dict[str, OverHttp] | None,
    goals: Goals,
) -> None:
    search = in_process.search
    if in_process.profile is not None:
        print("\n=== pyinstrument: cached requests in process ===")
        print(in_process.profile)
    print(f"\ncores: {os.cpu_count()} (usable by this run: {usable})")
    print(
        f"load average at start {load[0]:.2f}, at end {os.getloadavg()[0]:.2f} "
        "(other work on the machine shows in the wall-clock figures, not in the CPU ones)"
    )
    pinning = f"gateway on core {cpus[0]}, HTTP client on core {cpus[1]}" if cpus else "not pinned"
    print(f"pinning: {pinning}")
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"strawberry-graphql {version('strawberry-graphql')}, "
        f"graphql-core {version('graphql-core')}, {platform.platform()}"
    )
    outbound, inbound = (s["departureDate"] for s in in_process.variables["input"]["slices"])
    print(
        f"search: LOS-LHR {outbound}, LHR-LOS {inbound}, "
        f"{search['totalOffers']} offers in the search, {len(search['offers'])} served "
        f"(maxStops 1, first {OFFERS}), every FlightOffer field; response "
        f"{in_process.response_bytes:,} bytes; up to {args.requests} cached requests or "
        f"{args.phase_seconds:g}s per row"
    )

    gateway = in_process.gateway
    parts = in_process.parts
    print("\nin process (one core)")
    print(header())
    print(row("httpx.ASGITransport, total per request", *_figures(in_process.client)))
    print(row("gateway alone (bare ASGI call), total", *_figures(gateway), 1.0))
    steps = (parts.prepare, parts.execute, parts.serialize)
    for name, timings in zip(
        (
            "  prepare (document cache hit)",
            "  execute (GraphQL execution)",
            "  serialize (orjson + error formatting)",
        ),
        steps,
        strict=True,
    ):
        print(row(name, *_figures(timings), timings.mean / gateway.mean))
    # What the steps timed alone do not cover; from separate runs, so a rough figure.
    rest_mean = gateway.mean - sum(t.mean for t in steps)
    rest_p50 = gateway.p50 - sum(t.p50 for t in steps)
    rest_cpu = None
    if gateway.cpu_p50 is not None:
        rest_cpu = gateway.cpu_p50 - sum(t.cpu_p50 or 0.0 for t in steps)
    print(
        row(
            "  the rest (parsing, middleware, context)",
            None,
            rest_p50,
            None,
            rest_mean,
            rest_cpu,
            rest_mean / gateway.mean,
        )
    )
    print(
        "  full (generation 2) garbage collections during the client's requests: "
        f"{in_process.full_collections}"
    )

    if over_http is not None:
        for name, measured in over_http.items():
            print(f"\nover HTTP, {name} (uvicorn, one worker, access log off)")
            print(header())
            print(row("sequential keep-alive client", *_figures(measured.sequential)))
            if measured.server_cpu_ms is not None:
                print(f"  server CPU time per request (mean): {measured.server_cpu_ms:.2f} ms")
            wrk = measured.wrk
            if wrk is not None:
                print(
                    f"  wrk, {WRK_CONNECTIONS} connections: {wrk.requests_per_second:.1f} "
                    f"requests/s, p50 {wrk.p50_ms:.2f} ms, p99 {wrk.p99_ms:.2f} ms, "
                    f"{wrk.failures} failures"
                )

    print()
    goals.check(Goal("executed, in process, p50", TARGET_P50_MS, "ms"), in_process.client.p50)
    if over_http is not None:
        executed = over_http["executed"].sequential.p50
        goals.check(Goal("executed, over HTTP, p50", TARGET_P50_MS, "ms"), executed)
        cached = over_http["from the response cache"]
        goals.check(
            Goal("from the response cache, over HTTP, p50", TARGET_CACHED_P50_MS, "ms"),
            cached.sequential.p50,
        )
        if cached.wrk is not None:
            goal = Goal("from the response cache, over HTTP", TARGET_CACHED_RPS, "requests/s", True)
            goals.check(goal, cached.wrk.requests_per_second)


def _figures(timings: Timings) -> tuple[int, float, float, float, float | None]:
    return len(timings.samples), timings.p50, timings.p99, timings.mean, timings.cpu_p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per row")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="profile the in-process cached path with pyinstrument (and write it to PATH)",
    )
    parser.add_argument(
        "--wrk", type=int, default=5, metavar="SECONDS", help="wrk run length, 0 to skip"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn measurements")
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=12.0,
        metavar="SECONDS",
        help="a row stops measuring after this long, with fewer requests, on a busy machine",
    )
    parser.add_argument(
        "--time-limit", type=int, default=240, metavar="SECONDS", help="the run's hard stop"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a run of seconds: 30 requests a row, no wrk"
    )
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.phase_seconds, args.wrk = 30, 3.0, 0
    plan = Plan(args.requests, args.phase_seconds)

    load = os.getloadavg()
    usable = usable_cores() or os.cpu_count()
    cpus = pick_cpus()
    with time_limit(args.time_limit), tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        workdir = Path(tmp)
        if cpus:
            os.sched_setaffinity(0, {cpus[0]})
        in_process = asyncio.run(run_in_process(workdir, plan, profile=args.profile is not None))
        if args.profile and in_process.profile is not None:
            Path(args.profile).write_text(in_process.profile)
        over_http = None
        if not args.no_http:
            if cpus:
                os.sched_setaffinity(0, {cpus[1]})
            over_http = {
                name: run_over_http(workdir, in_process.variables, plan, args.wrk, cpus, cached)
                for name, cached in (("executed", False), ("from the response cache", True))
            }
    goals = Goals()
    report(args, load, usable or 1, cpus, in_process, over_http, goals)
    if args.profile:
        print(f"profile written to {args.profile}")
    return goals.exit_code()


if __name__ == "__main__":
    sys.exit(main())
