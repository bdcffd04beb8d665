"""What a notice would look like on every channel, for a real booking, without sending it."""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.ports.notifications import EmailMessage, build_mime
from integrations.state.store import Store
from resolvers.ledger import Ledger, Notice, NoticeKind
from resolvers.notifications.documents import flights_calendar, itinerary_pdf
from resolvers.notifications.render import Links, Renderer

PREVIEW_SENDER = "SureFlights <preview@sureflights.invalid>"


async def preview(
    store: Store, renderer: Renderer, links: Links | None, kind: NoticeKind, reference: str
) -> dict[str, bytes] | None:
    """The rendered files by name (email.eml, email.html, email.txt, sms.txt, whatsapp.txt);
    None when there is no such booking. A refund or airline-change notice is about the
    booking's latest refund or change."""
    booking = await store.bookings.get(reference)
    if booking is None:
        return None
    ledger = Ledger.of(booking)
    about = ""
    if kind in (NoticeKind.REFUND, NoticeKind.REFUND_PROCESSED) and ledger.refunds:
        about = ledger.refunds[-1].id
    if kind in (NoticeKind.AIRLINE_CHANGE, NoticeKind.AIRLINE_CHANGE_REMINDER):
        about = ledger.airline_changes[-1].id if ledger.airline_changes else ""
    now = datetime.now(UTC)
    notice = Notice(id=kind.value, kind=kind, created_at=now, due_at=now, about=about)
    context = renderer.context(booking, notice, links)
    email = renderer.email(context)
    attachments = (
        (itinerary_pdf(context), flights_calendar(context))
        if kind is NoticeKind.CONFIRMATION
        else ()
    )
    lead = (booking.data.get("passengers") or [{}])[0]
    mime = build_mime(
        EmailMessage(
            to=str(lead.get("email") or ""),
            subject=email.subject,
            text=email.text,
            html=email.html,
            message_id=f"<preview.{reference}.{kind.value}@sureflights>",
            attachments=attachments,
        ),
        PREVIEW_SENDER,
    )
    whatsapp = renderer.whatsapp(context, kind)
    template = f"{whatsapp.template.name}: " + " | ".join(whatsapp.template.body_parameters)
    files = {
        "email.eml": mime.as_bytes(),
        "email.html": email.html.encode(),
        "email.txt": f"Subject: {email.subject}\n\n{email.text}".encode(),
        "sms.txt": (renderer.sms(context) + "\n").encode(),
        "whatsapp.txt": (
            f"{whatsapp.text}\n\n(outside the 24-hour window, template {template})\n"
        ).encode(),
    }
    for attachment in attachments:
        files[attachment.filename] = attachment.content
    return files
