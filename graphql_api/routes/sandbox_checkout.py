"""The sandbox checkout page: what a Paystack checkout would show (the booking's route, dates
and passengers with the amount), with Pay and Decline that settle the payment exactly as
Paystack's webhook would. Only in sandbox payment mode.

With a `callbackUrl` given to `initializePayment`, Pay and Decline send the traveller back
there as Paystack does, with `?trxref=<reference>&reference=<reference>` added to it; as with
Paystack, the outcome is learnt by verifying the payment (`verifyPayment` or `booking`), not
from the URL.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from graphql_api.context import Services
from integrations.sandbox.payments import SandboxPayments
from integrations.state.store import BookingRecord
from resolvers.money import Money, from_subunits

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SureFlights sandbox checkout</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;
color:#1c1e21;line-height:1.45}}
.note{{background:#fff4d6;padding:.6rem .8rem;border-radius:.4rem}}
.trip{{border:1px solid #ccd;border-radius:.4rem;padding:.2rem .9rem;margin:1rem 0}}
.trip h2{{font-size:1.05rem;margin:.6rem 0 .2rem}}.trip ul{{padding-left:1.1rem;margin:.3rem 0}}
.actions{{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.2rem 0}}
.actions form{{margin:0}}
button,a.button{{display:inline-flex;align-items:center;justify-content:center;box-sizing:border-box;
min-height:48px;min-width:48px;font-size:1.05rem;padding:.7rem 1.6rem;border-radius:.4rem;
border:1px solid #555;background:#fff;color:#1c1e21;text-decoration:none;cursor:pointer}}
.pay{{background:#0a7a3f;color:#fff;border-color:#0a7a3f}}</style></head>
<body><h1>SureFlights checkout</h1>
<p class="note">SANDBOX: no money moves. Pay or Decline settle this payment exactly as a
Paystack webhook would.</p>
{content}</body></html>"""


def _page(content: str, status: int = 200, callback: str | None = None) -> HTMLResponse:
    # Forms post here; after settling, the answer may redirect to the traveller's own site.
    targets = " ".join(["'self'", *([_origin(callback)] if callback else [])])
    return HTMLResponse(
        _PAGE.format(content=content),
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; "
                f"form-action {targets}; frame-ancestors 'none'"
            ),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _sandbox(request: Request) -> tuple[Services, SandboxPayments] | None:
    services: Services = request.app.state.services
    provider = services.payment_provider
    return (services, provider) if isinstance(provider, SandboxPayments) else None


def returned_to(callback_url: str, reference: str) -> str:
    """`callback_url` with `trxref` and `reference` added, as Paystack redirects."""
    parts = urlsplit(callback_url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("trxref", "reference")
    ]
    query += [("trxref", reference), ("reference", reference)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _when(value: Any) -> str:
    """A local departure time as the airport shows it: `Mon 12 Jan 2027, 08:15`."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    return moment.strftime("%a %d %b %Y, %H:%M")


def _place(place: Any) -> str:
    if not isinstance(place, dict):
        return "?"
    code = str(place.get("iata_code") or "?")
    city = place.get("city_name") or place.get("name")
    return f"{city} ({code})" if city else code


def _trip(booking: BookingRecord) -> str:
    """The booking's route and dates, then its passengers."""
    slices = (booking.data.get("offer") or {}).get("slices") or []
    parts = ['<section class="trip">']
    for number, piece in enumerate(slices, start=1):
        segments = piece.get("segments") or [{}]
        first, last = segments[0], segments[-1]
        title = f"{_place(piece.get('origin'))} → {_place(piece.get('destination'))}"
        stops = len(segments) - 1
        label = "Outbound" if number == 1 else "Return" if number == 2 else "Flight"
        how = "direct" if not stops else f"{stops} stop" + ("s" if stops > 1 else "")
        departs = html.escape(_when(first.get("departing_at")))
        arrives = html.escape(_when(last.get("arriving_at")))
        parts.append(
            f"<h2>{label}: {html.escape(title)}</h2>"
            f"<p>Departs <b>{departs}</b>, arrives {arrives} ({how})</p>"
        )
    passengers = booking.data.get("passengers") or []
    if passengers:
        parts.append("<h2>Passengers</h2><ul>")
        for passenger in passengers:
            name = " ".join(
                str(passenger.get(k) or "").strip()
                for k in ("title", "given_name", "family_name")
                if passenger.get(k)
            )
            kind = str(passenger.get("type") or "").replace("_", " ")
            parts.append(f"<li>{html.escape(name.title())} ({html.escape(kind)})</li>")
        parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


async def sandbox_checkout(request: Request) -> Response:
    """`GET /sandbox/checkout/{paymentReference}`: what the traveller pays, for which trip, with
    Pay and Decline."""
    found = _sandbox(request)
    if found is None:
        return _page("<p>Sandbox checkout is off: payments are live.</p>", 404)
    services, provider = found
    reference = request.path_params["reference"]
    payment = await services.store.payments.get(reference)
    if payment is None:
        return _page("<p>No such payment.</p>", 404)
    booking = await services.store.bookings.get(payment.booking_reference)
    callback = await provider.callback_url(reference)
    amount = Money(from_subunits(payment.amount_subunits, payment.currency), payment.currency)
    ref = html.escape(reference)
    trip = _trip(booking) if booking is not None else ""
    if payment.status != "PENDING":
        back = ""
        if callback:
            href = html.escape(returned_to(callback, reference))
            back = (
                f'<div class="actions"><a class="button" href="{href}">'
                "Back to the site you came from</a></div>"
            )
        return _page(
            f"<p>Payment <b>{ref}</b> is {html.escape(payment.status)}.</p>{trip}{back}",
            callback=callback,
        )
    returning = (
        f"<p>Afterwards you go back to <b>{html.escape(urlsplit(callback).netloc)}</b>.</p>"
        if callback
        else ""
    )
    return _page(
        f"<p>Booking <b>{html.escape(payment.booking_reference)}</b><br>"
        f"Amount <b>{html.escape(amount.formatted)}</b></p>"
        f"{trip}"
        '<div class="actions">'
        f'<form method="post" action="/sandbox/checkout/{ref}/pay">'
        f'<button class="pay" type="submit">Pay {html.escape(amount.formatted)}</button></form>'
        f'<form method="post" action="/sandbox/checkout/{ref}/decline">'
        '<button type="submit">Decline</button></form></div>'
        f"{returning}",
        callback=callback,
    )


async def sandbox_settle(request: Request) -> Response:
    """`POST /sandbox/checkout/{paymentReference}/pay|decline`: settle as the webhook would,
    then send the traveller back to the payment's callback URL, if it has one."""
    found = _sandbox(request)
    if found is None:
        return _page("<p>Sandbox checkout is off: payments are live.</p>", 404)
    services, provider = found
    reference = request.path_params["reference"]
    action = request.path_params["action"]
    current = await services.store.payments.get(reference)
    if action not in ("pay", "decline") or current is None:
        return _page("<p>No such payment.</p>", 404)
    if current.status == "PENDING":
        # Only a payment still open takes money, as a closed checkout would refuse it.
        await provider.complete(reference, succeed=action == "pay")
    payment = await services.payments.settle_payment(reference, source="sandbox")
    callback = await provider.callback_url(reference)
    if callback:
        return RedirectResponse(returned_to(callback, reference), status_code=303)
    booking = await services.store.bookings.get(payment.booking_reference)
    lines = [f"Payment <b>{html.escape(payment.reference)}</b>: {html.escape(payment.status)}"]
    if booking is not None:
        lines.append(f"Booking <b>{html.escape(booking.reference)}</b>: {booking.status}")
        if booking.airline_reference:
            lines.append(f"Airline reference <b>{html.escape(booking.airline_reference)}</b>")
    return _page("<p>" + "<br>".join(lines) + "</p>")
