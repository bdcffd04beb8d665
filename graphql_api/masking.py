"""Error masking for operations Strawberry runs itself (subscriptions over WebSocket)."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from graphql_api.errors import masked_graphql_error


class MaskDomainErrors(MaskErrors):
    """Applies `graphql_api.errors.format_error` so WebSocket clients see the same codes as HTTP."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "") or ""
        return masked_graphql_error(error, request_id)
