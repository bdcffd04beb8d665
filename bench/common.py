"""What the benchmarks share: loopback servers in subprocesses, CPU pinning, /proc readings,
wrk, percentiles, run headers and the time limit.

The scripts import it as `bench.common` after putting the repository root first on `sys.path`
(run as a script, `bench/` comes first, where `conversation.py` would shadow the package).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).absolute().parents[1]
HOST = "127.0.0.1"
REDIS_URL = "redis://127.0.0.1:6379/14"
FIXTURES = Path(os.environ.get("SUREFLIGHTS_FIXTURES", ROOT / "tests" / "fixtures" / "upstreams"))
# One uvicorn worker on loopback, quiet: what the gateway and a bare app are both served with.
UVICORN_OPTIONS = (
    "--host",
    HOST,
    "--workers",
    "1",
    "--no-access-log",
    "--log-level",
    "warning",
    "--no-server-header",
    "--lifespan",
    "on",
)

T = TypeVar("T")


def fixture(name: str) -> Any:
    """A body recorded from an upstream's documentation (tests/fixtures/upstreams/SOURCES.md)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def random_secret(length: int = 48) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """`coroutine` run to completion on uvloop when it is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


# --- servers in subprocesses ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the gateway's settings, so only `extra` configures it (and every
    upstream runs in sandbox)."""
    from graphql_api.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(extra)
    return env


def uvicorn_command(factory: str, *options: str) -> list[str]:
    """uvicorn serving the app that `factory` ("module:function") returns, from the checkout."""
    return [sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(ROOT), *options]


def sureflights_command() -> list[str]:
    """`sureflights serve`, one worker on loopback."""
    sureflights = Path(sys.executable).with_name("sureflights")
    return [str(sureflights), "serve", "--host", HOST, "--workers", "1"]


def http_get_answers(path: str) -> Callable[[int], bool]:
    """A probe: GET `path` on the port answers with anything but a server error."""
    import httpx

    def answers(port: int) -> bool:
        try:
            return httpx.get(f"http://{HOST}:{port}{path}", timeout=1.0).status_code < 500
        except httpx.HTTPError:
            return False

    return answers


def wait_until_live(
    alive: Callable[[], bool],
    answers: Callable[[int], bool],
    port: int,
    name: str,
    log: Path | None = None,
) -> None:
    """Poll `answers(port)` for up to 30 s; fails early, with the log's tail, if the server
    is no longer `alive`."""
    deadline = time.monotonic() + 30
    while True:
        if not alive():
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{name} exited before answering: {detail}")
        try:
            if answers(port):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: nothing answered on port {port} within 30s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill what is still running 10 s later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(
    name: str,
    command: Sequence[str],
    env: dict[str, str],
    workdir: Path,
    answers: Callable[[int], bool],
    cpu: int | None = None,
) -> Iterator[tuple[int, int]]:
    """Run `command --port PORT` on a free port, pinned to `cpu` if given, its output in
    `workdir/name.log`, until the block ends; yields (port, pid) once `answers(port)`."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=workdir,  # no `.env` of the checkout is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if cpu is not None:
            os.sched_setaffinity(process.pid, {cpu})
        wait_until_live(lambda: process.poll() is None, answers, port, name, log_path)
        yield port, process.pid
    finally:
        stop(process)


# --- cores and /proc --------------------------------------------------------------------------


def pick_cpus() -> tuple[int, int] | None:
    """(the server's core, everything else's core) when there are two to pin to, else None."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    available = sorted(os.sched_getaffinity(0))
    return (available[0], available[1]) if len(available) >= 2 else None


def usable_cores() -> int | None:
    """The cores this process may run on, where the platform tells."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def load_average() -> str:
    """Over 1, 5 and 15 minutes: above the core count, other processes shared the cores."""
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process's threads so far, where /proc tells it."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        # The fields after the parenthesized command name; utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def start_py_spy(pid: int, output: str, rate: int, *options: str) -> subprocess.Popen[bytes]:
    """py-spy (on PATH or next to the interpreter) sampling `pid` into `output` as collapsed
    stacks until `stop_py_spy`; returns once it has had a second to attach."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    profiler = subprocess.Popen(
        [*command, *options, "-o", output],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # attached before the measured work starts
    return profiler


def stop_py_spy(profiler: subprocess.Popen[bytes]) -> bool:
    """Stop py-spy so it writes its output; False, with its complaint printed, if it failed."""
    profiler.send_signal(signal.SIGINT)
    try:
        _, errors = profiler.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        profiler.kill()
        _, errors = profiler.communicate()
    if profiler.returncode not in (0, -signal.SIGINT):
        print(f"py-spy failed: {errors.decode(errors='replace')[-500:]}", file=sys.stderr)
        return False
    return True


# --- figures ----------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..100) of an ascending sequence."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One load run: requests per second, latency p50 and p99 in ms, requests, failures."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def run_wrk(
    port: int,
    path: str,
    body: bytes,
    seconds: int,
    connections: int,
    script: Path,
    cpu: int | None = None,
) -> Measurement:
    """wrk, one thread, POSTing the JSON `body` to `path` for `seconds` (pinned to `cpu` with
    taskset when given and installed); `script` is where its Lua script is written."""
    script.write_text(
        f'wrk.method = "POST"\nwrk.path = "{path}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body.decode(), ensure_ascii=False)}\n"
    )
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "--script",
        str(script),
        f"http://{HOST}:{port}{path}",
    ]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "--cpu-list", str(cpu), *command]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    # wrk prints "Socket errors: connect 0, read 12, write 0, timeout 3".
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failures = int(non_2xx.group(1)) if non_2xx else 0
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return Measurement(
        float(rps.group(1)),
        _wrk_ms(p50.group(1)),
        _wrk_ms(p99.group(1)),
        int(total.group(1)),
        failures,
    )


# --- the run ----------------------------------------------------------------------------------


def _stop(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the benchmark ran past its time limit")


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """An alarm that ends the block with TimeoutError after `seconds`."""
    signal.signal(signal.SIGALRM, _stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)


POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def bench_database(kind: str, workdir: Path, admin_url: str) -> Iterator[str]:
    """The DATABASE_URL of a fresh database of `kind`: an SQLite file, or a PostgreSQL database
    created on `admin_url`'s server for this run and dropped after it."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/webhook-gateway.db"
        return
    import psycopg
    from psycopg import sql

    name = f"sureflights_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- goals ------------------------------------------------------------------------------------

# A benchmark fails (exits non-zero) when a measurement misses its goal by more than this factor:
# a shared or slower machine may miss a goal, but not by this much unless something regressed.
FAILING_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class Goal:
    """What a measurement should be: at most `limit` (or at least, with `at_least`)."""

    what: str
    limit: float
    unit: str
    at_least: bool = False

    def ratio(self, measured: float) -> float:
        """How far off the goal a measurement is: 1 or less meets it."""
        if self.at_least:
            return self.limit / measured if measured > 0 else math.inf
        return measured / self.limit

    def line(self, measured: float) -> str:
        sign = ">=" if self.at_least else "<="
        ratio = self.ratio(measured)
        verdict = (
            "meets"
            if ratio <= 1
            else ("MISSES by more than 2x" if ratio > FAILING_FACTOR else "misses")
        )
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.what}: {measured:.2f}{unit} (goal {sign} {self.limit:g}{unit}): {verdict}"


class Goals:
    """The goals a run measured, printed beside the figures; `exit_code` fails the run when one
    was missed by more than `FAILING_FACTOR`."""

    def __init__(self) -> None:
        self.checked: list[tuple[Goal, float]] = []

    def check(self, goal: Goal, measured: float) -> None:
        self.checked.append((goal, measured))
        print(goal.line(measured), flush=True)

    def exit_code(self) -> int:
        failed = [(g, m) for g, m in self.checked if g.ratio(m) > FAILING_FACTOR]
        if failed:
            print(f"{len(failed)} goal(s) missed by more than {FAILING_FACTOR:g}x", flush=True)
        return 1 if failed else 0
