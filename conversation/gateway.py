"""How the assistant reaches the gateway: GraphQL documents run in-process by the composition
root, as the traveller (their booking's access token) or as the assistant itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Outcome:
    """A GraphQL response: `errors` as clients see them (message, extensions.code, ...)."""

    data: dict[str, Any] | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_code(self) -> str | None:
        if not self.errors:
            return None
        code: str | None = (self.errors[0].get("extensions") or {}).get("code")
        return code

    @property
    def error_field(self) -> str | None:
        if not self.errors:
            return None
        value: str | None = (self.errors[0].get("extensions") or {}).get("field")
        return value


class Execute(Protocol):
    async def __call__(
        self,
        document: str,
        variables: Mapping[str, Any],
        *,
        wa_id: str,
        access_token: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome: ...
