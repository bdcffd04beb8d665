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
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on the path, where a module of the same name as one
# of the gateway's packages (another benchmark) would shadow it.
sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    HOST,
    UVICORN_OPTIONS,
    Measurement,
    clean_env,
    run_wrk,
    serving,
    uvicorn_command,
)

PATH = "/graphql"
QUERY = '{ exchangeRate(base: "USD", quote: "NGN") { rate } }'
REQUEST_BODY = json.dumps({"query": QUERY}).encode()
TARGET_RATIO = 0.6
# The bare app is this module, started by uvicorn in its own process; it reads its answer here.
BARE_BODY_ENV = "HTTP_OVERHEAD_BARE_BODY"


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


def server(
    name: str, app: str, env: dict[str, str], workdir: Path
) -> AbstractContextManager[tuple[int, int]]:
    """One uvicorn worker serving the factory `app`; yields its port (and pid) once it answers."""
    command = uvicorn_command(app, *UVICORN_OPTIONS)
    return serving(name, command, env, workdir, lambda port: post(port, timeout=1.0)[0] == 200)


# --- load generators --------------------------------------------------------------------------


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
            seconds = max(1, round(duration))
            return run_wrk(port, PATH, REQUEST_BODY, seconds, args.connections, script)
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
        gateway_env = clean_env(DATABASE_URL=f"sqlite:///{workdir}/bench.db")
        with server("gateway", "graphql_api.app:create_app", gateway_env, workdir) as (
            gateway_port,
            _,
        ):
            status, body = post(gateway_port)
            if status != 200 or b'"errors"' in body:
                raise RuntimeError(f"the gateway answered {status}: {body!r}")
            bare_env = clean_env(**{BARE_BODY_ENV: body.decode()})
            with server("bare", "bench.http_overhead:bare_app", bare_env, workdir) as (
                bare_port,
                _,
            ):
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
