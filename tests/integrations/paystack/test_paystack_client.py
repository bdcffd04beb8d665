"""The Paystack client against Paystack's recorded bodies: requests, mapping, retries, failures."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from integrations.paystack.client import PaystackClient
from integrations.paystack.webhook import paystack_signature, signature_matches
from integrations.ports.errors import (
    CredentialsRejected,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from integrations.ports.payments import DuplicatePaymentReference, PaymentNotFound
from tests.support.helpers import FIXTURES, RecordedSleeps, upstream_fixture

BASE = "https://api.paystack.test"
SECRET = "sk_test_0nly-in-this-test-9f8e7d"
MAX_RETRIES = 2
# The recorded verify body's reference (it is the recorded initialize body's too).
REFERENCE = "re4lyvq3s3"
# Card and payer details in the recorded verify body that must never reach a log or an error.
CARD_DATA = ("408408", "AUTH_uh8bcl3zbn", "SIG_yEXu7dLBeqG0kU7g95Ke", "demo@test.com")

WEBHOOK_SECRET = "sk_test_webhook-vector-secret"
# `openssl dgst -sha512 -hmac sk_test_webhook-vector-secret paystack_charge_success_event.json`,
# computed outside this code base.
RECORDED_EVENT_SIGNATURE = (
    "d59d8aa5e08f64bb5725f35ff7cd96a52d435aecacb9dd8adda90762558cc53c"
    "a5ac3ae71152e2aa0a949b6a4704d6db5bcf99bef2cc5590c5c2b7ea891d9156"
)


@pytest.fixture
def paystack_api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client(sleeps: RecordedSleeps) -> AsyncIterator[PaystackClient]:
    async with httpx.AsyncClient() as http:
        yield PaystackClient(
            http,
            base_url=BASE,
            secret_key=SECRET,
            max_retries=MAX_RETRIES,
            backoff_seconds=0.5,
            max_wait_seconds=5.0,
            sleep=sleeps,
        )


def _fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = upstream_fixture(name)
    return body


def _refused(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"status": False, "message": message})


def _sent_body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    # Structured logs carry `extra` fields that `caplog.text` does not show.
    return " ".join(repr(vars(record)) for record in caplog.records)


async def _initialize(client: PaystackClient, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "email": "ada@example.com",
        "amount_subunits": 4_000_050,
        "currency": "NGN",
        "reference": REFERENCE,
        "callback_url": "https://sureflights.example/payments/callback",
        "metadata": {"booking_reference": "SF7KQ2", "channel": "web"},
    }
    arguments.update(overrides)
    return await client.initialize(**arguments)


# --- Initialize -------------------------------------------------------------------------------


async def test_initialize_sends_the_amount_in_kobo_with_reference_callback_and_metadata(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    route = paystack_api.post("/transaction/initialize").respond(
        200, json=_fixture("paystack_initialize_response.json")
    )

    payment = await _initialize(client)

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    body = _sent_body(route)
    assert body == {
        "email": "ada@example.com",
        "amount": 4_000_050,
        "currency": "NGN",
        "reference": REFERENCE,
        "callback_url": "https://sureflights.example/payments/callback",
        "metadata": {"booking_reference": "SF7KQ2", "channel": "web"},
    }
    # A JSON integer of kobo, not "40000.50" nor 40000.5.
    assert type(body["amount"]) is int
    assert payment.reference == REFERENCE
    assert payment.authorization_url == "https://checkout.paystack.com/3ni8kdavz62431k"
    assert payment.access_code == "3ni8kdavz62431k"


async def test_initialize_leaves_out_a_callback_url_and_metadata_it_was_not_given(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    route = paystack_api.post("/transaction/initialize").respond(
        200, json=_fixture("paystack_initialize_response.json")
    )

    await _initialize(client, callback_url=None, metadata=None)

    assert set(_sent_body(route)) == {"email", "amount", "currency", "reference"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount_subunits": 0}, "amount_subunits"),
        ({"amount_subunits": 400.5}, "amount_subunits"),
        ({"amount_subunits": True}, "amount_subunits"),
        ({"currency": "naira"}, "currency"),
        ({"reference": "SF 7KQ2/../x"}, "reference"),
        ({"email": "not-an-email"}, "email"),
    ],
)
async def test_initialize_refuses_arguments_paystack_would_reject_without_calling_it(
    paystack_api: respx.MockRouter, client: PaystackClient, overrides: dict[str, Any], field: str
) -> None:
    route = paystack_api.post("/transaction/initialize").respond(
        200, json=_fixture("paystack_initialize_response.json")
    )

    with pytest.raises(UpstreamRejected) as raised:
        await _initialize(client, **overrides)

    assert raised.value.field == field
    assert route.call_count == 0


async def test_initialize_with_a_used_reference_raises_duplicate_payment_reference(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    route = paystack_api.post("/transaction/initialize").mock(
        return_value=_refused(400, "Duplicate Transaction Reference")
    )

    with pytest.raises(DuplicatePaymentReference) as raised:
        await _initialize(client)

    assert isinstance(raised.value, UpstreamError)
    assert "duplicate" in str(raised.value).lower()
    assert route.call_count == 1


async def test_initialize_refused_by_paystack_carries_paystack_message(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    paystack_api.post("/transaction/initialize").mock(
        return_value=_refused(400, "Invalid Amount Sent")
    )

    with pytest.raises(UpstreamRejected) as raised:
        await _initialize(client)

    assert raised.value.upstream == "paystack"
    assert raised.value.detail == "Invalid Amount Sent"


async def test_initialize_is_sent_again_when_the_connection_could_not_be_opened(
    paystack_api: respx.MockRouter, client: PaystackClient, sleeps: RecordedSleeps
) -> None:
    route = paystack_api.post("/transaction/initialize").mock(
        side_effect=[
            httpx.ConnectError("connection refused"),
            httpx.Response(200, json=_fixture("paystack_initialize_response.json")),
        ]
    )

    payment = await _initialize(client)

    assert payment.access_code == "3ni8kdavz62431k"
    assert route.call_count == 2
    assert len(sleeps.waits) == 1


@pytest.mark.parametrize(
    "outcome",
    [httpx.ReadTimeout("no answer"), httpx.Response(502), httpx.Response(429)],
    ids=["read-timeout", "502", "429"],
)
async def test_initialize_is_not_sent_again_once_it_may_have_reached_paystack(
    paystack_api: respx.MockRouter, client: PaystackClient, outcome: Any
) -> None:
    route = paystack_api.post("/transaction/initialize").mock(side_effect=[outcome])

    with pytest.raises(UpstreamUnavailable):
        await _initialize(client)

    assert route.call_count == 1


# --- Verify -----------------------------------------------------------------------------------


async def test_verify_maps_the_recorded_answer_with_the_charged_amount(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = _fixture("paystack_verify_response.json")
    route = paystack_api.get(f"/transaction/verify/{REFERENCE}").respond(200, json=recorded)

    payment = await client.verify(REFERENCE)

    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {SECRET}"
    assert payment.reference == REFERENCE
    assert payment.status == "success"
    # As published, Paystack charged 40333 kobo against 30050 requested: settlement must see
    # what was charged.
    assert recorded["data"]["requested_amount"] == 30050
    assert payment.amount_subunits == 40333
    assert payment.currency == "NGN"
    assert payment.paid_at == datetime(2024, 8, 22, 9, 15, 2, tzinfo=UTC)
    assert payment.channel == "card"
    assert payment.transaction_id == "4099260516"
    assert payment.gateway_response == "Successful"


async def test_verify_keeps_no_card_or_payer_details(
    paystack_api: respx.MockRouter, client: PaystackClient, caplog: pytest.LogCaptureFixture
) -> None:
    recorded = _fixture("paystack_verify_response.json")
    paystack_api.get(f"/transaction/verify/{REFERENCE}").mock(
        side_effect=[
            # A failing answer that echoes the whole transaction, card included.
            httpx.Response(500, json={"status": False, "message": "error", "data": recorded}),
            httpx.Response(200, json=recorded),
        ]
    )

    with caplog.at_level(logging.DEBUG):
        payment = await client.verify(REFERENCE)

    logged = _everything_logged(caplog)
    assert "Paystack call failed; retrying" in logged
    for secret in (*CARD_DATA, SECRET):
        assert secret not in repr(payment)
        assert secret not in logged


@pytest.mark.parametrize(
    "status",
    ["success", "failed", "abandoned", "ongoing", "pending", "processing", "queued", "reversed"],
)
async def test_verify_reports_each_paystack_transaction_status(
    paystack_api: respx.MockRouter, client: PaystackClient, status: str
) -> None:
    recorded = copy.deepcopy(_fixture("paystack_verify_response.json"))
    recorded["data"]["status"] = status
    paystack_api.get(f"/transaction/verify/{REFERENCE}").respond(200, json=recorded)

    assert (await client.verify(REFERENCE)).status == status


async def test_verify_reports_a_status_paystack_never_documented_as_pending(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = copy.deepcopy(_fixture("paystack_verify_response.json"))
    recorded["data"]["status"] = "blocked"
    paystack_api.get(f"/transaction/verify/{REFERENCE}").respond(200, json=recorded)

    assert (await client.verify(REFERENCE)).status == "pending"


async def test_verify_of_an_unpaid_transaction_has_no_paid_at(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = copy.deepcopy(_fixture("paystack_verify_response.json"))
    recorded["data"].update(status="abandoned", paid_at=None, paidAt=None, channel=None)
    paystack_api.get(f"/transaction/verify/{REFERENCE}").respond(200, json=recorded)

    payment = await client.verify(REFERENCE)

    assert (payment.status, payment.paid_at, payment.channel) == ("abandoned", None, None)


async def test_verify_is_retried_on_5xx_until_paystack_answers(
    paystack_api: respx.MockRouter, client: PaystackClient, sleeps: RecordedSleeps
) -> None:
    route = paystack_api.get(f"/transaction/verify/{REFERENCE}").mock(
        side_effect=[
            httpx.Response(503, json={"status": False, "message": "Service unavailable"}),
            httpx.Response(200, json=_fixture("paystack_verify_response.json")),
        ]
    )

    payment = await client.verify(REFERENCE)

    assert payment.status == "success"
    assert route.call_count == 2
    assert len(sleeps.waits) == 1
    # Full jitter within the first backoff step.
    assert 0 <= sleeps.waits[0] <= 0.5


async def test_verify_gives_up_after_max_retries(
    paystack_api: respx.MockRouter, client: PaystackClient, sleeps: RecordedSleeps
) -> None:
    route = paystack_api.get(f"/transaction/verify/{REFERENCE}").mock(
        side_effect=[httpx.ReadTimeout("slow")] * (MAX_RETRIES + 1)
    )

    with pytest.raises(UpstreamUnavailable) as raised:
        await client.verify(REFERENCE)

    assert raised.value.upstream == "paystack"
    assert route.call_count == MAX_RETRIES + 1
    assert len(sleeps.waits) == MAX_RETRIES


async def test_verify_waits_as_long_as_a_429_asks(
    paystack_api: respx.MockRouter, client: PaystackClient, sleeps: RecordedSleeps
) -> None:
    paystack_api.get(f"/transaction/verify/{REFERENCE}").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "2"}),
            httpx.Response(200, json=_fixture("paystack_verify_response.json")),
        ]
    )

    await client.verify(REFERENCE)

    assert len(sleeps.waits) == 1
    assert 2.0 <= sleeps.waits[0] <= 2.5


async def test_verify_of_an_unknown_reference_raises_payment_not_found_at_once(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    route = paystack_api.get("/transaction/verify/SF-unknown-1").mock(
        return_value=_refused(400, "Transaction reference not found")
    )

    with pytest.raises(PaymentNotFound) as raised:
        await client.verify("SF-unknown-1")

    assert isinstance(raised.value, UpstreamError)
    assert route.call_count == 1


async def test_verify_refuses_a_reference_that_would_change_the_url(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    with pytest.raises(UpstreamRejected) as raised:
        await client.verify("../../refund/1")

    assert raised.value.field == "reference"
    assert not paystack_api.calls


async def test_verify_answering_for_another_reference_is_an_upstream_error(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    paystack_api.get("/transaction/verify/SF-other-2").respond(
        200, json=_fixture("paystack_verify_response.json")
    )

    with pytest.raises(UpstreamError):
        await client.verify("SF-other-2")


# --- Refunds ----------------------------------------------------------------------------------


async def test_refund_maps_the_recorded_pending_refund(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = _fixture("paystack_refund_response.json")
    route = paystack_api.post("/refund").respond(200, json=recorded)

    refund = await client.refund(
        reference="T685312322670591", amount_subunits=10000, idempotency_note="refund SF7KQ2 #1"
    )

    assert _sent_body(route) == {
        "transaction": "T685312322670591",
        "amount": 10000,
        "merchant_note": "refund SF7KQ2 #1",
    }
    assert refund.id == "3018284"
    assert refund.status == "pending"
    assert refund.amount_subunits == 10000
    assert refund.currency == "NGN"
    assert refund.transaction_reference == "T685312322670591"


async def test_full_refund_lets_paystack_refund_the_whole_amount(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = _fixture("paystack_refund_response.json")
    route = paystack_api.post("/refund").respond(200, json=recorded)

    await client.refund(reference="T685312322670591")

    assert _sent_body(route) == {"transaction": "T685312322670591"}


@pytest.mark.parametrize(
    "outcome",
    [httpx.ReadTimeout("no answer"), httpx.Response(500), httpx.Response(429)],
    ids=["read-timeout", "500", "429"],
)
async def test_refund_is_never_sent_twice_once_it_may_have_reached_paystack(
    paystack_api: respx.MockRouter, client: PaystackClient, outcome: Any
) -> None:
    route = paystack_api.post("/refund").mock(
        side_effect=[outcome, httpx.Response(200, json=_fixture("paystack_refund_response.json"))]
    )

    with pytest.raises(UpstreamUnavailable):
        await client.refund(reference="T685312322670591")

    assert route.call_count == 1


async def test_refund_of_an_unknown_transaction_raises_payment_not_found(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    paystack_api.post("/refund").mock(return_value=_refused(404, "Transaction not found"))

    with pytest.raises(PaymentNotFound):
        await client.refund(reference="SF-unknown-1")


async def test_get_refund_maps_a_fetched_refund_that_names_only_the_transaction_id(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = copy.deepcopy(_fixture("paystack_refund_response.json"))
    # Fetching a refund answers the transaction's id where creating one answers the object.
    recorded["data"].update(transaction=1004723697, status="processed")
    route = paystack_api.get("/refund/3018284").mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json=recorded)]
    )

    refund = await client.get_refund("3018284")

    assert route.call_count == 2
    assert (refund.id, refund.status, refund.amount_subunits) == ("3018284", "processed", 10000)
    assert refund.transaction_reference is None


async def test_get_refund_reports_needs_attention(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = copy.deepcopy(_fixture("paystack_refund_response.json"))
    recorded["data"]["status"] = "needs-attention"
    paystack_api.get("/refund/3018284").respond(200, json=recorded)

    assert (await client.get_refund("3018284")).status == "needs-attention"


async def test_get_refund_of_an_unknown_id_raises_payment_not_found(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    paystack_api.get("/refund/999").mock(return_value=_refused(404, "Refund not found"))

    with pytest.raises(PaymentNotFound):
        await client.get_refund("999")


# --- Failures ---------------------------------------------------------------------------------


async def test_rejected_credentials_raise_upstream_error_without_the_key(
    paystack_api: respx.MockRouter, client: PaystackClient, caplog: pytest.LogCaptureFixture
) -> None:
    route = paystack_api.get(f"/transaction/verify/{REFERENCE}").mock(
        # Even were Paystack to quote the key back.
        return_value=_refused(401, f"Invalid key: {SECRET}")
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(UpstreamError) as raised:
        await client.verify(REFERENCE)

    # Its own kind of error: nothing was done, so nothing is refused or unknown.
    assert type(raised.value) is CredentialsRejected
    assert "credentials rejected" in str(raised.value)
    assert SECRET not in str(raised.value)
    logged = _everything_logged(caplog)
    assert "Paystack call failed" in logged
    assert SECRET not in logged
    assert SECRET not in repr(client)
    assert route.call_count == 1


async def test_a_message_quoting_the_key_is_redacted(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    paystack_api.post("/transaction/initialize").mock(
        return_value=_refused(400, f"Bad request for {SECRET}")
    )

    with pytest.raises(UpstreamRejected) as raised:
        await _initialize(client)

    assert SECRET not in str(raised.value)
    assert "[redacted]" in raised.value.detail


async def test_a_long_message_is_shortened_without_leaving_part_of_the_key(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    # The key straddles the point where long messages are cut.
    paystack_api.post("/transaction/initialize").mock(
        return_value=_refused(400, "x" * 190 + SECRET + " and more")
    )

    with pytest.raises(UpstreamRejected) as raised:
        await _initialize(client)

    assert SECRET[:10] not in raised.value.detail
    assert len(raised.value.detail) <= 200


@pytest.mark.parametrize(
    "content",
    [
        b"<html><body>Bad gateway</body></html>",
        b'{"status": true, "message": "Verification successful"}',
        b'{"status": true, "data": {"reference": "re4lyvq3s3", "amount": "lots"}}',
    ],
    ids=["html", "no-data", "wrong-types"],
)
async def test_an_unreadable_answer_is_an_upstream_error(
    paystack_api: respx.MockRouter, client: PaystackClient, content: bytes
) -> None:
    route = paystack_api.get(f"/transaction/verify/{REFERENCE}").respond(
        200, content=content, headers={"content-type": "application/json"}
    )

    with pytest.raises(UpstreamError) as raised:
        await client.verify(REFERENCE)

    assert type(raised.value) is UpstreamError
    assert route.call_count == 1


async def test_status_false_in_a_2xx_answer_is_an_upstream_error(
    paystack_api: respx.MockRouter, client: PaystackClient
) -> None:
    recorded = copy.deepcopy(_fixture("paystack_verify_response.json"))
    recorded.update(status=False, message="Something odd")
    paystack_api.get(f"/transaction/verify/{REFERENCE}").respond(200, json=recorded)

    with pytest.raises(UpstreamError, match="Something odd"):
        await client.verify(REFERENCE)


def test_a_client_needs_a_secret_key() -> None:
    with pytest.raises(ValueError, match="secret key"):
        PaystackClient(httpx.AsyncClient(), base_url=BASE, secret_key="  ")


# --- Webhook signature ------------------------------------------------------------------------


def _recorded_event() -> bytes:
    # The bytes as published: a signature covers the raw body, not a re-serialization.
    return (FIXTURES / "paystack_charge_success_event.json").read_bytes()


def test_signature_of_the_recorded_event_is_hex_hmac_sha512_of_the_raw_body() -> None:
    assert paystack_signature(WEBHOOK_SECRET, _recorded_event()) == RECORDED_EVENT_SIGNATURE


def test_the_recorded_event_with_its_signature_matches() -> None:
    assert signature_matches(WEBHOOK_SECRET, _recorded_event(), RECORDED_EVENT_SIGNATURE)


def test_a_tampered_body_does_not_match() -> None:
    tampered = _recorded_event().replace(b'"amount":10000', b'"amount":1000000')
    assert tampered != _recorded_event()

    assert not signature_matches(WEBHOOK_SECRET, tampered, RECORDED_EVENT_SIGNATURE)


def test_a_reserialized_body_does_not_match() -> None:
    reserialized = json.dumps(json.loads(_recorded_event())).encode()

    assert not signature_matches(WEBHOOK_SECRET, reserialized, RECORDED_EVENT_SIGNATURE)


def test_a_signature_with_one_character_changed_does_not_match() -> None:
    last = RECORDED_EVENT_SIGNATURE[-1]
    changed = RECORDED_EVENT_SIGNATURE[:-1] + ("0" if last != "0" else "1")

    assert not signature_matches(WEBHOOK_SECRET, _recorded_event(), changed)


@pytest.mark.parametrize("header", [None, "", "   ", "not-hex-\u00e9"])
def test_a_missing_or_garbled_header_does_not_match(header: str | None) -> None:
    assert not signature_matches(WEBHOOK_SECRET, _recorded_event(), header)


def test_another_secret_does_not_match() -> None:
    assert not signature_matches("sk_test_another", _recorded_event(), RECORDED_EVENT_SIGNATURE)


def test_an_empty_secret_never_matches_even_its_own_signature() -> None:
    body = _recorded_event()

    assert not signature_matches("", body, paystack_signature("", body))
