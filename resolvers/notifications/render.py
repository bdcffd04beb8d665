"""What each notice says, on each channel, rendered from template files people can edit.

Templates live in `resolvers/notifications/templates/`: `email/<notice>.html` (with blocks
`subject`, `preheader` and `body`, on `email/base.html`), `email/<notice>.txt` (the plain-text
part), `sms/<notice>.txt` and `whatsapp/<notice>.txt`. Every template sees the same context,
built here from the booking as stored: its reference, the airline's reference, each flight with
local times and terminals when known, the passengers, the receipt (with the exchange rate used
when the fare was converted), the refund or airline change the notice is about, and links.
WhatsApp messages outside the 24-hour window go as the approved templates in `WHATSAPP_TEMPLATES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from integrations.ports.messaging import NoticeMessage, TemplateMessage
from integrations.state.store import BookingRecord
from resolvers.ledger import Ledger, Notice, NoticeKind
from resolvers.money import Money, from_subunits

TEMPLATES = Path(__file__).with_name("templates")
# One or two SMS segments: 306 characters of GSM-7 (153 each), 134 of UCS-2 (67 each).
SMS_GSM_LIMIT = 306
SMS_UCS2_LIMIT = 134
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


@dataclass(frozen=True, slots=True)
class WhatsAppTemplate:
    """An approved WhatsApp template: its name, and the context values of its variables."""

    name: str
    variables: tuple[str, ...]


# Every template to create and have approved in WhatsApp Manager (language `en`), with its body
# variables `{{1}}`, `{{2}}`, ... in this order (README.md lists them too).
WHATSAPP_TEMPLATES: dict[NoticeKind, WhatsAppTemplate] = {
    NoticeKind.CONFIRMATION: WhatsAppTemplate("booking_confirmed", ("reference", "airline_ref")),
    NoticeKind.PAYMENT_REMINDER: WhatsAppTemplate("payment_reminder", ("reference", "pay_by")),
    NoticeKind.EXPIRY: WhatsAppTemplate("booking_expired", ("reference",)),
    NoticeKind.CANCELLATION: WhatsAppTemplate("booking_cancelled", ("reference",)),
    NoticeKind.REFUND: WhatsAppTemplate("payment_refunded", ("reference", "refund_amount")),
    NoticeKind.REFUND_PROCESSED: WhatsAppTemplate(
        "refund_processed", ("reference", "refund_amount")
    ),
    NoticeKind.AIRLINE_CHANGE: WhatsAppTemplate(
        "airline_change", ("reference", "change_summary", "respond_by")
    ),
    NoticeKind.AIRLINE_CHANGE_REMINDER: WhatsAppTemplate(
        "airline_change_reminder", ("reference", "respond_by")
    ),
    NoticeKind.CHECK_IN_REMINDER: WhatsAppTemplate(
        "check_in_reminder", ("reference", "airline_ref", "first_departure")
    ),
}
# The failed booking's full refund keeps the wording (and template) it always had.
FULL_REFUND_TEMPLATE = WhatsAppTemplate("booking_refunded", ("reference",))


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class Links:
    """Where the traveller's links go."""

    base_url: str
    token: str

    def trip(self, reference: str, **query: str) -> str:
        extra = "".join(f"&{k}={quote(v)}" for k, v in query.items())
        return f"{self.base_url.rstrip('/')}/trip/{reference}?token={quote(self.token)}{extra}"


class Renderer:
    def __init__(
        self,
        support_contact: str,
        *,
        zone: ZoneInfo | None = None,
        directory: Path = TEMPLATES,
    ) -> None:
        self.support_contact = support_contact
        self.zone = zone or ZoneInfo("Africa/Lagos")
        self.directory = directory
        loader = jinja2.FileSystemLoader(str(directory))
        self._html = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True
        )
        self._text = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701 - plain text and SMS, never HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # --- Context --------------------------------------------------------------------------

    def context(
        self, booking: BookingRecord, notice: Notice, links: Links | None
    ) -> dict[str, Any]:
        ledger = Ledger.of(booking)
        legs = _legs((booking.data.get("offer") or {}).get("slices") or [])
        passengers = [_person(p) for p in booking.data.get("passengers") or []]
        context: dict[str, Any] = {
            "kind": notice.kind.value,
            "reference": booking.reference,
            "airline_ref": booking.airline_reference or "",
            "status": booking.status,
            "traveller": (booking.data.get("passengers") or [{}])[0].get("given_name", ""),
            "passengers": passengers,
            "legs": legs,
            "first_departure": legs[0]["departs"] if legs else "",
            "receipt": _receipt(booking),
            "pay_by": self._when(booking.pay_by),
            "support": self.support_contact,
            "trip_url": links.trip(booking.reference) if links else "",
            "unsubscribe_url": links.trip(booking.reference, stop="reminders") if links else "",
            "refund_amount": "",
            "refund_reason": "",
            "refund_processed_at": "",
            "full_refund": booking.status in ("FAILED", "REFUNDED"),
            "change_summary": "",
            "old_legs": [],
            "new_legs": [],
            "respond_by": "",
            "accept_url": "",
            "cancel_url": "",
            "change_answer": "",
            "change_id": notice.about,
        }
        refund = ledger.refund(notice.about) if notice.about else None
        if refund is not None:
            money = Money(from_subunits(refund.amount_subunits, refund.currency), refund.currency)
            context["refund_amount"] = money.formatted
            context["refund_reason"] = refund.reason
            context["refund_processed_at"] = self._when(refund.updated_at)
        change = ledger.airline_change(notice.about) if notice.about else None
        if change is not None:
            context["change_summary"] = change.summary
            context["old_legs"] = _legs(change.data.get("removed") or [])
            context["new_legs"] = _legs(change.data.get("added") or [])
            context["respond_by"] = self._when(change.respond_by)
            context["change_answer"] = change.answer or ""
            if links is not None:
                context["accept_url"] = links.trip(booking.reference, change=change.id)
                context["cancel_url"] = context["accept_url"]
        return context

    def _when(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%a %d %b %Y, %H:%M") if moment else ""

    # --- Channels ------------------------------------------------------------------------

    def email(self, context: dict[str, Any]) -> RenderedEmail:
        template = self._html.get_template(f"email/{context['kind']}.html")
        subject_block = template.blocks["subject"]
        subject = "".join(subject_block(template.new_context(context))).strip()
        return RenderedEmail(
            subject=" ".join(subject.split()),
            text=self._text.get_template(f"email/{context['kind']}.txt").render(context).strip()
            + "\n",
            html=template.render(context),
        )

    def sms(self, context: dict[str, Any]) -> str:
        text = self._text.get_template(f"sms/{context['kind']}.txt").render(context)
        return fit_sms(" ".join(text.split()))

    def whatsapp(self, context: dict[str, Any], kind: NoticeKind) -> NoticeMessage:
        text = self._text.get_template(f"whatsapp/{kind.value}.txt").render(context).strip()
        template = WHATSAPP_TEMPLATES[kind]
        if kind is NoticeKind.REFUND and context["full_refund"]:
            template = FULL_REFUND_TEMPLATE
        parameters = tuple(str(context[name]) for name in template.variables)
        asks = kind in (NoticeKind.AIRLINE_CHANGE, NoticeKind.AIRLINE_CHANGE_REMINDER)
        session = None
        if kind is NoticeKind.CONFIRMATION:
            session = "confirmed"
        elif kind in (NoticeKind.REFUND, NoticeKind.EXPIRY) and context["full_refund"]:
            session = "ended"
        return NoticeMessage(
            booking_reference=context["reference"],
            text=text,
            template=TemplateMessage(name=template.name, body_parameters=parameters),
            change_id=context["change_id"] if asks and not context["change_answer"] else None,
            session=session,
        )


def fit_sms(text: str) -> str:
    """The text within two SMS segments, shortened with an ellipsis when it is longer."""
    limit = SMS_GSM_LIMIT if set(text) <= _GSM7 else SMS_UCS2_LIMIT
    if len(text) <= limit:
        return text
    return text[: limit - 3].rstrip() + "..."


def sms_segments(text: str) -> int:
    """How many segments the text is sent in."""
    if set(text) <= _GSM7:
        return 1 if len(text) <= 160 else -(-len(text) // 153)
    return 1 if len(text) <= 70 else -(-len(text) // 67)


def _legs(slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    legs = []
    for piece in slices:
        for segment in piece.get("segments") or []:
            departs = datetime.fromisoformat(segment["departing_at"])
            arrives = datetime.fromisoformat(segment["arriving_at"])
            carrier = segment.get("marketing_carrier") or {}
            legs.append(
                {
                    "flight": segment.get("flight_number", ""),
                    "carrier": carrier.get("name", ""),
                    "origin": _place(segment.get("origin") or {}),
                    "origin_code": (segment.get("origin") or {}).get("iata_code", ""),
                    "destination": _place(segment.get("destination") or {}),
                    "destination_code": (segment.get("destination") or {}).get("iata_code", ""),
                    "origin_terminal": segment.get("origin_terminal") or "",
                    "destination_terminal": segment.get("destination_terminal") or "",
                    "departs": departs.strftime("%a %d %b %Y, %H:%M"),
                    "arrives": arrives.strftime("%a %d %b %Y, %H:%M"),
                    "departs_at": departs,
                    "arrives_at": arrives,
                }
            )
    return legs


def _place(place: dict[str, Any]) -> str:
    city = place.get("city_name") or place.get("name") or ""
    code = place.get("iata_code", "")
    return f"{city} ({code})" if city and code else city or code


def _person(passenger: dict[str, Any]) -> str:
    title = str(passenger.get("title") or "").capitalize()
    names = f"{passenger.get('given_name', '')} {passenger.get('family_name', '')}".strip()
    return f"{title} {names}".strip()


def _receipt(booking: BookingRecord) -> dict[str, str]:
    paid = Money(booking.total_amount, booking.total_currency)
    receipt = {"amount": paid.formatted, "currency": booking.total_currency, "rate": "", "fare": ""}
    fare = booking.data.get("airline_total") or {}
    fx = booking.data.get("fx") or {}
    if fare and fare.get("currency") != booking.total_currency and fx.get("rate"):
        receipt["fare"] = Money(Decimal(fare["amount"]), fare["currency"]).formatted
        rate = f"1 {fare['currency']} = {Decimal(fx['rate']):,.4f} {booking.total_currency}"
        markup = Decimal(str(fx.get("markup_percent") or 0))
        receipt["rate"] = f"{rate}, plus a {markup}% conversion margin" if markup else rate
    return receipt
