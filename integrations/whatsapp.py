"""WhatsApp Cloud API: webhook events read into typed messages, replies fitted to Meta's limits and
sent through the live API or kept by a recording sandbox sender."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, Protocol, TypeAlias

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from integrations.errors import UpstreamError, UpstreamFailure, UpstreamUnavailable
from integrations.retry import (
    RETRY_AFTER,
    Failed,
    Idempotency,
    RetryPolicy,
    hinted_wait,
    never_sent,
)

UPSTREAM = "whatsapp"

log = logging.getLogger("sureflights.whatsapp")


# --- Inbound: the messages webhook -------------------------------------------------------------
#
# Shapes from Meta's messages webhook reference:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
# Every field is read defensively: an entry that lacks what a message needs is skipped, never
# raised on, because an exception would turn into a non-200 and Meta would redeliver the same
# body for days.

InboundKind = Literal["text", "button_reply", "list_reply", "media", "unsupported"]
# Media whose caption is read as the traveller's words.
_CAPTIONED = ("image", "video", "document")


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


def parse_webhook(
    payload: Mapping[str, Any],
) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    """The messages and status updates in one webhook body, in the order Meta listed them.

    Tolerant by design: unknown objects, fields and message types are skipped or reported as
    `unsupported`, and nothing here raises on a shape it does not know.
    """
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    if not isinstance(payload, Mapping):
        return messages, statuses
    kind = payload.get("object")
    if kind is not None and kind != "whatsapp_business_account":
        return messages, statuses
    for entry in _mappings(payload.get("entry")):
        for change in _mappings(entry.get("changes")):
            if change.get("field", "messages") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, Mapping):
                continue
            names = _profile_names(value.get("contacts"))
            user_ids = _user_ids(value.get("contacts"))
            for raw in _mappings(value.get("messages")):
                message = _inbound(raw, names, user_ids)
                if message is not None:
                    messages.append(message)
            for raw in _mappings(value.get("statuses")):
                status = _status(raw)
                if status is not None:
                    statuses.append(status)
    return messages, statuses


def _mappings(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _instant(value: object) -> datetime | None:
    """Meta's timestamps: Unix seconds, sent as a string."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _profile_names(contacts: object) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for contact in _mappings(contacts):
        profile = contact.get("profile")
        name = _text(profile.get("name")) if isinstance(profile, Mapping) else None
        for key in (_text(contact.get("wa_id")), _text(contact.get("user_id"))):
            if key is not None:
                names[key] = name
    return names


def _user_ids(contacts: object) -> list[str]:
    return [u for c in _mappings(contacts) if (u := _text(c.get("user_id"))) is not None]


def _inbound(
    raw: Mapping[str, Any], names: Mapping[str, str | None], user_ids: list[str]
) -> InboundMessage | None:
    message_id = _text(raw.get("id"))
    # Business-scoped user ids: `from` (the phone number) may be withheld, `from_user_id` is not.
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
    user_id = _text(raw.get("from_user_id")) or (user_ids[0] if len(user_ids) == 1 else None)
    wa_id = _text(raw.get("from")) or user_id
    timestamp = _instant(raw.get("timestamp"))
    if message_id is None or wa_id is None or timestamp is None:
        log.info("skipped a webhook message without id, sender or timestamp")
        return None
    raw_type = _text(raw.get("type")) or "unknown"
    kind: InboundKind = "unsupported"
    text: str | None = None
    reply_id: str | None = None
    if raw_type == "text":
        body = raw.get("text")
        text = _text(body.get("body")) if isinstance(body, Mapping) else None
        kind = "text" if text is not None else "unsupported"
    elif raw_type == "interactive":
        interactive = raw.get("interactive")
        if isinstance(interactive, Mapping):
            reply_type = interactive.get("type")
            reply = interactive.get(reply_type) if isinstance(reply_type, str) else None
            if reply_type in ("button_reply", "list_reply") and isinstance(reply, Mapping):
                reply_id = _text(reply.get("id"))
                text = _text(reply.get("title"))
                if reply_id is not None:
                    kind = "button_reply" if reply_type == "button_reply" else "list_reply"
    elif raw_type in _CAPTIONED:
        media = raw.get(raw_type)
        text = _text(media.get("caption")) if isinstance(media, Mapping) else None
        kind = "media" if text is not None else "unsupported"
    elif raw_type == "button":
        # A quick-reply button of a template message: its payload plays the part of the id.
        button = raw.get("button")
        if isinstance(button, Mapping):
            reply_id = _text(button.get("payload"))
            text = _text(button.get("text"))
            if reply_id is not None:
                kind = "button_reply"
    return InboundMessage(
        message_id=message_id,
        wa_id=wa_id,
        profile_name=names.get(wa_id) if wa_id in names else _only_name(names),
        timestamp=timestamp,
        kind=kind,
        text=text if kind != "unsupported" else None,
        reply_id=reply_id if kind in ("button_reply", "list_reply") else None,
        raw_type=raw_type,
        user_id=user_id,
    )


def _only_name(names: Mapping[str, str | None]) -> str | None:
    return next(iter(names.values())) if len(names) == 1 else None


def _status(raw: Mapping[str, Any]) -> StatusUpdate | None:
    message_id = _text(raw.get("id"))
    recipient_id = _text(raw.get("recipient_id")) or _text(raw.get("recipient_user_id"))
    status = _text(raw.get("status"))
    timestamp = _instant(raw.get("timestamp"))
    if message_id is None or recipient_id is None or status is None or timestamp is None:
        log.info("skipped a webhook status without id, recipient, status or timestamp")
        return None
    codes: list[int] = []
    for error in _mappings(raw.get("errors")):
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
        elif isinstance(code, str) and code.isdigit():
            codes.append(int(code))
    return StatusUpdate(
        message_id=message_id,
        recipient_id=recipient_id,
        status=status,
        timestamp=timestamp,
        error_codes=tuple(codes),
    )


def signature_matches(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` (`X-Hub-Signature-256: sha256=<hex>`) signs `body` with the app secret.

    `body` must be the bytes as received. Compared in constant time; an empty secret or header
    never matches, so an unconfigured secret refuses everything.
    """
    if not app_secret or not app_secret.strip() or not header or not header.strip():
        return False
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    expected = f"sha256={digest}".encode("ascii")
    # As bytes: `compare_digest` refuses non-ASCII text, and the header is attacker input.
    return hmac.compare_digest(expected, header.strip().lower().encode("utf-8", "replace"))


# --- Outbound: what the assistant says ---------------------------------------------------------


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


# Meta's limits, each from the Meta page cited beside it (or, for the header, WhatsApp's own
# Cloud API SDK reference).
#
# Text messages, <BODY_TEXT> "Maximum 4096 characters":
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/text-messages/
TEXT_BODY_MAX = 4096
# Interactive reply buttons: <BODY_TEXT> 1024, <BUTTON_ID> 256 ("A unique identifier for each
# button. Supports up to 3 buttons."), <BUTTON_LABEL_TEXT> 20 ("Must be unique if using multiple
# buttons"), <FOOTER_TEXT> 60:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-reply-buttons-messages
INTERACTIVE_BODY_MAX = 1024
MAX_BUTTONS = 3
BUTTON_ID_MAX = 256
BUTTON_TITLE_MAX = 20
FOOTER_MAX = 60
# Header object, text "Maximum length: 60 characters" (WhatsApp's Cloud API SDK reference,
# https://whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/HeaderObject), and
# <MESSAGE_HEADER_TEXT> "Maximum 60 characters" on the list page below.
HEADER_MAX = 60
# Interactive list messages: "up to 10 sections, with up to 10 rows for all sections combined";
# <BUTTON_TEXT> 20, <ROW_ID> 200, <ROW_TITLE_TEXT> 24, <ROW_DESCRIPTION_TEXT> 72,
# <SECTION_TITLE_TEXT> 24, <MESSAGE_FOOTER_TEXT> 60:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-list-messages
# That page now allows a 4096-character list body; the 1024 of reply buttons (and of the SDK's
# list reference) is kept for both, so one rule fits every interactive message.
LIST_BUTTON_MAX = 20
MAX_SECTIONS = 10
MAX_ROWS = 10
SECTION_TITLE_MAX = 24
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
# Interactive call-to-action URL button messages: <BODY_TEXT> 1024, <BUTTON_LABEL_TEXT> ("display
# text") 20, header text 60, footer 60:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/interactive-cta-url-messages
LINK_BUTTON_MAX = 20

ELLIPSIS = "…"
# Said in the body when options had to be left out; the conversation engine answers "MORE".
MORE_NOTE = "…and {count} more: reply MORE"
_DEFAULT_PROMPT = "Please choose an option."
_DEFAULT_LIST_BUTTON = "Options"


def fit_to_limits(message: OutboundMessage) -> list[dict[str, Any]]:
    """Meta request bodies for `message` (without `to`), every limit enforced.

    Never fails: long text is split into several messages at paragraph or line breaks, other
    fields are shortened with "…", options beyond Meta's counts are dropped and the body says how
    many (`MORE_NOTE`). Interactive messages left with no option become a text message; a text
    message with no text becomes nothing.
    """
    if isinstance(message, TextMessage):
        return [_text_body(part) for part in split_text(message.body, TEXT_BODY_MAX)]
    if isinstance(message, ButtonsMessage):
        return _fit_buttons(message)
    if isinstance(message, ListMessage):
        return _fit_list(message)
    if isinstance(message, LinkMessage):
        return _fit_link(message)
    return [_fit_template(message)]


def _text_body(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": text}}


def text_length(text: str) -> int:
    """Length in UTF-16 code units: never less than the count of characters, so a limit met in
    these units is met however Meta counts an emoji (one character or two units)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` units, never splitting a character."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return text[:index]
    return text


def shorten(text: str, limit: int) -> str:
    """`text` stripped, and cut to `limit` units ending in "…" when longer."""
    text = text.strip()
    if text_length(text) <= limit:
        return text
    return _prefix(text, limit - text_length(ELLIPSIS)).rstrip() + ELLIPSIS


def split_text(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` units, cut at a paragraph break, else a line break,
    else a space, in the second half of a part; a hard cut only for one unbroken run."""
    rest = text.strip()
    parts: list[str] = []
    while text_length(rest) > limit:
        head = _prefix(rest, limit)
        for separator in ("\n\n", "\n", " "):
            at = head.rfind(separator)
            if at > len(head) // 2:
                head = head[:at]
                break
        parts.append(head.rstrip())
        rest = rest[len(head) :].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _identifier(value: str, limit: int) -> str:
    # Ids come back in the reply webhook, so they are cut, never given an ellipsis.
    return _prefix(value.strip(), limit)


def _unique_title(title: str, limit: int, taken: set[str]) -> str:
    candidate = title
    for number in itertools.count(2):
        if candidate not in taken:
            break
        suffix = f" {number}"
        candidate = shorten(title, limit - len(suffix)) + suffix
    taken.add(candidate)
    return candidate


def _with_note(body: str, dropped: int, limit: int) -> str:
    body = body.strip() or _DEFAULT_PROMPT
    if dropped <= 0:
        return shorten(body, limit)
    note = MORE_NOTE.format(count=dropped)
    room = limit - text_length(note) - 2
    return f"{shorten(body, room)}\n\n{note}"


def _decorations(header: str | None, footer: str | None) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    if header and header.strip():
        parts["header"] = {"type": "text", "text": shorten(header, HEADER_MAX)}
    if footer and footer.strip():
        parts["footer"] = {"text": shorten(footer, FOOTER_MAX)}
    return parts


def _fit_buttons(message: ButtonsMessage) -> list[dict[str, Any]]:
    ids: set[str] = set()
    titles: set[str] = set()
    usable: list[Button] = []
    for button in message.buttons:
        button_id = _identifier(button.id, BUTTON_ID_MAX)
        if not button_id or button_id in ids:
            continue  # a reply Meta could not tell apart would be ambiguous to us too
        ids.add(button_id)
        usable.append(Button(button_id, button.title))
    if not usable:
        return [_text_body(part) for part in split_text(message.body, TEXT_BODY_MAX)]
    kept = usable[:MAX_BUTTONS]
    buttons = []
    for number, button in enumerate(kept, start=1):
        title = shorten(button.title, BUTTON_TITLE_MAX) or f"Option {number}"
        buttons.append(
            {
                "type": "reply",
                "reply": {"id": button.id, "title": _unique_title(title, BUTTON_TITLE_MAX, titles)},
            }
        )
    interactive: dict[str, Any] = {"type": "button"}
    interactive.update(_decorations(message.header, None))
    interactive["body"] = {
        "text": _with_note(message.body, len(usable) - len(kept), INTERACTIVE_BODY_MAX)
    }
    interactive.update(_decorations(None, message.footer))
    interactive["action"] = {"buttons": buttons}
    return [{"type": "interactive", "interactive": interactive}]


def _fit_row(row: ListRow, row_id: str, number: int) -> dict[str, Any]:
    fitted: dict[str, Any] = {
        "id": row_id,
        "title": shorten(row.title, ROW_TITLE_MAX) or f"Option {number}",
    }
    if row.description and row.description.strip():
        fitted["description"] = shorten(row.description, ROW_DESCRIPTION_MAX)
    return fitted


def _fit_list(message: ListMessage) -> list[dict[str, Any]]:
    ids: set[str] = set()
    sections: list[dict[str, Any]] = []
    kept_rows = 0
    dropped = 0
    for section in message.sections:
        rows: list[tuple[ListRow, str]] = []
        for row in section.rows:
            row_id = _identifier(row.id, ROW_ID_MAX)
            if row_id and row_id not in ids:
                ids.add(row_id)
                rows.append((row, row_id))
        if not rows:
            continue
        room = MAX_ROWS - kept_rows if len(sections) < MAX_SECTIONS else 0
        taken = rows[:room]
        dropped += len(rows) - len(taken)
        if not taken:
            continue
        fitted_rows = [
            _fit_row(row, row_id, kept_rows + index)
            for index, (row, row_id) in enumerate(taken, start=1)
        ]
        kept_rows += len(taken)
        sections.append(
            {
                "title": shorten(section.title, SECTION_TITLE_MAX) or _DEFAULT_LIST_BUTTON,
                "rows": fitted_rows,
            }
        )
    if not sections:
        return [_text_body(part) for part in split_text(message.body, TEXT_BODY_MAX)]
    interactive: dict[str, Any] = {"type": "list"}
    interactive.update(_decorations(message.header, None))
    interactive["body"] = {"text": _with_note(message.body, dropped, INTERACTIVE_BODY_MAX)}
    interactive.update(_decorations(None, message.footer))
    interactive["action"] = {
        "button": shorten(message.button, LIST_BUTTON_MAX) or _DEFAULT_LIST_BUTTON,
        "sections": sections,
    }
    return [{"type": "interactive", "interactive": interactive}]


def _fit_link(message: LinkMessage) -> list[dict[str, Any]]:
    url = message.url.strip()
    if not url.startswith(("https://", "http://")):
        # Not a link Meta would open: say it in words instead.
        return [_text_body(part) for part in split_text(f"{message.body}\n{url}", TEXT_BODY_MAX)]
    interactive: dict[str, Any] = {"type": "cta_url"}
    interactive.update(_decorations(message.header, None))
    interactive["body"] = {"text": _with_note(message.body, 0, INTERACTIVE_BODY_MAX)}
    interactive.update(_decorations(None, message.footer))
    interactive["action"] = {
        "name": "cta_url",
        "parameters": {
            "display_text": shorten(message.button, LINK_BUTTON_MAX) or "Open",
            "url": url,
        },
    }
    return [{"type": "interactive", "interactive": interactive}]


def _fit_template(message: TemplateMessage) -> dict[str, Any]:
    # Template messages: name, language code and the body's {{n}} values as text parameters.
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/overview
    template: dict[str, Any] = {"name": message.name, "language": {"code": message.language}}
    if message.body_parameters:
        parameters = [{"type": "text", "text": value} for value in message.body_parameters]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": template}


_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9.]+$")


def is_user_id(address: str) -> bool:
    """Whether an address is a business-scoped user id ("NG.1502576394655843"), not a number."""
    return bool(_BSUID.match(address))


def request_body(to: str, part: Mapping[str, Any]) -> dict[str, Any]:
    """The full body POSTed to `/{phone_number_id}/messages` for one fitted part: a phone number
    goes in `to`, a business-scoped user id in `recipient`."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        ("recipient" if is_user_id(to) else "to"): to,
        **part,
    }


# --- Senders -----------------------------------------------------------------------------------


class WhatsAppSender(Protocol):
    """What the assistant needs to answer: the live Cloud API or the recording sandbox."""

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        """Sends `message` (several WhatsApp messages when it had to be split); their ids."""
        ...

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Blue ticks on the traveller's message; `typing` also shows "typing…" until the next
        reply (or 25 seconds)."""
        ...


class RecordingSender:
    """The sandbox: keeps what would have been sent, for the terminal chat and sandbox mode."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        """(recipient, request body) pairs, oldest first, exactly as the live client posts them."""
        self.read: list[str] = []
        self.typing: list[str] = []
        self._ids = itertools.count(1)

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        ids = []
        for part in fit_to_limits(message):
            self.sent.append((to, request_body(to, part)))
            ids.append(f"wamid.sandbox.{next(self._ids)}")
        return ids

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        self.read.append(message_id)
        if typing:
            self.typing.append(message_id)


# Meta's error codes callers act on (Cloud API error codes,
# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
RE_ENGAGEMENT_REQUIRED = 131047
"""More than 24 hours since the traveller last wrote: only a template message gets through."""
MESSAGE_UNDELIVERABLE = 131026
RATE_LIMIT_HIT = 130429
"""The number's throughput (80 messages a second by default) was exceeded; HTTP 429."""
PAIR_RATE_LIMIT_HIT = 131056
"""Too many messages to one recipient in a short time; the number can still write to others."""
_RATE_LIMIT_CODES = frozenset({RATE_LIMIT_HIT, PAIR_RATE_LIMIT_HIT})
# Meta's throughput page names the pair rate limit
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput); its
# figure, one message every 6 seconds to the same user, is quoted from Meta's docs by providers
# such as turn.io. A retry sooner than that would only be refused again.
PAIR_RATE_WAIT_SECONDS = 6.0
_MAX_SHOWN_CHARS = 200
_LONG_NUMBER = re.compile(r"\+?\d{7,}")


class WhatsAppError(UpstreamError):
    """Meta answered and refused the call; `code` is Meta's error code (e.g. 131047, answered
    with a template message), `request_id` its `fbtrace_id`."""

    def __init__(
        self,
        detail: str,
        *,
        code: int | None,
        subcode: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(UPSTREAM, detail, request_id=request_id)
        self.code = code
        self.subcode = subcode
        self.http_status = http_status


class WhatsAppUnavailable(UpstreamUnavailable):
    """No usable answer after the retries allowed: a rate limit, an outage, a timeout. `code` is
    Meta's error code when it sent one."""

    def __init__(
        self,
        detail: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(UPSTREAM, detail, request_id=request_id)
        self.code = code
        self.http_status = http_status


def _transport_failure(exc: httpx.TransportError, retry: Idempotency) -> WhatsAppUnavailable:
    """A request that got no answer, saying whether a message may have gone out."""
    name = type(exc).__name__
    if never_sent(exc):
        # The connection never opened (or no pooled one freed up): nothing was sent.
        return WhatsAppUnavailable(f"could not connect ({name})")
    if isinstance(exc, httpx.TimeoutException):
        return WhatsAppUnavailable(
            f"timed out ({name}); the message may have been sent"
            if retry is Idempotency.UNSENT_ONLY
            else f"timed out ({name})"
        )
    return WhatsAppUnavailable(f"connection failed ({name})")


def mask_phone(number: str) -> str:
    """All but the last four digits hidden: enough to tell travellers apart in a log."""
    digits = re.sub(r"\D", "", number)
    return f"***{digits[-4:]}" if len(digits) > 4 else "***"


class _WireErrorData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    details: str | None = None


class _WireError(BaseModel):
    """Graph API error body, `{"error": {...}}`; fields as listed on Meta's error-codes page."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    message: str | None = None
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: _WireErrorData | None = None
    fbtrace_id: str | None = None


class _WireErrorEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    error: _WireError


# What a failed attempt leaves for the log and the failure: the HTTP status and Meta's error,
# when an answer came.
_Failed: TypeAlias = Failed[tuple[int | None, _WireError | None]]


def _graph_error(content: bytes) -> _WireError | None:
    try:
        return _WireErrorEnvelope.model_validate_json(content).error
    except ValidationError:
        return None


class WhatsAppClient:
    """The live Cloud API: `POST {base_url}/{phone_number_id}/messages` with a Bearer token.

    Failures raise `WhatsAppError` (Meta refused; carries `code`) or `WhatsAppUnavailable`
    (`UpstreamUnavailable`); neither, nor any log line, holds the token or a full phone number.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait_seconds: float = 10.0,
        timeout: float | None = None,
    ) -> None:
        if not access_token.strip():
            raise ValueError("a WhatsApp access token is required")
        if not phone_number_id.strip():
            raise ValueError("a WhatsApp phone number id is required")
        self._http = http
        self._url = f"{base_url.rstrip('/')}/{phone_number_id.strip()}/messages"
        self._token = access_token.strip()
        self._headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
        }
        self._retry = RetryPolicy(max_retries, backoff_seconds, max_wait_seconds, sleep)
        # None: the pooled client's own timeout applies.
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"WhatsAppClient(url={self._url!r})"

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        """Sends each part of `message` in order and returns Meta's message ids; a failure stops
        the parts after it (the ones before were delivered and are logged)."""
        recipient = to.strip()
        ids: list[str] = []
        parts = fit_to_limits(message)
        for part in parts:
            try:
                content = await self._post(
                    request_body(recipient, part), Idempotency.UNSENT_ONLY, recipient
                )
            except UpstreamFailure:
                if ids:
                    log.warning(
                        "WhatsApp message only partly sent",
                        extra={
                            "whatsapp_to": mask_phone(recipient),
                            "parts_sent": len(ids),
                            "parts": len(parts),
                            "whatsapp_message_ids": ids,
                        },
                    )
                raise
            ids.append(self._message_id(content, recipient))
        return ids

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        # Mark messages as read, with the typing indicator:
        # https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/mark-message-as-read
        # https://developers.facebook.com/documentation/business-messaging/whatsapp/typing-indicators/
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self._post(body, Idempotency.IDEMPOTENT, None)

    # --- Plumbing -----------------------------------------------------------------------------

    async def _post(self, body: Mapping[str, Any], retry: Idempotency, to: str | None) -> bytes:
        """Meta's 2xx answer, after the retries `retry` allows.

        Sending a message is UNSENT_ONLY: Meta does not deduplicate, so the same request is sent
        again only when it provably never reached Meta (the connection could not be opened) or
        when Meta answered that it did not send it: a 429 or one of the rate-limit codes, or a
        5xx carrying a Graph API error (code 1, 2 or 131000, "Message failed to send ... Try
        again"), or a 503. A timeout after sending, or a bare 500/502/504 from something in front
        of Meta, leaves the outcome unknown and is not retried: a traveller told twice is worse
        than a reply the conversation can repeat. Marking as read is IDEMPOTENT, harmless to
        repeat, and retried on every transient failure.
        """
        operation = "send" if retry is Idempotency.UNSENT_ONLY else "mark_read"
        return await self._retry.run(
            lambda: self._attempt(body, retry),
            logger=log,
            message="WhatsApp call failed; retrying",
            fields=lambda failed: self._log_fields(operation, to, *failed.context),
            give_up=lambda failed, attempt: self._fail(
                failed.failure, operation, to, *failed.context, attempt
            ),
        )

    async def _attempt(self, body: Mapping[str, Any], retry: Idempotency) -> bytes | _Failed:
        """One request: the content of Meta's 2xx answer, or the failure."""
        try:
            response = await self._http.post(
                self._url,
                json=body,
                headers=self._headers,
                timeout=httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout,
            )
        except httpx.TransportError as exc:
            return Failed(_transport_failure(exc, retry), retry.may_resend(exc), (None, None))
        if response.is_success:
            return response.content
        status = response.status_code
        error = _graph_error(response.content)
        return Failed(
            self._failure(status, error),
            self._may_retry(retry, status, error),
            (status, error),
            hint=hinted_wait(response.headers, names=RETRY_AFTER),
            pause=(
                PAIR_RATE_WAIT_SECONDS
                if error is not None and error.code == PAIR_RATE_LIMIT_HIT
                else None
            ),
        )

    @staticmethod
    def _may_retry(retry: Idempotency, status: int, error: _WireError | None) -> bool:
        code = error.code if error is not None else None
        if status == 429 or code in _RATE_LIMIT_CODES:
            return True
        if status >= 500:
            return retry is Idempotency.IDEMPOTENT or error is not None or status == 503
        return False

    def _failure(self, status: int, error: _WireError | None) -> UpstreamFailure:
        code = error.code if error is not None else None
        trace = error.fbtrace_id if error is not None else None
        summary = f"HTTP {status}" + (f": {self._shown(error)}" if error is not None else "")
        if status == 429 or code in _RATE_LIMIT_CODES:
            return WhatsAppUnavailable(
                f"rate limited ({summary})", code=code, http_status=status, request_id=trace
            )
        if status >= 500:
            note = "" if error is not None or status == 503 else "; the message may have been sent"
            return WhatsAppUnavailable(
                summary + note, code=code, http_status=status, request_id=trace
            )
        if status in (401, 403) and error is None:
            return WhatsAppError(
                f"credentials rejected (HTTP {status})", code=None, http_status=status
            )
        return WhatsAppError(
            summary,
            code=code,
            subcode=error.error_subcode if error is not None else None,
            http_status=status,
            request_id=trace,
        )

    def _shown(self, error: _WireError) -> str:
        """Meta's words as fit for an error or a log: token and phone numbers removed first,
        then shortened, so a cut cannot leave part of either behind."""
        text = " ".join(
            part for part in (error.message, error.error_data and error.error_data.details) if part
        )
        text = " ".join(text.split()).replace(self._token, "[redacted]")
        text = _LONG_NUMBER.sub(lambda match: mask_phone(match.group()), text)
        return text[:_MAX_SHOWN_CHARS] or f"code {error.code}"

    def _message_id(self, content: bytes, to: str) -> str:
        try:
            answer = orjson.loads(content)
            message_id = answer["messages"][0]["id"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            message_id = None
        if not isinstance(message_id, str) or not message_id:
            # Sent, most likely, but without an id to follow its status by.
            self._fail(
                WhatsAppError("a 2xx answer without a message id", code=None),
                "send",
                to,
                None,
                None,
                0,
            )
        return message_id

    def _log_fields(
        self, operation: str, to: str | None, status: int | None, error: _WireError | None
    ) -> dict[str, Any]:
        return {
            "whatsapp_operation": operation,
            "whatsapp_to": mask_phone(to) if to else None,
            "whatsapp_status": status,
            "whatsapp_error_code": error.code if error is not None else None,
            "whatsapp_error_subcode": error.error_subcode if error is not None else None,
            "fbtrace_id": error.fbtrace_id if error is not None else None,
        }

    def _fail(
        self,
        failure: UpstreamFailure,
        operation: str,
        to: str | None,
        status: int | None,
        error: _WireError | None,
        attempt: int,
    ) -> NoReturn:
        # Outside the 24-hour window is an everyday answer, met with a template, not an incident.
        expected = isinstance(failure, WhatsAppError) and failure.code == RE_ENGAGEMENT_REQUIRED
        log.log(
            logging.INFO if expected else logging.WARNING,
            "WhatsApp call failed",
            extra={
                **self._log_fields(operation, to, status, error),
                "attempt": attempt + 1,
                "failure": type(failure).__name__,
                "detail": failure.detail,
            },
        )
        raise failure
