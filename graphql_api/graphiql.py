"""GraphiQL, served by the gateway with every asset it loads, so it works with no internet.

The page is what `GET /graphql` answers to a browser (`Accept: text/html`); its scripts and
styles are the pinned builds committed under `graphql_api/static/graphiql/` (see VERSIONS.md
there) and are served from `/graphiql/assets/{name}`. The page runs no inline script, so its
Content-Security-Policy allows scripts from the gateway alone.

Queries and mutations go over HTTP, subscriptions over WebSocket (`graphql-transport-ws`), both
with the headers typed into GraphiQL's headers editor: `{"X-API-Key": "…"}` for a partner, or
`{"Authorization": "Bearer …"}`; on the WebSocket they are the `connection_init` payload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

ASSETS_PATH = "/graphiql/assets"

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

# Scripts from the gateway only; GraphiQL's editor sets inline styles and its fonts are
# data: URLs in its stylesheet. 'self' covers the same origin's ws:// and wss:// too.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>SureFlights GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{assets}/graphiql.min.css">
    <link rel="stylesheet" href="{assets}/sureflights-graphiql.css">
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="{assets}/react.production.min.js"></script>
    <script src="{assets}/react-dom.production.min.js"></script>
    <script src="{assets}/graphql-ws.min.js"></script>
    <script src="{assets}/graphiql.min.js"></script>
    <script src="{assets}/sureflights-graphiql.js"></script>
  </body>
</html>
"""

# The page lives at /graphql, so a relative path reaches the assets under any path prefix.
PAGE_HTML = _PAGE.format(assets=ASSETS_PATH.removeprefix("/")).encode()
PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def asset(name: str) -> Asset | None:
    """A committed asset by file name, None for any other name."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in _TYPES:
        return None
    path = resources.files("graphql_api") / "static" / "graphiql" / name
    if not path.is_file():
        return None
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, _TYPES[suffix], etag)


async def graphiql_asset(request: Request) -> Response:
    """`GET /graphiql/assets/{name}`: one of GraphiQL's scripts or stylesheets."""
    found = asset(request.path_params["name"])
    if found is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {
        "etag": found.etag,
        # Revalidated daily: the names stay the same when the pinned versions move.
        "cache-control": "public, max-age=86400",
        "x-content-type-options": "nosniff",
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.content_type, headers=headers)
