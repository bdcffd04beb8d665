"""Runs GraphQL documents against the schema with parsed-and-validated documents cached.

Every HTTP request and every in-process caller (the WhatsApp assistant) goes through one
`GraphQLExecutor`: a document is parsed (with a token limit) and validated (the specified rules
plus depth, alias and operation limits) once, then reused; execution calls graphql-core directly
with Strawberry's execution context, which keeps the hot path free of per-request extension work.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from types import GeneratorType
from typing import Any, TypeGuard

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    is_leaf_type,
    parse,
    print_ast,
    specified_rules,
    validate,
)
from graphql.execution import Executor
from graphql.pyutils import Path, Undefined, gather_with_cancel
from graphql.pyutils import is_awaitable as graphql_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_api.documents import document_hash
from graphql_api.introspection import selects_introspection
from graphql_api.limits import (
    Rule,
    max_aliases_rule,
    max_depth_rule,
    max_introspection_depth_rule,
    max_operations_rule,
)


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2_000
    max_operations: int = 1
    # Under `__schema` and `__type` (the standard introspection query nests 15 levels).
    max_introspection_depth: int = 20

    def rules(self) -> tuple[Rule, ...]:
        return (
            max_operations_rule(self.max_operations),
            max_depth_rule(self.max_depth),
            max_introspection_depth_rule(self.max_introspection_depth),
            max_aliases_rule(self.max_aliases),
        )


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document after parsing and validation; `errors` are the client's to fix."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    operations: dict[str | None, OperationType] = field(default_factory=dict)
    # Selects `__schema` or `__type` (see graphql_api.introspection); known once per document so
    # a restricted request only checks this flag.
    introspects: bool = False
    # SHA-256 of the document as graphql-core prints it (see graphql_api.documents).
    canonical_hash: str | None = None
    # What the HTTP edge works out once per document and operation (cache policy, cost plan).
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def parsed(self) -> bool:
        return self.document is not None

    def operation_type(self, operation_name: str | None) -> OperationType | None:
        """The type of the operation that `operation_name` selects, None when none matches."""
        if operation_name is not None:
            return self.operations.get(operation_name)
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return None


class _AwaitableTypes(dict[type[Any], bool]):
    """Whether instances of a class can be awaited, found on first sight of the class."""

    def __missing__(self, kind: type[Any]) -> bool:
        self[kind] = awaitable = hasattr(kind, "__await__")
        return awaitable


_awaitable_types = _AwaitableTypes()


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """graphql-core's test, answered once per type, as `await` itself looks on the type.

    graphql-core asks it of every resolved and every completed value, several times a field,
    and its per-instance `hasattr` goes through `__getattr__` where a class defines one (pydantic
    models do, raising and catching an AttributeError each time).
    """
    kind: type[Any] = type(value)
    if kind is GeneratorType:
        # Generator-based coroutines are told apart by a flag of each generator.
        return graphql_is_awaitable(value)
    return _awaitable_types[kind]


@dataclass(frozen=True, slots=True)
class _Direct:
    """A field read straight off its source: no resolver of its own and no arguments, of a
    scalar or enum type (`leaf`) or of an object type without an `is_type_of` (`object`)."""

    name: str
    python_name: str
    field_type: Any
    non_null: bool
    leaf: GraphQLLeafType | None = None
    object: GraphQLObjectType | None = None


def _direct(parent: GraphQLObjectType, name: str) -> _Direct | None:
    field = parent.fields.get(name)
    if field is None or field.args or not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is None or definition.default_resolver is not getattr:
        return None
    kind: Any = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    if non_null:
        kind = kind.of_type
    python_name = definition.python_name
    if is_leaf_type(kind):
        return _Direct(name, python_name, field.type, non_null, leaf=kind)
    if isinstance(kind, GraphQLObjectType) and kind.is_type_of is None:
        return _Direct(name, python_name, field.type, non_null, object=kind)
    return None


# Kept in each object type's `extensions`, so a schema built and dropped (as tests do) takes
# its entries with it.
_DIRECT = "sureflights:direct-fields"


def _direct_fields(parent: GraphQLObjectType) -> dict[str, _Direct | None]:
    extensions = parent.extensions
    found: dict[str, _Direct | None] | None = extensions.get(_DIRECT)
    if found is None:
        found = {}
        # A new dict: `extensions` may be shared with the type's definition.
        parent.extensions = {**extensions, _DIRECT: found}
    return found


class GatewayExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with plain fields resolved inline.

    Most fields of a search page are attributes read off a domain object (over 5,000 in a page
    of 50 offers). graphql-core gives each one a resolve-info object, an argument check, a
    resolver call through Strawberry and a walk down `complete_value`; for a field with no
    resolver and no arguments whose type is a scalar, an enum or a plain object type, the
    attribute is read here and serialized (or its selections executed) directly, with the same
    errors for what goes wrong. Every other field takes graphql-core's own path.
    """

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if self.middleware_manager is not None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        direct = _direct_fields(parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                name = field_details_list[0].node.name.value
                plan = direct.get(name, _UNKNOWN)
                if plan is _UNKNOWN:
                    plan = direct[name] = _direct(parent_type, name)
                if plan is None:
                    field_path = Path(path, response_name, parent_type.name)
                    result = self.execute_field(
                        parent_type, source_value, field_details_list, field_path, position_context
                    )
                    if result is Undefined:
                        continue
                else:
                    result = self._execute_direct(
                        plan,
                        parent_type,
                        source_value,
                        field_details_list,
                        path,
                        response_name,
                        position_context,
                    )
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                # Ensure that awaitables created by other fields are settled, as they may
                # also fail (as graphql-core does).
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gathered(results, awaitable_fields)

    def _execute_direct(
        self,
        plan: _Direct,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path | None,
        response_name: str,
        position_context: Any,
    ) -> Any:
        field_path: Path | None = None
        try:
            value = getattr(source, plan.python_name)
            if value is None:
                if plan.non_null:
                    raise TypeError(
                        f"Cannot return null for non-nullable field {parent_type.name}.{plan.name}."
                    )
                return None
            if plan.leaf is not None:
                return self.complete_leaf_value(plan.leaf, value)
            assert plan.object is not None
            field_path = Path(path, response_name, parent_type.name)
            completed = self.collect_and_execute_subfields(
                plan.object, field_details_list, field_path, value, position_context
            )
            if self.is_awaitable(completed):
                return self._settled(completed, plan, field_details_list, field_path)
            return completed
        except Exception as raw_error:
            if field_path is None:
                field_path = Path(path, response_name, parent_type.name)
            self.handle_field_error(raw_error, plan.field_type, field_details_list, field_path)
            return None

    async def _settled(
        self, completed: Awaitable[Any], plan: _Direct, field_details_list: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, plan.field_type, field_details_list, path)
            return None


async def _gathered(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    """`results` with its awaitable values awaited, as graphql-core's `execute_fields` does."""
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
    else:
        awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
    return results


_UNKNOWN: Any = object()


def _release(executor: Executor[Any]) -> None:
    """Break the executor's reference cycle once its operation is done.

    graphql-core's executor holds resolve-info helpers made of its own bound methods, so every
    operation would leave a cycle (executor, context, request headers, collected fields) that
    only the cyclic garbage collector frees. Under load those cycles fill the older generations
    and the full collections that follow stall the event loop for tens of milliseconds (p99
    60 ms instead of 16 ms in bench/http_overhead.py); freed now, they go by reference counting.
    Sibling fields still settling in the background after an error keep the helpers.
    """
    if not executor.background_futures:
        executor.async_helpers = None  # type: ignore[assignment]


class GraphQLExecutor:
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        limits: GraphQLLimits | None = None,
        cache_size: int = 1_024,
        hide_suggestions: bool = False,
    ) -> None:
        self.schema = schema
        self.limits = limits or GraphQLLimits()
        self._graphql_schema = schema._schema
        # Results are always single payloads: without @defer and @stream in the schema (checked
        # here once, not on every request as `graphql.execute` does) nothing is delivered later.
        if any(self._graphql_schema.get_directive(name) for name in ("defer", "stream")):
            raise ValueError("incremental delivery (@defer, @stream) is not served over HTTP")
        self._rules = (*specified_rules, *self.limits.rules())
        self._hide_suggestions = hide_suggestions
        self._cache: OrderedDict[str, PreparedDocument] = OrderedDict()
        self._cache_size = cache_size

    def prepare(self, query: str) -> PreparedDocument:
        cached = self._cache.get(query)
        if cached is not None:
            self._cache.move_to_end(query)
            return cached
        prepared = self._prepare(query)
        self._cache[query] = prepared
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return prepared

    def check(self, query: str) -> list[GraphQLError]:
        """What is wrong with a document (parsing, validation, limits); empty when nothing."""
        return self._prepare(query).errors

    def _prepare(self, query: str) -> PreparedDocument:
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            return PreparedDocument(None, [error])
        operations = {
            (d.name.value if d.name else None): d.operation
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        }
        errors = validate(
            self._graphql_schema,
            document,
            self._rules,
            hide_suggestions=self._hide_suggestions,
        )
        introspects = not errors and selects_introspection(document)
        canonical = None if errors else document_hash(print_ast(document))
        return PreparedDocument(document, list(errors), operations, introspects, canonical)

    async def execute(
        self,
        prepared: PreparedDocument,
        *,
        context: Any,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> ExecutionResult:
        """Execute a valid prepared query or mutation (subscriptions go over WebSocket)."""
        if prepared.document is None or prepared.errors:
            return ExecutionResult(None, prepared.errors)
        if prepared.operation_type(operation_name) is OperationType.SUBSCRIPTION:
            return ExecutionResult(
                None,
                [GraphQLError("Subscriptions are served over WebSocket on /graphql.")],
            )
        # `graphql.execute` minus its per-call schema checks and wrapper coroutines.
        executor = GatewayExecutionContext.build(
            self._graphql_schema,
            prepared.document,
            context_value=context,
            raw_variable_values=variables,
            operation_name=operation_name,
            hide_suggestions=self._hide_suggestions,
            is_awaitable=is_awaitable,
        )
        if isinstance(executor, list):
            return ExecutionResult(None, executor)  # variables that do not coerce
        try:
            result = executor.execute_operation()
            if is_awaitable(result):
                result = await result
        finally:
            _release(executor)
        assert isinstance(result, ExecutionResult)
        return result

    async def run(
        self,
        query: str,
        *,
        context: Any,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> ExecutionResult:
        """Prepare and execute in one call, for in-process callers."""
        return await self.execute(
            self.prepare(query), context=context, variables=variables, operation_name=operation_name
        )
