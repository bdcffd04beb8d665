"""The booking saga's shared machinery: its collaborators, its timings, the named points where a
test may pause it, and the one way a booking changes: a compare-and-set of status and ledger.

Every step of the saga reads the booking, decides on a copy of its ledger, and writes status,
ledger and the reconciler's next check time back in one conditional update on the booking's
version. A step that loses a race reads again and decides again, so whichever path wins, the
other sees what it did.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from integrations.ports.airline import AirlineOrders
from integrations.ports.payments import PaymentProvider
from integrations.state.bus import EventBus
from integrations.state.store import BookingRecord, PaymentRecord, Store
from resolvers.errors import Conflict, NotFound
from resolvers.events import BookingEvent, BookingEventKind, PaymentEvent
from resolvers.flights import FlightService
from resolvers.ledger import Ledger
from resolvers.lifecycle import BookingStatus, booking_may_move
from resolvers.notifications.notices import NoticeTimings, derive, facts
from resolvers.rates import RatesService

log = logging.getLogger("sureflights.saga")

# How many times a step re-reads and decides again when other writers keep winning.
MAX_WRITE_ATTEMPTS = 20


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SagaTimings:
    """How long the saga waits before doing again what may still be under way elsewhere."""

    # A payment open this long is verified with the provider, in case its webhook was lost.
    verify_after: timedelta = timedelta(minutes=5)
    # Work in flight this long (an order or refund asked, a claim taken) is looked after by the
    # reconciler: the asker has crashed, or its answer was lost. Longer than any upstream call.
    resume_after: timedelta = timedelta(minutes=2)
    # A booking paid this long ago with positively no airline order is refunded (well inside the
    # 15-minute promise). Without a positive answer the airline is asked again instead.
    give_up_after: timedelta = timedelta(minutes=12)
    # How often an issued refund is asked after until the provider processes (or fails) it.
    follow_refund_every: timedelta = timedelta(minutes=10)
    # How often the airline is asked whether it changed an issued order, should its webhook be
    # lost; zero turns the check off.
    check_changes_every: timedelta = timedelta(hours=6)

    @property
    def unknown_outcome_alarm(self) -> timedelta:
        """Past this an airline outcome still unknown is reported to operators."""
        return self.give_up_after + self.resume_after


class SagaHooks(Protocol):
    """Named points of the saga where a test may pause (or stop) it, to run another path at the
    worst moment. Production uses `NO_HOOKS`."""

    async def reached(self, point: str, booking_reference: str) -> None: ...


class _NoHooks:
    async def reached(self, point: str, booking_reference: str) -> None:
        return None


NO_HOOKS: SagaHooks = _NoHooks()


class NoticeQueue(Protocol):
    """Puts a booking's due notices into the notification outbox."""

    async def queue(self, deps: SagaDeps, reference: str) -> None: ...


@dataclass(slots=True)
class SagaDeps:
    """The collaborators of the booking saga, wired once by the composition root."""

    store: Store
    flights: FlightService
    airline: AirlineOrders
    payments: PaymentProvider
    rates: RatesService
    bus: EventBus
    secret_key: str
    payment_currency: str
    timings: SagaTimings = field(default_factory=SagaTimings)
    hooks: SagaHooks = NO_HOOKS
    clock: Callable[[], datetime] = utc_now
    notice_timings: NoticeTimings = field(default_factory=NoticeTimings)
    # Queues a booking's due notices into the notification outbox (the reconciler's NOTIFY
    # step); None where nothing is sent (some tests).
    outbox: NoticeQueue | None = None

    async def reached(self, point: str, booking_reference: str) -> None:
        await self.hooks.reached(point, booking_reference)


@dataclass(slots=True)
class Change:
    """What a step writes: a new status (or none), fields of the record, and the ledger as
    changed in place by the step's decision."""

    status: BookingStatus | None = None
    fields: dict[str, Any] = field(default_factory=dict)


Decide = Callable[[BookingRecord, Ledger, datetime], Change | None]
Schedule = Callable[[BookingRecord, Ledger], datetime | None]


@dataclass(frozen=True)
class Written:
    """A step's write: the booking as read (`before`) and as stored after (`after`, the same
    when `wrote` is False because the step decided there was nothing to do)."""

    before: BookingRecord
    after: BookingRecord
    wrote: bool

    @property
    def moved(self) -> bool:
        return self.wrote and self.before.status != self.after.status

    @functools.cached_property
    def ledger(self) -> Ledger:
        """The ledger as stored after (read once)."""
        return Ledger.of(self.after)


async def change_booking(
    deps: SagaDeps,
    reference: str,
    decide: Decide,
    *,
    schedule: Schedule,
    current: BookingRecord | None = None,
) -> Written:
    """Read the booking, let `decide` change a copy of its ledger (returning None to write
    nothing), and write it back by compare-and-set; again from the top when another writer won.

    `schedule` gives the reconciler's next check time for the booking as it will be. `current`,
    a copy the caller has just read, saves the first read (a stale one only loses the first
    compare-and-set).
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        booking = current if current is not None else await deps.store.bookings.get(reference)
        current = None
        if booking is None:
            raise NotFound(f"No booking {reference}.")
        ledger = Ledger.of(booking)
        before = facts(booking, ledger)
        now = deps.clock()
        change = decide(booking, ledger, now)
        if change is None:
            return Written(booking, booking, False)
        status = change.status or BookingStatus(booking.status)
        moving = change.status is not None and change.status != booking.status
        if moving and not booking_may_move(BookingStatus(booking.status), status):
            raise ValueError(f"no transition {booking.status} -> {status}")
        after = dataclasses.replace(booking, status=status, **change.fields)
        # What the step tells the traveller is written with the step itself.
        told = derive(before, after, ledger, now, deps.notice_timings)
        dumped = ledger.dump()
        after = dataclasses.replace(after, ledger=dumped)
        fields = {**change.fields, "ledger": dumped, "check_at": schedule(after, ledger)}
        updated = await deps.store.bookings.update(
            reference,
            expected_version=booking.version,
            changes=fields,
            now=now,
            to_status=status if status != booking.status else None,
        )
        if updated is not None:
            if any(notice.due_at <= now for notice in told):
                await deps.reached("notices.written", reference)
                # The dispatchers queue it at once; the reconciler would, at the check time.
                await _publish(deps, NOTICES, {"booking_reference": reference})
            return Written(booking, updated, True)
    raise Conflict("The booking is changing too quickly; try again.")


# Where writers tell the notification dispatchers a booking has notices due.
NOTICES = "notices"


# --- What subscribers hear ------------------------------------------------------------------


async def publish_payment(
    deps: SagaDeps, payment: PaymentRecord, booking: BookingRecord | None
) -> None:
    """What subscribers receive on `payments:{reference}`: the whole payment, as it now is."""
    event = PaymentEvent.of(payment, booking)
    await _publish(deps, event.channel, event.message())


async def announce(
    deps: SagaDeps, booking: BookingRecord, kind: BookingEventKind, **details: Any
) -> None:
    """Tell listeners (the traveller's notifier, operators' views) something happened to the
    booking."""
    event = BookingEvent.of(booking, kind, **details)
    await _publish(deps, event.topic, event.message())


async def _publish(deps: SagaDeps, channel: str, message: Mapping[str, Any]) -> None:
    try:
        await deps.bus.publish(channel, message)
    except Exception as error:  # the change is stored; a lost event must not undo it
        # An expected outage (Redis down) is one line, not a traceback per event.
        log.warning(
            "could not publish an event",
            extra={"channel": channel, "error": type(error).__name__},
        )


_ANNOUNCED = {
    BookingStatus.CONFIRMED: BookingEventKind.CONFIRMED,
    BookingStatus.REFUNDED: BookingEventKind.REFUNDED,
    BookingStatus.CANCELLED: BookingEventKind.CANCELLED,
    BookingStatus.EXPIRED: BookingEventKind.EXPIRED,
}


async def tell(deps: SagaDeps, written: Written, *, published: Set[str] = frozenset()) -> None:
    """After a step that moved the booking: its payment's subscribers hear the new booking status
    (unless the payment's own change, in `published`, already told them), and listeners hear
    the move itself."""
    if not written.moved:
        return
    booking = written.after
    ledger = written.ledger
    reference = (
        ledger.backing.payment_reference
        if ledger.backing
        else ledger.open_payment.reference
        if ledger.open_payment
        else None
    )
    if reference is None or reference not in published:
        payment = (
            await deps.store.payments.get(reference)
            if reference
            else await deps.store.payments.get_latest_for_booking(booking.reference)
        )
        if payment is not None:
            await publish_payment(deps, payment, booking)
    kind = _ANNOUNCED.get(BookingStatus(booking.status))
    if kind is not None:
        await announce(deps, booking, kind, airline_reference=booking.airline_reference)
