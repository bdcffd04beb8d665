"""What the assistant says: every reply's wording and shape, kept apart from the flow."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from conversation.reading import Parsed, PassengerFields
from conversation.session import State
from integrations.whatsapp import (
    Button,
    ButtonsMessage,
    ListMessage,
    ListRow,
    ListSection,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)

EXAMPLE = "Flight from Lagos to Abuja on Friday"
SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on our side. Please try again in a moment, or type HELP."
)
UNSUPPORTED = "I can only read text messages and button taps for now."
STARTING_OVER = "No problem, let's start over."
CANCELLED = "Okay, I've cancelled that. Type a new search whenever you're ready."
NOTHING_TO_CANCEL = "There's nothing to cancel. Type a search like: " + EXAMPLE
NO_FLIGHTS = (
    "I couldn't find flights for that trip. Try another date, or fewer stops, e.g. "
    "'Lagos to Abuja next Monday'."
)
FARE_EXPIRED = "That fare has just expired. Here are fresh options:"
HOW_TO_EDIT = (
    "Tell me what to change, for example: 'email is jd@example.com', 'phone is 08031234567' "
    "or 'DOB is 15/01/1990'."
)
WHICH_BOOKING = "Which booking? Send 'status' and the reference, e.g. status SF7K2QXM."
FULL_NAME_PLEASE = "Please send the full name as on the passport: first name and surname."
TIME_WINDOWS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 21), "night": (21, 29)}
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


def which_place(name: str, candidates: Sequence[str]) -> str:
    return f"Which {name} do you mean: {', '.join(candidates)}? Reply with one of the codes."


def unknown_place(word: str) -> str:
    return f"I don't know an airport called '{word}'. Try the city name or its code (e.g. LOS)."


def missing_search_slot(wanted: dict[str, Any]) -> str | None:
    if not wanted.get("origin") and not wanted.get("destination"):
        return "Where are you flying from and to? e.g. " + EXAMPLE
    if not wanted.get("origin"):
        return f"Where are you flying to {wanted.get('destination_name', '')} from?"
    if not wanted.get("destination"):
        return f"Where are you flying to from {wanted.get('origin_name', '')}?"
    if not wanted.get("departure_date"):
        return "What date do you want to fly? e.g. 'tomorrow', 'Friday' or '15 Dec'."
    if wanted.get("trip") == "return" and not wanted.get("return_date"):
        return "When are you coming back?"
    return None


def search_failed(code: str | None, errors: Sequence[dict[str, Any]]) -> str:
    if code == "BAD_USER_INPUT":
        return f"{errors[0]['message']} Please adjust and send the search again."
    if code in ("UPSTREAM_UNAVAILABLE", "UPSTREAM_ERROR"):
        return "The airlines aren't answering right now. Please try again in a minute."
    return "I couldn't search just now. Please try again."


def _departure(offer: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(offer["slices"][0]["segments"][0]["departingAt"])


def _fits(offer: dict[str, Any], time_of_day: str | None) -> bool:
    if not time_of_day or time_of_day not in TIME_WINDOWS:
        return True
    start, end = TIME_WINDOWS[time_of_day]
    hour = _departure(offer).hour
    return start <= hour < end or start <= hour + 24 < end


def pick_options(
    cheapest: Sequence[dict[str, Any]],
    fastest: Sequence[dict[str, Any]],
    time_of_day: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The cheapest and the fastest, at most `limit` in all, as the session remembers them."""
    cheap = [o for o in cheapest if _fits(o, time_of_day)] or list(cheapest)
    quick = [o for o in fastest if _fits(o, time_of_day)] or list(fastest)
    chosen = [("Cheapest", o) for o in cheap[: limit // 2]]
    taken = {o["id"] for _, o in chosen}
    for offer in quick:
        if len(chosen) >= limit:
            break
        if offer["id"] not in taken:
            chosen.append(("Fastest", offer))
            taken.add(offer["id"])
    return [_option(label, offer) for label, offer in chosen]


def _option(label: str, offer: dict[str, Any]) -> dict[str, Any]:
    first = offer["slices"][0]
    departure = _departure(offer)
    stops = first["stops"]
    hours, minutes = divmod(sum(s["durationMinutes"] for s in offer["slices"]), 60)
    return {
        "id": offer["id"],
        "group": label,
        "title": f"{offer['price']['formatted']} {departure:%H:%M}",
        "description": (
            f"{offer['owner']['name']} · {first['segments'][0]['origin']['iataCode']} "
            f"{departure:%a %d %b %H:%M} · "
            f"{'nonstop' if stops == 0 else f'{stops} stop' + ('s' if stops > 1 else '')} · "
            f"{hours}h{minutes:02d}"
        ),
        "price": offer["price"]["formatted"],
        "airline_total": offer["totalAmount"]["amount"],
        "airline": offer["owner"]["name"],
        "departs": departure.isoformat(),
    }


def options_message(options: Sequence[dict[str, Any]], wanted: dict[str, Any]) -> OutboundMessage:
    sections: dict[str, list[ListRow]] = {}
    for number, option in enumerate(options, start=1):
        sections.setdefault(option["group"], []).append(
            ListRow(
                id=f"offer:{number}",
                title=f"{number}. {option['title']}",
                description=option["description"],
            )
        )
    route = f"{wanted.get('origin_name') or wanted['origin']} → " + (
        wanted.get("destination_name") or wanted["destination"]
    )
    return ListMessage(
        body=f"Flights {route}, {date.fromisoformat(wanted['departure_date']):%a %d %b}. "
        "Tap to choose, or reply with a number.",
        button="See flights",
        sections=tuple(ListSection(title=k, rows=tuple(v)) for k, v in sections.items()),
    )


def pick_a_number(count: int) -> str:
    return f"Please reply with a number from 1 to {count}."


def selected(option: dict[str, Any]) -> str:
    return f"Great choice: {option['airline']}, {option['price']}. Now the passenger details."


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
            Button(id="confirm", title="Confirm"),
            Button(id="edit", title="Edit"),
            Button(id="cancel", title="Cancel"),
        ),
    )


def price_changed_message(extensions: dict[str, Any]) -> OutboundMessage:
    return ButtonsMessage(
        body=(
            f"The airline's price has changed to {extensions.get('totalAmount')} "
            f"{extensions.get('currency', '')}. Book at the new price?"
        ),
        buttons=(Button(id="confirm", title="Confirm"), Button(id="cancel", title="Cancel")),
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


def pay_now(booking: dict[str, Any], payment: dict[str, Any]) -> str:
    deadline = ""
    if booking.get("payBy"):
        deadline = f" Pay by {datetime.fromisoformat(booking['payBy']):%a %d %b %H:%M} (UTC)."
    held = (
        f" The airline is holding your seat: reference {booking['airlineReference']}."
        if booking.get("airlineReference")
        else ""
    )
    return (
        f"Booking {booking['reference']} is reserved.{held}\n"
        f"Pay {payment['amount']['formatted']} securely here: {payment['authorizationUrl']}\n"
        f"I'll message you as soon as the airline confirms.{deadline}"
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


def booking_status(booking: dict[str, Any], zone: ZoneInfo) -> str:
    first = booking["slices"][0]
    departs = datetime.fromisoformat(first["segments"][0]["departingAt"])
    said = STATUS_WORDS.get(booking["status"], booking["status"])
    lines = [
        f"Booking {booking['reference']}: {said}.",
        f"{first['origin']['iataCode']} → {first['destination']['iataCode']}, "
        f"{first['segments'][0]['flightNumber']} on {departs:%a %d %b at %H:%M}.",
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
        f"{first['origin']['iataCode']} → {first['destination']['iataCode']}, "
        f"{first['segments'][0]['flightNumber']} on {departs:%a %d %b at %H:%M}.\n"
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
    return f"template {message.name} {list(message.body_parameters)}"
