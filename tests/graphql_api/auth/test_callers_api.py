"""The three kinds of caller over HTTP, with credentials made the way operators and clients get
them: `sureflights admin-token`, `sureflights apikey create`, `adminLogin`.

The app runs with `APP_ENV=production`, where introspection tells partners and admins apart from
anonymous callers and travellers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from graphql_api.schema import build_schema
from graphql_api.settings import Settings
from resolvers.auth import issue_token, issue_traveller_token, read_token
from tests.graphql_api.auth import ADMIN_PASS, PRODUCTION, SECRET_KEY
from tests.graphql_api.auth.conftest import Cli
from tests.support.helpers import graphql

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPENAME = "{ __typename }"

ADMIN_LOGIN_MOUNTED = "adminLogin(" in build_schema().as_str()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**PRODUCTION)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _admin_token_from_cli(sureflights: Cli) -> str:
    result = sureflights("admin-token")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _api_key_from_cli(sureflights: Cli, name: str = "Acme Travel") -> tuple[str, str]:
    result = sureflights("apikey", "create", name)
    assert result.returncode == 0, result.stderr
    key, id_line, _ = result.stdout.splitlines()
    return key, id_line.removeprefix("id: ")


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401
    body = response.json()
    assert list(body) == ["errors"]
    (error,) = body["errors"]
    assert set(error) == {"message", "extensions"}
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert response.headers["www-authenticate"].startswith("Bearer")


async def _may_introspect(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    response = await graphql(client, INTROSPECTION, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    if "errors" in body:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        return False
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    return True


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer sf1.bm90.c2lnbmVk",
        "Bearer not-a-token",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "sf1.abc.def",
    ],
)
async def test_bad_authorization_is_401_not_anonymous(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await graphql(client, TYPENAME, headers={"Authorization": authorization})
    _assert_unauthenticated(response)


async def test_expired_token_is_401_with_a_message_that_says_so(client: httpx.AsyncClient) -> None:
    old = issue_token(
        SECRET_KEY,
        kind="admin",
        subject="admin",
        ttl=timedelta(minutes=15),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    response = await graphql(client, TYPENAME, headers=_bearer(old))
    _assert_unauthenticated(response)
    assert "expired" in response.json()["errors"][0]["message"]


async def test_401_follows_the_negotiated_media_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": TYPENAME},
        headers={"Authorization": "Bearer nope", "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/graphql-response+json")


async def test_admin_token_from_the_cli_is_an_admin(
    client: httpx.AsyncClient, sureflights: Cli
) -> None:
    headers = _bearer(_admin_token_from_cli(sureflights))
    response = await graphql(client, TYPENAME, headers=headers)
    assert response.json() == {"data": {"__typename": "Query"}}
    assert await _may_introspect(client, headers)


async def test_partner_key_from_the_cli_is_a_partner_until_revoked(
    client: httpx.AsyncClient, sureflights: Cli
) -> None:
    key, _ = _api_key_from_cli(sureflights)
    assert await _may_introspect(client, {"X-API-Key": key})

    # Revoked before this gateway ever saw it: refused at once.
    other, other_id = _api_key_from_cli(sureflights, "Globetrotter")
    assert sureflights("apikey", "revoke", other_id).returncode == 0
    response = await graphql(client, TYPENAME, headers={"X-API-Key": other})
    _assert_unauthenticated(response)
    assert response.json()["errors"][0]["message"] == "unknown or revoked API key"


@pytest.mark.parametrize("key", ["sfk_" + "A" * 43, "not-a-key", "sfk_"])
async def test_unknown_api_key_is_401(client: httpx.AsyncClient, key: str) -> None:
    _assert_unauthenticated(await graphql(client, TYPENAME, headers={"X-API-Key": key}))


async def test_a_token_and_a_key_together_are_refused(
    client: httpx.AsyncClient, sureflights: Cli
) -> None:
    key, _ = _api_key_from_cli(sureflights)
    token = _admin_token_from_cli(sureflights)
    response = await graphql(client, TYPENAME, headers={"X-API-Key": key, **_bearer(token)})
    _assert_unauthenticated(response)


async def test_travellers_and_anonymous_callers_are_not_partners(
    client: httpx.AsyncClient,
) -> None:
    traveller = issue_traveller_token(SECRET_KEY, "SF-TRAVEL1", now=datetime.now(UTC))
    response = await graphql(client, TYPENAME, headers=_bearer(traveller))
    assert response.json() == {"data": {"__typename": "Query"}}
    assert not await _may_introspect(client, _bearer(traveller))
    assert not await _may_introspect(client, {})


async def test_empty_credentials_headers_are_anonymous(client: httpx.AsyncClient) -> None:
    response = await graphql(client, TYPENAME, headers={"Authorization": "", "X-API-Key": " "})
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.skipif(
    not ADMIN_LOGIN_MOUNTED,
    reason="adminLogin is not mounted in graphql_api/schema.py yet (see test_admin_login.py)",
)
async def test_admin_login_over_http(client: httpx.AsyncClient) -> None:
    mutation = "mutation($p: String!) { adminLogin(password: $p) { token expiresAt } }"
    first = await graphql(client, mutation, {"p": "guess"})
    wrong = first.json()
    assert wrong["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Every attempt tells the client where it stands against the limit.
    assert first.headers["ratelimit-limit"] == "5"
    assert first.headers["ratelimit-remaining"] == "4"
    assert 0 < int(first.headers["ratelimit-reset"]) <= 15 * 60
    assert "retry-after" not in first.headers
    right = (await graphql(client, mutation, {"p": ADMIN_PASS})).json()
    token = right["data"]["adminLogin"]["token"]
    assert read_token(SECRET_KEY, token, now=datetime.now(UTC)).kind == "admin"
    assert await _may_introspect(client, _bearer(token))
    for _ in range(3):
        await graphql(client, mutation, {"p": "guess"})
    refused = await graphql(client, mutation, {"p": ADMIN_PASS})
    limited = refused.json()
    assert limited["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    retry_after = limited["errors"][0]["extensions"]["retryAfterSeconds"]
    assert retry_after > 0
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["retry-after"] == str(retry_after)
