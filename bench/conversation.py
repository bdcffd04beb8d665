"""How many WhatsApp messages a second one gateway worker answers, and how long a traveller waits
from sending a message to the gateway's reply reaching the Cloud API (goal: p99 < 100 ms), with
200 conversations going at once and every upstream answering at once.

    .venv/bin/python bench/conversation.py [--conversations 200] [--rounds 2] [--think-ms 0]
        [--redis] [--tmp-dir DIR] [--py-spy PATH] [--dump PATH] [--log-level WARNING]
        [--reply-timeout 30] [--time-limit 300]

Three kinds of process on loopback:

- a fake WhatsApp Cloud API, a small Starlette app under uvicorn in its own process, answering
  `POST /{phone_number_id}/messages` at once with the recorded send-message body. For each call
  it notes, on receipt, the monotonic clock (system-wide on Linux, so comparable between
  processes), the recipient and what was said, and passes them to the load client over a
  multiprocessing queue: handing them over costs nothing that is measured;
- the gateway, `sureflights serve` with one worker, WHATSAPP_* set to placeholders and
  WHATSAPP_API_URL pointing at the fake, flights and payments in sandbox, SQLite in a temporary
  directory, the reconciler off, Redis only with `--redis`;
- this process, the load client: `--conversations` travellers (distinct wa_ids), each running a
  closed-loop script `--rounds` times: "hi", "lagos to abuja <10 days ahead>" (a sandbox flight
  search), "1", "Name: ..., Email: ..., Phone: 080..., DOB: 15/01/1990, Mr", then "help" or
  "status" (every other traveller). Each message is the recorded text webhook with the
  traveller's wa_id, a new message id and the text, signed with X-Hub-Signature-256 as Meta
  signs it. A traveller sends the next message only when the whole reply to the previous one
  has reached the fake, after an optional think time (`--think-ms`, uniform in 0..2x).

Replies are matched to the message that caused them by recipient: a traveller has one message
in flight, the gateway answers one message at a time per traveller, so every call to W after
M was sent belongs to M. How many calls a reply takes (a greeting is two: hello and help) is
learnt first from two travellers talked through the script alone, and every reply of the run
is checked against what its step should say, so a run whose conversations went wrong says so.

Latency is from just before the webhook POST leaves the client to the fake receiving the
reply's first call (what the traveller sees first), and to its last call (the whole reply).
The webhook's own response time (the 200 should be immediate) is shown beside them, and the
gateway's CPU time per message and its share of the core, and how long its event-loop thread
was ready to run but waited for the core (other processes on the machine: those runs' tails are
not the gateway's). On two cores or more the gateway is pinned to one core and everything else
(this client, the fake, py-spy) to another; Redis is not pinned. `--tmp-dir /dev/shm` puts the
SQLite file in memory, taking the disk's fsyncs (WAL checkpoints) out of the figures.

With 0 think time the travellers keep the worker saturated, so by Little's law the latency is
about conversations / throughput; `--think-ms` gives the latency at a lighter load.
`--py-spy PATH` samples the gateway during the run (collapsed stacks, threads apart) and prints
where its time went. The run stops by itself: every wait has a timeout and an alarm ends it
after `--time-limit` seconds. With `--redis` the gateway uses REDIS_URL=redis://127.0.0.1:6379/14
and leaves its sessions there (24 h TTL; the wa_ids are new on every run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import multiprocessing
import os
import random
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson

# Run as a script, this directory comes first on the path, where this module would shadow the
# gateway's `conversation` package.
sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    HOST,
    REDIS_URL,
    ROOT,
    Goal,
    Goals,
    clean_env,
    cpu_seconds,
    fixture,
    free_port,
    http_get_answers,
    load_average,
    percentile,
    pick_cpus,
    random_secret,
    run_loop,
    serving,
    start_py_spy,
    stop_py_spy,
    sureflights_command,
    time_limit,
    usable_cores,
    wait_until_live,
)
from tests.support.meta import meta_signature

TARGET_P99_MS = 100.0
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "EAAG-bench-placeholder-token"  # noqa: S105 - the fake Cloud API takes any token
VERIFY_TOKEN = "bench-verify-token"  # noqa: S105 - a placeholder
LAGOS = ZoneInfo("Africa/Lagos")
DAYS_AHEAD = 10
# A reply is complete when no further call came for this long (only while learning the script,
# with one traveller and nothing else running).
QUIET_SECONDS = 0.5
NAMES = (
    ("Amaka", "Okafor"),
    ("Tunde", "Bakare"),
    ("Ngozi", "Eze"),
    ("Chidi", "Nwosu"),
    ("Aisha", "Bello"),
    ("Emeka", "Obi"),
    ("Funke", "Adeyemi"),
    ("Ibrahim", "Musa"),
)


def now() -> float:
    """CLOCK_MONOTONIC: one clock for every process on the machine, unaffected by NTP steps."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# --- the fake Cloud API (runs in its own uvicorn process) -------------------------------------


def said(body: dict[str, Any]) -> tuple[str, str]:
    """(kind, text) of one send-message body: `text`, `interactive:list`, `template`, ..."""
    kind = str(body.get("type"))
    if kind == "text":
        return kind, str(body["text"]["body"])
    if kind == "interactive":
        interactive = body["interactive"]
        return f"interactive:{interactive['type']}", str(interactive["body"]["text"])
    return kind, json.dumps(body.get(kind))


def fake_cloud_api_app(arrivals: Any) -> Any:
    """`POST /{phone_number_id}/messages` answered at once; each call put on `arrivals` as
    (recipient, receipt time, kind, text)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = orjson.dumps(fixture("whatsapp_send_message_response.json"))

    async def send_message(request: Request) -> Response:
        arrived = now()
        body = orjson.loads(await request.body())
        if body.get("status") != "read":
            kind, text = said(body)
            arrivals.put((str(body.get("to")), arrived, kind, text))
        return Response(answer, media_type="application/json")

    return Starlette(routes=[Route("/{phone_number_id}/messages", send_message, methods=["POST"])])


def serve_fake_cloud_api(port: int, arrivals: Any, cpu: int | None) -> None:
    """The fake's process: uvicorn with the access log off."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import uvicorn

    config = uvicorn.Config(
        fake_cloud_api_app(arrivals),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    uvicorn.Server(config).run()


# --- the travellers' script -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    kind: str
    text: str
    expect: re.Pattern[str]
    """What the reply (its calls as "kind: text", one a line) must contain."""


@dataclass(frozen=True, slots=True)
class Traveller:
    index: int
    wa_id: str
    script: tuple[Step, ...]


def script_for(index: int, departure: date) -> tuple[Step, ...]:
    given, family = NAMES[index % len(NAMES)]
    details = (
        f"Name: {given} {family}, Email: {given.lower()}.{family.lower()}{index}@example.com, "
        f"Phone: 080{index:08d}, DOB: 15/01/1990, Mr"
    )
    last = (
        Step("help", "help", re.compile(r"Check a booking"))
        if index % 2 == 0
        else Step("status", "status", re.compile(r"Which booking"))
    )
    return (
        Step("greeting", "hi", re.compile(r"^text: Hello", re.MULTILINE)),
        Step(
            "search",
            f"lagos to abuja {departure:%d %b}",
            re.compile(r"^interactive:list: ", re.MULTILINE),
        ),
        Step("select", "1", re.compile(r"passenger 1 of 1")),
        Step(
            "details",
            details,
            re.compile(rf"^interactive:button: .*{given} {family}", re.MULTILINE | re.DOTALL),
        ),
        last,
    )


def travellers(count: int, first: int = 0) -> list[Traveller]:
    """Numbers new on every run, so sessions a Redis kept from an earlier run play no part."""
    run = secrets.randbelow(10_000)
    departure = datetime.now(LAGOS).date() + timedelta(days=DAYS_AHEAD)
    return [
        Traveller(index, f"234{run:04d}{index:06d}", script_for(index, departure))
        for index in range(first, first + count)
    ]


class Webhooks:
    """The recorded text-message webhook, filled in for one message and signed as Meta signs."""

    def __init__(self, app_secret: str) -> None:
        self._secret = app_secret
        self._payload = fixture("whatsapp_webhook_text.json")

    def message(self, wa_id: str, text: str) -> tuple[bytes, dict[str, str]]:
        payload = copy.deepcopy(self._payload)
        value = payload["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
        value["contacts"][0]["wa_id"] = wa_id
        message = value["messages"][0]
        message["from"] = wa_id
        message["id"] = f"wamid.bench.{secrets.token_hex(12)}"
        message["timestamp"] = str(int(time.time()))
        message["text"] = {"body": text}
        body = orjson.dumps(payload)
        signature = meta_signature(self._secret, body)
        return body, {"content-type": "application/json", "x-hub-signature-256": signature}


# --- matching replies to messages -------------------------------------------------------------


@dataclass(slots=True)
class Waiting:
    """One message in flight: the calls to its sender since it was sent."""

    sent_at: float
    parts: int
    done: asyncio.Future[None]
    calls: list[tuple[float, str, str]] = field(default_factory=list)

    def transcript(self) -> str:
        return "\n".join(f"{kind}: {text}" for _, kind, text in self.calls)


class Outbox:
    """What the fake Cloud API received, routed to the traveller waiting for it."""

    def __init__(self) -> None:
        self.waiting: dict[str, Waiting] = {}
        self.strays: list[tuple[str, str]] = []

    def arrived(self, item: tuple[str, float, str, str]) -> None:
        wa_id, at, kind, text = item
        waiting = self.waiting.get(wa_id)
        if waiting is None or at < waiting.sent_at:
            self.strays.append((wa_id, f"{kind}: {text[:80]}"))
            return
        waiting.calls.append((at, kind, text))
        if len(waiting.calls) >= waiting.parts and not waiting.done.done():
            waiting.done.set_result(None)


def read_arrivals(arrivals: Any, loop: asyncio.AbstractEventLoop, outbox: Outbox) -> None:
    """A thread: the fake's notes handed to the event loop until a None arrives."""
    while True:
        item = arrivals.get()
        if item is None:
            return
        loop.call_soon_threadsafe(outbox.arrived, item)


# --- the load client --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """One message and its reply; times in seconds on the monotonic clock."""

    kind: str
    round: int
    sent_at: float
    webhook_answered_at: float
    first_call_at: float
    last_call_at: float
    as_expected: bool


@dataclass(slots=True)
class Load:
    exchanges: list[Exchange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unfinished: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    think_seconds: float
    reply_timeout: float
    # Calls per reply, by (step kind, whether it is a later round), learnt first.
    parts: dict[tuple[str, bool], int]


class Client:
    def __init__(self, port: int, webhooks: Webhooks, outbox: Outbox, connections: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}",
            timeout=30,
            limits=httpx.Limits(
                max_connections=connections + 8, max_keepalive_connections=connections + 8
            ),
        )
        self.webhooks = webhooks
        self.outbox = outbox

    async def say(self, wa_id: str, text: str, parts: int) -> tuple[Waiting, float]:
        """Send one message; returns the wait for its reply and when the webhook answered."""
        body, headers = self.webhooks.message(wa_id, text)
        waiting = Waiting(now(), parts, asyncio.get_running_loop().create_future())
        self.outbox.waiting[wa_id] = waiting
        response = await self.http.post("/webhooks/whatsapp", content=body, headers=headers)
        answered = now()
        if response.status_code != 200:
            del self.outbox.waiting[wa_id]
            raise RuntimeError(f"the webhook answered {response.status_code}: {response.text}")
        return waiting, answered

    async def learn(self, traveller: Traveller, rounds: int) -> dict[tuple[str, bool], int]:
        """Talk one traveller through the script alone: how many calls each reply takes."""
        parts: dict[tuple[str, bool], int] = {}
        for round_ in range(rounds):
            for step in traveller.script:
                waiting, _ = await self.say(traveller.wa_id, step.text, parts=1_000_000)
                deadline = now() + 30
                while not waiting.calls or now() - waiting.calls[-1][0] < QUIET_SECONDS:
                    if now() > deadline:
                        raise RuntimeError(f"no reply to {step.text!r} within 30s")
                    await asyncio.sleep(0.05)
                del self.outbox.waiting[traveller.wa_id]
                transcript = waiting.transcript()
                if not step.expect.search(transcript):
                    raise RuntimeError(
                        f"{step.kind} {step.text!r} was answered unexpectedly:\n{transcript}"
                    )
                parts[(step.kind, round_ > 0)] = len(waiting.calls)
        return parts

    async def converse(self, traveller: Traveller, plan: Plan, load: Load) -> None:
        for round_ in range(plan.rounds):
            for step in traveller.script:
                if plan.think_seconds:
                    await asyncio.sleep(random.uniform(0, 2 * plan.think_seconds))
                parts = plan.parts[(step.kind, round_ > 0)]
                try:
                    waiting, answered = await self.say(traveller.wa_id, step.text, parts)
                except (httpx.HTTPError, RuntimeError) as error:
                    load.failures.append(f"{traveller.wa_id} {step.kind}: {error!r}")
                    return
                try:
                    await asyncio.wait_for(asyncio.shield(waiting.done), plan.reply_timeout)
                except TimeoutError:
                    load.failures.append(
                        f"{traveller.wa_id} {step.kind}: {len(waiting.calls)}/{parts} calls "
                        f"within {plan.reply_timeout:g}s"
                    )
                    load.unfinished += 1
                    return
                finally:
                    self.outbox.waiting.pop(traveller.wa_id, None)
                transcript = waiting.transcript()
                as_expected = bool(step.expect.search(transcript))
                if not as_expected:
                    load.unexpected.append(f"{step.kind} {step.text!r}: {transcript[:300]}")
                load.exchanges.append(
                    Exchange(
                        step.kind,
                        round_,
                        waiting.sent_at,
                        answered,
                        waiting.calls[0][0],
                        waiting.calls[-1][0],
                        as_expected,
                    )
                )

    async def close(self) -> None:
        await self.http.aclose()


@dataclass(frozen=True, slots=True)
class GatewayCpu:
    """The gateway over the measured run: CPU seconds of every thread, and its event-loop
    thread's seconds on a core and waiting for one (other processes had it)."""

    seconds: float | None
    loop_on_core: float | None = None
    loop_waiting: float | None = None

    @classmethod
    def between(cls, before: Usage, after: Usage) -> GatewayCpu:
        seconds = on_core = waiting = None
        if before.cpu is not None and after.cpu is not None:
            seconds = after.cpu - before.cpu
        if before.loop is not None and after.loop is not None:
            on_core = after.loop[0] - before.loop[0]
            waiting = after.loop[1] - before.loop[1]
        return cls(seconds, on_core, waiting)


async def drive(
    port: int,
    app_secret: str,
    arrivals: Any,
    args: argparse.Namespace,
    gateway_pid: int,
    profile: Any,
) -> tuple[Load, GatewayCpu, float, float]:
    """Learn the script, then run every conversation at once; (load, gateway CPU, start and end
    of the measured run)."""
    loop = asyncio.get_running_loop()
    outbox = Outbox()
    reader = threading.Thread(target=read_arrivals, args=(arrivals, loop, outbox), daemon=True)
    reader.start()
    client = Client(port, Webhooks(app_secret), outbox, args.conversations)
    try:
        # Two travellers (one ending with help, one with status) who also warm the search cache.
        learners = travellers(2, first=10**6 - 2)
        parts: dict[tuple[str, bool], int] = {}
        for learner in learners:
            parts.update(await client.learn(learner, min(args.rounds, 2)))
        print(
            "calls per reply: "
            + ", ".join(
                f"{kind}{' (later rounds)' if later else ''} {n}"
                for (kind, later), n in sorted(parts.items())
            ),
            flush=True,
        )
        for kind, _ in list(parts):
            parts.setdefault((kind, True), parts[(kind, False)])
        plan = Plan(args.rounds, args.think_ms / 1000, args.reply_timeout, parts)
        load = Load()
        crowd = travellers(args.conversations)
        with profile(gateway_pid):
            before = Usage.of(gateway_pid)
            started = now()
            await asyncio.gather(*(client.converse(t, plan, load) for t in crowd))
            ended = max((e.last_call_at for e in load.exchanges), default=now())
            cpu = GatewayCpu.between(before, Usage.of(gateway_pid))
        await asyncio.sleep(0.2)  # calls still on their way count as strays, not as lost
        load.failures += [f"a call nobody waited for: {s}" for s in outbox.strays[:5]]
        return load, cpu, started, ended
    finally:
        await client.close()
        arrivals.put(None)
        reader.join(timeout=5)


# --- the gateway and the fake -----------------------------------------------------------------


_TROUBLE = re.compile(r'Traceback|"level":\s*"(error|critical)"|\b(ERROR|CRITICAL)\b')


@contextlib.contextmanager
def gateway(
    workdir: Path,
    fake_port: int,
    app_secret: str,
    redis: bool,
    log_level: str,
    cpu: int | None,
) -> Iterator[tuple[int, int]]:
    """`sureflights serve`, one worker on loopback, talking to the fake Cloud API; yields
    (port, pid)."""
    env = clean_env(
        DATABASE_URL=f"sqlite:///{workdir}/gateway.db",
        SECRET_KEY=random_secret(),
        RECONCILE_INTERVAL_SECONDS="0",
        # Warnings only by default: uvicorn's access log and httpx's line per call stay quiet.
        LOG_LEVEL=log_level,
        WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WHATSAPP_APP_SECRET=app_secret,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        WHATSAPP_API_URL=f"http://{HOST}:{fake_port}",
        **({"REDIS_URL": REDIS_URL} if redis else {}),
    )
    answers = http_get_answers("/health/live")
    try:
        with serving("gateway", sureflights_command(), env, workdir, answers, cpu) as server:
            yield server
    finally:
        log_path = workdir / "gateway.log"
        lines = log_path.read_text(errors="replace").splitlines()
        problems = [index for index, line in enumerate(lines) if _TROUBLE.search(line)]
        if problems:
            first = problems[0]
            print(f"gateway log: {len(problems)} error line(s); the first, with what follows:")
            for line in lines[first : first + 40]:
                print(f"  | {line[:300]}")


@contextlib.contextmanager
def fake_cloud_api(cpu: int | None) -> Iterator[tuple[int, Any]]:
    """The fake in a process of its own; yields (port, the queue its calls arrive on)."""
    context = multiprocessing.get_context("spawn")
    arrivals = context.Queue()
    port = free_port()
    process = context.Process(target=serve_fake_cloud_api, args=(port, arrivals, cpu), daemon=True)
    process.start()
    try:
        wait_until_live(process.is_alive, http_get_answers("/"), port, "the fake Cloud API")
        yield port, arrivals
    finally:
        process.terminate()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


def redis_answers() -> bool:
    try:
        with socket.create_connection((HOST, 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- the gateway's CPU time and profile ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """What /proc says of a process so far: CPU seconds of all its threads, and its main
    thread's (seconds on a core, seconds runnable but waiting for one)."""

    cpu: float | None
    loop: tuple[float, float] | None

    @classmethod
    def of(cls, pid: int) -> Usage:
        cpu = cpu_seconds(pid)
        loop = None
        with contextlib.suppress(OSError, ValueError):
            on_core, waiting, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
            loop = (int(on_core) / 1e9, int(waiting) / 1e9)
        return cls(cpu, loop)


@contextlib.contextmanager
def py_spy(output: str | None, cpu: int | None) -> Iterator[Any]:
    """A context manager factory: sampling `pid` with py-spy while the run lasts, or nothing."""

    @contextlib.contextmanager
    def sampling(pid: int) -> Iterator[None]:
        if output is None:
            yield
            return
        profiler = start_py_spy(pid, output, 100, "--threads")
        if cpu is not None:
            os.sched_setaffinity(profiler.pid, {cpu})
        try:
            yield
        finally:
            stop_py_spy(profiler)

    yield sampling


_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Where a thread waits rather than works: py-spy does not always see these as idle.
WAITING = frozenset(
    {
        "aiosqlite/core.py:_connection_worker_thread",  # the next statement
        "concurrent/futures/thread.py:_worker",  # the next job
        "asyncio/runners.py:Runner.run",  # inside uvloop: polling, or I/O in C
    }
)
PROJECT = ("conversation/", "graphql_api/", "resolvers/", "integrations/")


def frame_name(frame: str) -> str:
    """`function (path/to/module.py:123)` as `path/to/module.py:function`, venv paths cut."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{match['function']}"


def summarize_profile(path: str, top: int = 30) -> str:
    """Each thread's busy samples; then, for the event loop's thread, the project's functions
    with the most busy samples under them, and the libraries where those samples were spent."""
    busy: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    loop_busy = 0
    for line in Path(path).read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        thread = thread.split(": ", 1)[-1]
        names = [frame_name(f) for f in frames]
        if not names or names[-1] in WAITING:
            waiting[thread] += count
            continue
        busy[thread] += count
        if thread != "MainThread":
            continue
        loop_busy += count
        for name in set(names):
            if name.startswith(PROJECT):
                inclusive[name] += count
        leaf = names[-1].split(":", 1)[0]
        libraries[leaf if leaf.startswith(PROJECT) else leaf.split("/", 1)[0]] += count
    if not loop_busy:
        return "no samples of the event loop at work"
    lines = ["samples per thread: busy, waiting"]
    lines += [f"  {busy[t]:6d} {waiting[t]:6d}  {t}" for t in sorted(set(busy) | set(waiting))]
    lines.append(f"event loop thread, {loop_busy} busy samples; under the project's functions:")
    lines += [f"  {n / loop_busy:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("spent in (the sampled frame's library or module):")
    lines += [f"  {n / loop_busy:6.1%}  {name}" for name, n in libraries.most_common(top)]
    return "\n".join(lines)


# --- figures ----------------------------------------------------------------------------------


def spread(values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    if not ordered:
        return "no samples"
    return (
        f"p50 {percentile(ordered, 50):7.1f}  p99 {percentile(ordered, 99):7.1f}  "
        f"max {ordered[-1]:7.1f}"
    )


def report(
    args: argparse.Namespace,
    load: Load,
    cpu: GatewayCpu,
    started: float,
    ended: float,
    cpus: tuple[int, int] | None,
    usable: int | None,
    goals: Goals,
) -> float | None:
    """Print the figures, checking the goal; returns the first-call p99 in ms."""
    exchanges = load.exchanges
    wall = ended - started
    print()
    print(f"cores: {os.cpu_count()} (usable: {usable}); load average after: {load_average()}")
    print(
        "pinning: "
        + (f"gateway on core {cpus[0]}, client and fake on core {cpus[1]}" if cpus else "none")
    )
    print(
        f"gateway: one worker, sessions {'in Redis ' + REDIS_URL if args.redis else 'in process'}"
        f", SQLite store, log level {args.log_level}"
    )
    think = f"{args.think_ms:g} ms mean think time" if args.think_ms else "no think time"
    print(
        f"conversations: {args.conversations}, {args.rounds} round(s) of the script each, {think}"
    )
    print(
        f"messages answered: {len(exchanges)}"
        + (f" ({load.unfinished} left unanswered)" if load.unfinished else "")
        + f" in {wall:.2f} s = {len(exchanges) / wall:.1f} messages/s"
    )
    if cpu.seconds is not None and exchanges:
        print(
            f"gateway CPU: {cpu.seconds:.2f} s = {cpu.seconds / len(exchanges) * 1000:.2f} ms "
            f"per message, {cpu.seconds / wall:.0%} of one core"
        )
    if cpu.loop_on_core is not None and cpu.loop_waiting is not None:
        print(
            f"gateway event-loop thread: {cpu.loop_on_core:.2f} s on a core, "
            f"{cpu.loop_waiting:.2f} s ready but waiting for one (other processes had it)"
        )
    if not exchanges:
        return None
    first = [(e.first_call_at - e.sent_at) * 1000 for e in exchanges]
    last = [(e.last_call_at - e.sent_at) * 1000 for e in exchanges]
    webhook = [(e.webhook_answered_at - e.sent_at) * 1000 for e in exchanges]
    print("\nlatency, ms, from the webhook POST sent to")
    print(f"  the reply's first call at the Cloud API   {spread(first)}")
    print(f"  the reply's last call at the Cloud API    {spread(last)}")
    print(f"  the webhook's own 200                     {spread(webhook)}")
    print("\nby message kind (first call; last call p99)")
    for kind in ("greeting", "search", "select", "details", "help", "status"):
        picked = [e for e in exchanges if e.kind == kind]
        if not picked:
            continue
        first_ms = [(e.first_call_at - e.sent_at) * 1000 for e in picked]
        last_ms = sorted((e.last_call_at - e.sent_at) * 1000 for e in picked)
        print(
            f"  {kind:<9} n={len(picked):5d}  {spread(first_ms)}   "
            f"last p99 {percentile(last_ms, 99):7.1f}"
        )
    if load.unexpected:
        print(f"\nreplies that did not say what the step expects: {len(load.unexpected)}")
        for example in load.unexpected[:3]:
            print(f"  {example}")
    if load.failures:
        print(f"\nfailures ({len(load.failures)}):")
        for failure in load.failures[:5]:
            print(f"  {failure}")
    p99 = percentile(sorted(first), 99)
    print()
    goals.check(Goal("first reply call, p99", TARGET_P99_MS, "ms"), p99)
    if not args.think_ms and p99 >= TARGET_P99_MS:
        print(
            f"  (closed loop without think time: latency ~ conversations / throughput = "
            f"{args.conversations / (len(exchanges) / wall) * 1000:.0f} ms)"
        )
    return p99


def dump(path: str, exchanges: Sequence[Exchange], started: float) -> None:
    """One JSON object a line: kind, round, and each instant in ms since the run started."""
    with Path(path).open("wb") as out:
        for e in sorted(exchanges, key=lambda e: e.sent_at):
            out.write(
                orjson.dumps(
                    {
                        "kind": e.kind,
                        "round": e.round,
                        "sent": round((e.sent_at - started) * 1000, 3),
                        "webhook_answered": round((e.webhook_answered_at - started) * 1000, 3),
                        "first_call": round((e.first_call_at - started) * 1000, 3),
                        "last_call": round((e.last_call_at - started) * 1000, 3),
                        "as_expected": e.as_expected,
                    }
                )
                + b"\n"
            )
    print(f"exchanges written to {path}")


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="times each traveller's script runs")
    parser.add_argument(
        "--think-ms", type=float, default=0.0, help="mean pause before each message (0: none)"
    )
    parser.add_argument("--redis", action="store_true", help=f"sessions in Redis at {REDIS_URL}")
    parser.add_argument(
        "--py-spy", metavar="PATH", help="sample the gateway during the run (collapsed stacks)"
    )
    parser.add_argument("--log-level", default="WARNING", help="the gateway's LOG_LEVEL")
    parser.add_argument(
        "--dump", metavar="PATH", help="write every exchange to PATH as JSON lines (ms from start)"
    )
    parser.add_argument(
        "--tmp-dir",
        metavar="DIR",
        help="where the gateway's SQLite file goes (default: the system's temporary directory; "
        "/dev/shm takes the disk's fsyncs out)",
    )
    parser.add_argument("--reply-timeout", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--time-limit", type=int, default=300, metavar="SECONDS")
    parser.add_argument(
        "--smoke", action="store_true", help="a run of seconds: 10 conversations, one round"
    )
    args = parser.parse_args()
    if args.smoke:
        args.conversations, args.rounds = 10, 1
        args.time_limit = min(args.time_limit, 120)
    if args.redis and not redis_answers():
        print(f"--redis: nothing answers PING at {REDIS_URL}", file=sys.stderr)
        return 2

    usable = usable_cores()
    cpus = pick_cpus()
    gateway_cpu, client_cpu = cpus if cpus else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}", flush=True)
    if os.getloadavg()[0] > 0.5:
        print("  other work is running: expect noisier figures", flush=True)
    app_secret = secrets.token_hex(16)
    with (
        time_limit(args.time_limit),
        tempfile.TemporaryDirectory(prefix="bench-conversation-", dir=args.tmp_dir) as tmp,
        fake_cloud_api(client_cpu) as (fake_port, arrivals),
        gateway(Path(tmp), fake_port, app_secret, args.redis, args.log_level, gateway_cpu) as (
            port,
            pid,
        ),
        py_spy(args.py_spy, client_cpu) as profile,
    ):
        print(f"gateway: pid {pid}, port {port}; fake Cloud API: port {fake_port}", flush=True)
        load, cpu, started, ended = run_loop(drive(port, app_secret, arrivals, args, pid, profile))
    goals = Goals()
    p99 = report(args, load, cpu, started, ended, cpus, usable, goals)
    if args.dump:
        dump(args.dump, load.exchanges, started)
    if args.py_spy:
        print(f"\ngateway profile (py-spy, collapsed stacks) in {args.py_spy}")
        print(summarize_profile(args.py_spy))
    if p99 is None or load.failures:
        return 1
    return goals.exit_code()


if __name__ == "__main__":
    sys.exit(main())
