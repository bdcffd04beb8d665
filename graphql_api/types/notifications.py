"""What travellers are told, and the airline's changes they answer: the types and their fields."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from graphql_api.types.flights import Slice
from integrations.ports import flights as domain
from integrations.state.store import NotificationRecord
from resolvers import ledger as ledger_domain


@strawberry.enum(description="Where a notification is sent.")
class NotificationChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


@strawberry.enum(description="What became of a notification.")
class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


NoticeKind = strawberry.enum(ledger_domain.NoticeKind, description="What a notification is about.")


@strawberry.type(description="One message to the traveller on one channel, and its outcome.")
class Notification:
    id: strawberry.ID
    kind: NoticeKind  # type: ignore[valid-type]
    channel: NotificationChannel
    recipient: str
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried again, while pending."
    )
    sent_at: datetime | None
    provider_id: str | None = strawberry.field(description="The provider's message id.")
    error: str | None = strawberry.field(description="The provider's error of the last attempt.")
    detail: str | None = strawberry.field(description="Why it was skipped.")
    created_at: datetime

    @classmethod
    def from_record(cls, record: NotificationRecord) -> Notification:
        return cls(
            id=strawberry.ID(record.id),
            kind=ledger_domain.NoticeKind(record.kind),
            channel=NotificationChannel(record.channel),
            recipient=record.recipient,
            status=NotificationStatus(record.status),
            attempts=record.attempts,
            next_attempt_at=record.next_attempt_at if record.status == "pending" else None,
            sent_at=record.sent_at,
            provider_id=record.provider_id,
            error=record.error,
            detail=record.detail,
            created_at=record.created_at,
        )


@strawberry.type(description="What the traveller has opted out of.")
class NotificationPreferences:
    sms: bool = strawberry.field(description="Text messages (false: stopped).")
    email_reminders: bool = strawberry.field(
        description="Reminders by email; confirmations and changes always go out."
    )


@strawberry.type(description="A change the airline made to the booking's flights.")
class AirlineChange:
    id: strawberry.ID
    order_id: str | None
    detected_at: datetime
    summary: str
    before: list[Slice] = strawberry.field(description="The flights as booked.")
    after: list[Slice] = strawberry.field(description="The flights as the airline now has them.")
    available_actions: list[str] = strawberry.field(
        description="What may be done: accept (keep the new times), cancel (with a refund)."
    )
    respond_by: datetime | None = strawberry.field(description="Answer before this.")
    answer: str | None = strawberry.field(description="accepted or cancelled, once answered.")
    answered_by: str | None
    answered_at: datetime | None
    data: JSON = strawberry.field(description="The change as recorded (admins read it whole).")

    @classmethod
    def from_domain(cls, change: ledger_domain.AirlineChange) -> AirlineChange:
        def slices(key: str) -> list[Slice]:
            return [
                Slice.from_domain(domain.Slice.model_validate(s))
                for s in change.data.get(key) or []
            ]

        return cls(
            id=strawberry.ID(change.id),
            order_id=change.order_id,
            detected_at=change.detected_at,
            summary=change.summary,
            before=slices("removed"),
            after=slices("added"),
            available_actions=list(change.actions),
            respond_by=change.respond_by,
            answer=change.answer,
            answered_by=change.answered_by,
            answered_at=change.answered_at,
            data=cast(JSON, change.data),
        )


@strawberry.type(description="An email the sandbox wrote instead of sending (admins only).")
class SandboxEmail:
    name: str = strawberry.field(description="The .eml file's name under EMAIL_OUTBOX_DIR.")
    to: str
    subject: str
    written_at: datetime
    size: int
