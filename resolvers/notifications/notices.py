"""What a traveller is told, and when: notices derived from the booking's own changes.

Every write of a booking goes through one compare-and-set (`resolvers.saga.change_booking`);
there, `derive` compares the booking before and after the step and adds the notices the step
causes to the ledger it writes: a confirmation when the booking is confirmed, a notice per
refund issued and per refund processed, a notice per airline change, an expiry or cancellation
notice. Reminders are notices due later: the payment reminder before a held booking's `payBy`,
the check-in reminder a day before departure, a reminder of an unanswered airline change before
its answer is due. A notice is written once (by id), however often the step is retried or an
event redelivered, and a crash after the write loses nothing: the notice waits in the ledger
until it is queued into the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations.state.store import BookingRecord
from resolvers.ledger import Ledger, Notice, NoticeKind
from resolvers.lifecycle import BookingStatus, RefundState


@dataclass(frozen=True, slots=True)
class NoticeTimings:
    """How far ahead reminders go out."""

    payment_reminder: timedelta = timedelta(hours=3)
    check_in_reminder: timedelta = timedelta(hours=24)
    change_reminder: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Facts:
    """What `derive` compares: the booking's state before a step."""

    status: str
    refunds: dict[str, RefundState]
    changes: frozenset[str]
    pay_by: datetime | None


def facts(booking: BookingRecord, ledger: Ledger) -> Facts:
    return Facts(
        status=booking.status,
        refunds={r.id: r.state for r in ledger.refunds},
        changes=frozenset(c.id for c in ledger.airline_changes),
        pay_by=booking.pay_by,
    )


# Refund states in which the money is on its way back (or already there).
_RETURNING = frozenset({RefundState.ISSUED, RefundState.PROCESSED})
# What each status a booking moves to tells the traveller.
_ON_STATUS = {
    BookingStatus.CONFIRMED: NoticeKind.CONFIRMATION,
    BookingStatus.EXPIRED: NoticeKind.EXPIRY,
    BookingStatus.CANCELLED: NoticeKind.CANCELLATION,
}


def derive(
    before: Facts,
    after: BookingRecord,
    ledger: Ledger,
    now: datetime,
    timings: NoticeTimings,
) -> list[Notice]:
    """Add to `ledger` the notices the step from `before` to `after` causes; the new ones."""
    added: list[Notice] = []

    def add(kind: NoticeKind, due_at: datetime, about: str = "") -> None:
        notice_id = f"{kind.value}:{about}" if about else kind.value
        if ledger.notice(notice_id) is None:
            notice = Notice(id=notice_id, kind=kind, created_at=now, due_at=due_at, about=about)
            ledger.notices.append(notice)
            added.append(notice)

    status = BookingStatus(after.status)
    if status != before.status and status in _ON_STATUS:
        add(_ON_STATUS[status], now)
        if status is BookingStatus.CONFIRMED:
            departure = first_departure(after)
            if departure is not None and departure - timings.check_in_reminder > now:
                add(NoticeKind.CHECK_IN_REMINDER, departure - timings.check_in_reminder)
    for refund in ledger.refunds:
        was = before.refunds.get(refund.id)
        if refund.state in _RETURNING and was not in _RETURNING:
            add(NoticeKind.REFUND, now, refund.id)
        if refund.state is RefundState.PROCESSED and was is not RefundState.PROCESSED:
            add(NoticeKind.REFUND_PROCESSED, now, refund.id)
    for change in ledger.airline_changes:
        if change.id in before.changes:
            continue
        add(NoticeKind.AIRLINE_CHANGE, now, change.id)
        if change.respond_by is not None and change.respond_by - timings.change_reminder > now:
            add(
                NoticeKind.AIRLINE_CHANGE_REMINDER,
                change.respond_by - timings.change_reminder,
                change.id,
            )
    if (
        status is BookingStatus.PENDING_PAYMENT
        and after.pay_by is not None
        and after.pay_by != before.pay_by
    ):
        due = reminder_due(held_until(after), now, timings.payment_reminder)
        reminder = ledger.notice(NoticeKind.PAYMENT_REMINDER.value)
        if reminder is None:
            add(NoticeKind.PAYMENT_REMINDER, due)
        elif reminder.queued_at is None and not reminder.dropped:
            reminder.due_at = due  # the airline moved the deadline
    return added


def held_until(booking: BookingRecord) -> datetime:
    """When an unpaid held booking lapses: the airline's deadline or the offer's, if earlier."""
    assert booking.pay_by is not None
    if booking.expires_at is None:
        return booking.pay_by
    return min(booking.pay_by, booking.expires_at)


def reminder_due(deadline: datetime, now: datetime, ahead: timedelta) -> datetime:
    """`ahead` of `deadline`; for a deadline nearer than that, halfway between now and then."""
    return max(deadline - ahead, now + (deadline - now) / 2)


def first_departure(booking: BookingRecord) -> datetime | None:
    """When the booking's first flight leaves (an aware datetime), if the booking says."""
    slices = (booking.data.get("offer") or {}).get("slices") or []
    try:
        return datetime.fromisoformat(slices[0]["segments"][0]["departing_at"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def still_relevant(notice: Notice, booking: BookingRecord, ledger: Ledger) -> str:
    """Why a notice due now should not go out after all ("" when it should): a reminder
    whose moment has passed, a change already answered."""
    status = BookingStatus(booking.status)
    if notice.kind is NoticeKind.PAYMENT_REMINDER and status is not BookingStatus.PENDING_PAYMENT:
        return f"the booking is {status.value.lower()}"
    if notice.kind is NoticeKind.CHECK_IN_REMINDER and status is not BookingStatus.CONFIRMED:
        return f"the booking is {status.value.lower()}"
    if notice.kind is NoticeKind.AIRLINE_CHANGE_REMINDER:
        change = ledger.airline_change(notice.about)
        if change is None or change.answer is not None:
            return "the change was answered"
    return ""


# Reminders the traveller may turn off for email; confirmations and changes always go out.
REMINDERS = frozenset(
    {
        NoticeKind.PAYMENT_REMINDER,
        NoticeKind.CHECK_IN_REMINDER,
    }
)
# Short notices that go by SMS too, when SMS is on: each fits one or two segments.
BY_SMS = frozenset(
    {
        NoticeKind.CONFIRMATION,
        NoticeKind.AIRLINE_CHANGE,
        NoticeKind.AIRLINE_CHANGE_REMINDER,
        NoticeKind.CHECK_IN_REMINDER,
        NoticeKind.CANCELLATION,
    }
)


def earliest_due(ledger: Ledger) -> datetime | None:
    """When the next notice waiting in the ledger falls due; None when none waits."""
    waiting = ledger.waiting_notices
    return min(n.due_at for n in waiting) if waiting else None
