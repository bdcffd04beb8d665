"""What the assistant reads and says, whatever carries it: inbound messages and their delivery
statuses, the outbound message kinds, and the sender interface."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeAlias

InboundKind = Literal["text", "button_reply", "list_reply", "media", "unsupported"]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a traveller sent to the business number."""

    message_id: str
    wa_id: str
    """Who wrote: the phone number (Meta's `from`), or the business-scoped user id when the
    number is withheld."""
    profile_name: str | None
    timestamp: datetime
    """When WhatsApp received it, timezone-aware UTC."""
    kind: InboundKind
    text: str | None
    """The text body, or the title of the tapped button or list row."""
    reply_id: str | None
    """The id of the tapped button or list row."""
    raw_type: str
    """Meta's message type: text, interactive, button, image, audio, location, ..."""
    user_id: str | None = None
    """The business-scoped user id (BSUID, e.g. "NG.1502576394655843"), when Meta sent one."""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """What became of a message the business sent: sent, delivered, read or failed."""

    message_id: str
    recipient_id: str
    status: str
    timestamp: datetime
    error_codes: tuple[int, ...]
    """Meta's error codes of a failed message, e.g. 131047 outside the 24-hour window."""


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ListSection:
    title: str
    rows: tuple[ListRow, ...]


@dataclass(frozen=True, slots=True)
class TextMessage:
    body: str


@dataclass(frozen=True, slots=True)
class ButtonsMessage:
    body: str
    buttons: tuple[Button, ...]
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class ListMessage:
    body: str
    button: str
    sections: tuple[ListSection, ...]
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class LinkMessage:
    """A message with one button that opens `url` (Meta's interactive call-to-action URL
    message), so a long link never shows in the text. Free-form: inside the 24-hour window."""

    body: str
    button: str
    url: str
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    """An approved template: the only kind Meta delivers outside the 24-hour window."""

    name: str
    language: str = "en"
    body_parameters: tuple[str, ...] = ()


OutboundMessage: TypeAlias = (
    TextMessage | ButtonsMessage | ListMessage | LinkMessage | TemplateMessage
)


class WhatsAppSender(Protocol):
    """What the assistant needs to answer: the live Cloud API or the recording sandbox."""

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        """Sends `message` (several WhatsApp messages when it had to be split); their ids."""
        ...

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Blue ticks on the traveller's message; `typing` also shows "typing…" until the next
        reply (or 25 seconds)."""
        ...


@dataclass(frozen=True, slots=True)
class NoticeMessage:
    """A notice for a traveller on WhatsApp, both ways it may go: the free-form `text` inside
    the 24-hour window, the approved `template` outside it."""

    booking_reference: str
    text: str
    template: TemplateMessage
    change_id: str | None = None
    """An airline change the traveller is asked to answer (keep the new times, or cancel)."""
    session: str | None = None
    """What it means for the conversation: "confirmed" (the booking is), "ended" (it is over)."""
