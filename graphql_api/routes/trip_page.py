"""`/trip/{reference}`: the page the links in travellers' emails open, with the booking's token.

It shows the trip, asks for an answer to an airline change (keep the new times, or cancel with
the refund the airline allows), and lets the traveller stop reminders by email or text messages.
Reading never changes anything (mail scanners follow links): every answer is a POST from the
page's own forms, or the one-click unsubscribe POST of RFC 8058 that mail clients send.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from graphql_api.context import Services
from resolvers.access import Caller
from resolvers.auth import caller_from_credentials
from resolvers.errors import DomainError
from resolvers.ledger import Ledger

log = logging.getLogger("sureflights.trip")

_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: never sent on to another site.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your SureFlights trip</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
color:#1c1e21}}.note{{background:#fff4d6;padding:.6rem .8rem;border-radius:.4rem}}
.done{{background:#e3f5e9;padding:.6rem .8rem;border-radius:.4rem}}
button{{font-size:1rem;min-height:44px;padding:.6rem 1.2rem;margin:.3rem .4rem .3rem 0;
border-radius:.4rem;border:1px solid #555;background:#fff}}
button.go{{background:#0a7a3f;color:#fff;border-color:#0a7a3f}}
li{{margin:.3rem 0}}</style></head>
<body><h1>Your trip {reference}</h1>{content}</body></html>"""


def _page(reference: str, content: str, status: int = 200) -> HTMLResponse:
    body = _PAGE.format(reference=html.escape(reference), content=content)
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


async def _traveller(services: Services, token: str) -> Caller | None:
    try:
        return await caller_from_credentials(
            authorization=f"Bearer {token}",
            api_key=None,
            secret=services.secrets.secret_key,
            api_keys=services.api_keys,
            client="trip-page",
            now=datetime.now(UTC),
        )
    except DomainError:
        return None


async def trip_page(request: Request) -> Response:
    services: Services = request.app.state.services
    reference = request.path_params["reference"].strip().upper()
    token = request.query_params.get("token", "")
    caller = await _traveller(services, token)
    if caller is None:
        return _page(reference, "<p>This link has expired or is not valid.</p>", 403)
    notice = ""
    if request.method == "POST":
        form = await request.form()
        action = str(form.get("action") or "")
        if form.get("List-Unsubscribe") == "One-Click":
            action = "stop_reminders"  # a mail client's one-click unsubscribe
        try:
            notice = await _act(services, caller, reference, action, str(form.get("change", "")))
        except DomainError as error:
            notice = f'<p class="note">{html.escape(error.message)}</p>'
    try:
        booking = await services.bookings.get(caller, reference)
    except DomainError as error:
        return _page(reference, f"<p>{html.escape(error.message)}</p>", 403)
    if request.method == "GET" and request.query_params.get("stop") == "reminders":
        notice += _form(token, "stop_reminders", "Stop reminders by email", go=True)
    ledger = Ledger.of(booking)
    parts = [notice, f"<p>Status: <b>{html.escape(booking.status)}</b>"]
    if booking.airline_reference:
        parts.append(f"<br>Airline reference: <b>{html.escape(booking.airline_reference)}</b>")
    parts.append("</p>")
    for change in ledger.airline_changes:
        parts.append(
            f"<h2>The airline changed your flight</h2><p>{html.escape(change.summary)}</p>"
        )
        if change.answer:
            parts.append(f'<p class="done">Your answer: {html.escape(change.answer)}.</p>')
            continue
        when = change.respond_by.strftime("%d %b %Y %H:%M UTC") if change.respond_by else ""
        parts.append(f"<p>Please answer{' by ' + when if when else ''}.</p>")
        if "accept" in change.actions:
            parts.append(_form(token, "accept_change", "Keep the new times", change.id, go=True))
        if "cancel" in change.actions:
            parts.append(_form(token, "cancel_change", "Cancel, refund me", change.id))
    preferences = ledger.preferences
    parts.append(
        "<h2>Notifications</h2><ul>"
        + _toggle(token, "Reminders by email", "reminders", on=preferences.email_reminders)
        + _toggle(token, "Text messages", "sms", on=preferences.sms)
        + "</ul><p>Confirmations and changes always reach you by email.</p>"
    )
    return _page(reference, "".join(parts))


def _toggle(token: str, label: str, name: str, *, on: bool) -> str:
    action, button = (f"stop_{name}", "Turn off") if on else (f"start_{name}", "Turn on")
    return f"<li>{label}: {'on' if on else 'off'} {_form(token, action, button)}</li>"


def _form(token: str, action: str, label: str, change: str = "", *, go: bool = False) -> str:
    return (
        f'<form method="post" action="?token={html.escape(token)}" style="display:inline">'
        f'<input type="hidden" name="action" value="{action}">'
        f'<input type="hidden" name="change" value="{html.escape(change)}">'
        f'<button type="submit"{" class=go" if go else ""}>{html.escape(label)}</button></form>'
    )


async def _act(services: Services, caller: Caller, reference: str, action: str, change: str) -> str:
    bookings = services.bookings
    if action == "accept_change":
        await bookings.accept_airline_change(caller, reference, change)
        return '<p class="done">Done: you keep the new times.</p>'
    if action == "cancel_change":
        await bookings.cancel_for_airline_change(caller, reference, change)
        return '<p class="done">Done: the booking is cancelled and the refund is on its way.</p>'
    toggles = {
        "stop_reminders": {"email_reminders": False},
        "start_reminders": {"email_reminders": True},
        "stop_sms": {"sms": False},
        "start_sms": {"sms": True},
    }
    if action in toggles:
        await bookings.update_preferences(caller, reference, **toggles[action])
        return '<p class="done">Saved.</p>'
    return '<p class="note">Nothing to do.</p>'
