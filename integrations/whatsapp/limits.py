"""Meta's limits on what a message may hold, and the fitting of each outbound message to them."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from integrations.ports.messaging import (
    Button,
    ButtonsMessage,
    LinkMessage,
    ListMessage,
    ListRow,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
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
