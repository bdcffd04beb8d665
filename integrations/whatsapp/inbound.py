"""Meta's messages webhook read into typed messages, and its X-Hub-Signature-256 check."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.ports.messaging import InboundKind, InboundMessage, StatusUpdate

log = logging.getLogger("sureflights.whatsapp")

# --- Inbound: the messages webhook -------------------------------------------------------------
#
# Shapes from Meta's messages webhook reference:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
# Every field is read defensively: an entry that lacks what a message needs is skipped, never
# raised on, because an exception would turn into a non-200 and Meta would redeliver the same
# body for days.


# Media whose caption is read as the traveller's words.
_CAPTIONED = ("image", "video", "document")


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
