"""Messages to travellers outside WhatsApp, and the senders that carry them: email and SMS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    """`maintype/subtype`, e.g. application/pdf."""
    content: bytes


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    """The `Message-ID` header, stable per outbox record, so a resent message is recognisable
    as the same one."""
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    """Further headers, e.g. `List-Unsubscribe` on reminders."""


@dataclass(frozen=True, slots=True)
class SmsMessage:
    to: str
    """E.164, `+2348012345678`."""
    text: str


class EmailSender(Protocol):
    """SMTP, or the sandbox's outbox directory."""

    async def send(self, message: EmailMessage) -> str:
        """Send; the message's id as the provider knows it. Raises `UpstreamUnavailable` when
        worth trying again later, `UpstreamRejected` when the message will never go."""
        ...


class SmsSender(Protocol):
    """Termii, or the sandbox's recorder."""

    async def send(self, message: SmsMessage) -> str:
        """Send; the provider's message id. Failures as for `EmailSender.send`."""
        ...
