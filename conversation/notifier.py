"""Tells WhatsApp travellers, unprompted, when their booking is confirmed or refunded.

Every replica listens to the payment events; a claim per booking and outcome makes sure the
traveller hears once, whichever replica gets there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from conversation.handler import ConversationHandler, contact_key
from integrations.bus import EventBus
from integrations.cache import Cache
from integrations.idempotency import IdempotencyStore

log = logging.getLogger("sureflights.notifier")

NOTIFIED_FOR = timedelta(days=30)
OUTCOMES = frozenset({"CONFIRMED", "REFUNDED"})


class BookingNotifier:
    def __init__(
        self,
        *,
        bus: EventBus,
        contacts: Cache,
        claims: IdempotencyStore,
        handler: ConversationHandler,
    ) -> None:
        self.bus = bus
        self.contacts = contacts
        self.claims = claims
        self.handler = handler

    async def run(self, *, retry_after: float = 1.0) -> None:
        """Listen until cancelled; while the bus is unreachable, keep trying to subscribe."""
        while True:
            try:
                async with self.bus.subscribe(patterns=["payments:*"]) as events:
                    async for event in events:
                        try:
                            await self.on_payment_event(event.data)
                        except Exception:
                            log.exception("booking notification failed")
            except Exception as error:
                log.warning("notifier cannot listen yet (%s); retrying", type(error).__name__)
            await asyncio.sleep(retry_after)

    async def on_payment_event(self, event: Mapping[str, Any]) -> bool:
        """Notify for one event; True when a message went out."""
        status = event.get("booking_status")
        reference = event.get("booking_reference")
        if status not in OUTCOMES or not isinstance(reference, str):
            return False
        contact = await self.contacts.get(contact_key(reference))
        if contact is None:
            return False  # not a WhatsApp booking
        if not await self.claims.claim(
            f"wa:notified:{reference}:{status}", b"1", NOTIFIED_FOR.total_seconds()
        ):
            return False
        await self.handler.notify_booking(contact.decode(), reference, str(status))
        return True
