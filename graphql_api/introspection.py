"""Introspection in production: answered for partners and admins only.

`selects_introspection` is computed once per prepared document on the HTTP path (see
`graphql_api.executor.PreparedDocument.introspects`); `RestrictIntrospection` applies the same
rule to operations Strawberry runs itself over WebSocket. `__typename` is not introspection here:
clients need it for unions and caching.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from resolvers.access import may_introspect
from resolvers.errors import Forbidden

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
INTROSPECTION_FORBIDDEN = "Introspection is available to partners and admins only."


def selects_introspection(document: DocumentNode) -> bool:
    """True when any operation or fragment of `document` selects `__schema` or `__type`.

    Fragments are scanned where they are defined, which covers every spread of them: a valid
    document has no unused fragment. With several operations in one document (the gateway
    allows one) the answer covers all of them.
    """
    pending: list[SelectionSetNode] = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in INTROSPECTION_FIELDS:
                    return True
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
    return False


class RestrictIntrospection(SchemaExtension):
    """Refuses introspection to anonymous callers and travellers when `APP_ENV=production`."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        document = self.execution_context.graphql_document
        services = getattr(context, "services", None)
        caller = getattr(context, "caller", None)
        if (
            document is not None
            and services is not None
            and services.production
            and (caller is None or not may_introspect(caller))
            and selects_introspection(document)
        ):
            raise Forbidden(INTROSPECTION_FORBIDDEN)
        yield
