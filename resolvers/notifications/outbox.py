"""Queueing a booking's due notices into the notification outbox: one record per channel.

Which channels a notice goes on follows from how the booking was made and what the traveller
gave: email always (to the lead passenger's address), WhatsApp for bookings made on WhatsApp and
for travellers whose number has written to us, SMS for short notices when SMS is on. The
traveller's opt-outs are honoured here: a record skipped for one says why. Records are written
before the notices are marked queued, and their ids make writing them twice harmless, so a
crash in between loses nothing and sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers

from integrations.state.store import (
    NOTIFICATION_PENDING,
    NOTIFICATION_SKIPPED,
    BookingRecord,
    NotificationRecord,
    NotificationRepository,
)
from resolvers.access import whatsapp_numbers_of
from resolvers.ledger import Ledger, Notice
from resolvers.notifications.notices import BY_SMS, REMINDERS, still_relevant
from resolvers.plan import record
from resolvers.saga import Change, SagaDeps

log = logging.getLogger("sureflights.notifications")


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    sms: bool = False
    """Short notices by SMS too (`SMS_NOTIFICATIONS`)."""
    lease: timedelta = timedelta(minutes=2)
    """How long a dispatcher holds a record it is sending; longer than any send takes."""
    batch: int = 50
    concurrency: int = 16
    max_attempts: int = 8
    first_retry: timedelta = timedelta(seconds=30)
    max_retry: timedelta = timedelta(hours=1)


# Whether a phone number (digits only) has written to the business's WhatsApp number.
OnWhatsApp = Callable[[str], Awaitable[bool]]


class Outbox:
    """Puts due notices into the outbox (the saga's `NoticeQueue`)."""

    def __init__(
        self, repository: NotificationRepository, settings: OutboxSettings, on_whatsapp: OnWhatsApp
    ) -> None:
        self.repository = repository
        self.settings = settings
        self.on_whatsapp = on_whatsapp

    async def queue(self, deps: SagaDeps, reference: str) -> None:
        booking = await deps.store.bookings.get(reference)
        if booking is None:
            return
        ledger = Ledger.of(booking)
        now = deps.clock()
        due = [n for n in ledger.waiting_notices if n.due_at <= now]
        if not due:
            return
        dropped: dict[str, str] = {}
        records: list[NotificationRecord] = []
        for notice in due:
            why = still_relevant(notice, booking, ledger)
            if why:
                dropped[notice.id] = why
            else:
                records += await self.records_for(notice, booking, ledger, now)
        await self.repository.add(records)
        handled = {n.id for n in due}

        def decide(current: BookingRecord, ledger: Ledger, now: datetime) -> Change | None:
            marked = False
            for notice in ledger.waiting_notices:
                if notice.id not in handled:
                    continue
                if notice.id in dropped:
                    notice.dropped = dropped[notice.id]
                else:
                    notice.queued_at = now
                marked = True
            return Change() if marked else None

        await record(deps, reference, decide)
        if records:
            log.info(
                "notifications queued",
                extra={"booking": reference, "notifications": [r.id for r in records]},
            )

    async def records_for(
        self, notice: Notice, booking: BookingRecord, ledger: Ledger, now: datetime
    ) -> list[NotificationRecord]:
        lead = (booking.data.get("passengers") or [{}])[0]
        preferences = ledger.preferences

        def made(channel: Channel, recipient: str, skipped: str = "") -> NotificationRecord:
            return NotificationRecord(
                id=f"{booking.reference}:{notice.id}:{channel.value}",
                booking_reference=booking.reference,
                notice_id=notice.id,
                kind=notice.kind.value,
                channel=channel.value,
                recipient=recipient,
                status=NOTIFICATION_SKIPPED if skipped else NOTIFICATION_PENDING,
                detail=skipped or None,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )

        out: list[NotificationRecord] = []
        email = str(lead.get("email") or "").strip()
        if not email:
            out.append(made(Channel.EMAIL, "", "no email address"))
        elif notice.kind in REMINDERS and not preferences.email_reminders:
            out.append(made(Channel.EMAIL, email, "opted out of reminders by email"))
        else:
            out.append(made(Channel.EMAIL, email))
        number = await self._whatsapp_number(booking)
        if number is not None:
            out.append(made(Channel.WHATSAPP, number))
        phone = _e164(str(lead.get("phone_number") or ""))
        if self.settings.sms and notice.kind in BY_SMS and phone:
            skipped = "" if preferences.sms else "opted out of SMS"
            out.append(made(Channel.SMS, phone, skipped))
        return out

    async def _whatsapp_number(self, booking: BookingRecord) -> str | None:
        contact = booking.data.get("contact") or {}
        if isinstance(contact.get("whatsapp"), str) and contact["whatsapp"]:
            return str(contact["whatsapp"])
        # Not booked on WhatsApp: told there too when the traveller's number has written to us.
        for number in sorted(whatsapp_numbers_of(booking)):
            if await self.on_whatsapp(number):
                return number
        return None


def _e164(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, "NG")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def retry_delay(settings: OutboxSettings, attempts: int) -> timedelta:
    """How long to wait after failed attempt number `attempts` (from 1): doubling, capped."""
    delay: timedelta = settings.first_retry * float(2 ** max(0, attempts - 1))
    return min(delay, settings.max_retry)
