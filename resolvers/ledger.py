"""A booking's ledger: what money was captured and refunded, and which airline orders exist.

The ledger is stored with the booking and changes only by the booking's compare-and-set, so one
write records a capture together with the status it causes. Its invariant, checked by `audit`:

    money captured = money kept for an issued order + money refunded (or being refunded)

with at most one live airline order, and no refund while an order stands unless it was cancelled
at the airline. While a booking is being confirmed, its capture is in flight; a capture held for
review waits for an operator while the booking is still open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from integrations.state.store import BookingRecord, PaymentRecord
from resolvers.lifecycle import (
    COUNTED_REFUND_STATES,
    LIVE_ORDER_STATES,
    OPEN_ORDER_STATES,
    BookingStatus,
    OrderState,
    PaymentStatus,
    RefundState,
    order_may_move,
    refund_may_move,
)

# The journal keeps a booking's story; past this many entries the oldest are dropped.
MAX_JOURNAL_ENTRIES = 300


class CaptureRole(StrEnum):
    BACKING = "backing"  # the one capture that pays for the booking's airline order
    SURPLUS = "surplus"  # a second payment, or one after the booking ended: refunded
    REVIEW = "review"  # not the amount asked: held for an operator while the booking is open


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class JournalEntry(_Model):
    """One line of the booking's story: when, who moved it (source), what happened."""

    at: datetime
    source: str
    kind: str
    detail: str = ""


class Capture(_Model):
    """Money the payment provider confirmed it took for one of the booking's payments."""

    payment_reference: str
    amount_subunits: int
    currency: str
    captured_at: datetime
    source: str
    role: CaptureRole
    reason: str = ""


class Refund(_Model):
    """A refund of (part of) one capture."""

    id: str
    payment_reference: str
    amount_subunits: int
    currency: str
    reason: str
    state: RefundState
    requested_at: datetime
    updated_at: datetime
    provider_id: str | None = None
    provider_status: str | None = None
    detail: str = ""


class AirlineOrder(_Model):
    """One attempt at an order with the airline, from intent to its outcome."""

    attempt: int
    kind: str  # "instant" or "hold"
    correlation_id: str
    state: OrderState
    intended_at: datetime
    updated_at: datetime
    order_id: str | None = None
    airline_reference: str | None = None
    # When the order was issued and paid (it may be cancelled since).
    confirmed_at: datetime | None = None
    # The order the booking flies on (others are extra and get cancelled).
    flown: bool = False
    # When a look-up last ran, whatever it answered.
    looked_up_at: datetime | None = None
    pending_id: str | None = None
    # What the airline charges for the order, as it said.
    amount: str | None = None
    currency: str | None = None
    # Not before this: set when the airline could not take the order or payment for now.
    retry_at: datetime | None = None
    # The airline refused to take payment for this held order: the booking cannot be flown.
    pay_refused: bool = False
    # A cancellation quote being confirmed, and what the airline said it would refund.
    cancellation_id: str | None = None
    # What the order was before cancelling began, to return to if the airline does not cancel.
    cancelling_from: OrderState | None = None
    refund_amount: str | None = None
    refund_currency: str | None = None
    # When operators were told the outcome is still unknown past the deadline.
    alarmed_at: datetime | None = None
    detail: str = ""


class OpenPayment(_Model):
    """The one payment a booking may have open: claimed before the provider is asked."""

    reference: str
    state: str  # "starting" (claimed, provider being asked) or "open" (link handed out)
    at: datetime
    # When the provider was last asked about it (a lost webhook is made up for from here).
    checked_at: datetime | None = None


class WatchedPayment(_Model):
    """A payment that may still capture money nothing is waiting for: one open when its booking
    ended, or one the provider said was paid while we could not yet verify it. Verified again
    at `due_at`, `checks_left` more times, until the provider's answer is final."""

    reference: str
    due_at: datetime
    checks_left: int = 1
    reason: str = ""


class AirlineChange(_Model):
    """A change the airline made to an issued order, as Duffel reported it, and the traveller's
    answer: accept the new times, or cancel with the refund the airline allows."""

    id: str
    order_id: str | None
    detected_at: datetime
    summary: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    # What the airline allows (Duffel's `available_actions`: accept, cancel, change, update).
    actions: list[str] = Field(default_factory=list)
    # The answer is due by then: the earliest departure the change touches, less a margin.
    respond_by: datetime | None = None
    # "accepted" or "cancelled", who answered (traveller, operator, whatsapp) and when.
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


class NoticeKind(StrEnum):
    """What a traveller is told about their booking."""

    CONFIRMATION = "confirmation"
    PAYMENT_REMINDER = "payment_reminder"
    EXPIRY = "expiry"
    CANCELLATION = "cancellation"
    REFUND = "refund"
    """Money is on its way back (a refund issued to the provider)."""
    REFUND_PROCESSED = "refund_processed"
    """The provider reports the refund reached the traveller's bank."""
    AIRLINE_CHANGE = "airline_change"
    AIRLINE_CHANGE_REMINDER = "airline_change_reminder"
    CHECK_IN_REMINDER = "check_in_reminder"


class Notice(_Model):
    """Something to tell the traveller, written in the same compare-and-set as the change that
    causes it; queued into the outbox (one record per channel) once due."""

    id: str
    """`kind`, or `kind:about` when a booking can have several (one per refund, per change)."""
    kind: NoticeKind
    created_at: datetime
    due_at: datetime
    about: str = ""
    """The refund's or the airline change's id."""
    queued_at: datetime | None = None
    dropped: str = ""
    """Why the notice was not sent after all (the reminder's moment passed, ...)."""


class Preferences(_Model):
    """What the traveller has opted out of: SMS altogether, and reminders by email.
    Confirmations and changes still go out by email and WhatsApp."""

    sms: bool = True
    email_reminders: bool = True


class Dispute(_Model):
    """A chargeback or dispute raised against one of the booking's payments."""

    id: str
    payment_reference: str
    status: str
    event: str
    at: datetime
    amount_subunits: int | None = None
    currency: str | None = None


class AuditEntry(_Model):
    """What an operator did to the booking by hand: who, when, what (and to which item), why."""

    at: datetime
    by: str
    action: str
    subject: str = ""
    """The payment, refund, airline change or work item acted on."""
    reason: str
    outcome: str = ""


class Ledger(_Model):
    captures: list[Capture] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)
    orders: list[AirlineOrder] = Field(default_factory=list)
    open_payment: OpenPayment | None = None
    # When the backing capture was recorded: the clock of the give-up deadline.
    settled_at: datetime | None = None
    airline_changes: list[AirlineChange] = Field(default_factory=list)
    # When the airline was last asked about changes to the issued order.
    changes_checked_at: datetime | None = None
    disputes: list[Dispute] = Field(default_factory=list)
    # Payments open when the booking ended, to verify once more for a late capture.
    watched: list[WatchedPayment] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)
    preferences: Preferences = Field(default_factory=Preferences)
    journal: list[JournalEntry] = Field(default_factory=list)
    # Operators' actions, never trimmed: the journal drops its oldest lines, the audit does not.
    audit: list[AuditEntry] = Field(default_factory=list)

    @classmethod
    def of(cls, booking: BookingRecord) -> Ledger:
        return cls.model_validate(booking.ledger or {})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)

    # --- Reading ------------------------------------------------------------------------

    def capture_for(self, payment_reference: str) -> Capture | None:
        return next((c for c in self.captures if c.payment_reference == payment_reference), None)

    @property
    def backing(self) -> Capture | None:
        return next((c for c in self.captures if c.role is CaptureRole.BACKING), None)

    def refunds_for(self, payment_reference: str) -> list[Refund]:
        return [r for r in self.refunds if r.payment_reference == payment_reference]

    def refunded_subunits(self, payment_reference: str) -> int:
        """What of a capture is back with the traveller or on its way (failed refunds aside)."""
        return sum(
            r.amount_subunits
            for r in self.refunds_for(payment_reference)
            if r.state in COUNTED_REFUND_STATES
        )

    def unrefunded_subunits(self, capture: Capture) -> int:
        return capture.amount_subunits - self.refunded_subunits(capture.payment_reference)

    @property
    def latest_order(self) -> AirlineOrder | None:
        return self.orders[-1] if self.orders else None

    @property
    def live_orders(self) -> list[AirlineOrder]:
        return [o for o in self.orders if o.state in LIVE_ORDER_STATES]

    @property
    def confirmed_order(self) -> AirlineOrder | None:
        """The issued order the booking flies on (the first issued one until one is chosen)."""
        issuing = (OrderState.CONFIRMED, OrderState.CANCELLING)
        issued = [o for o in self.orders if o.state in issuing]
        return next((o for o in issued if o.flown), issued[0] if issued else None)

    @property
    def flown_order(self) -> AirlineOrder | None:
        return next((o for o in self.orders if o.flown), None)

    @property
    def ever_confirmed(self) -> bool:
        """An order was issued for this booking (it may have been cancelled since)."""
        return any(o.confirmed_at is not None for o in self.orders)

    @property
    def open_orders(self) -> list[AirlineOrder]:
        """Attempts whose outcome is not known yet."""
        return [o for o in self.orders if o.state in OPEN_ORDER_STATES]

    def order(self, attempt: int) -> AirlineOrder | None:
        return next((o for o in self.orders if o.attempt == attempt), None)

    def order_by_correlation(self, correlation_id: str) -> AirlineOrder | None:
        return next((o for o in self.orders if o.correlation_id == correlation_id), None)

    def order_by_id(self, order_id: str) -> AirlineOrder | None:
        return next((o for o in self.orders if o.order_id == order_id), None)

    def refund(self, refund_id: str) -> Refund | None:
        return next((r for r in self.refunds if r.id == refund_id), None)

    def airline_change(self, change_id: str) -> AirlineChange | None:
        return next((c for c in self.airline_changes if c.id == change_id), None)

    def notice(self, notice_id: str) -> Notice | None:
        return next((n for n in self.notices if n.id == notice_id), None)

    @property
    def waiting_notices(self) -> list[Notice]:
        """Notices neither queued nor dropped yet."""
        return [n for n in self.notices if n.queued_at is None and not n.dropped]

    @property
    def captured_subunits(self) -> int:
        return sum(c.amount_subunits for c in self.captures)

    # --- Changing (on a copy; the caller writes it back by compare-and-set) --------------

    def note(self, at: datetime, source: str, kind: str, detail: str = "") -> None:
        self.journal.append(JournalEntry(at=at, source=source, kind=kind, detail=detail[:500]))
        if len(self.journal) > MAX_JOURNAL_ENTRIES:
            del self.journal[: len(self.journal) - MAX_JOURNAL_ENTRIES]

    def move_order(
        self, order: AirlineOrder, to: OrderState, at: datetime, source: str, detail: str = ""
    ) -> bool:
        """Move an order attempt by its transition table; False (and no change) if not allowed."""
        if not order_may_move(order.state, to):
            return False
        if order.state is not to:
            self.note(at, source, f"order.{to.value}", f"attempt {order.attempt} {detail}".strip())
        order.state = to
        order.updated_at = at
        if detail:
            order.detail = detail[:300]
        return True

    def move_refund(
        self, refund: Refund, to: RefundState, at: datetime, source: str, detail: str = ""
    ) -> bool:
        if not refund_may_move(refund.state, to):
            return False
        if refund.state is not to:
            self.note(at, source, f"refund.{to.value}", f"{refund.id} {detail}".strip())
        refund.state = to
        refund.updated_at = at
        if detail:
            refund.detail = detail[:300]
        return True


def copy_of(booking: BookingRecord) -> Ledger:
    """A ledger of `booking` safe to change without touching the record."""
    return Ledger.of(booking)


# --- The invariant --------------------------------------------------------------------------


class ViolationKind(StrEnum):
    UNREFUNDED_CAPTURE = "unrefunded_capture"
    REFUNDED_WHILE_ORDER_STANDS = "refunded_while_order_stands"
    OVER_REFUNDED = "over_refunded"
    SEVERAL_LIVE_ORDERS = "several_live_orders"
    CONFIRMED_WITHOUT_ORDER = "confirmed_without_order"
    HELD_ORDER_NOT_RELEASED = "held_order_not_released"
    REFUND_FAILED = "refund_failed"
    UNKNOWN_AIRLINE_OUTCOME = "unknown_airline_outcome"
    PAYMENT_WITHOUT_CAPTURE = "payment_without_capture"


# What the reconciler repairs on its own; the rest needs a person.
REPAIRABLE = frozenset(
    {
        ViolationKind.UNREFUNDED_CAPTURE,
        ViolationKind.HELD_ORDER_NOT_RELEASED,
        ViolationKind.PAYMENT_WITHOUT_CAPTURE,
        ViolationKind.SEVERAL_LIVE_ORDERS,
    }
)


@dataclass(frozen=True, slots=True)
class Violation:
    booking_reference: str
    kind: ViolationKind
    detail: str
    amount_subunits: int | None = None
    currency: str | None = None

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE


@dataclass(frozen=True, slots=True)
class Balance:
    """Where a booking's money is, in the payment currency's subunits."""

    captured: int
    kept: int
    refunded: int
    in_flight: int
    held: int


def balance(booking: BookingRecord, ledger: Ledger) -> Balance:
    status = BookingStatus(booking.status)
    kept = in_flight = held = 0
    refunded = sum(ledger.refunded_subunits(c.payment_reference) for c in ledger.captures)
    for capture in ledger.captures:
        left = ledger.unrefunded_subunits(capture)
        if capture.role is CaptureRole.BACKING:
            if status is BookingStatus.CONFIRMING:
                in_flight += left
            elif ledger.ever_confirmed and status in (
                BookingStatus.CONFIRMED,
                BookingStatus.CANCELLED,
            ):
                kept += left
        elif capture.role is CaptureRole.REVIEW and status is BookingStatus.PENDING_PAYMENT:
            held += left
    return Balance(ledger.captured_subunits, kept, refunded, in_flight, held)


def audit(
    booking: BookingRecord,
    payments: Sequence[PaymentRecord],
    *,
    now: datetime,
    unknown_outcome_after: float,
) -> list[Violation]:
    """Every way `booking` breaks the invariant now. `unknown_outcome_after` (seconds): how long
    a capture may stay in flight before an unresolved airline outcome is reported."""
    ledger = Ledger.of(booking)
    status = BookingStatus(booking.status)
    ref = booking.reference
    found: list[Violation] = []

    def report(kind: ViolationKind, detail: str, capture: Capture | None = None) -> None:
        found.append(
            Violation(
                ref,
                kind,
                detail,
                capture.amount_subunits if capture else None,
                capture.currency if capture else None,
            )
        )

    standing = ledger.confirmed_order
    for capture in ledger.captures:
        refunded = ledger.refunded_subunits(capture.payment_reference)
        left = capture.amount_subunits - refunded
        if refunded > capture.amount_subunits:
            report(ViolationKind.OVER_REFUNDED, capture.payment_reference, capture)
            continue
        backs_standing_order = (
            capture.role is CaptureRole.BACKING
            and status is BookingStatus.CONFIRMED
            and standing is not None
        )
        if backs_standing_order:
            if refunded:
                report(
                    ViolationKind.REFUNDED_WHILE_ORDER_STANDS,
                    f"{capture.payment_reference}: {refunded} refunded, order "
                    f"{standing.order_id if standing else '?'} stands",
                    capture,
                )
            continue
        if capture.role is CaptureRole.BACKING and status is BookingStatus.CONFIRMING:
            started = ledger.settled_at or capture.captured_at
            if (now - started).total_seconds() > unknown_outcome_after:
                report(
                    ViolationKind.UNKNOWN_AIRLINE_OUTCOME,
                    f"captured {capture.payment_reference} {int((now - started).total_seconds())}"
                    " s ago and the airline order is still not known",
                    capture,
                )
            continue
        cancelled_after_issue = status is BookingStatus.CANCELLED and ledger.ever_confirmed
        if capture.role is CaptureRole.BACKING and cancelled_after_issue:
            continue  # what the airline kept on cancelling is kept; the rest was refunded
        held = status is BookingStatus.PENDING_PAYMENT and ledger.backing is None
        if capture.role is CaptureRole.REVIEW and held:
            continue  # held for an operator while the booking is open
        failed = any(
            r.state is RefundState.FAILED for r in ledger.refunds_for(capture.payment_reference)
        )
        if left > 0 and not failed:  # a failed refund is reported as such, below
            report(
                ViolationKind.UNREFUNDED_CAPTURE,
                f"{capture.payment_reference}: {left} of {capture.amount_subunits} "
                f"{capture.currency} neither backs an issued order nor is refunded",
                capture,
            )
    live = ledger.live_orders
    issued = [o for o in live if o.state in (OrderState.CONFIRMED, OrderState.CANCELLING)]
    if len(issued) > 1 or (issued and len(live) > 1):
        report(
            ViolationKind.SEVERAL_LIVE_ORDERS,
            "live airline orders: " + ", ".join(str(o.order_id) for o in live),
        )
    if status is BookingStatus.CONFIRMED and (standing is None or not booking.airline_reference):
        report(ViolationKind.CONFIRMED_WITHOUT_ORDER, "CONFIRMED without an issued airline order")
    if status is not BookingStatus.PENDING_PAYMENT and status is not BookingStatus.CONFIRMING:
        for order in live:
            if order.state in (OrderState.PLACED, OrderState.PAYING) and not issued:
                report(
                    ViolationKind.HELD_ORDER_NOT_RELEASED,
                    f"held order {order.order_id} still stands on a {status} booking",
                )
    for refund in ledger.refunds:
        # A failed refund an operator has asked again for is answered by the later one.
        retried = any(
            r.requested_at > refund.requested_at
            for r in ledger.refunds_for(refund.payment_reference)
        )
        if refund.state is RefundState.FAILED and not retried:
            report(
                ViolationKind.REFUND_FAILED,
                f"refund {refund.id} of {refund.amount_subunits} {refund.currency} failed: "
                f"{refund.detail or refund.provider_status or 'no detail'}",
            )
    for payment in payments:
        paid = payment.status in (PaymentStatus.SUCCESS, PaymentStatus.REFUNDED)
        if paid and ledger.capture_for(payment.reference) is None:
            report(
                ViolationKind.PAYMENT_WITHOUT_CAPTURE,
                f"payment {payment.reference} is {payment.status} but no capture is recorded",
            )
    return found
