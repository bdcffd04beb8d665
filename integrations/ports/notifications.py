"""Messages to travellers outside WhatsApp, and the senders that carry them: email and SMS."""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
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


# Headers are folded only past RFC 5322's hard limit: Python folds a long subject straight after
# "Subject:", which some readers show with a leading space.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


def build_mime(message: EmailMessage, sender: str) -> MimeMessage:
    """The message as MIME: plain text and HTML alternatives, then the attachments."""
    mime = MimeMessage(policy=_POLICY)
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return mime
