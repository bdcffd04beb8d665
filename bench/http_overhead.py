"""What the gateway's HTTP and GraphQL layers cost per request, next to a bare Starlette
endpoint, Strawberry's own ASGI app and GraphQL Yoga, in one run.

    .venv/bin/python bench/http_overhead.py [--connections 50] [--duration 10] [--warmup 2]
        [--rounds 1] [--load-generator auto|wrk|python] [--no-yoga]

Starts each server as one worker in its own process, on loopback only, pinned to one core while
the load generator runs on another (when there are two): the bare Starlette endpoint answering
the gateway's body; Strawberry's `strawberry.asgi.GraphQL` serving the gateway's own schema
and services in its best configuration (its parser and validation caches, which the schema
carries); the gateway with its response cache (a hot cached query) and without it (executed
every time); and GraphQL Yoga on Node when `node` is installed (its parser and validation
caches are on by default). All are driven with `{ exchangeRate(base: "USD", quote: "NGN")
{ rate } }` as a JSON POST by the same load generator (wrk when installed, else a keep-alive
asyncio client in a separate process), a warm-up first, then a fixed duration. Prints
requests/s, p50 and p99 of each and their ratio to bare Starlette; `--rounds 3` alternates the
servers three times and reports each server's median round.
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
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on the path, where a module of the same name as one
# of the gateway's packages (another benchmark) would shadow it.
sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    HOST,
    ROOT,
    UVICORN_OPTIONS,
    Goal,
    Goals,
    Measurement,
    clean_env,
    load_average,
    pick_cpus,
    run_wrk,
    serving,
    uvicorn_command,
)

PATH = "/graphql"
QUERY = '{ exchangeRate(base: "USD", quote: "NGN") { rate } }'
REQUEST_BODY = json.dumps({"query": QUERY}).encode()
TARGET_RATIO = 0.6
RATIO_GOAL = Goal("hot cached query's requests/s / bare Starlette's", TARGET_RATIO, "", True)
# The bare app is this module, started by uvicorn in its own process; it reads its answer here.
BARE_BODY_ENV = "HTTP_OVERHEAD_BARE_BODY"
YOGA = ROOT / "bench" / "yoga"
# Every request comes from one address: a budget large enough never to refuse one.
UNLIMITED = {"GRAPHQL_COST_BUDGET_ANONYMOUS": "1000000000/minute"}


# --- the bare endpoint and Strawberry's app (they run in uvicorn subprocesses) ----------------


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


def strawberry_app() -> Any:
    """Strawberry's own ASGI app over the gateway's schema and services (opened by the
    gateway's lifespan), with the parser and validation caches the schema is built with."""
    from starlette.applications import Starlette
    from starlette.routing import Route
    from strawberry.asgi import GraphQL

    from graphql_api.app import create_app
    from graphql_api.context import RequestContext
    from resolvers.access import Caller

    gateway = create_app()

    class StrawberryApp(GraphQL[RequestContext, None]):
        async def get_context(self, request: Any, response: Any) -> RequestContext:
            return RequestContext(
                services=request.app.state.services,
                request_id="bench",
                caller=Caller(identity=f"ip:{HOST}"),
                headers=request.headers,
                client=HOST,
            )

    graphql = StrawberryApp(gateway.state.executor.schema, graphql_ide=None)
    return Starlette(
        routes=[Route(PATH, graphql, methods=["POST"])],
        lifespan=gateway.router.lifespan_context,
    )


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


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """`command` on core `cpu` from its first instruction, its threads too (taskset)."""
    if cpu is None or not shutil.which("taskset"):
        return command
    return ["taskset", "--cpu-list", str(cpu), *command]


def server(
    name: str, command: list[str], env: dict[str, str], workdir: Path, cpu: int | None
) -> AbstractContextManager[tuple[int, int]]:
    """One server process running `command --port PORT`; yields its port once it answers."""
    return serving(
        name, pinned(command, cpu), env, workdir, lambda port: post(port, timeout=1.0)[0] == 200
    )


def uvicorn_app(factory: str) -> list[str]:
    return uvicorn_command(factory, *UVICORN_OPTIONS)


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


def measure(
    name: str, port: int, args: argparse.Namespace, script: Path | None, cpu: int | None
) -> Measurement:
    def once(duration: float) -> Measurement:
        if script is not None:
            seconds = max(1, round(duration))
            return run_wrk(port, PATH, REQUEST_BODY, seconds, args.connections, script, cpu)
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


def data_of(body: bytes) -> Any:
    answer = json.loads(body)
    if answer.get("errors"):
        raise RuntimeError(f"answered errors: {body!r}")
    return answer["data"]


def yoga_available() -> bool:
    if not shutil.which("node"):
        return False
    if not (YOGA / "node_modules" / "graphql-yoga").is_dir():
        subprocess.run(
            ["npm", "ci", "--silent", "--no-audit", "--no-fund", "--prefix", str(YOGA)],
            check=True,
            timeout=300,
        )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds discarded per server")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate the servers this many times and report each one's median round",
    )
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", dest="generator"
    )
    parser.add_argument("--no-yoga", action="store_true", help="leave GraphQL Yoga out")
    parser.add_argument(
        "--smoke", action="store_true", help="a run of seconds: 1 s per server, no Yoga"
    )
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.rounds, args.no_yoga = 1.0, 0.5, 1, True
        args.connections = min(args.connections, 10)
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    cpus = pick_cpus()
    server_cpu, load_cpu = cpus if cpus else (None, None)
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})
    load_at_start = load_average()

    with tempfile.TemporaryDirectory(prefix="http-overhead-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        script = workdir / "post.lua" if use_wrk else None

        def gateway_env(**extra: str) -> dict[str, str]:
            return clean_env(DATABASE_URL=f"sqlite:///{workdir}/bench.db", **UNLIMITED, **extra)

        gateway_port, _ = stack.enter_context(
            server(
                "gateway",
                uvicorn_app("graphql_api.app:create_app"),
                gateway_env(),
                workdir,
                server_cpu,
            )
        )
        status, body = post(gateway_port)
        if status != 200:
            raise RuntimeError(f"the gateway answered {status}: {body!r}")
        expected = data_of(body)
        rate = expected["exchangeRate"]["rate"]
        ports = {"gateway (response cache)": gateway_port}
        commands: list[tuple[str, list[str], dict[str, str]]] = [
            (
                "gateway (executed)",
                uvicorn_app("graphql_api.app:create_app"),
                gateway_env(RESPONSE_CACHE_MAX_BYTES="0"),
            ),
            (
                "strawberry",
                uvicorn_app("bench.http_overhead:strawberry_app"),
                gateway_env(RESPONSE_CACHE_MAX_BYTES="0"),
            ),
            (
                "bare starlette",
                uvicorn_app("bench.http_overhead:bare_app"),
                clean_env(**{BARE_BODY_ENV: body.decode()}),
            ),
        ]
        if not args.no_yoga and yoga_available():
            commands.append(("graphql yoga", ["node", str(YOGA / "server.mjs"), rate], clean_env()))
        bodies = {"gateway (response cache)": body}
        for name, command, env in commands:
            port, _ = stack.enter_context(server(name, command, env, workdir, server_cpu))
            answer_status, answer = post(port)
            if answer_status != 200 or data_of(answer) != expected:
                raise RuntimeError(f"{name} does not answer what the gateway answers: {answer!r}")
            ports[name] = port
            bodies[name] = answer
        if bodies["bare starlette"] != body:
            raise RuntimeError("the bare endpoint does not answer the gateway's body")
        # The servers idle while another is measured; alternating rounds spread whatever else
        # the machine is doing over all of them.
        rounds = [
            {name: measure(name, port, args, script, load_cpu) for name, port in ports.items()}
            for _ in range(args.rounds)
        ]
    load_at_end = load_average()
    return report(args, use_wrk, cpus, load_at_start, load_at_end, bodies, rounds)


def report(
    args: argparse.Namespace,
    use_wrk: Any,
    cpus: tuple[int, int] | None,
    load_at_start: str,
    load_at_end: str,
    bodies: dict[str, bytes],
    rounds: list[dict[str, Measurement]],
) -> int:
    """Prints the figures; the exit code (1: the goal was missed by more than 2x)."""
    names = list(rounds[0])
    results = {name: median([r[name] for r in rounds]) for name in names}
    bare = "bare starlette"

    def ratio(name: str, to: str) -> float:
        # Each round measures every server back to back: the median of the rounds' ratios is
        # the least disturbed by load that comes and goes on the machine.
        values = sorted(r[name].requests_per_second / r[to].requests_per_second for r in rounds)
        return values[(len(values) - 1) // 2]

    print(f"cores: {os.cpu_count()}")
    pinning = f"servers on core {cpus[0]}, load generator on core {cpus[1]}" if cpus else "none"
    print(f"pinning: {pinning}")
    print(f"load average (1, 5, 15 min) at start {load_at_start}, at end {load_at_end}")
    print(
        f"load generator: {'wrk' if use_wrk else 'asyncio keep-alive client'}, "
        f"{args.connections} connections, {args.warmup:g}s warm-up + {args.duration:g}s "
        f"per server, {args.rounds} round(s)"
    )
    print(f"query: {QUERY}")
    print(f"gateway's answer ({len(bodies[names[0]])} bytes): {bodies[names[0]].decode()}")
    print(f"{'':26} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'/ bare':>7}")
    for name in names:
        result = results[name]
        print(
            f"{name:26} {result.requests_per_second:11.1f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {result.requests:9d} {ratio(name, bare):7.2f}"
        )
    cached = "gateway (response cache)"
    goals = Goals()
    goals.check(RATIO_GOAL, ratio(cached, bare))
    for peer in ("strawberry", "graphql yoga"):
        if peer not in results:
            continue
        for gateway in (cached, "gateway (executed)"):
            times = ratio(gateway, peer)
            print(f"{gateway} / {peer}: {times:.2f} ({'ahead' if times > 1 else 'behind'})")
    return goals.exit_code()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--load-client":
        port, connections, duration = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(_load(port, connections, duration))))
        sys.exit(0)
    sys.exit(main())
