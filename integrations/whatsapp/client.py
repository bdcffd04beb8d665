"""WhatsApp Cloud API: webhook events read into typed messages, replies fitted to Meta's limits and
sent through the live API or kept by a recording sandbox sender."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn, TypeAlias

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from integrations.ports.errors import UpstreamError, UpstreamFailure, UpstreamUnavailable
from integrations.ports.messaging import OutboundMessage
from integrations.retry import (
    RETRY_AFTER,
    Failed,
    Idempotency,
    RetryPolicy,
    attempt_timeout,
    hinted_wait,
    never_sent,
)
from integrations.whatsapp.limits import fit_to_limits, request_body

UPSTREAM = "whatsapp"

log = logging.getLogger("sureflights.whatsapp")


# --- Outbound: what the assistant says ---------------------------------------------------------


# --- Senders -----------------------------------------------------------------------------------


# Meta's error codes callers act on (Cloud API error codes,
# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
RE_ENGAGEMENT_REQUIRED = 131047
"""More than 24 hours since the traveller last wrote: only a template message gets through."""
MESSAGE_UNDELIVERABLE = 131026
RATE_LIMIT_HIT = 130429
"""The number's throughput (80 messages a second by default) was exceeded; HTTP 429."""
PAIR_RATE_LIMIT_HIT = 131056
"""Too many messages to one recipient in a short time; the number can still write to others."""
_RATE_LIMIT_CODES = frozenset({RATE_LIMIT_HIT, PAIR_RATE_LIMIT_HIT})
# Meta's throughput page names the pair rate limit
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput); its
# figure, one message every 6 seconds to the same user, is quoted from Meta's docs by providers
# such as turn.io. A retry sooner than that would only be refused again.
PAIR_RATE_WAIT_SECONDS = 6.0
_MAX_SHOWN_CHARS = 200
_LONG_NUMBER = re.compile(r"\+?\d{7,}")


# Each Cloud API attempt's timeout unless the caller sets one (UPSTREAM_TIMEOUT_SECONDS).
DEFAULT_TIMEOUT_SECONDS = 10.0


class WhatsAppError(UpstreamError):
    """Meta answered and refused the call; `code` is Meta's error code (e.g. 131047, answered
    with a template message), `request_id` its `fbtrace_id`."""

    def __init__(
        self,
        detail: str,
        *,
        code: int | None,
        subcode: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(UPSTREAM, detail, request_id=request_id)
        self.code = code
        self.subcode = subcode
        self.http_status = http_status


class WhatsAppUnavailable(UpstreamUnavailable):
    """No usable answer after the retries allowed: a rate limit, an outage, a timeout. `code` is
    Meta's error code when it sent one."""

    def __init__(
        self,
        detail: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(UPSTREAM, detail, request_id=request_id)
        self.code = code
        self.http_status = http_status


def _transport_failure(exc: httpx.TransportError, retry: Idempotency) -> WhatsAppUnavailable:
    """A request that got no answer, saying whether a message may have gone out."""
    name = type(exc).__name__
    if never_sent(exc):
        # The connection never opened (or no pooled one freed up): nothing was sent.
        return WhatsAppUnavailable(f"could not connect ({name})")
    if isinstance(exc, httpx.TimeoutException):
        return WhatsAppUnavailable(
            f"timed out ({name}); the message may have been sent"
            if retry is Idempotency.UNSENT_ONLY
            else f"timed out ({name})"
        )
    return WhatsAppUnavailable(f"connection failed ({name})")


def mask_phone(number: str) -> str:
    """All but the last four digits hidden: enough to tell travellers apart in a log."""
    digits = re.sub(r"\D", "", number)
    return f"***{digits[-4:]}" if len(digits) > 4 else "***"


class _WireErrorData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    details: str | None = None


class _WireError(BaseModel):
    """Graph API error body, `{"error": {...}}`; fields as listed on Meta's error-codes page."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    message: str | None = None
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: _WireErrorData | None = None
    fbtrace_id: str | None = None


class _WireErrorEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    error: _WireError


# What a failed attempt leaves for the log and the failure: the HTTP status and Meta's error,
# when an answer came.
_Failed: TypeAlias = Failed[tuple[int | None, _WireError | None]]


def _graph_error(content: bytes) -> _WireError | None:
    try:
        return _WireErrorEnvelope.model_validate_json(content).error
    except ValidationError:
        return None


class WhatsAppClient:
    """The live Cloud API: `POST {base_url}/{phone_number_id}/messages` with a Bearer token.

    Failures raise `WhatsAppError` (Meta refused; carries `code`) or `WhatsAppUnavailable`
    (`UpstreamUnavailable`); neither, nor any log line, holds the token or a full phone number.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait_seconds: float = 10.0,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        deadline_seconds: float | None = None,
    ) -> None:
        if not access_token.strip():
            raise ValueError("a WhatsApp access token is required")
        if not phone_number_id.strip():
            raise ValueError("a WhatsApp phone number id is required")
        self._http = http
        self._url = f"{base_url.rstrip('/')}/{phone_number_id.strip()}/messages"
        self._token = access_token.strip()
        self._headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
        }
        self._retry = RetryPolicy(
            max_retries, backoff_seconds, max_wait_seconds, sleep, deadline_seconds=deadline_seconds
        )
        # Each attempt's, cut to what is left of the call's deadline, if it has one.
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"WhatsAppClient(url={self._url!r})"

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        """Sends each part of `message` in order and returns Meta's message ids; a failure stops
        the parts after it (the ones before were delivered and are logged)."""
        recipient = to.strip()
        ids: list[str] = []
        parts = fit_to_limits(message)
        for part in parts:
            try:
                content = await self._post(
                    request_body(recipient, part), Idempotency.UNSENT_ONLY, recipient
                )
            except UpstreamFailure:
                if ids:
                    log.warning(
                        "WhatsApp message only partly sent",
                        extra={
                            "whatsapp_to": mask_phone(recipient),
                            "parts_sent": len(ids),
                            "parts": len(parts),
                            "whatsapp_message_ids": ids,
                        },
                    )
                raise
            ids.append(self._message_id(content, recipient))
        return ids

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        # Mark messages as read, with the typing indicator:
        # https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/mark-message-as-read
        # https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self._post(body, Idempotency.IDEMPOTENT, None)

    # --- Plumbing -----------------------------------------------------------------------------

    async def _post(self, body: Mapping[str, Any], retry: Idempotency, to: str | None) -> bytes:
        """Meta's 2xx answer, after the retries `retry` allows.

        Sending a message is UNSENT_ONLY: Meta does not deduplicate, so the same request is sent
        again only when it provably never reached Meta (the connection could not be opened) or
        when Meta answered that it did not send it: a 429 or one of the rate-limit codes, or a
        5xx carrying a Graph API error (code 1, 2 or 131000, "Message failed to send ... Try
        again"), or a 503. A timeout after sending, or a bare 500/502/504 from something in front
        of Meta, leaves the outcome unknown and is not retried: a traveller told twice is worse
        than a reply the conversation can repeat. Marking as read is IDEMPOTENT, harmless to
        repeat, and retried on every transient failure.
        """
        operation = "send" if retry is Idempotency.UNSENT_ONLY else "mark_read"
        return await self._retry.run(
            lambda: self._attempt(body, retry),
            logger=log,
            message="WhatsApp call failed; retrying",
            fields=lambda failed: self._log_fields(operation, to, *failed.context),
            give_up=lambda failed, attempt: self._fail(
                failed.failure, operation, to, *failed.context, attempt
            ),
        )

    async def _attempt(self, body: Mapping[str, Any], retry: Idempotency) -> bytes | _Failed:
        """One request: the content of Meta's 2xx answer, or the failure."""
        try:
            response = await self._http.post(
                self._url,
                json=body,
                headers=self._headers,
                timeout=attempt_timeout(self._timeout),
            )
        except httpx.TransportError as exc:
            return Failed(_transport_failure(exc, retry), retry.may_resend(exc), (None, None))
        if response.is_success:
            return response.content
        status = response.status_code
        error = _graph_error(response.content)
        return Failed(
            self._failure(status, error),
            self._may_retry(retry, status, error),
            (status, error),
            hint=hinted_wait(response.headers, names=RETRY_AFTER),
            pause=(
                PAIR_RATE_WAIT_SECONDS
                if error is not None and error.code == PAIR_RATE_LIMIT_HIT
                else None
            ),
        )

    @staticmethod
    def _may_retry(retry: Idempotency, status: int, error: _WireError | None) -> bool:
        code = error.code if error is not None else None
        if status == 429 or code in _RATE_LIMIT_CODES:
            return True
        if status >= 500:
            return retry is Idempotency.IDEMPOTENT or error is not None or status == 503
        return False

    def _failure(self, status: int, error: _WireError | None) -> UpstreamFailure:
        code = error.code if error is not None else None
        trace = error.fbtrace_id if error is not None else None
        summary = f"HTTP {status}" + (f": {self._shown(error)}" if error is not None else "")
        if status == 429 or code in _RATE_LIMIT_CODES:
            return WhatsAppUnavailable(
                f"rate limited ({summary})", code=code, http_status=status, request_id=trace
            )
        if status >= 500:
            note = "" if error is not None or status == 503 else "; the message may have been sent"
            return WhatsAppUnavailable(
                summary + note, code=code, http_status=status, request_id=trace
            )
        if status in (401, 403) and error is None:
            return WhatsAppError(
                f"credentials rejected (HTTP {status})", code=None, http_status=status
            )
        return WhatsAppError(
            summary,
            code=code,
            subcode=error.error_subcode if error is not None else None,
            http_status=status,
            request_id=trace,
        )

    def _shown(self, error: _WireError) -> str:
        """Meta's words as fit for an error or a log: token and phone numbers removed first,
        then shortened, so a cut cannot leave part of either behind."""
        text = " ".join(
            part for part in (error.message, error.error_data and error.error_data.details) if part
        )
        text = " ".join(text.split()).replace(self._token, "[redacted]")
        text = _LONG_NUMBER.sub(lambda match: mask_phone(match.group()), text)
        return text[:_MAX_SHOWN_CHARS] or f"code {error.code}"

    def _message_id(self, content: bytes, to: str) -> str:
        try:
            answer = orjson.loads(content)
            message_id = answer["messages"][0]["id"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            message_id = None
        if not isinstance(message_id, str) or not message_id:
            # Sent, most likely, but without an id to follow its status by.
            self._fail(
                WhatsAppError("a 2xx answer without a message id", code=None),
                "send",
                to,
                None,
                None,
                0,
            )
        return message_id

    def _log_fields(
        self, operation: str, to: str | None, status: int | None, error: _WireError | None
    ) -> dict[str, Any]:
        return {
            "whatsapp_operation": operation,
            "whatsapp_to": mask_phone(to) if to else None,
            "whatsapp_status": status,
            "whatsapp_error_code": error.code if error is not None else None,
            "whatsapp_error_subcode": error.error_subcode if error is not None else None,
            "fbtrace_id": error.fbtrace_id if error is not None else None,
        }

    def _fail(
        self,
        failure: UpstreamFailure,
        operation: str,
        to: str | None,
        status: int | None,
        error: _WireError | None,
        attempt: int,
    ) -> NoReturn:
        # Outside the 24-hour window is an everyday answer, met with a template, not an incident.
        expected = isinstance(failure, WhatsAppError) and failure.code == RE_ENGAGEMENT_REQUIRED
        log.log(
            logging.INFO if expected else logging.WARNING,
            "WhatsApp call failed",
            extra={
                **self._log_fields(operation, to, status, error),
                "attempt": attempt + 1,
                "failure": type(failure).__name__,
                "detail": failure.detail,
            },
        )
        raise failure
