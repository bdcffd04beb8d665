"""Termii's SMS API over HTTP, with the bodies its documentation gives."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import respx

from integrations.ports.errors import UpstreamError, UpstreamRejected, UpstreamUnavailable
from integrations.ports.notifications import SmsMessage
from integrations.termii import TermiiClient
from tests.support.helpers import unreachable, upstream_fixture

URL = "https://api.ng.termii.com/api/sms/send"
TEXT = "SureFlights: booked! SF7K2QXM, airline ref VP7ZA6."


def client(http: httpx.AsyncClient) -> TermiiClient:
    return TermiiClient(
        http,
        base_url="https://api.ng.termii.com",
        api_key="TLtermii-test-key",
        sender_id="SureFlight",
        backoff_seconds=0,
    )


async def test_a_text_is_sent_as_termii_documents_and_its_message_id_kept() -> None:
    with respx.mock() as router:
        route = router.post(URL).respond(
            200, json=upstream_fixture("termii_send_sms_response.json")
        )
        async with httpx.AsyncClient() as http:
            sent = await client(http).send(SmsMessage("+2348031234567", TEXT))
    assert sent == "9122821270554876574"
    body = json.loads(route.calls.last.request.content)
    documented = upstream_fixture("termii_send_sms_request.json")
    assert set(body) <= set(documented)
    assert body == {
        "api_key": "TLtermii-test-key",
        "to": "2348031234567",
        "from": "SureFlight",
        "sms": TEXT,
        "type": "plain",
        "channel": "generic",
    }


@pytest.mark.parametrize(
    ("status", "body", "error", "detail"),
    [
        (400, {"message": "Invalid Sender Id"}, UpstreamRejected, "Invalid Sender Id"),
        (404, {"message": "ApplicationSenderId not found"}, UpstreamRejected, "not found"),
        (401, {"message": "No valid API key provided"}, UpstreamError, "API key"),
        (500, {"message": "Server error"}, UpstreamUnavailable, "HTTP 500"),
    ],
)
async def test_refusals_and_outages_are_mapped_and_never_resent(
    status: int, body: dict[str, str], error: type[Exception], detail: str
) -> None:
    with respx.mock() as router:
        route = router.post(URL).respond(status, json=body)
        async with httpx.AsyncClient() as http:
            with pytest.raises(error, match=detail):
                await client(http).send(SmsMessage("+2348031234567", TEXT))
    # It may have gone out before failing: a second try could text the traveller twice.
    assert route.call_count == 1


async def test_a_timeout_is_not_resent_but_a_refused_connection_is() -> None:
    with respx.mock() as router:
        route = router.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        async with httpx.AsyncClient() as http:
            with pytest.raises(UpstreamUnavailable, match="timed out"):
                await client(http).send(SmsMessage("+2348031234567", TEXT))
        assert route.call_count == 1
        route.mock(
            side_effect=[
                httpx.ConnectError("refused"),
                httpx.Response(200, json=upstream_fixture("termii_send_sms_response.json")),
            ]
        )
        async with httpx.AsyncClient() as http:
            assert await client(http).send(SmsMessage("+2348031234567", TEXT))
        assert route.call_count == 3


async def test_a_rate_limit_is_waited_out_and_a_garbled_answer_is_an_error() -> None:
    with respx.mock() as router:
        route = router.post(URL).mock(
            side_effect=[
                httpx.Response(429, headers={"retry-after": "0"}, json={"message": "slow down"}),
                httpx.Response(200, text="<html>gateway</html>"),
            ]
        )
        async with httpx.AsyncClient() as http:
            with pytest.raises(UpstreamError, match="unreadable"):
                await client(http).send(SmsMessage("+2348031234567", TEXT))
    assert route.call_count == 2


async def test_an_unreachable_termii_ends_by_the_deadline() -> None:
    with respx.mock() as router:
        route = router.post(URL).mock(side_effect=unreachable)
        async with httpx.AsyncClient() as http:
            termii = TermiiClient(
                http,
                base_url="https://api.ng.termii.com",
                api_key="TLtermii-test-key",
                sender_id="SureFlight",
                timeout=1.0,
                backoff_seconds=0.05,
                deadline_seconds=1.5,
            )
            started = time.monotonic()
            with pytest.raises(UpstreamUnavailable):
                await termii.send(SmsMessage("+2348031234567", TEXT))
            elapsed = time.monotonic() - started
    # Never sent, so retried; three attempts of a second each would take over three.
    assert route.call_count >= 2
    assert elapsed < 2.5, elapsed
