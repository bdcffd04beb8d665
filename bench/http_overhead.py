"""What the gateway's HTTP and GraphQL layers cost per request, next to a bare Starlette endpoint.

    .venv/bin/python bench/http_overhead.py [--connections 50] [--duration 10] [--warmup 2]
        [--rounds 1] [--load-generator auto|wrk|python]

Starts two servers, each one uvicorn worker in its own process with the same options and on
loopback only: the gateway (sandbox mode, SQLite in a temporary directory, access log off) and a
bare Starlette endpoint answering the same body the gateway answers. Both are driven with
`{ exchangeRate(base: "USD", quote: "NGN") { rate } }` as a JSON POST by the same load generator
(wrk when installed, else a keep-alive asyncio client in a separate process), a warm-up first,
then a fixed duration. Prints requests/s, p50 and p99 of each and the gateway/bare ratio; on a
busy machine, `--rounds 3` alternates the two and reports the median round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).absolute().parents[1]
HOST = "127.0.0.1"
PATH = "/graphql"
QUERY = '{ exchangeRate(base: "USD", quote: "NGN") { rate } }'
REQUEST_BODY = json.dumps({"query": QUERY}).encode()
TARGET_RATIO = 0.6
# The bare app is this module, started by uvicorn in its own process; it reads its answer here.
BARE_BODY_ENV = "HTTP_OVERHEAD_BARE_BODY"
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


# --- the bare endpoint (runs in the uvicorn subprocess) ---------------------------------------


def bare_app() -> Any:
    """A Starlette app answering the gateway's body from one POST route, and nothing else."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = os.environ[BARE_BODY_ENV].encode()

    async def graphql(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json; charset=utf-8")

    return Starlette(routes=[Route(PATH, graphql, methods=["POST"])])


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def post(port: int, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://{HOST}:{port}{PATH}",
        data=REQUEST_BODY,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        status: int = response.status
        return status, response.read()


@contextmanager
def server(name: str, app: str, env: dict[str, str], workdir: Path) -> Iterator[int]:
    """One uvicorn worker serving the factory `app`; yields its port once it answers."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                app,
                "--app-dir",
                str(ROOT),
                "--port",
                str(port),
                *UVICORN_OPTIONS,
            ],
            cwd=workdir,  # no `.env` of the checkout is read
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {log_path.read_text(errors='replace')}")
            try:
                status, _ = post(port, timeout=1.0)
            except OSError:
                status = 0
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within 30s")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the gateway's settings, so every upstream runs in sandbox."""
    from graphql_api.settings import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(extra)
    return env


# --- load generators --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int


WRK_SCRIPT = """
wrk.method = "POST"
wrk.path = "{path}"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def run_wrk(port: int, connections: int, duration: float, script: Path) -> Measurement:
    seconds = max(1, round(duration))
    output = subprocess.run(
        [
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
            f"http://{HOST}:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*?(\d+) read, (\d+) write, (\d+) timeout", output)
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


async def _load(port: int, connections: int, duration: float) -> dict[str, Any]:
    """Keep-alive connections each sending the POST back to back for `duration` seconds."""
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(REQUEST_BODY)}\r\n\r\n"
    ).encode() + REQUEST_BODY
    latencies: list[float] = []
    failures = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while loop.time() < deadline:
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not status_line.startswith(b"HTTP/1.1 200"):
                    failures += 1
        finally:
            writer.close()

    started = loop.time()
    await asyncio.wait_for(
        asyncio.gather(*(connection() for _ in range(connections))), duration + 30
    )
    elapsed = loop.time() - started
    latencies.sort()
    return {
        "requests_per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "requests": len(latencies),
        "failures": failures,
    }


def run_load_client(port: int, connections: int, duration: float) -> Measurement:
    """The asyncio client in its own process, so it never shares a core's time with a server."""
    output = subprocess.run(
        [sys.executable, __file__, "--load-client", str(port), str(connections), str(duration)],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    return Measurement(**json.loads(output))


# --- the run ----------------------------------------------------------------------------------


def measure(name: str, port: int, args: argparse.Namespace, script: Path | None) -> Measurement:
    def once(duration: float) -> Measurement:
        if script is not None:
            return run_wrk(port, args.connections, duration, script)
        return run_load_client(port, args.connections, duration)

    once(args.warmup)
    result = once(args.duration)
    if result.failures:
        print(f"warning: {name}: {result.failures} failed requests", file=sys.stderr)
    return result


def median(results: list[Measurement]) -> Measurement:
    """The round with the median requests/s (the middle one of an odd count)."""
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[(len(ordered) - 1) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds discarded per server")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate gateway and bare this many times and report the median round",
    )
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", dest="generator"
    )
    args = parser.parse_args()
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))

    with tempfile.TemporaryDirectory(prefix="http-overhead-") as tmp:
        workdir = Path(tmp)
        script: Path | None = None
        if use_wrk:
            script = workdir / "post.lua"
            script.write_text(WRK_SCRIPT.format(path=PATH, body=json.dumps(REQUEST_BODY.decode())))
        gateway_env = clean_env(DATABASE_URL=f"sqlite:///{workdir}/bench.db")
        with server("gateway", "graphql_api.app:create_app", gateway_env, workdir) as gateway_port:
            status, body = post(gateway_port)
            if status != 200 or b'"errors"' in body:
                raise RuntimeError(f"the gateway answered {status}: {body!r}")
            bare_env = clean_env(**{BARE_BODY_ENV: body.decode()})
            with server("bare", "bench.http_overhead:bare_app", bare_env, workdir) as bare_port:
                if post(bare_port) != (200, body):
                    raise RuntimeError("the bare endpoint does not answer the gateway's body")
                # Both servers idle while the other is measured; alternating rounds spread
                # whatever else the machine is doing over both.
                rounds = [
                    (
                        measure("gateway", gateway_port, args, script),
                        measure("bare", bare_port, args, script),
                    )
                    for _ in range(args.rounds)
                ]

    gateway = median([g for g, _ in rounds])
    bare = median([b for _, b in rounds])
    # Each round pairs two measurements taken back to back, so its ratio is the least disturbed
    # by load that comes and goes on the machine.
    ratios = sorted(g.requests_per_second / b.requests_per_second for g, b in rounds)
    ratio = ratios[(len(ratios) - 1) // 2]
    print(f"cores: {os.cpu_count()}")
    print(
        f"load generator: {'wrk' if use_wrk else 'asyncio keep-alive client'}, "
        f"{args.connections} connections, {args.warmup:g}s warm-up + {args.duration:g}s "
        f"per server, {args.rounds} round(s)"
    )
    print(f"response body ({len(body)} bytes): {body.decode()}")
    if args.rounds > 1:
        for number, (g, b) in enumerate(rounds, 1):
            round_ratio = g.requests_per_second / b.requests_per_second
            print(
                f"round {number}: gateway {g.requests_per_second:.0f}/s, "
                f"bare {b.requests_per_second:.0f}/s, ratio {round_ratio:.2f}"
            )
    print(f"{'':8} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9}")
    for name, result in (("gateway", gateway), ("bare", bare)):
        print(
            f"{name:8} {result.requests_per_second:11.1f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {result.requests:9d}"
        )
    verdict = "meets" if ratio >= TARGET_RATIO else "is below"
    label = "ratio gateway/bare" + (" (median round)" if args.rounds > 1 else "")
    print(f"{label}: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--load-client":
        port, connections, duration = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(_load(port, connections, duration))))
        sys.exit(0)
    sys.exit(main())
