"""The live schema keeps every name and shape of the contract's GraphQL schema; it may add more."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    build_schema,
)

from graphql_api.schema import build_schema as build_live_schema
from tests.support.helpers import TESTS

# The contract's GraphQL block, kept in the repository so a clone checks itself.
CONTRACT = TESTS / "fixtures" / "contract" / "contract.graphql"


def contract_schema():  # type: ignore[no-untyped-def]
    return build_schema(CONTRACT.read_text(encoding="utf-8"))


def test_every_contract_type_field_and_argument_is_served_with_its_type() -> None:
    wanted = contract_schema()
    live = build_live_schema()._schema
    for name, contract_type in wanted.type_map.items():
        if name.startswith("__"):
            continue
        served = live.type_map.get(name)
        assert served is not None, f"type {name} is missing"
        if isinstance(contract_type, GraphQLEnumType):
            assert isinstance(served, GraphQLEnumType)
            assert set(contract_type.values) <= set(served.values), name
        elif isinstance(contract_type, GraphQLObjectType | GraphQLInputObjectType):
            assert type(served) is type(contract_type), name
            for field_name, field in contract_type.fields.items():
                live_field = served.fields.get(field_name)  # type: ignore[union-attr]
                assert live_field is not None, f"{name}.{field_name} is missing"
                assert str(live_field.type) == str(field.type), f"{name}.{field_name}"
                for arg_name, arg in getattr(field, "args", {}).items():
                    live_arg = live_field.args.get(arg_name)
                    assert live_arg is not None, f"{name}.{field_name}({arg_name}) is missing"
                    assert str(live_arg.type) == str(arg.type), f"{name}.{field_name}({arg_name})"
