"""What a GraphQL request over HTTP is called where it is watched: its metrics' `operation` and
`outcome` labels and the name of its Sentry transaction (`query searchFlights`)."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from graphql import OperationType
from starlette.types import Scope

from graphql_api import metrics
from graphql_api.executor import PreparedDocument

OPERATION = "graphql_operation"
OUTCOME = "graphql_outcome"


def observe_operation(
    scope: Scope,
    operation: OperationType | None,
    operation_name: str | None,
    prepared: PreparedDocument,
) -> None:
    """Name the request after the operation it runs, once its document is known."""
    name = operation_name
    if name is None and len(prepared.operations) == 1:
        name = next(iter(prepared.operations))
    kind = operation.value if operation is not None else None
    label = metrics.operation_label(kind, name)
    scope.setdefault("state", {})[OPERATION] = label
    if kind is not None:
        sentry_sdk.get_current_scope().set_transaction_name(
            f"{kind} {name}" if name else f"{kind} (anonymous)", source="custom"
        )


def count_outcome(scope: Scope, status: int) -> None:
    """Count a request answered with `status`: `ok`, the first error's code, or `http_<status>`."""
    state: dict[str, Any] = scope.setdefault("state", {})
    outcome = state.get(OUTCOME) or ("ok" if status in (200, 304) else f"http_{status}")
    metrics.count_request(state.get(OPERATION, "invalid"), outcome)
