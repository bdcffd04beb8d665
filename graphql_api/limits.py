"""Validation rules that bound what one GraphQL document may ask for: depth, aliases, operations.

They walk fragment spreads, so a limit cannot be dodged by moving selections into fragments
(circular fragments are reported by the standard `NoFragmentCycles` rule; here they only must not
loop), and they apply to every operation whatever its name, `__schema` included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

Rule = type[ASTValidationRule]


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


# Introspection's entry points: what is under them reads the schema, which is bounded and
# cheap, and the standard introspection query nests 15 levels (`ofType` in `ofType`), so their
# nesting counts against a cap of its own rather than the operation's depth limit.
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: frozenset[str],
    memo: dict[str, int],
    introspection: bool = False,
) -> int:
    """Deepest field nesting under a selection set; fragments count as if inlined.

    `introspection` False: `__schema` and `__type` count one level, whatever is under them.
    True: only the nesting under (and including) `__schema` and `__type` is measured.
    """
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in INTROSPECTION_ROOTS:
                found = (
                    _plain_depth(selection.selection_set, fragments, visiting, {}) + 1
                    if introspection
                    else 1
                )
            elif selection.selection_set is None:
                found = 0 if introspection else 1
            else:
                below = _depth(selection.selection_set, fragments, visiting, memo, introspection)
                found = below if introspection else 1 + below
            deepest = max(deepest, found)
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(
                deepest,
                _depth(selection.selection_set, fragments, visiting, memo, introspection),
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:
                continue
            if name not in memo:
                memo[name] = _depth(
                    fragment.selection_set, fragments, visiting | {name}, memo, introspection
                )
            deepest = max(deepest, memo[name])
    return deepest


def _plain_depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: frozenset[str],
    memo: dict[str, int],
) -> int:
    """Deepest field nesting under a selection set, every field counted (fragments inlined)."""
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            deepest = max(
                deepest, 1 + _plain_depth(selection.selection_set, fragments, visiting, memo)
            )
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _plain_depth(selection.selection_set, fragments, visiting, memo))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:
                continue
            if name not in memo:
                memo[name] = _plain_depth(
                    fragment.selection_set, fragments, visiting | {name}, memo
                )
            deepest = max(deepest, memo[name])
    return deepest


def _introspection_depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: frozenset[str],
    memo: dict[str, int],
) -> int:
    return _depth(selection_set, fragments, visiting, memo, introspection=True)


def _aliases(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: frozenset[str],
    memo: dict[str, int],
) -> int:
    """Aliases under a selection set, with each fragment counted once per spread."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += (1 if selection.alias else 0) + _aliases(
                selection.selection_set, fragments, visiting, memo
            )
        elif isinstance(selection, InlineFragmentNode):
            total += _aliases(selection.selection_set, fragments, visiting, memo)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:
                continue
            if name not in memo:
                memo[name] = _aliases(fragment.selection_set, fragments, visiting | {name}, memo)
            total += memo[name]
    return total


def _limit_rule(
    measure: Callable[
        [SelectionSetNode, dict[str, FragmentDefinitionNode], frozenset[str], dict[str, int]], int
    ],
    limit: int,
    describe: Callable[[str, int, int], str],
) -> Rule:
    class _Limit(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            found = measure(node.selection_set, _fragments(self.context.document), frozenset(), {})
            if found > limit:
                name = node.name.value if node.name else "anonymous"
                self.report_error(GraphQLError(describe(name, found, limit), node))

    return _Limit


def max_depth_rule(limit: int) -> Rule:
    return _limit_rule(
        _depth,
        limit,
        lambda op, found, lim: (
            f"Operation '{op}' is nested {found} levels deep; the limit is {lim}."
        ),
    )


def max_introspection_depth_rule(limit: int) -> Rule:
    """Bounds the nesting under `__schema` and `__type`, which `max_depth_rule` counts as one."""
    return _limit_rule(
        _introspection_depth,
        limit,
        lambda op, found, lim: (
            f"Operation '{op}' nests introspection {found} levels deep; the limit is {lim}."
        ),
    )


def max_aliases_rule(limit: int) -> Rule:
    return _limit_rule(
        _aliases,
        limit,
        lambda op, found, lim: f"Operation '{op}' uses {found} aliases; the limit is {lim}.",
    )


def max_operations_rule(limit: int) -> Rule:
    class _MaxOperations(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            count = sum(isinstance(d, OperationDefinitionNode) for d in node.definitions)
            if count > limit:
                self.report_error(
                    GraphQLError(
                        f"The document holds {count} operations; send at most {limit} per request."
                    )
                )

    return _MaxOperations
