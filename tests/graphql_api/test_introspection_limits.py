"""The standard introspection query (GraphiQL's docs, gql, graphql-codegen) runs at the default
limits, while introspection's own nesting stays bounded and data fields keep the depth limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client
from gql.transport.websockets import WebsocketsTransport
from graphql import build_client_schema, get_introspection_query, print_schema
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from resolvers.auth import create_api_key
from tests.graphql_api.auth import PRODUCTION
from tests.support.helpers import graphql

FIXTURES = Path(__file__).parents[1] / "fixtures" / "graphql"
STANDARD = sorted(FIXTURES.glob("introspection-graphql-js-*.graphql"))
SPEC = {"Accept": "application/graphql-response+json"}


def graphql_core_query() -> str:
    return get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        one_of=True,
    )


def assert_full_schema(data: dict[str, Any]) -> None:
    schema = build_client_schema(data)  # raises on an incomplete answer
    query = schema.query_type
    assert query is not None
    assert {"searchFlights", "booking", "exchangeRate"} <= set(query.fields)
    assert schema.mutation_type is not None
    assert schema.subscription_type is not None
    for name in ("Date", "DateTime", "Decimal"):
        scalar = schema.get_type(name)
        assert scalar is not None
        assert scalar.description, name
        assert getattr(scalar, "specified_by_url", None), name
    assert "scalar Decimal @specifiedBy" in print_schema(schema)


async def _app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


@pytest.fixture
async def production(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async for http in _app(make_settings(**PRODUCTION)):
        yield http


@pytest.mark.parametrize("path", STANDARD, ids=lambda p: p.stem)
async def test_the_standard_introspection_query_answers_the_whole_schema(
    client: httpx.AsyncClient, path: Path
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": path.read_text(encoding="utf-8"), "operationName": "IntrospectionQuery"},
        headers=SPEC,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert_full_schema(body["data"])


async def test_graphql_cores_introspection_query_runs_too(client: httpx.AsyncClient) -> None:
    body = (await graphql(client, graphql_core_query())).json()
    assert "errors" not in body, body
    assert_full_schema(body["data"])


async def test_introspection_costs_nothing_against_the_cost_limit(
    make_settings: Callable[..., Settings],
) -> None:
    async for http in _app(make_settings(graphql_max_cost=1)):
        body = (await graphql(http, STANDARD[0].read_text(encoding="utf-8"))).json()
        assert "errors" not in body, body
        assert_full_schema(body["data"])


async def test_production_answers_a_partner_and_refuses_anyone(
    production: httpx.AsyncClient,
) -> None:
    app: Starlette = production.app  # type: ignore[attr-defined]
    key, _ = await create_api_key(app.state.services.store.api_keys, "Acme", datetime.now(UTC))
    query = STANDARD[0].read_text(encoding="utf-8")
    partner = (await graphql(production, query, headers={"X-API-Key": key})).json()
    assert "errors" not in partner, partner
    assert_full_schema(partner["data"])
    anonymous = (await graphql(production, query)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_gql_fetches_the_schema_over_websocket(live_server: str) -> None:
    transport = WebsocketsTransport(url=f"ws://{live_server}/graphql")
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None
        assert session.client.schema.get_type("Booking") is not None


def deep_type_abuse(levels: int) -> str:
    """`__type` asking for fields of the fields' types, `levels` times over."""
    inner = "name"
    for _ in range(levels):
        inner = f"fields {{ type {{ {inner} }} }}"
    return f'{{ __type(name: "Booking") {{ {inner} }} }}'


async def test_deeply_nested_type_introspection_is_still_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"query": deep_type_abuse(12)}, headers=SPEC)
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    assert "nests introspection 26 levels deep; the limit is 20" in body["errors"][0]["message"]


DATA_FIVE_DEEP = '{ flightSearch(id: "none") { offers { slices { origin { name } } } } }'
DATA_SIX_DEEP = (
    '{ flightSearch(id: "none") { offers { slices { segments { origin { name } } } } } }'
)


async def test_data_fields_keep_the_depth_limit(make_settings: Callable[..., Settings]) -> None:
    async for http in _app(make_settings(graphql_max_depth=5)):
        allowed = (await graphql(http, DATA_FIVE_DEEP)).json()
        assert allowed == {"data": {"flightSearch": None}}, allowed
        # Introspection beside it does not add to the data's depth.
        both = "{ __schema { types { fields { type { ofType { name } } } } } " + DATA_FIVE_DEEP[1:]
        mixed = (await graphql(http, both)).json()
        assert "errors" not in mixed, mixed
        refused = await http.post("/graphql", json={"query": DATA_SIX_DEEP}, headers=SPEC)
        assert refused.status_code == 400
        assert "6 levels deep; the limit is 5" in refused.json()["errors"][0]["message"]
