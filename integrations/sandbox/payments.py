"""The offline payment provider: transactions kept in the shared cache, paid on a sandbox page."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from integrations.ports.errors import UpstreamError, UpstreamRejected
from integrations.ports.payments import (
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
from integrations.state.cache import Cache, store_failures_as_upstream

UPSTREAM = "sandbox"
SANDBOX_CHANNEL = "sandbox"
# Long enough to outlive any booking's payment window and a late refund.
RECORD_TTL_SECONDS = 30 * 24 * 3600
_KEY_PREFIX = "sandbox-payments:"

_R = TypeVar("_R", bound="_Record")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Transaction(_Record):
    reference: str
    transaction_id: str
    email: str
    amount_subunits: int
    currency: str
    status: TransactionStatus
    created_at: datetime
    paid_at: datetime | None = None
    channel: str | None = None
    gateway_response: str | None = None
    refunded_subunits: int = 0
    refund_ids: list[str] = Field(default_factory=list)
    callback_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def verified(self) -> VerifiedPayment:
        return VerifiedPayment(
            reference=self.reference,
            status=self.status,
            amount_subunits=self.amount_subunits,
            currency=self.currency,
            paid_at=self.paid_at,
            channel=self.channel,
            transaction_id=self.transaction_id,
            gateway_response=self.gateway_response,
        )


class _Refund(_Record):
    id: str
    status: RefundStatus
    amount_subunits: int
    currency: str
    transaction_reference: str
    merchant_note: str | None = None
    created_at: datetime

    def result(self) -> RefundResult:
        return RefundResult(
            id=self.id,
            status=self.status,
            amount_subunits=self.amount_subunits,
            currency=self.currency,
            transaction_reference=self.transaction_reference,
            merchant_note=self.merchant_note,
        )


class SandboxPayments:
    """A stand-in for Paystack that needs no account and no network.

    Transactions live in `store` (Redis when replicas share one), so the checkout page served by
    one replica settles a payment another replica initialized. The page calls `complete`; the
    rest is the `PaymentProvider` interface, answering the way Paystack does: the same
    exceptions, `success` only once paid, refunds no larger than what is left.

    Changes are read-modify-write: serialized within a process, but two replicas completing the
    same transaction at the same instant may both write. The settlement's compare-and-set on
    the booking is what makes settling exactly once, as it is with Paystack's webhooks.
    """

    mode: PaymentMode = "SANDBOX"

    def __init__(
        self,
        store: Cache,
        *,
        checkout_base_url: str,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._checkout_base_url = checkout_base_url.rstrip("/")
        self._clock = clock
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SandboxPayments(checkout_base_url={self._checkout_base_url!r})"

    # --- PaymentProvider ----------------------------------------------------------------------

    @store_failures_as_upstream(UPSTREAM, unknown=True)
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
        """Records a pending transaction and answers the sandbox checkout page's URL."""
        transaction = _Transaction(
            reference=require_reference(UPSTREAM, reference),
            transaction_id=f"sandbox-{secrets.token_hex(8)}",
            email=require_email(UPSTREAM, email),
            amount_subunits=require_amount(UPSTREAM, amount_subunits),
            currency=require_currency(UPSTREAM, currency),
            status="pending",
            created_at=self._now(),
            callback_url=callback_url or None,
            metadata=dict(metadata or {}),
        )
        async with self._lock:
            if await self._load_transaction(reference) is not None:
                # As Paystack answers a reused reference.
                raise DuplicatePaymentReference(UPSTREAM, "duplicate transaction reference")
            await self._save_transaction(transaction)
        return InitializedPayment(
            reference=reference,
            authorization_url=f"{self._checkout_base_url}/sandbox/checkout/{reference}",
            access_code=None,
        )

    @store_failures_as_upstream(UPSTREAM, unknown=False)
    async def verify(self, reference: str) -> VerifiedPayment:
        """The transaction's current state; `PaymentNotFound` for an unknown reference."""
        return (await self._require_transaction(reference)).verified()

    @store_failures_as_upstream(UPSTREAM, unknown=True)
    async def refund(
        self,
        *,
        reference: str,
        amount_subunits: int | None = None,
        idempotency_note: str | None = None,
    ) -> RefundResult:
        """Refunds at once (`processed`); the transaction reads `reversed` once fully refunded."""
        async with self._lock:
            transaction = await self._require_transaction(reference)
            if transaction.status == "reversed":
                raise UpstreamRejected(UPSTREAM, "transaction has been fully reversed")
            if transaction.status != "success":
                raise UpstreamRejected(
                    UPSTREAM, f"cannot refund a transaction that is {transaction.status}"
                )
            left = transaction.amount_subunits - transaction.refunded_subunits
            amount = left if amount_subunits is None else require_amount(UPSTREAM, amount_subunits)
            if amount > left:
                raise UpstreamRejected(
                    UPSTREAM,
                    f"refund of {amount} exceeds the {left} left to refund",
                    field="amount_subunits",
                )
            refund = _Refund(
                id=f"sandbox-refund-{secrets.token_hex(8)}",
                status="processed",
                amount_subunits=amount,
                currency=transaction.currency,
                transaction_reference=transaction.reference,
                merchant_note=idempotency_note,
                created_at=self._now(),
            )
            refunded = transaction.refunded_subunits + amount
            changes: dict[str, Any] = {
                "refunded_subunits": refunded,
                "refund_ids": [*transaction.refund_ids, refund.id],
            }
            if refunded == transaction.amount_subunits:
                changes["status"] = "reversed"
            # The refund first: a transaction marked refunded without its refund is worse.
            await self._store.set(self._refund_key(refund.id), _dump(refund), RECORD_TTL_SECONDS)
            await self._save_transaction(transaction.model_copy(update=changes))
        return refund.result()

    @store_failures_as_upstream(UPSTREAM, unknown=False)
    async def list_refunds(self, reference: str) -> list[RefundResult]:
        """Every refund of the transaction, oldest first."""
        transaction = await self._require_transaction(reference)
        found = []
        for refund_id in transaction.refund_ids:
            raw = await self._store.get(self._refund_key(refund_id))
            if raw is not None:
                found.append(_load(_Refund, raw).result())
        return found

    @store_failures_as_upstream(UPSTREAM, unknown=False)
    async def get_refund(self, refund_id: str) -> RefundResult:
        """A refund recorded by `refund`; `PaymentNotFound` for an unknown id."""
        key = self._refund_key(require_reference(UPSTREAM, refund_id, field="refund_id"))
        raw = await self._store.get(key)
        if raw is None:
            raise PaymentNotFound(UPSTREAM, "no such refund")
        return _load(_Refund, raw).result()

    # --- The sandbox checkout page ------------------------------------------------------------

    @store_failures_as_upstream(UPSTREAM, unknown=True)
    async def complete(self, reference: str, *, succeed: bool) -> VerifiedPayment:
        """Pays (`succeed`) or declines a pending transaction, as the traveller would.

        Idempotent: a transaction already completed keeps its outcome and `paid_at`, so a page
        submitted twice, or Pay after Decline, changes nothing.
        """
        async with self._lock:
            transaction = await self._require_transaction(reference)
            if transaction.status != "pending":
                return transaction.verified()
            now = self._now()
            completed = transaction.model_copy(
                update={
                    "status": "success" if succeed else "failed",
                    "paid_at": now if succeed else None,
                    "channel": SANDBOX_CHANNEL,
                    "gateway_response": "Approved (sandbox)" if succeed else "Declined (sandbox)",
                }
            )
            await self._save_transaction(completed)
        return completed.verified()

    async def callback_url(self, reference: str) -> str | None:
        """Where the checkout sends the traveller back once done (`initialize`'s callback_url)."""
        transaction = await self._load_transaction(reference)
        return None if transaction is None else transaction.callback_url

    async def get(self, reference: str) -> VerifiedPayment | None:
        """The transaction's current state, or None when the reference is unknown."""
        transaction = await self._load_transaction(reference)
        return None if transaction is None else transaction.verified()

    # --- Storage ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        moment = self._clock()
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    @staticmethod
    def _transaction_key(reference: str) -> str:
        return f"{_KEY_PREFIX}transaction:{reference}"

    @staticmethod
    def _refund_key(refund_id: str) -> str:
        return f"{_KEY_PREFIX}refund:{refund_id}"

    async def _load_transaction(self, reference: str) -> _Transaction | None:
        raw = await self._store.get(self._transaction_key(require_reference(UPSTREAM, reference)))
        return None if raw is None else _load(_Transaction, raw)

    async def _require_transaction(self, reference: str) -> _Transaction:
        transaction = await self._load_transaction(reference)
        if transaction is None:
            raise PaymentNotFound(UPSTREAM, "no such transaction")
        return transaction

    async def _save_transaction(self, transaction: _Transaction) -> None:
        key = self._transaction_key(transaction.reference)
        await self._store.set(key, _dump(transaction), RECORD_TTL_SECONDS)


def _dump(record: _Record) -> bytes:
    return record.model_dump_json().encode("utf-8")


def _load(model: type[_R], raw: bytes) -> _R:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise UpstreamError(
            UPSTREAM, f"unreadable sandbox record ({exc.error_count()} problems)"
        ) from exc
