"""The sandbox checkout page: what a Paystack checkout would show, with Pay and Decline that
settle the payment exactly as Paystack's webhook would. Only in sandbox payment mode."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from graphql_api.context import Services
from integrations.sandbox.payments import SandboxPayments
from resolvers.money import Money, from_subunits

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SureFlights sandbox checkout</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
.note{{background:#fff4d6;padding:.6rem .8rem;border-radius:.4rem}}
button{{font-size:1rem;padding:.6rem 1.4rem;margin-right:.6rem;border-radius:.4rem;
border:1px solid #555}}
.pay{{background:#0a7a3f;color:#fff}}</style></head>
<body><h1>SureFlights checkout</h1>
<p class="note">SANDBOX: no money moves. Pay or Decline settle this payment exactly as a
Paystack webhook would.</p>
{content}</body></html>"""


def _page(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(content=content), status_code=status)


def _sandbox(request: Request) -> tuple[Services, SandboxPayments] | None:
    services: Services = request.app.state.services
    provider = services.payment_provider
    return (services, provider) if isinstance(provider, SandboxPayments) else None


async def sandbox_checkout(request: Request) -> Response:
    """`GET /sandbox/checkout/{paymentReference}`: what the traveller pays, with Pay and Decline."""
    found = _sandbox(request)
    if found is None:
        return _page("<p>Sandbox checkout is off: payments are live.</p>", 404)
    services, _provider = found
    reference = request.path_params["reference"]
    payment = await services.store.payments.get(reference)
    if payment is None:
        return _page("<p>No such payment.</p>", 404)
    amount = Money(from_subunits(payment.amount_subunits, payment.currency), payment.currency)
    ref = html.escape(reference)
    if payment.status != "PENDING":
        return _page(f"<p>Payment <b>{ref}</b> is {html.escape(payment.status)}.</p>")
    return _page(
        f"<p>Booking <b>{html.escape(payment.booking_reference)}</b><br>"
        f"Amount <b>{html.escape(amount.formatted)}</b></p>"
        f'<form method="post" action="/sandbox/checkout/{ref}/pay" style="display:inline">'
        '<button class="pay" type="submit">Pay</button></form>'
        f'<form method="post" action="/sandbox/checkout/{ref}/decline" style="display:inline">'
        '<button type="submit">Decline</button></form>'
    )


async def sandbox_settle(request: Request) -> Response:
    """`POST /sandbox/checkout/{paymentReference}/pay|decline`: settle as the webhook would."""
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
    booking = await services.store.bookings.get(payment.booking_reference)
    lines = [f"Payment <b>{html.escape(payment.reference)}</b>: {html.escape(payment.status)}"]
    if booking is not None:
        lines.append(f"Booking <b>{html.escape(booking.reference)}</b>: {booking.status}")
        if booking.airline_reference:
            lines.append(f"Airline reference <b>{html.escape(booking.airline_reference)}</b>")
    return _page("<p>" + "<br>".join(lines) + "</p>")
