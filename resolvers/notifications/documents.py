"""The confirmation's attachments: an itinerary PDF (the booking reference as a QR code, with
ReportLab, which draws QR codes itself) and an iCalendar file with one event per flight."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar, Event
from reportlab.graphics.barcode import qrencoder
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from integrations.ports.notifications import Attachment

PRODUCT_ID = "-//SureFlights//Itinerary//EN"


def itinerary_pdf(context: dict[str, Any]) -> Attachment:
    """One A4 page: references, the QR code of the booking reference, flights, passengers,
    receipt."""
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"SureFlights itinerary {context['reference']}")
    pdf.setAuthor("SureFlights")
    width, height = A4
    y = height - 25 * mm
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(20 * mm, y, "SureFlights itinerary")
    pdf.setFont("Helvetica", 11)
    y -= 10 * mm
    pdf.drawString(20 * mm, y, f"Booking reference: {context['reference']}")
    y -= 6 * mm
    pdf.drawString(20 * mm, y, f"Airline reference (check-in): {context['airline_ref']}")
    _qr(pdf, context["reference"], x=width - 55 * mm, y=height - 60 * mm, size=35 * mm)
    y -= 16 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(20 * mm, y, "Flights (local times)")
    pdf.setFont("Helvetica", 10)
    for leg in context["legs"]:
        y -= 7 * mm
        pdf.drawString(20 * mm, y, f"{leg['flight']}  {leg['carrier']}")
        y -= 5 * mm
        origin = leg["origin"] + (f", T{leg['origin_terminal']}" if leg["origin_terminal"] else "")
        pdf.drawString(26 * mm, y, f"Departs {leg['departs']}  {origin}")
        y -= 5 * mm
        destination = leg["destination"] + (
            f", T{leg['destination_terminal']}" if leg["destination_terminal"] else ""
        )
        pdf.drawString(26 * mm, y, f"Arrives {leg['arrives']}  {destination}")
    y -= 12 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(20 * mm, y, "Passengers")
    pdf.setFont("Helvetica", 10)
    for person in context["passengers"]:
        y -= 6 * mm
        pdf.drawString(26 * mm, y, person)
    y -= 12 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(20 * mm, y, "Receipt")
    pdf.setFont("Helvetica", 10)
    y -= 6 * mm
    receipt = context["receipt"]
    pdf.drawString(26 * mm, y, f"Paid {receipt['amount']}")
    if receipt["fare"]:
        y -= 5 * mm
        pdf.drawString(26 * mm, y, f"Airline fare {receipt['fare']} at {receipt['rate']}")
    pdf.setFont("Helvetica", 8)
    pdf.drawString(20 * mm, 15 * mm, f"SureFlights · {context['support']}")
    pdf.showPage()
    pdf.save()
    return Attachment(
        filename=f"itinerary-{context['reference']}.pdf",
        content_type="application/pdf",
        content=buffer.getvalue(),
    )


_QUIET_MODULES = 4


def _qr(pdf: Canvas, value: str, *, x: float, y: float, size: float) -> None:
    """The QR code of `value` in a `size` square at (x, y), with its four-module quiet zone.

    Drawn as one filled path of the dark runs: ReportLab's widget builds a shape per run, which
    made the code most of a confirmation's cost."""
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(value)
    code.make()
    count: int = code.getModuleCount()  # type: ignore[no-untyped-call]
    box = size / (count + 2 * _QUIET_MODULES)
    path = pdf.beginPath()
    for row, modules in enumerate(code.modules):
        column = 0
        for dark, run in itertools.groupby(bool(m) for m in modules):
            length = len(list(run))
            if dark:
                top = y + size - (row + _QUIET_MODULES + 1) * box
                path.rect(x + (column + _QUIET_MODULES) * box, top, length * box, box)
            column += length
    pdf.saveState()
    pdf.setFillColorRGB(0, 0, 0)
    pdf.drawPath(path, stroke=0, fill=1)
    pdf.restoreState()


def flights_calendar(context: dict[str, Any], *, now: datetime | None = None) -> Attachment:
    """An iCalendar file with an event per flight, at its real (zoned) times."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    stamp = now or datetime.now(UTC)
    for number, leg in enumerate(context["legs"], start=1):
        event = Event()
        # Stable per booking and flight, so a calendar updates the event rather than adding one.
        event.add(
            "uid", f"{context['reference']}-{number}-{leg['flight'].replace(' ', '')}@sureflights"
        )
        event.add("dtstamp", stamp)
        event.add("dtstart", leg["departs_at"].astimezone(UTC))
        event.add("dtend", leg["arrives_at"].astimezone(UTC))
        event.add(
            "summary", f"Flight {leg['flight']} {leg['origin_code']} → {leg['destination_code']}"
        )
        terminal = f", terminal {leg['origin_terminal']}" if leg["origin_terminal"] else ""
        event.add("location", f"{leg['origin']}{terminal}")
        event.add(
            "description",
            f"{leg['carrier']} {leg['flight']}. Airline reference {context['airline_ref']}, "
            f"booking {context['reference']}.",
        )
        calendar.add_component(event)
    return Attachment(
        filename=f"flights-{context['reference']}.ics",
        content_type="text/calendar",
        content=calendar.to_ical(),
    )
