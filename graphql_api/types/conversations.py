"""What operators read of a booking beyond its money: the WhatsApp conversation, and the audit
of what they did by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from resolvers import ledger as domain


@strawberry.type(description="One line of a WhatsApp conversation (admins only).")
class ChatMessage:
    direction: str = strawberry.field(
        description='"in" from the traveller, "out" from the assistant, "status" of delivery.'
    )
    at: datetime | None
    kind: str | None
    body: str = strawberry.field(description="What was written, or the delivery status.")

    @classmethod
    def from_stored(cls, message: dict[str, Any]) -> ChatMessage:
        at = message.get("at")
        body = message.get("body")
        if body is None:
            body = message.get("status") or message.get("text") or ""
        return cls(
            direction=str(message.get("direction") or ""),
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
            kind=message.get("kind") or message.get("type"),
            body=str(body),
        )


@strawberry.type(description="What an operator did to a booking by hand, and why.")
class AuditEntry:
    at: datetime
    by: str = strawberry.field(description="Who acted (the admin caller).")
    action: str = strawberry.field(
        description=(
            "approve_held_payment, refund_held_payment, retry_refund, acknowledge, "
            "airline_change_accept, airline_change_cancel, resolve_handoff."
        )
    )
    subject: str = strawberry.field(description="The payment, refund, change or item acted on.")
    reason: str
    outcome: str

    @classmethod
    def from_domain(cls, entry: domain.AuditEntry) -> AuditEntry:
        return cls(
            at=entry.at,
            by=entry.by,
            action=entry.action,
            subject=entry.subject,
            reason=entry.reason,
            outcome=entry.outcome,
        )
