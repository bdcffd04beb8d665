"""What the assistant says to messages that are not a search: thanks, a request for a person,
short questions, and worries about a booking (a ticket not received, a refund)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conversation import replyids
from conversation.replyids import Action
from conversation.results import day
from integrations.ports.messaging import Button, ButtonsMessage, OutboundMessage, TextMessage

THANKS = "You're welcome! 🙏 Send a new search whenever you're ready, e.g. 'Lagos to Abuja Friday'."

ANSWERS = {
    "baggage": (
        "Baggage depends on the airline and the fare. Most Nigerian domestic economy fares "
        "include a cabin bag of about 7 kg and one checked bag of 20 to 23 kg; international "
        "fares usually include one or two checked bags of 23 kg. Your e-ticket from the airline "
        "states your exact allowance, and extra bags can be bought from the airline."
    ),
    "payment_methods": (
        "You pay on a secure Paystack page: by card (Visa, Mastercard, Verve), bank transfer or "
        "USSD, in naira. I send the link once you confirm a booking, and your seat is held until "
        "the time it shows."
    ),
    "documents": (
        "Domestic flights need a valid ID: an international passport, national ID (NIN slip or "
        "card), driver's licence or voter's card. For international flights you need a passport "
        "valid for at least 6 months, and a visa where the country asks for one: check with its "
        "embassy before you book, as I can't issue visas."
    ),
}


def handoff_requested(contact: str) -> str:
    text = "I've asked a member of our team to reply to you here on WhatsApp as soon as they can."
    if contact:
        text += f" You can also reach customer care on {contact}."
    return text


def no_bookings(contact: str) -> OutboundMessage:
    body = "I can't find a booking made from this number."
    if contact:
        body += f" If you booked another way, customer care can help: {contact}."
    return ButtonsMessage(
        body=body + " Would you like a person from our team to look into it?",
        buttons=(Button(replyids.plain(Action.HUMAN), "Talk to a person"),),
    )


def _route(booking: dict[str, Any]) -> str:
    first = booking["slices"][0]
    departs = datetime.fromisoformat(first["segments"][0]["departingAt"])
    origin = first["origin"].get("cityName") or first["origin"]["iataCode"]
    destination = first["destination"].get("cityName") or first["destination"]["iataCode"]
    return f"{origin} → {destination}, {day(departs.date())} at {departs:%H:%M}"


def about_booking(booking: dict[str, Any], concern: str | None) -> str:
    """One booking's state, said for the worry the traveller wrote about."""
    reference = booking["reference"]
    status = booking["status"]
    route = _route(booking)
    airline = booking.get("airlineReference")
    email = next((p.get("email") for p in booking.get("passengers") or () if p.get("email")), "")
    payment = booking.get("payment") or {}
    if status == "CONFIRMED":
        text = f"Booking {reference} ({route}) is confirmed."
        if airline:
            text += f" Your airline reference is {airline}: show it with your ID at check-in."
        if concern == "ticket" and email:
            text += f" The airline sends the e-ticket to {email}; check the spam folder too."
        if concern == "refund":
            text += " I've asked our team to look into a refund with the airline and reply here."
        return text
    if status == "PENDING_PAYMENT":
        link = (
            f" Pay here: {payment['authorizationUrl']}" if payment.get("authorizationUrl") else ""
        )
        return f"Booking {reference} ({route}) is waiting for payment; it isn't paid yet.{link}"
    if status == "CONFIRMING":
        return (
            f"Booking {reference} ({route}) is paid; the airline is confirming it. I'll message "
            "you with the airline reference as soon as it does."
        )
    if status == "FAILED":
        return (
            f"The airline couldn't complete booking {reference} ({route}); your payment is being "
            "refunded in full."
        )
    if status == "REFUNDED":
        return f"Booking {reference} ({route}) was refunded in full, to the card or account used."
    if status == "CANCELLED":
        text = f"Booking {reference} ({route}) is cancelled."
        if concern == "refund":
            text += " Any refund the airline returns is paid back; our team will follow it up."
        return text
    return f"Booking {reference} ({route}) expired before it was paid; nothing was charged."


def bookings_answer(lines: list[str]) -> OutboundMessage:
    return TextMessage("\n\n".join(lines))


def wants_person(concern: str | None, bookings: list[dict[str, Any]]) -> bool:
    """A refund asked for on a booking the airline holds needs a person."""
    return concern == "refund" and any(b["status"] in ("CONFIRMED", "CANCELLED") for b in bookings)


def answer_question(topic: str | None) -> OutboundMessage:
    return TextMessage(ANSWERS.get(topic or "", ANSWERS["baggage"]))
