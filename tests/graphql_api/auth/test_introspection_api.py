"""Introspection in production answers partners and admins only; `__typename` answers anyone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.settings import Settings
from resolvers.auth import create_api_key, issue_admin_token, issue_traveller_token
from tests.graphql_api.auth import PRODUCTION, SECRET_KEY
from tests.support.helpers import graphql

SCHEMA_TYPES = "{ __schema { types { name } } }"
THROUGH_A_FRAGMENT = """
query Sneaky { ...Outer }
fragment Outer on Query { ... on Query { ...Inner } }
fragment Inner on Query { moneyType: __type(name: "Money") { name } }
"""
THROUGH_AN_INLINE_FRAGMENT = "{ ... on Query { __schema { queryType { name } } } }"
NESTED_FIELD = '{ __type(name: "Money") { fields { name } } }'


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**PRODUCTION)


async def _partner_key(app: Starlette) -> str:
    key, _ = await create_api_key(app.state.services.store.api_keys, "Acme", datetime.now(UTC))
    return key


def _admin_token() -> str:
    return issue_admin_token(SECRET_KEY, now=datetime.now(UTC))[0]


def _assert_forbidden(response: httpx.Response) -> None:
    body = response.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "partners and admins" in error["message"]


@pytest.mark.parametrize(
    "query", [SCHEMA_TYPES, THROUGH_A_FRAGMENT, THROUGH_AN_INLINE_FRAGMENT, NESTED_FIELD]
)
async def test_anonymous_introspection_is_forbidden(client: httpx.AsyncClient, query: str) -> None:
    response = await graphql(client, query)
    assert response.status_code == 200
    _assert_forbidden(response)


async def test_forbidden_introspection_is_a_request_error_for_the_spec_media_type(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": SCHEMA_TYPES},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    _assert_forbidden(response)


async def test_travellers_may_not_introspect(client: httpx.AsyncClient) -> None:
    token = issue_traveller_token(SECRET_KEY, "SF-ABC123", now=datetime.now(UTC))
    response = await graphql(client, SCHEMA_TYPES, headers={"Authorization": f"Bearer {token}"})
    _assert_forbidden(response)


@pytest.mark.parametrize("query", [SCHEMA_TYPES, THROUGH_A_FRAGMENT])
async def test_partners_and_admins_may_introspect(
    app: Starlette, client: httpx.AsyncClient, query: str
) -> None:
    for headers in (
        {"X-API-Key": await _partner_key(app)},
        {"Authorization": f"Bearer {_admin_token()}"},
    ):
        response = await graphql(client, query, headers=headers)
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]


async def test_typename_is_not_introspection(client: httpx.AsyncClient) -> None:
    response = await graphql(client, "query { __typename ... on Query { __typename } }")
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_outside_production_anyone_may_introspect(
    make_settings: Callable[..., Settings],
) -> None:
    development = create_app(make_settings(secret_key=SECRET_KEY))
    async with development.router.lifespan_context(development):
        transport = httpx.ASGITransport(app=development)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await graphql(http, SCHEMA_TYPES)
    types = {t["name"] for t in response.json()["data"]["__schema"]["types"]}
    assert "Money" in types
