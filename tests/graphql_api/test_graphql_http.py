"""GraphQL over HTTP on /graphql as clients see it: status codes, error codes, limits, GraphiQL.

Every refused request is followed by a real query, so a refusal never leaves the gateway unable
to serve the next caller.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.types import Message

RATE = '{ exchangeRate(base: "USD", quote: "NGN") { rate } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"
SPEC = {"Accept": GRAPHQL_RESPONSE}
ONE_MIB = 1_048_576


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": RATE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert float(body["data"]["exchangeRate"]["rate"]) > 0


async def assert_refused(
    client: httpx.AsyncClient,
    response: httpx.Response,
    status: int,
    code: str = "BAD_USER_INPUT",
) -> dict[str, Any]:
    """The request was refused with `status` and `code`, nothing ran, and the next one works."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert error_code(response) == code, body
    assert "data" not in body, body
    await assert_still_serving(client)
    return body


def nested_introspection(levels: int) -> str:
    """An introspection query whose deepest field sits `levels` fields deep."""
    # __schema, types, fields, type, then ofType down to `name` at the requested depth.
    inner = "name"
    for _ in range(levels - 5):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


def aliased_typenames(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


# --- the request itself ---------------------------------------------------------------------


async def test_malformed_json_body_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"',
        headers={"Content-Type": "application/json"},
    )
    await assert_refused(client, response, 400)


async def test_body_over_one_mib_is_refused_by_its_content_length(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"query": "{ __typename }", "padding": "' + b"x" * ONE_MIB + b'"}'
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.request.headers["content-length"] == str(len(body))
    await assert_refused(client, response, 413)


async def test_streamed_body_over_one_mib_without_content_length_is_refused(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "padding": "'
        for _ in range(17):
            yield b"x" * 65_536
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    await assert_refused(client, response, 413)


async def test_real_server_refuses_a_declared_oversized_body_before_it_is_sent(
    live_server: str,
) -> None:
    host, port = live_server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\n"
            + f"Host: {live_server}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {2 * ONE_MIB}\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head.lower())
            assert length is not None, head
            body = await reader.readexactly(int(length.group(1)))
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")
    assert b'"code":"BAD_USER_INPUT"' in body
    async with httpx.AsyncClient(base_url=f"http://{live_server}", timeout=10) as http:
        await assert_still_serving(http)


async def test_body_of_exactly_one_mib_is_accepted(client: httpx.AsyncClient) -> None:
    head = b'{"query": "{ __typename }", "padding": "'
    body = head + b"x" * (ONE_MIB - len(head) - 2) + b'"}'
    assert len(body) == ONE_MIB
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_body_that_is_not_utf8_json_is_a_415(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"Content-Type": content_type}
    )
    await assert_refused(client, response, 415)


async def test_json_with_a_charset_parameter_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_batched_array_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": RATE}, {"query": RATE}])
    body = await assert_refused(client, response, 400)
    assert "Batched" in body["errors"][0]["message"]


@pytest.mark.parametrize("body", [{}, {"query": ""}, {"query": None}, {"notquery": RATE}])
async def test_missing_query_is_a_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    await assert_refused(client, await post(client, body), 400)


@pytest.mark.parametrize("variables", ["{}", 1, ["a"], True])
async def test_variables_that_are_not_a_map_are_a_400(
    client: httpx.AsyncClient, variables: Any
) -> None:
    response = await post(client, {"query": RATE, "variables": variables})
    await assert_refused(client, response, 400)


async def test_unacceptable_accept_header_is_a_406(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": RATE}, headers={"Accept": "application/xml"})
    await assert_refused(client, response, 406)


# --- documents that do not parse or validate ------------------------------------------------


async def test_validation_errors_are_400_for_graphql_response_json_and_200_for_json(
    client: httpx.AsyncClient,
) -> None:
    query = {"query": "{ noSuchField }"}
    spec = await post(client, query, SPEC)
    assert spec.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    await assert_refused(client, spec, 400)
    legacy = await post(client, query, {"Accept": "application/json"})
    assert legacy.headers["content-type"].startswith("application/json")
    await assert_refused(client, legacy, 200)


async def test_variables_that_do_not_coerce_are_the_clients_error(
    client: httpx.AsyncClient,
) -> None:
    query = 'query Rate($base: String!) { exchangeRate(base: $base, quote: "NGN") { rate } }'
    for variables in ({"base": 840}, {"base": None}, {}):
        body = {"query": query, "variables": variables}
        refused = await assert_refused(client, await post(client, body, SPEC), 400)
        assert "$base" in refused["errors"][0]["message"]
        await assert_refused(client, await post(client, body), 200)


async def test_introspection_nesting_of_twenty_runs_and_twenty_one_is_refused(
    client: httpx.AsyncClient,
) -> None:
    # Introspection's nesting has a cap of its own (the depth limit of 10 counts it as one).
    allowed = await post(client, {"query": nested_introspection(20)}, SPEC)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["data"]["__schema"]["types"]
    refused = await assert_refused(
        client, await post(client, {"query": nested_introspection(21)}, SPEC), 400
    )
    assert "nests introspection 21 levels deep; the limit is 20" in refused["errors"][0]["message"]


async def test_depth_through_nested_fragments_is_refused(client: httpx.AsyncClient) -> None:
    # Inlined, the introspection is 4 + 5 * 4 + 2 = 26 fields deep.
    query = """
    { __schema { types { fields { type { ...A } } } } }
    fragment A on __Type { ofType { ofType { ofType { ofType { ...B } } } } }
    fragment B on __Type { ofType { ofType { ofType { ofType { ...C } } } } }
    fragment C on __Type { ofType { ofType { ofType { ofType { ...D } } } } }
    fragment D on __Type { ofType { ofType { ofType { ofType { ...E } } } } }
    fragment E on __Type { ofType { ofType { ofType { ofType { ...F } } } } }
    fragment F on __Type { ofType { name } }
    """
    refused = await assert_refused(client, await post(client, {"query": query}, SPEC), 400)
    assert "26 levels deep; the limit is 20" in refused["errors"][0]["message"]


async def test_circular_fragments_are_refused_without_hanging(client: httpx.AsyncClient) -> None:
    query = """
    { __schema { types { ...A } } }
    fragment A on __Type { ofType { ...B } }
    fragment B on __Type { ofType { ...A } }
    """
    async with asyncio.timeout(5):
        response = await post(client, {"query": query}, SPEC)
    refused = await assert_refused(client, response, 400)
    assert any("within itself" in e["message"] for e in refused["errors"]), refused


async def test_fifteen_aliases_run_and_sixteen_are_refused(client: httpx.AsyncClient) -> None:
    allowed = await post(client, {"query": aliased_typenames(15)}, SPEC)
    assert allowed.status_code == 200, allowed.text
    assert len(allowed.json()["data"]) == 15
    refused = await assert_refused(
        client, await post(client, {"query": aliased_typenames(16)}, SPEC), 400
    )
    assert "16 aliases; the limit is 15" in refused["errors"][0]["message"]


async def test_aliases_multiplied_through_fragment_spreads_are_refused(
    client: httpx.AsyncClient,
) -> None:
    # Four aliases, spread five times: 20 once the fragments are inlined.
    query = """
    { ...Four ...Four ...Four ...Four ...Four }
    fragment Four on Query { a: __typename b: __typename c: __typename d: __typename }
    """
    refused = await assert_refused(client, await post(client, {"query": query}, SPEC), 400)
    assert "20 aliases; the limit is 15" in refused["errors"][0]["message"]


async def test_document_over_two_thousand_tokens_is_refused(client: httpx.AsyncClient) -> None:
    query = "{ " + "__typename " * 2_000 + "}"
    refused = await assert_refused(client, await post(client, {"query": query}, SPEC), 400)
    assert "2000 tokens" in refused["errors"][0]["message"]


async def test_an_operation_named_after_introspection_is_still_depth_limited(
    client: httpx.AsyncClient,
) -> None:
    query = "query __schema " + nested_introspection(21)
    response = await post(client, {"query": query, "operationName": "__schema"}, SPEC)
    refused = await assert_refused(client, response, 400)
    assert "levels deep" in refused["errors"][0]["message"]


async def test_two_operations_in_one_document_are_refused(client: httpx.AsyncClient) -> None:
    query = f"query First {RATE} query Second {RATE}"
    for operation_name in (None, "First"):
        response = await post(client, {"query": query, "operationName": operation_name}, SPEC)
        refused = await assert_refused(client, response, 400)
        assert "2 operations" in refused["errors"][0]["message"]


# --- GET ------------------------------------------------------------------------------------


async def test_get_runs_a_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": RATE}, headers=SPEC)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert float(response.json()["data"]["exchangeRate"]["rate"]) > 0


async def test_get_with_variables_runs_a_query(client: httpx.AsyncClient) -> None:
    query = 'query Rate($quote: String!) { exchangeRate(base: "USD", quote: $quote) { quote } }'
    params = {"query": query, "variables": '{"quote": "NGN"}'}
    response = await client.get("/graphql", params=params)
    assert response.status_code == 200
    assert response.json() == {"data": {"exchangeRate": {"quote": "NGN"}}}


@pytest.mark.parametrize(
    "query",
    [
        "mutation { __typename }",
        "mutation Book { createBooking }",
        'subscription { exchangeRateUpdates(base: "USD", quote: "NGN") { rate } }',
    ],
)
async def test_get_never_runs_a_mutation(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get("/graphql", params={"query": query}, headers=SPEC)
    await assert_refused(client, response, 405)
    assert response.headers["allow"] == "POST"


async def test_get_with_text_html_serves_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    await assert_still_serving(client)


# --- request ids ----------------------------------------------------------------------------


async def test_request_id_is_honoured_and_echoed(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ noSuchField }"}, {"X-Request-ID": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"
    assert error_code(response) == "BAD_USER_INPUT"
    await assert_still_serving(client)


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 129])
async def test_request_id_is_generated_when_absent_or_unusable(
    client: httpx.AsyncClient, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else None
    first = await post(client, {"query": RATE}, headers)
    second = await post(client, {"query": RATE}, headers)
    assert first.status_code == second.status_code == 200
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert all(re.fullmatch(r"[0-9a-f]{24}", request_id) for request_id in ids)


# --- what a request leaves behind -----------------------------------------------------------


async def test_a_query_leaves_no_reference_cycles_behind(app: Starlette) -> None:
    # Cycles left by every request fill the collector's older generations, and the full
    # collections that follow stall every request in flight (the p99 of bench/http_overhead.py).
    body = orjson.dumps({"query": RATE})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def query() -> int:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        status: int = sent[0]["status"]
        return status

    assert await query() == 200  # caches warmed
    gc.collect()
    gc.disable()
    try:
        statuses = [await query() for _ in range(20)]
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert statuses == [200] * 20
    assert unreachable == 0
