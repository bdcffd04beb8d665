"""Changes the airline makes to an issued order, and the traveller's answer to each.

Duffel reports a change with a webhook (`order.airline_initiated_change_detected`); should that
be lost, the reconciler asks the airline now and then until departure (`check_changes`). Each
change is recorded once in the booking's ledger, with the slices as they are now against those
they replaced, and that write queues the traveller's notice. The traveller (on WhatsApp, by the
link in the email, or through GraphQL), their partner or an operator answers: accept the new
times, or cancel the booking with the refund the airline allows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from integrations.ports.airline import AirlineChangeInfo
from integrations.ports.errors import UpstreamFailure, UpstreamRejected
from integrations.sandbox.airline import SandboxAirline
from integrations.state.store import BookingRecord
from resolvers import cancellations
from resolvers.access import Caller, require_may_act
from resolvers.errors import BadUserInput, Conflict, UpstreamUnavailableError
from resolvers.events import BookingEventKind
from resolvers.ledger import AirlineChange, Ledger
from resolvers.lifecycle import BookingStatus
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps, announce

log = logging.getLogger("sureflights.airline_changes")

ACCEPTED = "accepted"
CANCELLED = "cancelled"
# The answer is asked for this long before the first flight the change touches.
ANSWER_MARGIN = timedelta(hours=24)


def summary_of(info: AirlineChangeInfo) -> str:
    """One line for people: which flights moved, from when to when."""
    parts = []
    for old, new in zip(info.removed, info.added, strict=False):
        before, after = old.segments[0], new.segments[0]
        when = after.departing_at - before.departing_at
        minutes = int(when.total_seconds() // 60)
        shift = (
            f"{abs(minutes) // 60}h{abs(minutes) % 60:02d}m {'later' if minutes > 0 else 'earlier'}"
        )
        parts.append(
            f"{before.flight_number} {before.origin.iata_code}-{before.destination.iata_code} "
            f"now {after.flight_number} at {after.departing_at:%d %b %H:%M} ({shift})"
            if minutes
            else f"{before.flight_number} is now {after.flight_number}"
        )
    if len(info.added) != len(info.removed):
        parts.append(f"{len(info.removed)} flight(s) replaced by {len(info.added)}")
    return "; ".join(parts)


def _respond_by(info: AirlineChangeInfo, now: datetime) -> datetime | None:
    departures = [s.segments[0].departing_at for s in [*info.removed, *info.added] if s.segments]
    if not departures:
        return None
    return max(now, min(departures) - ANSWER_MARGIN)


async def record_changes(
    deps: SagaDeps, reference: str, infos: Sequence[AirlineChangeInfo], *, source: str
) -> list[str]:
    """Record the changes the booking does not know yet; the ids of those recorded now."""
    recorded: list[str] = []

    def decide(booking: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        recorded.clear()
        ledger.changes_checked_at = now
        for info in infos:
            if ledger.airline_change(info.id) is not None:
                continue
            answered = info.action_taken in (ACCEPTED, CANCELLED)
            ledger.airline_changes.append(
                AirlineChange(
                    id=info.id,
                    order_id=info.order_id,
                    detected_at=now,
                    summary=summary_of(info)[:500],
                    data={
                        "added": [s.model_dump(mode="json") for s in info.added],
                        "removed": [s.model_dump(mode="json") for s in info.removed],
                    },
                    actions=[a for a in info.available_actions if a in ("accept", "cancel")],
                    respond_by=_respond_by(info, now),
                    answer=info.action_taken if answered else None,
                    answered_by="airline" if answered else None,
                    answered_at=info.action_taken_at if answered else None,
                )
            )
            ledger.note(now, source, "airline.change_detected", info.id)
            recorded.append(info.id)
        return Change()

    written = await record(deps, reference, decide)
    if not written.wrote:
        return []
    for change_id in recorded:
        log.warning(
            "the airline changed an issued order", extra={"booking": reference, "change": change_id}
        )
        await announce(deps, written.after, BookingEventKind.AIRLINE_CHANGE, change=change_id)
    return list(recorded)


async def check_for_changes(deps: SagaDeps, booking: BookingRecord, *, source: str) -> None:
    """Ask the airline about changes to the booking's issued order (the webhook's fallback)."""
    issued = Ledger.of(booking).confirmed_order
    if issued is None or issued.order_id is None:
        return
    infos = await deps.airline.list_airline_changes(issued.order_id)
    await record_changes(deps, booking.reference, infos, source=source)


def _open_change(ledger: Ledger, change_id: str, action: str) -> AirlineChange:
    change = ledger.airline_change(change_id)
    if change is None:
        raise BadUserInput(f"The booking has no airline change {change_id}.", field="changeId")
    if change.answer is not None and change.answer != (CANCELLED if action == "cancel" else ""):
        raise Conflict(f"This change was {change.answer} already.")
    if action not in change.actions:
        raise Conflict(f"The airline does not allow to {action} this change; contact support.")
    return change


async def accept(
    deps: SagaDeps, caller: Caller, reference: str, change_id: str, *, source: str
) -> BookingRecord:
    """The traveller keeps the booking on the airline's new times."""
    booking = await _booking_for(deps, caller, reference)
    _open_change(Ledger.of(booking), change_id, "accept")
    try:
        info = await deps.airline.accept_airline_change(change_id)
    except UpstreamRejected as error:
        # An accept whose answer was lost, then refused as done already, still counts.
        held = await _as_the_airline_has_it(deps, booking, change_id)
        if held is None or held.action_taken != ACCEPTED:
            raise Conflict(f"The airline refused to accept the change: {error.detail}") from error
        info = held
    except UpstreamFailure as error:
        raise UpstreamUnavailableError(
            "The airline could not be reached to accept the change; try again shortly."
        ) from error

    def decide(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        change = ledger.airline_change(change_id)
        if change is None or change.answer == ACCEPTED:
            return None
        change.answer, change.answered_by, change.answered_at = ACCEPTED, source, now
        ledger.note(now, source, "airline.change_accepted", change_id)
        data = dict(current.data)
        if info.added:
            # The itinerary the traveller sees is the one they now fly.
            offer = dict(data.get("offer") or {})
            offer["slices"] = [s.model_dump(mode="json") for s in info.added]
            data["offer"] = offer
        return Change(fields={"data": data})

    written = await record(deps, reference, decide)
    return written.after


async def cancel(
    deps: SagaDeps, caller: Caller, reference: str, change_id: str, *, source: str
) -> BookingRecord:
    """The traveller does not fly the new times: the booking is cancelled at the airline with
    the refund the airline allows."""
    booking = await _booking_for(deps, caller, reference)
    _open_change(Ledger.of(booking), change_id, "cancel")
    if booking.status != BookingStatus.CONFIRMED:
        raise Conflict(f"A {booking.status} booking cannot be cancelled.", status=booking.status)

    def decide(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
        change = ledger.airline_change(change_id)
        if change is None or change.answer == CANCELLED:
            return None
        change.answer, change.answered_by, change.answered_at = CANCELLED, source, now
        ledger.note(now, source, "airline.change_declined", change_id)
        return Change()

    await record(deps, reference, decide)
    return await cancellations.cancel_issued(deps, reference, source=source)


async def _booking_for(deps: SagaDeps, caller: Caller, reference: str) -> BookingRecord:
    reference = reference.strip().upper()
    booking = await deps.store.bookings.get(reference)
    return require_may_act(caller, booking, reference)


async def _as_the_airline_has_it(
    deps: SagaDeps, booking: BookingRecord, change_id: str
) -> AirlineChangeInfo | None:
    issued = Ledger.of(booking).confirmed_order
    if issued is None or issued.order_id is None:
        return None
    try:
        infos = await deps.airline.list_airline_changes(issued.order_id)
    except UpstreamFailure:
        return None
    return next((i for i in infos if i.id == change_id), None)


async def sandbox_change_flights(deps: SagaDeps, reference: str, minutes: int) -> BookingRecord:
    """In the sandbox, have the airline move the booking's flights, then learn of the change as
    the webhook would tell it."""
    if not isinstance(deps.airline, SandboxAirline):
        raise Conflict("Flights can be moved only in the sandbox.")
    if not -24 * 60 <= minutes <= 24 * 60 or minutes == 0:
        raise BadUserInput("minutes is -1440 to 1440, not 0.", field="minutes")
    booking = await deps.store.bookings.get(reference.strip().upper())
    issued = Ledger.of(booking).confirmed_order if booking else None
    if booking is None or issued is None or issued.order_id is None:
        raise Conflict("Only a confirmed booking's flights can be moved.")
    await deps.airline.delay_flights(issued.order_id, minutes)
    infos = await deps.airline.list_airline_changes(issued.order_id)
    await record_changes(deps, booking.reference, infos, source="sandbox")
    after = await deps.store.bookings.get(booking.reference)
    assert after is not None
    return after
