"""Validation of the operations Strawberry runs itself (subscriptions over WebSocket), with the
same rules and the same hidden suggestions as the HTTP path (`graphql_api.executor`).

In production graphql-core is asked not to suggest names ("Did you mean …?"), which would
otherwise spell out the schema to a caller who may not introspect it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

# What Strawberry adds to every validation (its `validate_document`).
_STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (
    MaybeNullValidationRule,
    OneOfInputValidationRule,
)


@lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return validate(schema, document, rules, hide_suggestions=hide_suggestions)


class CachedValidation(SchemaExtension):
    """Validates each document once (an LRU cache shared by every operation)."""

    def __init__(self, *, hide_suggestions: bool = False) -> None:
        super().__init__()
        self.hide_suggestions = hide_suggestions

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        rules = (*context.validation_rules, *_STRAWBERRY_RULES)
        context.pre_execution_errors = list(
            _validate(
                context.schema._schema, context.graphql_document, rules, self.hide_suggestions
            )
        )
        yield
