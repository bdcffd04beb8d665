"""`adminLogin`: the password for an hour's admin token, five tries per address per 15 minutes.

`resolvers.auth.admin_login` is exercised directly, and the `adminLogin` field function through a
schema assembled here; `tests/auth/test_callers_api.py` covers the mounted mutation over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import strawberry
from starlette.applications import Starlette

from graphql_api.context import RequestContext
from graphql_api.schema import Query
from graphql_api.types.auth import admin_login_field
from integrations.state.ratelimit import MemoryRateLimiter
from resolvers.auth import admin_login, read_token
from resolvers.errors import Forbidden, RateLimited, Unauthenticated
from tests.graphql_api.auth import ADMIN_PASS, SECRET_KEY

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _login(
    password: str,
    limiter: MemoryRateLimiter,
    client: str = "ip:203.0.113.7",
    admin_pass: str = ADMIN_PASS,
) -> tuple[str, datetime]:
    return await admin_login(
        password, admin_pass=admin_pass, secret=SECRET_KEY, limiter=limiter, client=client, now=NOW
    )


async def test_right_password_gives_an_admin_token_for_an_hour() -> None:
    token, expires_at = await _login(ADMIN_PASS, MemoryRateLimiter())
    assert expires_at == NOW + timedelta(hours=1)
    claims = read_token(SECRET_KEY, token, now=NOW)
    assert claims.kind == "admin"
    assert claims.expires_at == expires_at


@pytest.mark.parametrize("password", ["", "wrong", ADMIN_PASS[:-1], ADMIN_PASS + " ", "x" * 5000])
async def test_wrong_password_is_unauthenticated(password: str) -> None:
    with pytest.raises(Unauthenticated, match="wrong password"):
        await _login(password, MemoryRateLimiter())


async def test_login_is_disabled_without_admin_pass() -> None:
    with pytest.raises(Forbidden, match="disabled"):
        await _login("", MemoryRateLimiter(), admin_pass="")


async def test_sixth_attempt_in_fifteen_minutes_is_refused_even_with_the_right_password() -> None:
    limiter = MemoryRateLimiter()
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await _login("guess", limiter)
    with pytest.raises(RateLimited) as refused:
        await _login(ADMIN_PASS, limiter)
    retry_after = refused.value.extensions["retryAfterSeconds"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= 15 * 60
    # Another address has its own five attempts.
    token, _ = await _login(ADMIN_PASS, limiter, client="ip:198.51.100.1")
    assert read_token(SECRET_KEY, token, now=NOW).kind == "admin"


@strawberry.type
class _Mutation:
    admin_login = strawberry.mutation(resolver=admin_login_field)


async def test_admin_login_field_answers_an_admin_session(app: Starlette) -> None:
    schema = strawberry.Schema(query=Query, mutation=_Mutation)
    assert "adminLogin(password: String!): AdminSession!" in schema.as_str()
    context = RequestContext(services=app.state.services, request_id="test", client="192.0.2.1")
    mutation = "mutation($p: String!) { adminLogin(password: $p) { token expiresAt } }"

    wrong = await schema.execute(mutation, {"p": "nope"}, context_value=context)
    assert wrong.errors and wrong.errors[0].message == "wrong password"

    right = await schema.execute(mutation, {"p": ADMIN_PASS}, context_value=context)
    assert right.errors is None
    assert right.data is not None
    session = right.data["adminLogin"]
    claims = read_token(SECRET_KEY, session["token"], now=datetime.now(UTC))
    assert claims.kind == "admin"
    assert datetime.fromisoformat(session["expiresAt"]) == claims.expires_at
