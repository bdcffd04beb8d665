"""GraphiQL's page and every asset it loads come from the gateway (no CDN), as pinned."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

import graphql_api

ASSETS = Path(graphql_api.__file__).parent / "static" / "graphiql"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def _page(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response


async def test_the_page_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    page = (await _page(client)).text
    assert "GraphiQL" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), page
    assert "<script>" not in page  # no inline script: the CSP allows the gateway's only
    policy = (await _page(client)).headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none'" in policy


async def test_every_asset_the_page_names_is_served(client: httpx.AsyncClient) -> None:
    page = (await _page(client)).text
    names = re.findall(r"(?:src|href)=\"(graphiql/assets/[^\"]+)\"", page)
    assert len(names) == 7, names
    for name in names:
        response = await client.get(f"/{name}")
        assert response.status_code == 200, name
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert response.headers["content-type"].startswith(kind), name
        assert response.content == (ASSETS / Path(name).name).read_bytes()
        cached = await client.get(f"/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert cached.status_code == 304


async def test_vendored_files_match_their_recorded_versions() -> None:
    versions = (ASSETS / "VERSIONS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\S+) \| (\S+@\S+) .*\| ([0-9a-f]{64}) \|$", versions, re.MULTILINE)
    assert {name for name, _, _ in rows} == {
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphql-ws.min.js",
    }
    for name, _, digest in rows:
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name


async def test_other_names_are_not_found(client: httpx.AsyncClient) -> None:
    for name in ("VERSIONS.md", "missing.js", "..%2Fgraphiql.py", ".hidden.js"):
        response = await client.get(f"/graphiql/assets/{name}")
        assert response.status_code == 404, name
