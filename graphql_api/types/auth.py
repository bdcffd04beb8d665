"""Admin sessions: the `adminLogin` mutation's type and its field function."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from graphql_api.context import Info
from resolvers.auth import admin_login


@strawberry.type(description="An admin bearer token, sent as `Authorization: Bearer <token>`.")
class AdminSession:
    token: str
    expires_at: datetime = strawberry.field(description="When the token stops working.")


async def admin_login_field(info: Info, password: str) -> AdminSession:
    """Exchange `ADMIN_PASS` for an admin token valid for an hour; attempts are rate-limited."""
    context = info.context
    services = context.services
    token, expires_at = await admin_login(
        password,
        admin_pass=services.secrets.admin_pass,
        secret=services.secrets.secret_key,
        limiter=services.limiter,
        client=context.client,
        now=datetime.now(UTC),
        record=context.rate_limits.append,
    )
    return AdminSession(token=token, expires_at=expires_at)
