"""Liveness and readiness: which dependencies answer, and whether each runs live or in sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from graphql_api.context import Services
from integrations.state.store import PostgresStore

CHECK_TIMEOUT_SECONDS = 2.0


async def _probe(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {CHECK_TIMEOUT_SECONDS:g}s"}
    except Exception as error:  # any failure of the dependency means "down", reported by type
        return {"status": "down", "error": type(error).__name__}
    return {"status": "ok"}


async def readiness(services: Services) -> tuple[bool, dict[str, Any]]:
    """The readiness report; ready only when the database and a configured Redis answer.

    Upstream APIs are reported with their mode but not probed: a third party's outage must not
    take every replica out of the load balancer, and their failures are answered per request.
    """
    database, redis = await asyncio.gather(
        _probe(services.store.ping), _probe(services.shared.ping)
    )
    database["mode"], database["backend"] = "live", services.store.kind
    if isinstance(services.store, PostgresStore):
        # For sizing DATABASE_POOL_SIZE: callers waiting means the pool is too small.
        database["pool"] = services.store.pool_status()
    dependencies: dict[str, dict[str, Any]] = {
        "database": database,
        "redis": {
            **redis,
            "mode": "live" if services.shared.mode == "redis" else "in-process",
        },
    }
    for name, mode in services.modes.items():
        dependencies[name] = {
            "status": "ok" if mode in ("sandbox", "off") else "configured",
            "mode": mode,
        }
    ready = all(d["status"] != "down" for d in dependencies.values())
    return ready, {"status": "ok" if ready else "unavailable", "dependencies": dependencies}


async def live(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    is_ready, body = await readiness(request.app.state.services)
    return JSONResponse(body, status_code=200 if is_ready else 503)
