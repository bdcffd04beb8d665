"""What operators see and do: the work queue of what needs a person, their actions on it (each
with a reason, written to the booking's audit log), the bookings search and the reconciler's
last pass.

Every action is for admins only and asks why; the audit entry is written in the same
compare-and-set as the change it explains, in the booking's ledger, so every store keeps it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from integrations.state.store import BookingRecord, ConversationRecord, Store
from resolvers import reconciliation, refunds
from resolvers.access import Caller, listing_scope, require_admin
from resolvers.errors import BadUserInput, Conflict, NotFound
from resolvers.ledger import AuditEntry, CaptureRole, Ledger, ViolationKind, audit
from resolvers.lifecycle import BookingStatus, RefundState
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, tell
from resolvers.settlement import sync_payments

MAX_REASON = 500
# Bookings read per page while looking for what matches a search or the work queue.
SCAN_PAGE = 200
# How many bookings one filtered listing reads at most; its total counts those read.
MAX_FILTER_SCAN = 5000
OPERATOR = "operator"
# Dispute states Paystack ends a dispute in.
CLOSED_DISPUTES = frozenset({"resolved", "archived", "closed", "won", "lost"})


def reason_given(reason: str) -> str:
    """The operator's reason, trimmed; every action needs one."""
    text = " ".join(reason.split())
    if not text:
        raise BadUserInput("Say why (reason).", field="reason")
    if len(text) > MAX_REASON:
        raise BadUserInput(f"reason is at most {MAX_REASON} characters.", field="reason")
    return text


def _audit(
    ledger: Ledger, now: datetime, caller: Caller, action: str, subject: str, reason: str, **kw: str
) -> None:
    ledger.audit.append(
        AuditEntry(at=now, by=caller.identity, action=action, subject=subject, reason=reason, **kw)
    )
    ledger.note(now, OPERATOR, f"operator.{action}", f"{subject}: {reason}")


# --- The work queue -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One thing that needs a person."""

    id: str
    kind: str
    summary: str
    since: datetime
    actions: tuple[str, ...]
    booking_reference: str | None = None
    payment_reference: str | None = None
    refund_id: str | None = None
    change_id: str | None = None
    phone: str | None = None
    amount_subunits: int | None = None
    currency: str | None = None


def items_of(booking: BookingRecord, deps: SagaDeps, now: datetime) -> list[WorkItem]:
    """What of one booking waits for a person, less what an operator has acknowledged."""
    ledger = Ledger.of(booking)
    ref = booking.reference
    found: list[WorkItem] = []
    held = booking.status == BookingStatus.PENDING_PAYMENT and ledger.backing is None
    for capture in ledger.captures:
        if capture.role is CaptureRole.REVIEW and held and ledger.unrefunded_subunits(capture):
            if ledger.refunds_for(capture.payment_reference):
                continue  # being refunded
            found.append(
                WorkItem(
                    id=f"held:{ref}:{capture.payment_reference}",
                    kind="HELD_PAYMENT",
                    summary=f"payment held for review: {capture.reason}",
                    since=capture.captured_at,
                    actions=("approve", "refund"),
                    booking_reference=ref,
                    payment_reference=capture.payment_reference,
                    amount_subunits=capture.amount_subunits,
                    currency=capture.currency,
                )
            )
    for refund in ledger.refunds:
        later = [
            r
            for r in ledger.refunds_for(refund.payment_reference)
            if r.requested_at > refund.requested_at
        ]
        if refund.state is RefundState.FAILED and not later:
            found.append(
                WorkItem(
                    id=f"refund-failed:{ref}:{refund.id}",
                    kind="REFUND_FAILED",
                    summary=f"refund failed: {refund.detail or refund.provider_status or ''}",
                    since=refund.updated_at,
                    actions=("retry", "acknowledge"),
                    booking_reference=ref,
                    payment_reference=refund.payment_reference,
                    refund_id=refund.id,
                    amount_subunits=refund.amount_subunits,
                    currency=refund.currency,
                )
            )
        stuck = refund.state in (RefundState.REQUESTED, RefundState.UNKNOWN)
        if stuck and now - refund.updated_at > deps.timings.resume_after * 2:
            found.append(
                WorkItem(
                    id=f"refund-open:{ref}:{refund.id}:{refund.state.value}",
                    kind="REFUND_NOT_ISSUED",
                    summary=f"refund {refund.state.value} since {refund.updated_at:%Y-%m-%d %H:%M}",
                    since=refund.updated_at,
                    actions=("acknowledge",),
                    booking_reference=ref,
                    payment_reference=refund.payment_reference,
                    refund_id=refund.id,
                    amount_subunits=refund.amount_subunits,
                    currency=refund.currency,
                )
            )
    violations = audit(
        booking, [], now=now, unknown_outcome_after=deps.timings.unknown_outcome_alarm.seconds
    )
    for violation in violations:
        if violation.kind is ViolationKind.UNKNOWN_AIRLINE_OUTCOME:
            found.append(
                WorkItem(
                    id=f"unknown-outcome:{ref}",
                    kind="UNKNOWN_AIRLINE_OUTCOME",
                    summary=violation.detail,
                    since=ledger.settled_at or booking.updated_at,
                    actions=("acknowledge",),
                    booking_reference=ref,
                    amount_subunits=violation.amount_subunits,
                    currency=violation.currency,
                )
            )
    latest_disputes = {d.id: d for d in ledger.disputes}
    for dispute in latest_disputes.values():
        if dispute.status.lower() in CLOSED_DISPUTES:
            continue
        found.append(
            WorkItem(
                id=f"dispute:{ref}:{dispute.id}:{dispute.status}",
                kind="DISPUTE",
                summary=f"dispute {dispute.id} on {dispute.payment_reference}: {dispute.status}",
                since=dispute.at,
                actions=("acknowledge",),
                booking_reference=ref,
                payment_reference=dispute.payment_reference,
                amount_subunits=dispute.amount_subunits,
                currency=dispute.currency,
            )
        )
    if booking.status == BookingStatus.CONFIRMED:
        for change in ledger.airline_changes:
            if change.answer is None:
                found.append(
                    WorkItem(
                        id=f"airline-change:{ref}:{change.id}",
                        kind="AIRLINE_CHANGE",
                        summary=change.summary or "the airline changed the flights",
                        since=change.detected_at,
                        actions=tuple(a for a in ("accept", "cancel") if a in change.actions)
                        or ("accept", "cancel"),
                        booking_reference=ref,
                        change_id=change.id,
                    )
                )
    acknowledged = {a.subject for a in ledger.audit if a.action == "acknowledge"}
    return [item for item in found if item.id not in acknowledged]


def handoff_item(record: ConversationRecord) -> WorkItem | None:
    asked = record.data.get("handoff") or {}
    if not asked.get("requested_at"):
        return None
    requested = datetime.fromisoformat(str(asked["requested_at"]))
    resolved = asked.get("resolved") or {}
    if resolved.get("at") and datetime.fromisoformat(str(resolved["at"])) >= requested:
        return None
    name = asked.get("profile_name") or record.phone
    return WorkItem(
        id=f"handoff:{record.phone}",
        kind="HANDOFF",
        summary=f"{name} asked for a person ({asked.get('reason') or 'asked'}): "
        f"{str(asked.get('message') or '')[:200]}",
        since=requested,
        actions=("resolve",),
        booking_reference=record.booking_references[-1] if record.booking_references else None,
        phone=record.phone,
    )


async def _every_booking(store: Store) -> AsyncIterator[BookingRecord]:
    after: str | None = None
    while True:
        page = await store.bookings.scan(after=after, limit=SCAN_PAGE)
        if not page:
            return
        for booking in page:
            yield booking
        after = page[-1].reference


async def work_queue(caller: Caller, deps: SagaDeps, *, first: int = 100) -> list[WorkItem]:
    """Everything that needs a person, the oldest first (admins only)."""
    require_admin(caller)
    if not 1 <= first <= 500:
        raise BadUserInput("first is 1 to 500.", field="first")
    now = deps.clock()
    found: list[WorkItem] = []
    async for booking in _every_booking(deps.store):
        if booking.ledger:
            found += items_of(booking, deps, now)
    for conversation in await deps.store.conversations.list_handoffs(100):
        item = handoff_item(conversation)
        if item is not None:
            found.append(item)
    found.sort(key=lambda item: item.since)
    return found[:first]


# --- Acting on it -------------------------------------------------------------------------


async def _booking(deps: SagaDeps, reference: str) -> BookingRecord:
    booking = await deps.store.bookings.get(reference.strip().upper())
    if booking is None:
        raise NotFound(f"No booking {reference}.")
    return booking


async def approve_held_payment(
    caller: Caller, deps: SagaDeps, reference: str, payment_reference: str, reason: str
) -> BookingRecord:
    """Keep a payment held for review as the booking's payment: the booking is confirmed with
    the airline as if the amount had been right."""
    require_admin(caller)
    why = reason_given(reason)
    booking = await _booking(deps, reference)

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        capture = ledger.capture_for(payment_reference)
        waiting = booking.status == BookingStatus.PENDING_PAYMENT and ledger.backing is None
        if capture is None or capture.role is not CaptureRole.REVIEW or not waiting:
            raise Conflict("No payment of this booking is held for review.")
        if ledger.refunds_for(payment_reference):
            raise Conflict("The held payment is being refunded.")
        capture.role = CaptureRole.BACKING
        ledger.settled_at = now
        ledger.open_payment = None
        _audit(ledger, now, caller, "approve_held_payment", payment_reference, why)
        return Change(
            status=BookingStatus.CONFIRMING, fields={"data": {"paid_with": payment_reference}}
        )

    written = await record(deps, booking.reference, decide)
    await sync_payments(deps, written.after)
    await tell(deps, written)
    return await reconciliation.drive(deps, booking.reference, source=OPERATOR)


async def refund_held_payment(
    caller: Caller, deps: SagaDeps, reference: str, payment_reference: str, reason: str
) -> BookingRecord:
    """Send a payment held for review back to the traveller; the booking stays open to pay."""
    require_admin(caller)
    why = reason_given(reason)
    booking = await _booking(deps, reference)

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        capture = ledger.capture_for(payment_reference)
        if capture is None or capture.role is not CaptureRole.REVIEW:
            raise Conflict("No payment of this booking is held for review.")
        if ledger.refunds_for(payment_reference) or ledger.unrefunded_subunits(capture) <= 0:
            raise Conflict("The held payment is already being refunded.")
        refund = refunds.add_refund(
            ledger,
            payment_reference,
            ledger.unrefunded_subunits(capture),
            capture.currency,
            f"held payment refunded by an operator: {why}",
            now,
            OPERATOR,
        )
        _audit(
            ledger, now, caller, "refund_held_payment", payment_reference, why, outcome=refund.id
        )
        return Change()

    written = await record(deps, booking.reference, decide)
    claimed = written.ledger.refunds_for(payment_reference)[-1]
    await refunds.issue(deps, booking.reference, claimed.id, source=OPERATOR)
    return await reconciliation.drive(deps, booking.reference, source=OPERATOR)


async def retry_refund(
    caller: Caller, deps: SagaDeps, reference: str, refund_id: str, reason: str
) -> BookingRecord:
    """Ask the provider again for a refund it failed: a new refund of what is still owed."""
    require_admin(caller)
    why = reason_given(reason)
    booking = await _booking(deps, reference)

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        failed = ledger.refund(refund_id)
        if failed is None or failed.state is not RefundState.FAILED:
            raise Conflict(f"No failed refund {refund_id} on this booking.")
        capture = ledger.capture_for(failed.payment_reference)
        later = [
            r
            for r in ledger.refunds_for(failed.payment_reference)
            if r is not failed and r.requested_at > failed.requested_at
        ]
        if capture is None or later or ledger.unrefunded_subunits(capture) <= 0:
            raise Conflict("Nothing is left to refund on this payment.")
        refund = refunds.add_refund(
            ledger,
            failed.payment_reference,
            min(failed.amount_subunits, ledger.unrefunded_subunits(capture)),
            failed.currency,
            f"retry of {failed.id}: {failed.reason}",
            now,
            OPERATOR,
        )
        _audit(ledger, now, caller, "retry_refund", refund_id, why, outcome=refund.id)
        return Change()

    written = await record(deps, booking.reference, decide)
    claimed = written.ledger.refunds[-1]
    await refunds.issue(deps, booking.reference, claimed.id, source=OPERATOR)
    return await reconciliation.drive(deps, booking.reference, source=OPERATOR)


async def acknowledge(caller: Caller, deps: SagaDeps, item_id: str, reason: str) -> BookingRecord:
    """Take an item off the queue with what was done about it (a call to the airline, a reply
    to the bank): the saga goes on as before."""
    require_admin(caller)
    why = reason_given(reason)
    kind, _, rest = item_id.partition(":")
    reference = rest.partition(":")[0]
    if kind not in ("refund-failed", "refund-open", "unknown-outcome", "dispute") or not reference:
        raise BadUserInput("This item cannot be acknowledged; act on it instead.", field="id")
    booking = await _booking(deps, reference)
    now = deps.clock()
    if item_id not in {item.id for item in items_of(booking, deps, now)}:
        raise Conflict("This item is no longer in the work queue.")

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        _audit(ledger, now, caller, "acknowledge", item_id, why)
        return Change()

    return (await record(deps, booking.reference, decide)).after


async def audit_airline_answer(
    caller: Caller, deps: SagaDeps, reference: str, change_id: str, answer: str, reason: str
) -> None:
    """The audit entry of an operator's answer to an airline change (the answer is the
    booking's own mutation)."""

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        _audit(ledger, now, caller, f"airline_change_{answer}", change_id, reason)
        return Change()

    await record(deps, reference, decide)


async def resolve_handoff(caller: Caller, deps: SagaDeps, phone: str, reason: str) -> AuditEntry:
    """A person has answered the traveller: the request leaves the queue, and the answer is in
    the audit of the conversation and of its bookings."""
    require_admin(caller)
    why = reason_given(reason)
    conversations = deps.store.conversations
    conversation = await conversations.get(phone.strip())
    if conversation is None or handoff_item(conversation) is None:
        raise NotFound("No traveller waits for a person on this number.")
    now = deps.clock()
    entry = AuditEntry(
        at=now, by=caller.identity, action="resolve_handoff", subject=conversation.phone, reason=why
    )
    handoff = {**conversation.data["handoff"], "resolved": entry.model_dump(mode="json")}
    await conversations.save(
        replace(conversation, updated_at=now, data={**conversation.data, "handoff": handoff})
    )
    for reference in conversation.booking_references:
        if await deps.store.bookings.get(reference) is None:
            continue

        def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            _audit(ledger, now, caller, "resolve_handoff", conversation.phone, why)
            return Change()

        await record(deps, reference, decide)
    return entry


# --- Finding bookings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingFilter:
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    search: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.channel or self.created_from or self.created_to or self.search)

    def matches(self, booking: BookingRecord) -> bool:
        if self.channel and booking.channel != self.channel:
            return False
        if self.created_from and booking.created_at < self.created_from:
            return False
        if self.created_to and booking.created_at > self.created_to:
            return False
        return not self.search or _matches_search(booking, self.search)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _matches_search(booking: BookingRecord, search: str) -> bool:
    wanted = search.strip().lower()
    if not wanted:
        return True
    if wanted.upper() == booking.reference or wanted in booking.reference.lower():
        return True
    people: list[dict[str, Any]] = booking.data.get("passengers") or []
    contact: dict[str, Any] = booking.data.get("contact") or {}
    if any(wanted in str(p.get("email", "")).lower() for p in people):
        return True
    digits = _digits(wanted)
    if len(digits) >= 6:
        # Local and international forms of one number share their last digits.
        phones = [_digits(str(p.get("phone_number", ""))) for p in people]
        phones.append(_digits(str(contact.get("whatsapp", ""))))
        tail = digits.lstrip("0")[-9:]
        return any(tail and tail in phone for phone in phones)
    return False


async def find_bookings(
    caller: Caller,
    store: Store,
    *,
    status: str | None,
    wanted: BookingFilter,
    first: int,
    after: tuple[datetime, str] | None,
) -> tuple[list[BookingRecord], bool, int]:
    """A page of the bookings that match, newest first, whether more follow and how many
    match (of at most MAX_FILTER_SCAN read)."""
    partner_id = listing_scope(caller)
    matched: list[BookingRecord] = []
    total = read = 0
    cursor: tuple[datetime, str] | None = None
    started = after is None
    while read < MAX_FILTER_SCAN:
        page = await store.bookings.list(
            status=status, partner_id=partner_id, limit=SCAN_PAGE, after=cursor
        )
        if not page:
            break
        for booking in page:
            read += 1
            if wanted.created_from and booking.created_at < wanted.created_from:
                return matched[:first], len(matched) > first, total
            if not wanted.matches(booking):
                continue
            total += 1
            if not started:
                started = (booking.created_at, booking.reference) < after  # type: ignore[operator]
            if started and (booking.created_at, booking.reference) != after:
                matched.append(booking)
        cursor = (page[-1].created_at, page[-1].reference)
    return matched[:first], len(matched) > first, total


# --- The reconciler, as operators watch it ------------------------------------------------


@dataclass(slots=True)
class ReconcilerWatch:
    """The last pass of this process's reconciler, and what it repaired."""

    last_at: datetime | None = None
    passes: int = 0
    last: reconciliation.ReconcileReport | None = None
    repaired: dict[str, int] = field(default_factory=dict)
    """Steps taken by kind over every pass since start."""

    def saw(self, report: reconciliation.ReconcileReport, at: datetime) -> None:
        self.last_at, self.last = at, report
        self.passes += 1
        for step, count in report.steps.items():
            self.repaired[step] = self.repaired.get(step, 0) + count
