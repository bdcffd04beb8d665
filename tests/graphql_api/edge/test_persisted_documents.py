"""Persisted documents as real clients send them: Apollo Client's persisted-queries link (hash
first, the document when asked), `gql` (the document, re-printed, with an optional hash), and
trusted documents added with `sureflights documents`, which anonymous callers are held to when
GRAPHQL_TRUSTED_DOCUMENTS_ONLY is on while partners and admins keep ad-hoc queries."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from graphql_api.settings import Settings
from integrations.state.store import open_store
from resolvers.auth import issue_traveller_token
from tests.graphql_api.edge.conftest import run_node
from tests.support.helpers import graphql
from tests.support.live import admin_headers, partner_headers, serving

RATE = 'query Rate { exchangeRate(base: "USD", quote: "NGN") { rate source } }'
PLACES = 'query Places { places(query: "abu", first: 3) { iataCode name } }'
AD_HOC = '{ convert(amount: "10", from: "USD", to: "NGN") { formatted } }'
SECRET_KEY = "persisted-documents-test-secret-key-0123456789"

Cli = Callable[..., subprocess.CompletedProcess[str]]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(hash_: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": hash_}}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(secret_key=SECRET_KEY)


@pytest.fixture
def trusted_only(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(secret_key=SECRET_KEY, graphql_trusted_documents_only=True)


def cli_for(settings: Settings, cwd: Path) -> Cli:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": settings.secret_key,
        }
        return subprocess.run(
            [sys.executable, "-m", "graphql_api.cli", "documents", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=60,
            check=False,
        )

    return run


# --- automatic persisted queries ------------------------------------------------------------


async def test_apollo_client_sends_the_hash_then_the_document_once_asked(
    live_server: str, node_clients: Path
) -> None:
    url = f"http://{live_server}/graphql"
    (first,) = await run_node(node_clients, "apollo_query.mjs", url, RATE, "apq")
    assert "error" not in first, first
    assert float(first["result"]["data"]["exchangeRate"]["rate"]) > 100
    unknown, registered = first["requests"]
    assert (unknown["sentQuery"], unknown["status"]) == (False, 404)
    assert (registered["sentQuery"], registered["status"]) == (True, 200)
    assert unknown["sentHash"] == registered["sentHash"] == sha256(registered["query"])

    # Another client process: the gateway knows the hash now, one request does.
    (second,) = await run_node(node_clients, "apollo_query.mjs", url, RATE, "apq")
    assert [(r["sentQuery"], r["status"]) for r in second["requests"]] == [(False, 200)]
    assert second["result"] == first["result"]

    # Hashed queries over GET, as a CDN would see them.
    (over_get,) = await run_node(node_clients, "apollo_query.mjs", url, RATE, "apq-get")
    assert [(r["method"], r["status"]) for r in over_get["requests"]] == [("GET", 200)]


async def test_an_unknown_hash_answers_persisted_query_not_found(
    client: httpx.AsyncClient,
) -> None:
    body = {"extensions": persisted("0" * 64)}
    legacy = await client.post("/graphql", json=body)
    assert legacy.status_code == 200
    spec = await client.post(
        "/graphql", json=body, headers={"Accept": "application/graphql-response+json"}
    )
    assert spec.status_code == 404
    for response in (legacy, spec):
        (error,) = response.json()["errors"]
        assert error["message"] == "PersistedQueryNotFound"
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert "data" not in response.json()


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}, "version 1"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}, "64 hexadecimal"),
        ({"persistedQuery": "yes"}, "must be an object"),
    ],
)
async def test_a_malformed_persisted_query_is_refused(
    client: httpx.AsyncClient, extensions: dict[str, Any], message: str
) -> None:
    response = await client.post("/graphql", json={"extensions": extensions})
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]


async def test_gql_registers_a_document_with_its_hash_and_a_wrong_hash_is_refused(
    live_server: str,
) -> None:
    document = gql(RATE)
    printed = GraphQLRequest(document).payload["query"]
    transport = HTTPXAsyncTransport(url=f"http://{live_server}/graphql")
    async with Client(transport=transport) as session:
        request = GraphQLRequest(document, extensions=persisted(sha256(printed)))
        result = await session.execute(request)
        assert float(result["exchangeRate"]["rate"]) > 100
        with pytest.raises(TransportQueryError, match="provided sha does not match query"):
            await session.execute(GraphQLRequest(document, extensions=persisted("f" * 64)))
    # Registered: the hash alone now runs it.
    async with httpx.AsyncClient(base_url=f"http://{live_server}") as http:
        response = await http.post("/graphql", json={"extensions": persisted(sha256(printed))})
    assert response.json()["data"] == {"exchangeRate": result["exchangeRate"]}


# --- trusted documents: the CLI -------------------------------------------------------------


async def test_documents_are_added_listed_and_removed_with_the_cli(
    settings: Settings, tmp_path: Path
) -> None:
    cli = cli_for(settings, tmp_path)
    file = tmp_path / "app.graphql"
    file.write_text(f"{RATE}\n\n{PLACES}\n# the app's two operations\n")

    added = cli("add", str(file))
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    assert [line.split()[1:] for line in lines] == [["Rate", "added"], ["Places", "added"]]
    again = cli("add", str(file))
    assert [line.split()[-2:] for line in again.stdout.splitlines()] == [["already", "trusted"]] * 2

    listed = cli("list")
    ids = [line.split()[0] for line in lines]
    assert sorted(line.split()[0] for line in listed.stdout.splitlines()) == sorted(ids)
    store = await open_store(settings.database_url)
    try:
        stored = await store.trusted_documents.get(ids[0])
    finally:
        await store.close()
    assert stored is not None and stored.name == "Rate"
    assert sha256(stored.body) == ids[0]

    removed = cli("remove", ids[0])
    assert removed.returncode == 0, removed.stderr
    assert [line.split()[0] for line in cli("list").stdout.splitlines()] == ids[1:]
    unknown = cli("remove", ids[0])
    assert unknown.returncode == 1
    assert "no trusted document" in unknown.stderr


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('{ exchangeRate(base: "USD") { rate } }', "exchangeRate(quote:)"),
        ("{ nope }", "Cannot query field 'nope'"),
        ("query {", "Syntax Error"),
        ("{ a: __typename } { b: __typename }", "name every operation"),
        ("fragment F on Query { __typename }", "no operation"),
    ],
)
def test_the_cli_refuses_documents_the_gateway_would_not_run(
    settings: Settings, tmp_path: Path, text: str, complaint: str
) -> None:
    file = tmp_path / "bad.graphql"
    file.write_text(text)
    refused = cli_for(settings, tmp_path)("add", str(file))
    assert refused.returncode == 2
    assert complaint in refused.stderr
    assert cli_for(settings, tmp_path)("list").stdout == ""


# --- trusted documents only, for anonymous callers ------------------------------------------


@pytest.fixture
async def restricted_server(trusted_only: Settings) -> AsyncIterator[str]:
    async with serving(trusted_only) as server:
        yield server


async def test_anonymous_callers_run_only_trusted_documents(
    restricted_server: str, trusted_only: Settings, tmp_path: Path, node_clients: Path
) -> None:
    url = f"http://{restricted_server}/graphql"
    # Apollo Client's documents, as a persisted query manifest built from what it sends.
    (manifest,) = await run_node(node_clients, "apollo_query.mjs", url, RATE, "manifest")
    (file := tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (gql_file := tmp_path / "places.graphql").write_text(PLACES)

    async with httpx.AsyncClient(base_url=f"http://{restricted_server}") as http:
        refused = await graphql(http, RATE)
        assert refused.status_code == 200
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "data" not in refused.json()

        cli = cli_for(trusted_only, tmp_path)
        for path in (file, gql_file):
            assert cli("add", str(path)).returncode == 0

        # Apollo Client: the hash from its manifest runs at once, no document sent.
        (apollo,) = await run_node(node_clients, "apollo_query.mjs", url, RATE, "apq")
        assert "error" not in apollo, apollo
        assert [(r["sentQuery"], r["status"]) for r in apollo["requests"]] == [(False, 200)]

        # gql sends the document re-printed: recognised by its printed form.
        transport = HTTPXAsyncTransport(url=url)
        async with Client(transport=transport) as session:
            places = await session.execute(gql(PLACES))
            assert places["places"]
            with pytest.raises(TransportQueryError, match="Only trusted documents"):
                await session.execute(gql(AD_HOC))

        # Ad-hoc documents stay closed to anonymous callers and travellers, by text or by
        # registering a hash.
        spec = {"Accept": "application/graphql-response+json"}
        assert (await graphql(http, AD_HOC, headers=spec)).status_code == 403
        registering = await http.post(
            "/graphql", json={"query": AD_HOC, "extensions": persisted(sha256(AD_HOC))}
        )
        assert registering.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        token = issue_traveller_token(SECRET_KEY, "SF7K2QXM", now=datetime.now(UTC))
        traveller = await graphql(http, AD_HOC, headers={"Authorization": f"Bearer {token}"})
        assert traveller.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        # Partners and admins keep ad-hoc queries.
        for headers in (
            await partner_headers(trusted_only, "Acme Travel"),
            admin_headers(trusted_only),
        ):
            allowed = (await graphql(http, AD_HOC, headers=headers)).json()
            assert allowed["data"]["convert"]["formatted"].startswith("₦"), allowed
