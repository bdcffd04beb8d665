"""What the assistant says: every reply's wording and shape, kept apart from the flow."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from conversation import replyids
from conversation.reading import Parsed, PassengerFields
from conversation.replyids import Action
from conversation.results import EXAMPLE, day
from conversation.session import State
from integrations.ports.messaging import (
    Button,
    ButtonsMessage,
    LinkMessage,
    ListMessage,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)

SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on our side. Please try again in a moment, or type HELP."
)
UNSUPPORTED = "I can only read text for now (and the caption of a photo): please type your message."
STARTING_OVER = "No problem, let's start over."
CANCELLED = "Okay, I've cancelled that. Type a new search whenever you're ready."
NOTHING_TO_CANCEL = "There's nothing to cancel. Type a search like: " + EXAMPLE
FARE_EXPIRED = "That fare has just expired. Here are fresh options:"
HOW_TO_EDIT = (
    "Tell me what to change, for example: 'email is jd@example.com', 'phone is 08031234567' "
    "or 'DOB is 15/01/1990'."
)
WHICH_BOOKING = "Which booking? Send 'status' and the reference, e.g. status SF7K2QXM."
FULL_NAME_PLEASE = "Please send the full name as on the passport: first name and surname."
FIELD_WORDS = {
    "given_name": "full name (as on the passport)",
    "family_name": "surname",
    "title": "title (Mr, Mrs, Ms, Miss or Dr)",
    "gender": "gender (male or female)",
    "born_on": "date of birth (DD/MM/YYYY)",
    "email": "email address",
    "phone": "phone number",
}
KIND_WORDS = {"adult": "adult", "child": "child", "infant_without_seat": "infant"}


def help_message() -> OutboundMessage:
    return TextMessage(
        "I can search flights, book them and take payment, right here.\n"
        f"• Search: '{EXAMPLE}', 'los-abv tomorrow', or "
        "'lagos to london 20 dec returning 3 jan, 2 adults 1 child, business'\n"
        "• Pick an option by tapping it or typing its number\n"
        "• Check a booking: 'status SF7K2QXM'\n"
        "• Type RESTART to start over or CANCEL at any step."
    )


def greeting(state: State) -> str:
    if state == State.INITIAL:
        return "Hello! 👋 I'm the SureFlights assistant."
    return "Hello again! We can carry on where we stopped, or type RESTART."


def not_understood(state: State) -> str:
    asks = {
        State.VIEWING_RESULTS: "Reply with the number of the flight you want (e.g. 1).",
        State.REVIEWING_BOOKING: "Reply YES to book, EDIT to change a detail, or CANCEL.",
        State.SEARCHING: "Tell me where from, where to and when, e.g. " + EXAMPLE + ".",
    }
    return "Sorry, I didn't get that. " + asks.get(state, "Here's what I can do:")


def pick_a_number(count: int) -> str:
    return f"Please reply with a number from 1 to {count}."


def missing_fields(passenger: dict[str, Any], *, lead: bool) -> list[str]:
    needed = ["given_name", "family_name", "title", "gender", "born_on"]
    needed += ["email", "phone"]
    return [name for name in needed if not passenger.get(name)]


def ask_passenger(
    passengers: Sequence[dict[str, Any]], index: int, missing: Sequence[str] | None
) -> str:
    passenger = passengers[index]
    who = f"passenger {index + 1} of {len(passengers)} ({KIND_WORDS[passenger['type']]})"
    if missing is None:
        example = "Name: John Doe, Email: john@example.com, Phone: 08012345678, DOB: 15/01/1990, Mr"
        extra = " Email and phone default to the first passenger's." if index > 0 else ""
        return f"Please send the details of {who} in one message, like:\n{example}{extra}"
    wanted = [
        FIELD_WORDS[m] for m in missing if not (m == "family_name" and "given_name" in missing)
    ]
    return f"Thanks. For {who}, I still need: {', '.join(wanted)}."


def single_answer(asking: str, parsed: Parsed) -> PassengerFields | None:
    """A bare answer to the one field asked, when the parser saw no labelled field."""
    text = parsed.text.strip()
    if asking in ("given_name", "family_name") and len(text.split()) >= 2:
        return PassengerFields(full_name=text)
    if asking == "gender" and text.lower() in ("male", "m", "man"):
        return PassengerFields(gender="m")
    if asking == "gender" and text.lower() in ("female", "f", "woman"):
        return PassengerFields(gender="f")
    return None


def passenger_input(passenger: dict[str, Any]) -> dict[str, Any]:
    """A collected passenger as the API's PassengerInput."""
    return {
        "type": {"adult": "ADULT", "child": "CHILD", "infant_without_seat": "INFANT_WITHOUT_SEAT"}[
            passenger["type"]
        ],
        "title": passenger["title"].upper(),
        "givenName": passenger["given_name"],
        "familyName": passenger["family_name"],
        "gender": passenger["gender"].upper(),
        "bornOn": passenger["born_on"],
        "email": passenger["email"],
        "phoneNumber": passenger["phone"],
    }


def review_message(option: dict[str, Any], passengers: Sequence[dict[str, Any]]) -> OutboundMessage:
    lines = [option["description"], f"Total: {option['price']}", ""]
    for number, p in enumerate(passengers, start=1):
        lines.append(
            f"{number}. {p['title'].title()} {p['given_name']} {p['family_name']}, "
            f"born {date.fromisoformat(p['born_on']):%d/%m/%Y}"
        )
    lead = passengers[0]
    lines.append(f"Contact: {lead['email']}, {lead['phone']}")
    return ButtonsMessage(
        header="Please check your booking",
        body="\n".join(lines),
        buttons=(
            Button(id=replyids.plain(Action.CONFIRM), title="Confirm"),
            Button(id=replyids.plain(Action.EDIT), title="Edit"),
            Button(id=replyids.plain(Action.CANCEL), title="Cancel"),
        ),
    )


def price_changed_message(extensions: dict[str, Any]) -> OutboundMessage:
    return ButtonsMessage(
        body=(
            f"The airline's price has changed to {extensions.get('totalAmount')} "
            f"{extensions.get('currency', '')}. Book at the new price?"
        ),
        buttons=(
            Button(id=replyids.plain(Action.CONFIRM), title="Confirm"),
            Button(id=replyids.plain(Action.CANCEL), title="Cancel"),
        ),
    )


_FIELD_PATH = re.compile(r"^passengers\[(\d+)\]\.(\w+)$")
_API_FIELDS = {
    "givenName": "given_name",
    "familyName": "family_name",
    "email": "email",
    "phoneNumber": "phone",
    "bornOn": "born_on",
    "title": "title",
}


def passenger_field_of(path: str) -> tuple[int | None, str | None]:
    found = _FIELD_PATH.match(path)
    if not found:
        return None, None
    return int(found.group(1)), _API_FIELDS.get(found.group(2))


def detail_refused(message: str, name: str) -> str:
    return f"{message} Please send the {FIELD_WORDS.get(name, name)} again."


def booking_failed(code: str | None) -> str:
    if code in ("UPSTREAM_UNAVAILABLE", "UPSTREAM_ERROR"):
        return "The airline isn't answering right now. Please reply YES again in a minute."
    return "I couldn't complete the booking. Type RESTART to try another flight."


def payment_link_failed(reference: str | None) -> str:
    return (
        f"Your booking {reference} is reserved, but I couldn't get a payment link just now. "
        f"Send 'status {reference}' in a minute to get it."
    )


def pay_now(booking: dict[str, Any], payment: dict[str, Any], zone: ZoneInfo) -> LinkMessage:
    """The payment link as a button (inside the 24-hour window every reply is)."""
    deadline = ""
    if booking.get("payBy"):
        pay_by = datetime.fromisoformat(booking["payBy"]).astimezone(zone)
        deadline = f" Pay by {day(pay_by.date())} at {pay_by:%H:%M}."
    held = (
        f" The airline is holding your seat: reference {booking['airlineReference']}."
        if booking.get("airlineReference")
        else ""
    )
    return LinkMessage(
        body=(
            f"Booking {booking['reference']} is reserved.{held}\n"
            f"Pay {payment['amount']['formatted']} securely with the button below.\n"
            f"I'll message you as soon as the airline confirms.{deadline}"
        ),
        button="Pay now",
        url=payment["authorizationUrl"],
    )


def not_your_booking(reference: str) -> str:
    return f"I can't find a booking {reference} made from this number."


STATUS_WORDS = {
    "PENDING_PAYMENT": "waiting for payment",
    "CONFIRMING": "paid; confirming with the airline",
    "CONFIRMED": "confirmed",
    "FAILED": "not completed by the airline; a refund is on its way",
    "REFUNDED": "refunded",
    "CANCELLED": "cancelled",
    "EXPIRED": "expired unpaid",
}


def _city(place: dict[str, Any]) -> str:
    return str(place.get("cityName") or place["iataCode"])


def booking_status(booking: dict[str, Any], zone: ZoneInfo) -> str:
    first = booking["slices"][0]
    departs = datetime.fromisoformat(first["segments"][0]["departingAt"])
    said = STATUS_WORDS.get(booking["status"], booking["status"])
    lines = [
        f"Booking {booking['reference']}: {said}.",
        f"{_city(first['origin'])} → {_city(first['destination'])}, "
        f"{first['segments'][0]['flightNumber']} on {day(departs.date())} at {departs:%H:%M}.",
        f"Total: {booking['totalAmount']['formatted']}",
    ]
    if booking.get("airlineReference"):
        lines.append(f"Airline reference: {booking['airlineReference']}")
    payment = booking.get("payment") or {}
    if booking["status"] == "PENDING_PAYMENT" and payment.get("authorizationUrl"):
        lines.append(f"Pay here: {payment['authorizationUrl']}")
    return "\n".join(lines)


def confirmed(booking: dict[str, Any], zone: ZoneInfo) -> str:
    first = booking["slices"][0]
    departs = datetime.fromisoformat(first["segments"][0]["departingAt"])
    return (
        f"✅ Your booking {booking['reference']} is confirmed!\n"
        f"Airline reference: {booking['airlineReference']}\n"
        f"{_city(first['origin'])} → {_city(first['destination'])}, "
        f"{first['segments'][0]['flightNumber']} on {day(departs.date())} at {departs:%H:%M}.\n"
        "Have a good trip!"
    )


def refunded(reference: str) -> str:
    return (
        f"Sorry: the airline couldn't complete booking {reference}. Your payment is being "
        "refunded in full. Type a new search to find another flight."
    )


def confirmation_template(booking: dict[str, Any]) -> TemplateMessage:
    """Outside WhatsApp's 24-hour window only an approved template may be sent."""
    return TemplateMessage(
        name="booking_confirmed",
        body_parameters=(booking["reference"], booking["airlineReference"] or ""),
    )


def refund_template(reference: str) -> TemplateMessage:
    return TemplateMessage(name="booking_refunded", body_parameters=(reference,))


def money_back(reference: str, amount: str, *, processed: bool) -> str:
    if processed:
        return (
            f"Your refund of {amount} for booking {reference} has been processed: it should "
            "reach your account shortly, depending on your bank."
        )
    return (
        f"We received a payment of {amount} for booking {reference} that it did not need "
        "(a second payment, or one after the booking ended). It is being refunded in full."
    )


def money_back_template(reference: str, amount: str, *, processed: bool) -> TemplateMessage:
    name = "refund_processed" if processed else "payment_refunded"
    return TemplateMessage(name=name, body_parameters=(reference, amount))


def cancel_failed(reference: str) -> str:
    return f"I couldn't cancel {reference} just now. Send 'status {reference}' to check it."


def booking_cancelled(reference: str) -> str:
    return f"Booking {reference} is cancelled. Nothing was charged."


def plain_text(message: OutboundMessage) -> str:
    """What a message says, for the conversation record."""
    if isinstance(message, TextMessage):
        return message.body
    if isinstance(message, ButtonsMessage):
        return message.body + " [" + " | ".join(b.title for b in message.buttons) + "]"
    if isinstance(message, ListMessage):
        rows = [r.title for s in message.sections for r in s.rows]
        return message.body + " [" + " | ".join(rows) + "]"
    if isinstance(message, LinkMessage):
        return f"{message.body} [{message.button}: {message.url}]"
    return f"template {message.name} {list(message.body_parameters)}"


def change_answered(reference: str, *, keep: bool) -> str:
    if keep:
        return f"Done: booking {reference} stays on the airline's new times."
    return (
        f"Done: booking {reference} is cancelled. Whatever refund the airline allows comes back "
        "to you; I'll tell you when it's on its way."
    )


def change_not_answered(reference: str, error: dict[str, Any]) -> str:
    message = str(error.get("message") or "")
    return f"I couldn't record your answer for {reference}: {message} Send 'help' for options."


def sms_stopped(references: list[str]) -> str:
    if not references:
        return "You have no bookings with me, so there are no text messages to stop."
    return (
        "OK: no more text messages about "
        + ", ".join(references)
        + ". You'll still hear from me here and by email."
    )
