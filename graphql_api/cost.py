"""Demand control: what an operation will cost, worked out from its document before it runs.

In the spirit of the IBM GraphQL Cost Directive specification: `@cost(weight:)` on a field or a
type says what resolving it weighs, `@listSize(assumedSize:, slicingArguments:, sizedFields:)`
on a list field says how many items to expect. Without them, an object weighs 1, a scalar or
enum 0, a root mutation field 10, and a list holds `DEFAULT_LIST_SIZE` items.

The cost of a field is its own weight plus, for each item it returns (the list size, or 1), its
type's weight and the cost of its selections; an operation costs the sum of its root fields.
Introspection (`__schema`, `__type`, `__typename`) costs nothing: it reads the schema, which
is bounded, not data. The gateway refuses an operation above `GRAPHQL_MAX_COST` and charges
what it costs against the caller's budget (see graphql_api.http) before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from strawberry.schema_directive import Location

from integrations.state.ratelimit import RateLimiter, RatePolicy
from resolvers.access import Caller, CallerKind
from resolvers.ratelimits import Record, enforce

DEFAULT_LIST_SIZE = 10
DEFAULT_MUTATION_WEIGHT = 10
COMPOSITE_WEIGHT = 1


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT],
    description="What resolving this field, or an object of this type, weighs (IBM cost spec).",
)
class Cost:
    weight: str


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="How many items this list returns, for cost analysis (IBM cost spec).",
)
class ListSize:
    # Unset arguments are left out of the SDL, as the specification writes them.
    assumed_size: int | None = strawberry.UNSET
    slicing_arguments: list[str] | None = strawberry.UNSET
    sized_fields: list[str] | None = strawberry.UNSET
    require_one_slicing_argument: bool = True


def _directives(definition: Any) -> list[object]:
    strawberry_definition = (getattr(definition, "extensions", None) or {}).get(
        "strawberry-definition"
    )
    return list(getattr(strawberry_definition, "directives", None) or ())


def _directive(definition: Any, kind: type[Any]) -> Any:
    for directive in _directives(definition):
        if isinstance(directive, kind):
            return directive
    return None


def _weight(definition: Any) -> int | None:
    cost = _directive(definition, Cost)
    return int(cost.weight) if cost is not None else None


def _is_list(kind: GraphQLOutputType) -> bool:
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


@dataclass(frozen=True, slots=True)
class _Sizing:
    assumed: int
    slicing: tuple[str, ...]
    sized_fields: tuple[str, ...]


class CostAnalysis:
    """The static cost of operations against one schema."""

    def __init__(self, schema: GraphQLSchema, *, default_list_size: int = DEFAULT_LIST_SIZE):
        self._schema = schema
        self._default_list_size = default_list_size
        self._type_weights: dict[str, int] = {}
        for name, named in schema.type_map.items():
            if name.startswith("__"):
                continue
            weight = _weight(named)
            self._type_weights[name] = (
                weight if weight is not None else (0 if is_leaf_type(named) else COMPOSITE_WEIGHT)
            )

    def cost(
        self,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> int:
        """The cost of the operation `operation_name` selects (0 when there is none)."""
        operation = _operation(document, operation_name)
        if operation is None:
            return 0
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return 0
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        walk = _Walk(self, fragments, variables or {}, operation.operation)
        return walk.selections(operation.selection_set, root, root=True)

    def type_weight(self, named: GraphQLNamedType) -> int:
        return self._type_weights.get(named.name, 0)

    def field_weight(self, field: GraphQLField, operation: OperationType, root: bool) -> int:
        weight = _weight(field)
        if weight is not None:
            return weight
        return DEFAULT_MUTATION_WEIGHT if root and operation is OperationType.MUTATION else 0

    def sizing(self, field: GraphQLField) -> _Sizing:
        size = _directive(field, ListSize)
        if size is None:
            return _Sizing(self._default_list_size, (), ())
        assumed = size.assumed_size if isinstance(size.assumed_size, int) else None
        return _Sizing(
            assumed if assumed is not None else self._default_list_size,
            tuple(size.slicing_arguments or ()),
            tuple(size.sized_fields or ()),
        )


def _operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


class _Walk:
    def __init__(
        self,
        analysis: CostAnalysis,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        operation: OperationType,
    ) -> None:
        self.analysis = analysis
        self.fragments = fragments
        self.variables = variables
        self.operation = operation

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLObjectType,
        *,
        root: bool = False,
        visiting: frozenset[str] = frozenset(),
        sized: Mapping[str, int] | None = None,
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, root, sized)
            elif isinstance(selection, InlineFragmentNode):
                total += self.selections(
                    selection.selection_set, parent, root=root, visiting=visiting, sized=sized
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in visiting:
                    total += self.selections(
                        fragment.selection_set,
                        parent,
                        root=root,
                        visiting=visiting | {name},
                        sized=sized,
                    )
        return total

    def field(
        self,
        node: FieldNode,
        parent: GraphQLObjectType,
        root: bool,
        sized: Mapping[str, int] | None,
    ) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        weight = self.analysis.field_weight(definition, self.operation, root)
        size = 1
        child_sizes: dict[str, int] | None = None
        if _is_list(definition.type) or self._has_sizing(definition):
            sizing = self.analysis.sizing(definition)
            count = self._list_size(node, definition, sizing)
            if sizing.sized_fields:
                # A connection: the list is inside it, under the fields named here.
                child_sizes = dict.fromkeys(sizing.sized_fields, count)
            else:
                size = count
        if sized is not None and name in sized:
            size = sized[name]
        children = 0
        if isinstance(named, GraphQLObjectType):
            children = self.selections(node.selection_set, named, sized=child_sizes)
        return weight + size * (self.analysis.type_weight(named) + children)

    @staticmethod
    def _has_sizing(definition: GraphQLField) -> bool:
        return _directive(definition, ListSize) is not None

    def _list_size(self, node: FieldNode, definition: GraphQLField, sizing: _Sizing) -> int:
        sizes = [
            size
            for size in (self._argument(node, definition, name) for name in sizing.slicing)
            if size is not None
        ]
        return max(sizes) if sizes else sizing.assumed

    def _argument(self, node: FieldNode, definition: GraphQLField, name: str) -> int | None:
        """The value of an integer argument as the request gives it, else its default."""
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = self._value(argument.value)
                if value is not None:
                    return value
                break
        graphql_argument = definition.args.get(name)
        default = graphql_argument.default_value if graphql_argument is not None else None
        return default if isinstance(default, int) and not isinstance(default, bool) else None

    def _value(self, value: ValueNode) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            if isinstance(given, int) and not isinstance(given, bool):
                return given
        return None


class Budgets:
    """What callers may spend per window: anonymous callers and travellers by client address,
    partners by key (with per-key overrides); admins and the in-process assistant spend freely."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        anonymous: RatePolicy,
        partner: RatePolicy,
        overrides: Mapping[str, RatePolicy] | None = None,
    ) -> None:
        self._limiter = limiter
        self._anonymous = anonymous
        self._partner = partner
        self._overrides = dict(overrides or {})

    def budget_for(self, caller: Caller, client: str) -> tuple[str, RatePolicy] | None:
        """The counter and policy `caller` spends from, None for callers without a budget."""
        if caller.kind in (CallerKind.ADMIN, CallerKind.INTERNAL):
            return None
        if caller.kind is CallerKind.PARTNER and caller.partner_id is not None:
            policy = self._overrides.get(caller.partner_id, self._partner)
            return f"cost:partner:{caller.partner_id}", policy
        return f"cost:ip:{client}", self._anonymous

    async def charge(
        self, caller: Caller, client: str, cost: int, record: Record | None = None
    ) -> None:
        """Spend `cost` from the caller's budget; `RateLimited` when it does not fit."""
        budget = self.budget_for(caller, client)
        if budget is None or cost < 1:
            return
        key, policy = budget
        await enforce(
            self._limiter,
            key,
            policy,
            refusal=f"this operation costs {cost} and the budget of {policy} is spent",
            record=record,
            cost=cost,
        )
