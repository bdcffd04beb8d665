"""Sending what the outbox holds: one dispatcher per process, any number of replicas.

The dispatcher claims due records (each record goes to one dispatcher, under a lease), renders
each from the booking as it now stands, hands it to its channel's sender, and records the
outcome: sent with the provider's id, due again later with the provider's error when the
provider may take it then (doubling waits, up to `max_attempts`), or failed for good. It wakes
when a writer says a booking has notices due, when the next record falls due, and at least
every `idle_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from integrations.cancellation import stop_if_cancelled
from integrations.ports.errors import UpstreamFailure, UpstreamUnavailable
from integrations.ports.messaging import NoticeMessage
from integrations.ports.notifications import (
    Attachment,
    EmailMessage,
    EmailSender,
    SmsMessage,
    SmsSender,
)
from integrations.state.store import (
    NOTIFICATION_FAILED,
    NOTIFICATION_PENDING,
    NOTIFICATION_SENT,
    NotificationRecord,
)
from resolvers.ledger import Ledger, NoticeKind
from resolvers.notifications.documents import flights_calendar, itinerary_pdf
from resolvers.notifications.notices import REMINDERS
from resolvers.notifications.outbox import Channel, Outbox, OutboxSettings, retry_delay
from resolvers.notifications.render import Links, Renderer
from resolvers.saga import NOTICES, SagaDeps

log = logging.getLogger("sureflights.notifications")

IDLE_SECONDS = 1.0


class WhatsAppNotices(Protocol):
    """The assistant's side of a WhatsApp notice: free-form text inside the 24-hour window (with
    buttons for an answer), the approved template outside it."""

    async def notify(self, wa_id: str, notice: NoticeMessage) -> list[str]:
        """Send; the WhatsApp message ids. Raises `UpstreamFailure` when it did not go."""
        ...


@dataclass(frozen=True, slots=True)
class Senders:
    email: EmailSender
    sms: SmsSender
    whatsapp: WhatsAppNotices


class Dispatcher:
    def __init__(
        self,
        deps: SagaDeps,
        outbox: Outbox,
        senders: Senders,
        renderer: Renderer,
        settings: OutboxSettings,
        *,
        links: Callable[[str], Links | None],
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.deps = deps
        self.outbox = outbox
        self.senders = senders
        self.renderer = renderer
        self.settings = settings
        self.links = links
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        # Seconds from a record falling due to its provider call, for the metrics.
        self.sent = 0

    # --- Running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch until cancelled."""
        listening = asyncio.create_task(self._listen(), name="notification-wake-ups")
        try:
            while True:
                try:
                    handled = await self.dispatch_once()
                except Exception:
                    stop_if_cancelled()
                    log.exception("notification dispatch failed")
                    handled = 0
                if handled >= self.settings.batch:
                    continue  # more may be due already
                await self._sleep()
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    async def _listen(self) -> None:
        """Queue a booking's notices as soon as a writer says they are due."""
        while True:
            try:
                async with self.deps.bus.subscribe(NOTICES) as events:
                    async for event in events:
                        reference = event.data.get("booking_reference")
                        if isinstance(reference, str):
                            try:
                                await self.outbox.queue(self.deps, reference)
                            except Exception:
                                stop_if_cancelled()
                                # The reconciler queues it at the booking's check time.
                                log.warning("notices not queued yet", exc_info=True)
                            self._wake.set()
            except Exception as error:
                stop_if_cancelled()
                log.warning("notification wake-ups unavailable (%s)", type(error).__name__)
            await asyncio.sleep(1.0)

    async def _sleep(self) -> None:
        wait = self.idle_seconds
        try:
            due = await self.deps.store.notifications.next_due()
        except Exception:
            due = None
        if due is not None:
            wait = max(0.0, min(wait, (due - self.deps.clock()).total_seconds()))
        self._wake.clear()
        # Not `asyncio.wait_for`: on Python 3.11 a wake-up landing together with a cancel makes it
        # return instead of raising, and the cancelled dispatcher would run on for ever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()

    async def dispatch_once(self) -> int:
        """Claim and send one batch of due records; how many were claimed."""
        now = self.deps.clock()
        claimed = await self.deps.store.notifications.claim_due(
            now, lease=self.settings.lease, limit=self.settings.batch
        )
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(item: NotificationRecord) -> None:
            async with gate:
                await self.deliver(item)

        await asyncio.gather(*(one(item) for item in claimed))
        return len(claimed)

    # --- One record ------------------------------------------------------------------------

    async def deliver(self, item: NotificationRecord) -> None:
        store = self.deps.store.notifications
        try:
            provider_id = await self._send(item)
        except UpstreamFailure as error:
            await self._failed(item, f"{error.upstream}: {error.detail}", retry=_retryable(error))
            return
        except Exception as error:  # a bug or a broken template: retried, then failed
            log.exception("notification could not be sent", extra={"notification": item.id})
            await self._failed(item, f"{type(error).__name__}: {error}"[:300], retry=True)
            return
        self.sent += 1
        if not await store.finish(
            item.id,
            attempt=item.attempts,
            status=NOTIFICATION_SENT,
            now=self.deps.clock(),
            provider_id=provider_id,
        ):
            log.warning("notification sent after its lease lapsed", extra={"notification": item.id})

    async def _failed(self, item: NotificationRecord, error: str, *, retry: bool) -> None:
        now = self.deps.clock()
        again = retry and item.attempts < self.settings.max_attempts
        if again:
            delay = retry_delay(self.settings, item.attempts)
            # Jitter, so records that failed together are not all retried at once.
            later = now + delay * random.uniform(0.8, 1.0)  # noqa: S311
        log.warning(
            "notification not sent",
            extra={"notification": item.id, "error": error, "retry": again},
        )
        await self.deps.store.notifications.finish(
            item.id,
            attempt=item.attempts,
            status=NOTIFICATION_PENDING if again else NOTIFICATION_FAILED,
            now=now,
            error=error,
            next_attempt_at=later if again else None,
        )

    async def _send(self, item: NotificationRecord) -> str:
        booking = await self.deps.store.bookings.get(item.booking_reference)
        if booking is None:
            raise LookupError(f"no booking {item.booking_reference}")
        ledger = Ledger.of(booking)
        notice = ledger.notice(item.notice_id)
        if notice is None:
            raise LookupError(f"no notice {item.notice_id} on {booking.reference}")
        context = self.renderer.context(booking, notice, self.links(booking.reference))
        channel = Channel(item.channel)
        if channel is Channel.EMAIL:
            rendered = self.renderer.email(context)
            attachments: tuple[Attachment, ...] = ()
            if notice.kind is NoticeKind.CONFIRMATION:
                attachments = (itinerary_pdf(context), flights_calendar(context))
            headers = {}
            if notice.kind in REMINDERS and context["unsubscribe_url"]:
                # One-click unsubscribe (RFC 8058), which mail clients offer as a button.
                headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            return await self.senders.email.send(
                EmailMessage(
                    to=item.recipient,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    message_id=message_id(item),
                    attachments=attachments,
                    headers=headers,
                )
            )
        if channel is Channel.SMS:
            return await self.senders.sms.send(
                SmsMessage(to=item.recipient, text=self.renderer.sms(context))
            )
        whatsapp = self.renderer.whatsapp(context, notice.kind)
        ids = await self.senders.whatsapp.notify(item.recipient, whatsapp)
        return ",".join(ids)


def message_id(item: NotificationRecord) -> str:
    """The email's Message-ID: the same for every attempt at one record."""
    return f"<{item.id.replace(':', '.')}@sureflights.notifications>"


def _retryable(error: UpstreamFailure) -> bool:
    return isinstance(error, UpstreamUnavailable)


def due_lag(item: NotificationRecord, now: datetime) -> float:
    """Seconds between a record falling due and now."""
    return (now - item.next_attempt_at).total_seconds()
