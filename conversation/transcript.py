"""What the assistant keeps of each conversation: every message once (Meta may deliver one more
than once, to any replica), delivery statuses, the state and bookings, the traveller's access
tokens, and a request for a person that operators can list."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from integrations.ports.messaging import InboundMessage, StatusUpdate
from integrations.state.store import ConversationRecord, ConversationRepository
from integrations.state.store.base import ProcessedEventRepository
from integrations.whatsapp.client import mask_phone

log = logging.getLogger("sureflights.conversation")

# Meta retries a delivery that was not answered 200 for up to 7 days; a day more covers the last
# retry arriving after a slow first attempt.
SEEN_FOR = timedelta(days=8)


class Transcript:
    def __init__(
        self, conversations: ConversationRepository, processed: ProcessedEventRepository
    ) -> None:
        self.conversations = conversations
        self.processed = processed

    # --- Messages ----------------------------------------------------------------------------

    async def first_delivery(self, message: InboundMessage, now: datetime) -> bool:
        """True the first time a message is seen, whichever replica sees it."""
        first = await self.processed.record(
            f"whatsapp:message:{message.message_id}", now=now, ttl=SEEN_FOR
        )
        if not first:
            log.info(
                "WhatsApp message delivered again; ignored",
                extra={"whatsapp_message_id": message.message_id},
            )
        return first

    async def record_inbound(self, message: InboundMessage, now: datetime) -> None:
        entry = {
            "direction": "in",
            "message_id": message.message_id,
            "kind": message.kind,
            "body": message.text,
            "reply_id": message.reply_id,
            "at": now.isoformat(),
        }
        await self.conversations.append_messages(message.wa_id, [entry], now=now)

    async def record_outbound(
        self, wa_id: str, sent: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        try:
            await self.conversations.append_messages(wa_id, sent, now=now)
        except Exception:  # the replies went out; only their record is missing
            log.exception("outgoing messages not recorded")

    async def record_status(self, status: StatusUpdate, now: datetime) -> None:
        """A delivery status, once, on the conversation it belongs to."""
        first = await self.processed.record(
            f"whatsapp:status:{status.message_id}:{status.status}", now=now, ttl=SEEN_FOR
        )
        if not first:
            return
        if status.error_codes:
            log.warning(
                "WhatsApp message not delivered",
                extra={
                    "whatsapp_message_id": status.message_id,
                    "whatsapp_to": mask_phone(status.recipient_id),
                    "whatsapp_status": status.status,
                    "whatsapp_error_codes": list(status.error_codes),
                },
            )
        entry: dict[str, Any] = {
            "direction": "status",
            "message_id": status.message_id,
            "status": status.status,
            "at": status.timestamp.isoformat(),
        }
        if status.error_codes:
            entry["error_codes"] = list(status.error_codes)
        await self.conversations.append_messages(status.recipient_id, [entry], now=now)

    # --- What the conversation holds ---------------------------------------------------------

    async def remember(
        self,
        wa_id: str,
        *,
        state: str,
        booking_reference: str | None,
        access_token: str | None,
        now: datetime,
    ) -> None:
        """Keep the state, and a new booking with its access token, on the conversation."""
        record = await self.conversations.get(wa_id)
        if record is None:
            return
        references = list(record.booking_references)
        if booking_reference and booking_reference not in references:
            references.append(booking_reference)
        tokens = dict(record.data.get("tokens", {}))
        if booking_reference and access_token:
            tokens[booking_reference] = access_token
        await self.conversations.save(
            replace(
                record,
                state=state,
                updated_at=now,
                data={**record.data, "tokens": tokens},
                booking_references=references,
            )
        )

    async def bookings(self, wa_id: str) -> list[tuple[str, str]]:
        """(reference, access token) of the bookings made from this conversation, newest first."""
        record = await self.conversations.get(wa_id)
        if record is None:
            return []
        tokens: dict[str, str] = record.data.get("tokens", {})
        return [(r, tokens[r]) for r in reversed(record.booking_references) if r in tokens]

    async def booking_references(self, wa_id: str) -> list[str]:
        """The bookings made from this number, oldest first."""
        record = await self.conversations.get(wa_id)
        return list(record.booking_references) if record is not None else []

    async def token_for(self, wa_id: str, reference: str) -> str | None:
        record = await self.conversations.get(wa_id)
        if record is None:
            return None
        token: str | None = record.data.get("tokens", {}).get(reference)
        return token

    async def request_handoff(
        self,
        wa_id: str,
        *,
        said: str,
        reason: str,
        profile_name: str | None,
        now: datetime,
    ) -> None:
        """Note that the traveller wants a person, for operators to see (a later request
        replaces an earlier one)."""
        record = await self.conversations.get(wa_id) or ConversationRecord(
            phone=wa_id, state="initial", created_at=now, updated_at=now
        )
        handoff = {
            "requested_at": now.isoformat(),
            "message": said[:500],
            "reason": reason,
            "profile_name": profile_name,
        }
        await self.conversations.save(
            replace(record, updated_at=now, data={**record.data, "handoff": handoff})
        )
