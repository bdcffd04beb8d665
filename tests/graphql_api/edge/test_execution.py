"""The executor reads plain fields inline: its answers, errors included, are graphql-core's."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import graphql as graphql_core

from graphql_api.executor import GraphQLExecutor


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    name: str
    count: int
    colour: Colour
    maybe: str | None = None


class Broken:
    """An object whose attributes fail the way a buggy domain object would."""

    count = 3
    colour = Colour.RED
    maybe = None

    @property
    def name(self) -> str:
        raise RuntimeError("broken name")


@strawberry.type
class Branch:
    label: str
    leaf: Leaf
    optional_leaf: Leaf | None
    leaves: list[Leaf]

    @strawberry.field
    async def later(self) -> Leaf:
        await asyncio.sleep(0)
        return self.leaf


@strawberry.type
class Query:
    @strawberry.field
    def good(self) -> Branch:
        leaf = Leaf(name="a", count=1, colour=Colour.BLUE)
        return Branch(label="ok", leaf=leaf, optional_leaf=None, leaves=[leaf, leaf])

    @strawberry.field
    def null_where_not_allowed(self) -> Branch | None:
        leaf = Leaf(name=None, count=2, colour=Colour.RED)  # type: ignore[arg-type]
        return Branch(label="x", leaf=leaf, optional_leaf=leaf, leaves=[leaf])

    @strawberry.field
    def failing(self) -> Branch | None:
        broken: Any = Broken()
        return Branch(label="y", leaf=broken, optional_leaf=broken, leaves=[broken])

    @strawberry.field
    def wrong_scalar(self) -> Leaf | None:
        return Leaf(name="z", count="many", colour=Colour.RED)  # type: ignore[arg-type]


SELECTION = "label leaf { name count colour maybe } optionalLeaf { name count } later { name }"


@pytest.mark.parametrize(
    "query",
    [
        f"{{ good {{ {SELECTION} leaves {{ name colour }} }} }}",
        f"{{ nullWhereNotAllowed {{ {SELECTION} }} }}",
        "{ failing { label optionalLeaf { name } } }",
        f"{{ failing {{ {SELECTION} }} }}",
        "{ failing { leaves { count name } } }",
        "{ wrongScalar { name count } }",
        "{ good { aliased: label again: label leaf { n: name, ...F } } } "
        "fragment F on Leaf { count }",
    ],
)
async def test_answers_and_errors_are_graphql_cores(query: str) -> None:
    schema = strawberry.Schema(query=Query)
    ours = await GraphQLExecutor(schema).run(query, context=None)
    theirs = await graphql_core(schema._schema, query)
    assert ours.data == theirs.data
    assert [(e.message, e.path) for e in ours.errors or ()] == [
        (e.message, e.path) for e in theirs.errors or ()
    ]
