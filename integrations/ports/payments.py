"""What every payment provider (Paystack, the sandbox) offers, and the checks they share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from integrations.ports.errors import UpstreamError, UpstreamRejected

PaymentMode = Literal["LIVE", "SANDBOX"]

# Paystack's transaction statuses. Only `success` means the money arrived. `abandoned` is not
# final on Paystack's side: a transaction verified before the traveller has tried to pay reads
# `abandoned`, and it can still succeed if they come back to the checkout page.
TransactionStatus = Literal[
    "success", "failed", "abandoned", "ongoing", "pending", "processing", "queued", "reversed"
]
TRANSACTION_STATUSES: frozenset[str] = frozenset(get_args(TransactionStatus))

# Paystack's refund statuses; `needs-attention` waits for the customer's bank details.
RefundStatus = Literal["pending", "processing", "processed", "failed", "needs-attention"]
REFUND_STATUSES: frozenset[str] = frozenset(get_args(RefundStatus))

# Paystack accepts only letters, digits and `-`, `.`, `=` in a transaction reference. The same
# rule keeps references safe to put in a URL path.
_REFERENCE = re.compile(r"^[A-Za-z0-9.=-]{1,100}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True, slots=True)
class InitializedPayment:
    """A transaction the traveller can now pay by opening `authorization_url`."""

    reference: str
    authorization_url: str
    access_code: str | None


@dataclass(frozen=True, slots=True)
class VerifiedPayment:
    """A transaction as the provider reports it now; `amount_subunits` is what was charged."""

    reference: str
    status: TransactionStatus
    amount_subunits: int
    currency: str
    paid_at: datetime | None
    channel: str | None
    transaction_id: str | None
    gateway_response: str | None


@dataclass(frozen=True, slots=True)
class RefundResult:
    """A refund as the provider reports it; only `processed` means the money went back."""

    id: str
    status: RefundStatus
    amount_subunits: int
    currency: str
    transaction_reference: str | None
    # The note sent with the refund: where we put our own refund id, to recognise it later.
    merchant_note: str | None = None


class PaymentNotFound(UpstreamError):
    """The provider knows no transaction (or refund) by that reference or id."""


class DuplicatePaymentReference(UpstreamError):
    """A transaction with this reference was already initialized.

    Initializing again cannot return the first authorization URL, so reuse the one stored when
    the first call succeeded; without one, start over with a new reference.
    """


class PaymentProvider(Protocol):
    """What the payment resolvers need from Paystack or the sandbox. Amounts are integer subunits
    of `currency` (kobo for NGN); convert from `Decimal` before calling."""

    mode: PaymentMode

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
        """Creates the transaction; raises `DuplicatePaymentReference` if `reference` was used."""
        ...

    async def verify(self, reference: str) -> VerifiedPayment:
        """The transaction's current state; raises `PaymentNotFound` for an unknown reference."""
        ...

    async def refund(
        self,
        *,
        reference: str,
        amount_subunits: int | None = None,
        idempotency_note: str | None = None,
    ) -> RefundResult:
        """Refunds `amount_subunits` (everything left when None) of a successful transaction.

        Never retried once sent: on `OutcomeUnknown` the refund may exist, so look for it
        (`list_refunds`, by `idempotency_note`, kept as the merchant note) before refunding
        again. A plain `UpstreamUnavailable` means it was not taken.
        """
        ...

    async def get_refund(self, refund_id: str) -> RefundResult: ...

    async def list_refunds(self, reference: str) -> list[RefundResult]:
        """Every refund of the transaction `reference`; an empty list positively means none."""
        ...


# --- Argument checks shared by the providers --------------------------------------------------


def require_reference(upstream: str, reference: str, *, field: str = "reference") -> str:
    """`reference` if Paystack would accept it, else `UpstreamRejected` before any call."""
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise UpstreamRejected(
            upstream, f"{field} must be 1-100 letters, digits or . = -", field=field
        )
    return reference


def require_amount(upstream: str, amount_subunits: int, *, field: str = "amount_subunits") -> int:
    """A positive whole number of subunits; `bool` and `float` are refused, never rounded."""
    if isinstance(amount_subunits, bool) or not isinstance(amount_subunits, int):
        raise UpstreamRejected(upstream, f"{field} must be an integer of subunits", field=field)
    if amount_subunits <= 0:
        raise UpstreamRejected(upstream, f"{field} must be positive", field=field)
    return amount_subunits


def require_currency(upstream: str, currency: str) -> str:
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not _CURRENCY.match(code):
        raise UpstreamRejected(upstream, "currency must be an ISO 4217 code", field="currency")
    return code


def require_email(upstream: str, email: str) -> str:
    address = email.strip() if isinstance(email, str) else ""
    if not _EMAIL.match(address):
        raise UpstreamRejected(upstream, "a valid email address is required", field="email")
    return address
