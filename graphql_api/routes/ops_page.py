"""`/ops`: the operations dashboard, one page and its two files, served from the package.

The page is plain HTML, CSS and JavaScript with no build step and nothing from elsewhere; it
talks only to this gateway's GraphQL API (HTTP, and WebSocket for live payments). The policy
allows scripts, styles and connections from this origin only, and nothing inline.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

ASSETS = {
    "ops.js": "text/javascript; charset=utf-8",
    "ops.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


def _policy(request: Request) -> str:
    host = request.url.netloc
    # 'self' covers ws: of the same origin in browsers that follow CSP 3; named for the rest.
    sockets = f"ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {sockets}; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def _headers(request: Request) -> dict[str, str]:
    return {
        "Content-Security-Policy": _policy(request),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


@cache
def _file(name: str) -> bytes:
    return resources.files("graphql_api").joinpath("ops", name).read_bytes()


async def ops_page(request: Request) -> Response:
    return Response(
        _file("index.html"), media_type="text/html; charset=utf-8", headers=_headers(request)
    )


async def ops_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(_file(name), media_type=ASSETS[name], headers=_headers(request))
