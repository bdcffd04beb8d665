"""The ledger as operators read it: captures, refunds, airline orders, and what breaks the rules."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graphql_api.types.conversations import AuditEntry
from graphql_api.types.money import Money
from graphql_api.types.notifications import AirlineChange
from integrations.state.store import BookingRecord
from resolvers import ledger as domain
from resolvers import lifecycle
from resolvers.money import Money as DomainMoney
from resolvers.money import from_subunits

CaptureRole = strawberry.enum(domain.CaptureRole, description="What a capture is for.")
OrderState = strawberry.enum(lifecycle.OrderState, description="An airline order attempt's state.")
RefundState = strawberry.enum(lifecycle.RefundState, description="Where a refund stands.")
ViolationKind = strawberry.enum(domain.ViolationKind, description="A way the invariant breaks.")


def _money(subunits: int, currency: str) -> Money:
    return Money.from_domain(DomainMoney(from_subunits(subunits, currency), currency))


@strawberry.type(description="Money the payment provider confirmed it took.")
class LedgerCapture:
    payment_reference: strawberry.ID
    amount: Money
    role: CaptureRole  # type: ignore[valid-type]
    reason: str
    captured_at: datetime
    source: str


@strawberry.type(description="A refund of (part of) one capture.")
class LedgerRefund:
    id: strawberry.ID
    payment_reference: strawberry.ID
    amount: Money
    reason: str
    state: RefundState  # type: ignore[valid-type]
    provider_id: str | None
    provider_status: str | None
    requested_at: datetime
    updated_at: datetime
    detail: str


@strawberry.type(description="One attempt at an airline order.")
class LedgerOrder:
    attempt: int
    kind: str
    state: OrderState  # type: ignore[valid-type]
    correlation_id: str
    order_id: str | None
    airline_reference: str | None
    flown: bool = strawberry.field(description="The order the booking flies on.")
    intended_at: datetime
    updated_at: datetime
    looked_up_at: datetime | None
    detail: str


@strawberry.type(description="A dispute (chargeback) raised against a payment.")
class PaymentDispute:
    id: strawberry.ID
    payment_reference: strawberry.ID
    status: str
    event: str
    at: datetime


@strawberry.type(description="One line of the booking's story.")
class LedgerEntry:
    at: datetime
    source: str = strawberry.field(
        description="Who moved it: api, traveller, partner, operator, whatsapp, "
        "webhook:paystack, webhook:duffel, verify, sandbox, reconciler, expiry."
    )
    kind: str
    detail: str


@strawberry.type(description="Where the booking's money is.")
class LedgerBalance:
    captured: Money
    kept: Money = strawberry.field(description="Kept for an issued airline order.")
    refunded: Money = strawberry.field(description="Back with the traveller or on its way.")
    in_flight: Money = strawberry.field(description="Paid; the airline order is being made.")
    held: Money = strawberry.field(description="Held for an operator's review.")


@strawberry.type(description="A way a booking breaks the money invariant.")
class MoneyViolation:
    booking_reference: strawberry.ID
    kind: ViolationKind  # type: ignore[valid-type]
    detail: str
    repairable: bool = strawberry.field(
        description="The reconciler repairs this on its own; the others need a person."
    )
    amount: Money | None

    @classmethod
    def from_domain(cls, violation: domain.Violation) -> MoneyViolation:
        return cls(
            booking_reference=strawberry.ID(violation.booking_reference),
            kind=violation.kind,
            detail=violation.detail,
            repairable=violation.repairable,
            amount=(
                _money(violation.amount_subunits, violation.currency)
                if violation.amount_subunits is not None and violation.currency
                else None
            ),
        )


@strawberry.type(description="A booking's ledger: what was captured and refunded, and its orders.")
class Ledger:
    booking_reference: strawberry.ID
    status: lifecycle.BookingStatus
    balance: LedgerBalance
    captures: list[LedgerCapture]
    refunds: list[LedgerRefund]
    orders: list[LedgerOrder]
    airline_changes: list[AirlineChange]
    disputes: list[PaymentDispute]
    journal: list[LedgerEntry]
    violations: list[MoneyViolation]
    audit: list[AuditEntry] = strawberry.field(
        description="Operators' actions on the booking, oldest first."
    )
    check_at: datetime | None = strawberry.field(
        description="When the reconciler looks at the booking next; null while nothing waits."
    )

    @classmethod
    def from_record(cls, booking: BookingRecord, violations: list[domain.Violation]) -> Ledger:
        ledger = domain.Ledger.of(booking)
        currency = booking.total_currency
        balance = domain.balance(booking, ledger)
        return cls(
            booking_reference=strawberry.ID(booking.reference),
            status=lifecycle.BookingStatus(booking.status),
            balance=LedgerBalance(
                captured=_money(balance.captured, currency),
                kept=_money(balance.kept, currency),
                refunded=_money(balance.refunded, currency),
                in_flight=_money(balance.in_flight, currency),
                held=_money(balance.held, currency),
            ),
            captures=[
                LedgerCapture(
                    payment_reference=strawberry.ID(c.payment_reference),
                    amount=_money(c.amount_subunits, c.currency),
                    role=c.role,
                    reason=c.reason,
                    captured_at=c.captured_at,
                    source=c.source,
                )
                for c in ledger.captures
            ],
            refunds=[
                LedgerRefund(
                    id=strawberry.ID(r.id),
                    payment_reference=strawberry.ID(r.payment_reference),
                    amount=_money(r.amount_subunits, r.currency),
                    reason=r.reason,
                    state=r.state,
                    provider_id=r.provider_id,
                    provider_status=r.provider_status,
                    requested_at=r.requested_at,
                    updated_at=r.updated_at,
                    detail=r.detail,
                )
                for r in ledger.refunds
            ],
            orders=[
                LedgerOrder(
                    attempt=o.attempt,
                    kind=o.kind,
                    state=o.state,
                    correlation_id=o.correlation_id,
                    order_id=o.order_id,
                    airline_reference=o.airline_reference,
                    flown=o.flown,
                    intended_at=o.intended_at,
                    updated_at=o.updated_at,
                    looked_up_at=o.looked_up_at,
                    detail=o.detail,
                )
                for o in ledger.orders
            ],
            airline_changes=[AirlineChange.from_domain(c) for c in ledger.airline_changes],
            disputes=[
                PaymentDispute(
                    id=strawberry.ID(d.id),
                    payment_reference=strawberry.ID(d.payment_reference),
                    status=d.status,
                    event=d.event,
                    at=d.at,
                )
                for d in ledger.disputes
            ],
            journal=[
                LedgerEntry(at=e.at, source=e.source, kind=e.kind, detail=e.detail)
                for e in ledger.journal
            ],
            violations=[MoneyViolation.from_domain(v) for v in violations],
            audit=[AuditEntry.from_domain(a) for a in ledger.audit],
            check_at=booking.check_at,
        )


@strawberry.type(description="The invariant checked over every booking.")
class MoneyAudit:
    checked: int = strawberry.field(description="How many bookings were checked.")
    violations: list[MoneyViolation]
