"""Termii's SMS API: `POST {TERMII_API_URL}/api/sms/send`, the SMS most Nigerian businesses use.

A send is a create: it is repeated only when the request surely never reached Termii (the
connection could not be opened) or Termii said to slow down (429), never after a timeout, so a
traveller never gets the same text twice from a retry here.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from integrations.ports.errors import UpstreamError, UpstreamRejected, UpstreamUnavailable
from integrations.ports.notifications import SmsMessage
from integrations.retry import (
    RETRY_AFTER,
    Failed,
    RetryPolicy,
    attempt_timeout,
    hinted_wait,
    never_sent,
    transport_failure,
)

UPSTREAM = "termii"
DEFAULT_TIMEOUT_SECONDS = 15.0
# "generic" is Termii's route for transactional messages; "dnd" also reaches numbers on the
# do-not-disturb list, where Termii has enabled it for the sender.
CHANNELS = ("generic", "dnd")

log = logging.getLogger("sureflights.termii")


class _Sent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message_id: str | int
    message: str | None = None


class TermiiClient:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        sender_id: str,
        channel: str = "generic",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        backoff_seconds: float = 0.5,
        deadline_seconds: float | None = None,
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"the Termii channel is one of {', '.join(CHANNELS)}")
        self._client = client
        self._url = base_url.rstrip("/") + "/api/sms/send"
        self._api_key = api_key
        self.sender_id = sender_id
        self.channel = channel
        self._timeout = timeout
        self._retry = RetryPolicy(
            max_retries=2, backoff_seconds=backoff_seconds, deadline_seconds=deadline_seconds
        )

    async def send(self, message: SmsMessage) -> str:
        body: dict[str, Any] = {
            "api_key": self._api_key,
            # Termii writes numbers in international form without the plus: 2348012345678.
            "to": message.to.lstrip("+"),
            "from": self.sender_id,
            "sms": message.text,
            "type": "plain",
            "channel": self.channel,
        }
        response = await self._retry.run(
            lambda: self._post(body),
            logger=log,
            message="Termii send failed; trying again",
            fields=lambda failed: {"upstream": UPSTREAM, "status": failed.context},
            give_up=_give_up,
        )
        return _message_id(response)

    async def _post(self, body: dict[str, Any]) -> httpx.Response | Failed[int | None]:
        try:
            timeout = attempt_timeout(self._timeout)
            response = await self._client.post(self._url, json=body, timeout=timeout)
        except httpx.TransportError as error:
            failure = transport_failure(UPSTREAM, error, timeout)
            # Only a request that surely never reached Termii is sent again.
            return Failed(failure, retryable=never_sent(error), context=None)
        status = response.status_code
        if status == 429:
            return Failed(
                UpstreamUnavailable(UPSTREAM, "rate limited (HTTP 429)"),
                retryable=True,
                context=status,
                hint=hinted_wait(response.headers, None, names=RETRY_AFTER),
            )
        if status >= 500:
            # It may have sent the text before failing: not sent again.
            return Failed(UpstreamUnavailable(UPSTREAM, f"HTTP {status}"), False, status)
        if status in (401, 403):
            return Failed(
                UpstreamError(UPSTREAM, f"the API key was refused ({_said(response)})"),
                False,
                status,
            )
        if status >= 400:
            # An unregistered sender id, a malformed number, an inactive account.
            return Failed(
                UpstreamRejected(UPSTREAM, f"HTTP {status}: {_said(response)}"), False, status
            )
        return response


def _give_up(failed: Failed[int | None], attempt: int) -> NoReturn:
    raise failed.failure


def _said(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "no message"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:200]
    return str(body)[:200]


def _message_id(response: httpx.Response) -> str:
    try:
        sent = _Sent.model_validate_json(response.content)
    except ValidationError as error:
        # Termii answered 2xx but not with a message id: it may have sent the text.
        raise UpstreamError(
            UPSTREAM, f"unreadable answer to a send ({error.error_count()} problems)"
        ) from error
    return str(sent.message_id)
