"""The tests' respx doubles of the upstreams served over real HTTP, for processes that cannot
share the test's respx router (the benchmarks' gateways, a second gateway process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import respx
from respx.models import AllMockedAssertionError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.saga import PAYSTACK, PaystackDouble


def served(base_url: str, build: Callable[[respx.MockRouter], Any]) -> Starlette:
    """An ASGI app answering every request as the double `build` sets up on a router for
    `base_url` answers it (404 for what it has no route for)."""
    router = respx.MockRouter(assert_all_called=False)
    build(router)
    base = base_url.rstrip("/")

    async def answer(request: Request) -> Response:
        target = f"{base}{request.url.path}" + (
            f"?{request.url.query}" if request.url.query else ""
        )
        outgoing = httpx.Request(
            request.method, target, headers=request.headers.raw, content=await request.body()
        )
        try:
            reply = router.handler(outgoing)
        except AllMockedAssertionError:
            return Response(status_code=404)
        reply.read()
        return Response(
            reply.content,
            status_code=reply.status_code,
            media_type=reply.headers.get("content-type"),
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", answer, methods=methods)])


def paystack_app() -> Starlette:
    """Paystack as the tests' `PaystackDouble` answers it: every charge paid, refunds taken."""
    return served(PAYSTACK, PaystackDouble)
