"""The live payment provider: a typed client of Paystack's transaction and refund API."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, NoReturn, TypeVar, cast
from urllib.parse import urlencode

import httpx
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from integrations.ports.errors import (
    CredentialsRejected,
    OutcomeUnknown,
    UpstreamError,
    UpstreamFailure,
    UpstreamRejected,
    UpstreamUnavailable,
)
from integrations.ports.payments import (
    REFUND_STATUSES,
    TRANSACTION_STATUSES,
    DuplicatePaymentReference,
    InitializedPayment,
    PaymentMode,
    PaymentNotFound,
    RefundResult,
    RefundStatus,
    TransactionStatus,
    VerifiedPayment,
    require_amount,
    require_currency,
    require_email,
    require_reference,
)
from integrations.retry import (
    RETRY_AFTER,
    Failed,
    Idempotency,
    RetryPolicy,
    attempt_timeout,
    hinted_wait,
    never_sent,
    transport_failure,
)

UPSTREAM = "paystack"
# Paystack's messages are shown in errors and logs; a page of HTML is not a message.
_MAX_MESSAGE_CHARS = 200

log = logging.getLogger("sureflights.paystack")

_T = TypeVar("_T")


# --- Paystack's wire shapes (only the fields used) --------------------------------------------
#
# Unlisted fields are ignored, never kept: the verify answer's `authorization` object carries the
# card's BIN and last four digits, and `customer` the payer's email and phone.


def _assume_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_Instant = Annotated[datetime, AfterValidator(_assume_utc)]
_Subunits = Annotated[int, Field(ge=0)]
_CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{3}$")]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Envelope(_Wire, Generic[_T]):
    status: bool
    message: str | None = None
    data: _T


class _WireInitialized(_Wire):
    authorization_url: Annotated[str, StringConstraints(min_length=1)]
    access_code: str | None = None
    reference: str


class _WireTransaction(_Wire):
    id: int | str | None = None
    status: str
    reference: str
    amount: _Subunits
    currency: _CurrencyCode
    # Older answers spell it `paidAt`; both are sent today.
    paid_at: _Instant | None = Field(
        default=None, validation_alias=AliasChoices("paid_at", "paidAt")
    )
    channel: str | None = None
    gateway_response: str | None = None


class _WireRefundTransaction(_Wire):
    id: int | str | None = None
    reference: str | None = None


class _WireRefund(_Wire):
    id: int | str
    status: str
    amount: _Subunits
    currency: _CurrencyCode
    # An object with the reference when a refund is created; only the transaction's id when one
    # is fetched.
    transaction: _WireRefundTransaction | int | str | None = None
    merchant_note: str | None = None


# Parametrized once: building `_Envelope[X]` costs far more than validating with it.
_INITIALIZED = _Envelope[_WireInitialized]
_TRANSACTION = _Envelope[_WireTransaction]
_REFUND = _Envelope[_WireRefund]
_REFUNDS = _Envelope[list[_WireRefund]]


class _WireError(_Wire):
    status: bool | None = None
    message: str | None = None
    type: str | None = None
    code: str | None = None


# --- Talking to Paystack ----------------------------------------------------------------------


class _Operation(enum.Enum):
    """Which call failed, so the same HTTP answer can mean different things."""

    INITIALIZE = "initialize"
    VERIFY = "verify"
    REFUND = "refund"
    GET_REFUND = "get_refund"
    LIST_REFUNDS = "list_refunds"


@dataclass(frozen=True, slots=True)
class _Call:
    operation: _Operation
    method: Literal["GET", "POST"]
    path: str
    # IDEMPOTENT for reads. UNSENT_ONLY for calls that create something (a transaction, a
    # refund): retried only when the connection could not be opened, never after a 429, a
    # timeout or a 5xx, since a second refund would pay the traveller twice.
    retry: Idempotency
    body: Mapping[str, Any] | None = None


def _refers_to_nothing(status: int, error: _WireError | None) -> bool:
    if status == 404:
        return True
    text = f"{error.message or ''} {error.code or ''}".lower() if error else ""
    return status == 400 and ("not found" in text or "not_found" in text)


def _is_duplicate_reference(error: _WireError | None) -> bool:
    text = f"{error.message or ''} {error.code or ''}".lower() if error else ""
    return "duplicate" in text and "reference" in text


def _payment_status(raw: str, reference: str) -> TransactionStatus:
    status = raw.strip().lower()
    if status in TRANSACTION_STATUSES:
        return cast(TransactionStatus, status)
    # Not settled as far as we can tell: the caller keeps waiting rather than guessing an outcome.
    log.warning(
        "Paystack reported an unknown transaction status; treating it as pending",
        extra={"paystack_status": raw[:40], "payment_reference": reference},
    )
    return "pending"


def _refund_status(raw: str, refund_id: str) -> RefundStatus:
    status = raw.strip().lower()
    if status in REFUND_STATUSES:
        return cast(RefundStatus, status)
    log.warning(
        "Paystack reported an unknown refund status; treating it as pending",
        extra={"paystack_status": raw[:40], "refund_id": refund_id},
    )
    return "pending"


def _verified(wire: _WireTransaction) -> VerifiedPayment:
    return VerifiedPayment(
        reference=wire.reference,
        status=_payment_status(wire.status, wire.reference),
        # `amount` is what was charged; `requested_amount` (what was asked) can differ, and
        # settlement must compare what actually arrived.
        amount_subunits=wire.amount,
        currency=wire.currency,
        paid_at=wire.paid_at,
        channel=wire.channel or None,
        transaction_id=None if wire.id is None else str(wire.id),
        gateway_response=wire.gateway_response or None,
    )


def _refund_result(wire: _WireRefund) -> RefundResult:
    transaction = wire.transaction
    reference = transaction.reference if isinstance(transaction, _WireRefundTransaction) else None
    return RefundResult(
        id=str(wire.id),
        status=_refund_status(wire.status, str(wire.id)),
        amount_subunits=wire.amount,
        currency=wire.currency,
        transaction_reference=reference or None,
        merchant_note=wire.merchant_note or None,
    )


class PaystackClient:
    """Paystack behind the `PaymentProvider` interface.

    Every failure is raised as an `integrations.ports.errors` exception; the secret key never
    appears in one, nor in a log line. Reads are retried with jittered backoff; `initialize` and
    `refund` are sent again only when the connection could not be opened.
    """

    mode: PaymentMode = "LIVE"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        secret_key: str,
        timeout: float = 15.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        deadline_seconds: float | None = None,
    ) -> None:
        if not secret_key.strip():
            raise ValueError("a Paystack secret key is required")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._secret_key = secret_key.strip()
        self._timeout = timeout
        self._retry = RetryPolicy(
            max_retries, backoff_seconds, max_wait_seconds, sleep, deadline_seconds=deadline_seconds
        )
        self._headers = {
            "Authorization": f"Bearer {self._secret_key}",
            "Accept": "application/json",
        }

    def __repr__(self) -> str:
        return f"PaystackClient(base_url={self._base_url!r})"

    # --- PaymentProvider ----------------------------------------------------------------------

    async def initialize(
        self,
        *,
        email: str,
        amount_subunits: int,
        currency: str,
        reference: str,
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> InitializedPayment:
        """`POST /transaction/initialize`. `DuplicatePaymentReference` when the reference was
        used before: reuse the authorization URL stored the first time."""
        body: dict[str, Any] = {
            "email": require_email(UPSTREAM, email),
            "amount": require_amount(UPSTREAM, amount_subunits),
            "currency": require_currency(UPSTREAM, currency),
            "reference": require_reference(UPSTREAM, reference),
        }
        if callback_url:
            body["callback_url"] = callback_url
        if metadata:
            body["metadata"] = dict(metadata)
        call = _Call(
            _Operation.INITIALIZE, "POST", "/transaction/initialize", Idempotency.UNSENT_ONLY, body
        )
        wire = self._read(await self._send(call), _INITIALIZED, call)
        if wire.reference != reference:
            self._fail(UpstreamError(UPSTREAM, "initialized a different reference"), call)
        return InitializedPayment(
            reference=wire.reference,
            authorization_url=wire.authorization_url,
            access_code=wire.access_code or None,
        )

    async def verify(self, reference: str) -> VerifiedPayment:
        """`GET /transaction/verify/{reference}`; `PaymentNotFound` for an unknown reference."""
        path = f"/transaction/verify/{require_reference(UPSTREAM, reference)}"
        call = _Call(_Operation.VERIFY, "GET", path, Idempotency.IDEMPOTENT)
        wire = self._read(await self._send(call), _TRANSACTION, call)
        if wire.reference != reference:
            self._fail(UpstreamError(UPSTREAM, "verified a different reference"), call)
        return _verified(wire)

    async def refund(
        self,
        *,
        reference: str,
        amount_subunits: int | None = None,
        idempotency_note: str | None = None,
    ) -> RefundResult:
        """`POST /refund` for the transaction `reference`; the whole amount when None.

        Paystack takes no idempotency key here, so `idempotency_note` is sent as the merchant
        note, where whoever reconciles an unknown outcome can find it. Never retried once sent.
        """
        body: dict[str, Any] = {"transaction": require_reference(UPSTREAM, reference)}
        if amount_subunits is not None:
            body["amount"] = require_amount(UPSTREAM, amount_subunits)
        if idempotency_note:
            body["merchant_note"] = idempotency_note
        call = _Call(_Operation.REFUND, "POST", "/refund", Idempotency.UNSENT_ONLY, body)
        return _refund_result(self._read(await self._send(call), _REFUND, call))

    async def get_refund(self, refund_id: str) -> RefundResult:
        """`GET /refund/{id}`; `PaymentNotFound` for an unknown id."""
        path = f"/refund/{require_reference(UPSTREAM, refund_id, field='refund_id')}"
        call = _Call(_Operation.GET_REFUND, "GET", path, Idempotency.IDEMPOTENT)
        return _refund_result(self._read(await self._send(call), _REFUND, call))

    async def list_refunds(self, reference: str) -> list[RefundResult]:
        """`GET /refund?reference=…`: the refunds of one transaction (a page of 100 is far more
        than one booking's payment ever has)."""
        query = urlencode({"reference": require_reference(UPSTREAM, reference), "perPage": 100})
        call = _Call(_Operation.LIST_REFUNDS, "GET", f"/refund?{query}", Idempotency.IDEMPOTENT)
        wires = self._read(await self._send(call), _REFUNDS, call)
        return [_refund_result(wire) for wire in wires]

    # --- Plumbing -----------------------------------------------------------------------------

    async def _send(self, call: _Call) -> bytes:
        """The body of the call's 2xx answer, after the retries its policy allows."""
        return await self._retry.run(
            lambda: self._attempt(call),
            logger=log,
            message="Paystack call failed; retrying",
            fields=lambda failed: {
                "paystack_method": call.method,
                "paystack_path": call.path,
                "paystack_status": failed.context,
            },
            give_up=lambda failed, attempt: self._fail(
                failed.failure, call, status=failed.context, attempt=attempt
            ),
        )

    async def _attempt(self, call: _Call) -> bytes | Failed[int | None]:
        """One request: the body of its 2xx answer, or the failure with the HTTP status, if any."""
        timeout = attempt_timeout(self._timeout)
        try:
            response = await self._http.request(
                call.method,
                f"{self._base_url}{call.path}",
                json=call.body,
                headers=self._headers,
                timeout=timeout,
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            failure = transport_failure(UPSTREAM, exc, timeout)
            if call.retry is Idempotency.UNSENT_ONLY and not (
                isinstance(exc, httpx.TransportError) and never_sent(exc)
            ):
                # It may have reached Paystack: a refund may exist, a transaction may be open.
                failure = OutcomeUnknown(UPSTREAM, failure.detail)
            return Failed(failure, call.retry.may_resend(exc), None)
        if response.is_success:
            return response.content
        status = response.status_code
        failure = self._failure_for(call, response)
        # Not even a 429 is retried for a call that creates something.
        retryable = call.retry is Idempotency.IDEMPOTENT and (status == 429 or status >= 500)
        hint = hinted_wait(response.headers, names=RETRY_AFTER) if status == 429 else None
        return Failed(failure, retryable, status, hint=hint)

    def _failure_for(self, call: _Call, response: httpx.Response) -> UpstreamFailure:
        status = response.status_code
        try:
            error: _WireError | None = _WireError.model_validate_json(response.content)
        except ValidationError:
            error = None
        message = self._message(error)
        summary = f"HTTP {status}" + (f": {message}" if message else "")
        if status in (401, 403):
            # Paystack's words here are about the key; none of them are needed to act.
            return CredentialsRejected(UPSTREAM, f"credentials rejected (HTTP {status})")
        if status == 429:
            return UpstreamUnavailable(UPSTREAM, "rate limited (HTTP 429)")
        if status >= 500 and call.retry is Idempotency.UNSENT_ONLY:
            return OutcomeUnknown(UPSTREAM, summary)
        if status >= 500:
            return UpstreamUnavailable(UPSTREAM, summary)
        if call.operation is _Operation.INITIALIZE and _is_duplicate_reference(error):
            return DuplicatePaymentReference(
                UPSTREAM, f"duplicate transaction reference ({summary})"
            )
        if _refers_to_nothing(status, error):
            if call.operation is _Operation.GET_REFUND:
                return PaymentNotFound(UPSTREAM, f"no such refund ({summary})")
            if call.operation in (_Operation.VERIFY, _Operation.REFUND):
                return PaymentNotFound(UPSTREAM, f"no such transaction ({summary})")
        if status in (400, 422) and error is not None and error.status is False:
            return UpstreamRejected(UPSTREAM, message or f"HTTP {status}")
        return UpstreamError(UPSTREAM, summary)

    def _message(self, error: _WireError | None) -> str:
        if error is None or not error.message:
            return ""
        return self._shown(error.message)

    def _fail(
        self, failure: UpstreamFailure, call: _Call, *, status: int | None = None, attempt: int = 0
    ) -> NoReturn:
        # A refused input or an unknown reference is a normal answer, not an incident.
        expected = isinstance(failure, UpstreamRejected | PaymentNotFound)
        log.log(
            logging.INFO if expected else logging.WARNING,
            "Paystack call failed",
            extra={
                "paystack_method": call.method,
                "paystack_path": call.path,
                "paystack_status": status,
                "attempt": attempt + 1,
                "failure": type(failure).__name__,
                "detail": failure.detail,
            },
        )
        raise failure

    def _read(self, content: bytes, model: type[_Envelope[_T]], call: _Call) -> _T:
        """The validated `data` of a 2xx answer."""
        try:
            envelope = model.model_validate_json(content)
        except ValidationError as exc:
            # Only the count: the problems quote the body, which may hold card or payer details.
            self._fail(
                UpstreamError(UPSTREAM, f"malformed response body ({exc.error_count()} problems)"),
                call,
            )
        if not envelope.status:
            message = self._shown(envelope.message or "")
            self._fail(UpstreamError(UPSTREAM, f"answered status false: {message}"), call)
        return envelope.data

    def _shown(self, message: str) -> str:
        """Paystack's `message` as fit for an error or a log: key removed, then shortened (in
        that order, so a cut cannot leave part of the key behind)."""
        redacted = " ".join(message.split()).replace(self._secret_key, "[redacted]")
        return redacted[:_MAX_MESSAGE_CHARS]
