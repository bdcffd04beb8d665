"""Tells WhatsApp travellers, unprompted, what happens to their booking: confirmed, refunded,
and money of theirs on its way back.

Every replica listens to the bookings' events; the traveller's WhatsApp number comes with the
event, from the booking's own record in the database. A record per booking and announcement in
the database makes sure the traveller hears once, whichever replica gets there first, even after
Redis forgot everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from conversation.handler import ConversationHandler
from integrations.state.bus import EventBus
from integrations.state.store import ProcessedEventRepository
from resolvers.events import BOOKINGS, BookingEvent, BookingEventKind

log = logging.getLogger("sureflights.notifier")

NOTIFIED_FOR = timedelta(days=30)
# Booking events the traveller hears about, and what the handler calls each.
TOLD = {
    BookingEventKind.CONFIRMED: "CONFIRMED",
    BookingEventKind.REFUNDED: "REFUNDED",
    BookingEventKind.CAPTURE_REFUNDED: "CAPTURE_REFUNDED",
    BookingEventKind.REFUND_PROCESSED: "REFUND_PROCESSED",
}


class BookingNotifier:
    def __init__(
        self,
        *,
        bus: EventBus,
        claims: ProcessedEventRepository,
        handler: ConversationHandler,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bus = bus
        self.claims = claims
        self.handler = handler
        self.clock = clock

    async def run(self, *, retry_after: float = 1.0) -> None:
        """Listen until cancelled; while the bus is unreachable, keep trying to subscribe."""
        while True:
            try:
                async with self.bus.subscribe(patterns=[BOOKINGS + "*"]) as events:
                    async for event in events:
                        try:
                            await self.on_booking_event(event.data)
                        except Exception:
                            log.exception("booking notification failed")
            except Exception as error:
                log.warning("notifier cannot listen yet (%s); retrying", type(error).__name__)
            await asyncio.sleep(retry_after)

    async def on_booking_event(self, message: Mapping[str, Any]) -> bool:
        """Notify for one event; True when a message went out."""
        event = BookingEvent.read(message)
        if event is None:
            return False
        told = TOLD.get(event.kind)
        if told is None or event.whatsapp is None:
            return False  # nothing to tell, or not a WhatsApp booking
        key = f"notified:whatsapp:{event.booking_reference}:{event.kind}:{event.about}"
        if not await self.claims.record(key, now=self.clock(), ttl=NOTIFIED_FOR):
            return False
        await self.handler.notify_booking(
            event.whatsapp,
            event.booking_reference,
            told,
            amount=event.amount,
            airline_reference=event.airline_reference,
        )
        return True
