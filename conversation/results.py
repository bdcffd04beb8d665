"""What the assistant says while searching: the questions it asks and the flights it found.

Every date is written as a traveller reads it ("Fri 18 Dec") and every place by its city, never as
an ISO date or a bare code; the list of flights says the route, the dates, who travels and the
cabin, so a traveller can see the search was the one they meant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from conversation import replyids
from conversation.replyids import Action
from integrations import places
from integrations.ports.messaging import (
    Button,
    ButtonsMessage,
    ListMessage,
    ListRow,
    ListSection,
    OutboundMessage,
    TextMessage,
)

EXAMPLE = "Flight from Lagos to Abuja on Friday"
TIME_WINDOWS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 21), "night": (21, 29)}
CABIN_WORDS = {"premium_economy": "Premium economy", "business": "Business", "first": "First"}
PAGE = 10
# A search this far ahead that finds nothing most likely predates the airlines' timetables.
FAR_AHEAD_DAYS = 300


def day(value: date | str) -> str:
    """'Fri 18 Dec'; with the year when it is not this one's or next's."""
    when = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{when:%a} {when.day} {when:%b}"


def day_with_year(value: date) -> str:
    return f"{day(value)} {value.year}"


def place_name(code: str) -> str:
    metro = places.METRO_AREAS.get(code)
    if metro is not None:
        return metro[0]
    airport = places.airports().get(code)
    return airport.city if airport is not None else code


def travellers(wanted: dict[str, Any]) -> str:
    adults = int(wanted.get("adults") or 1)
    children = int(wanted.get("children") or 0)
    infants = int(wanted.get("infants") or 0)
    parts = [f"{adults} adult{'s' if adults != 1 else ''}"]
    if children:
        ages = wanted.get("child_ages") or []
        aged = f" (aged {' and '.join(str(a) for a in ages)})" if ages else ""
        parts.append(f"{children} {'child' if children == 1 else 'children'}{aged}")
    if infants:
        parts.append(f"{infants} infant{'s' if infants != 1 else ''}")
    return ", ".join(parts)


def trip_line(wanted: dict[str, Any]) -> str:
    """'Lagos → Abuja, Fri 18 Dec, back Sun 27 Dec · 2 adults · Business'."""
    route = f"{wanted.get('origin_name') or place_name(wanted['origin'])} → " + (
        wanted.get("destination_name") or place_name(wanted["destination"])
    )
    when = day(wanted["departure_date"])
    if wanted.get("return_date"):
        when += f", back {day(wanted['return_date'])}"
    if wanted.get("time_of_day"):
        when += f", {wanted['time_of_day']} flights"
    line = f"{route}, {when} · {travellers(wanted)}"
    cabin = CABIN_WORDS.get(str(wanted.get("cabin") or ""))
    return f"{line} · {cabin}" if cabin else line


# --- Questions --------------------------------------------------------------------------------


def ask(missing: str, wanted: dict[str, Any]) -> str:
    if missing == "route":
        return "Where are you flying from and to? e.g. " + EXAMPLE
    if missing == "origin":
        to = wanted.get("destination_name")
        return f"Where are you flying to {to} from?" if to else "Where are you flying from?"
    if missing == "destination":
        start = wanted.get("origin_name")
        return f"Where are you flying to from {start}?" if start else "Where are you flying to?"
    if missing == "departure_date":
        return "What date do you want to fly? e.g. 'tomorrow', 'Friday' or '15 Dec'."
    return "When are you coming back? e.g. 'Sunday' or '3 Jan'."


def did_you_mean(name: str) -> OutboundMessage:
    return ButtonsMessage(
        body=f"Did you mean {name}?",
        buttons=(
            Button(replyids.plain(Action.YES), "Yes"),
            Button(replyids.plain(Action.NO), "No"),
        ),
    )


def which_then(end: str) -> str:
    return f"Which city are you flying {'from' if end == 'origin' else 'to'}?"


def choose_airport(said: str, codes: Sequence[str], *, has_airport: bool) -> OutboundMessage:
    names = [place_name(code) for code in codes]
    if has_airport:
        body = f"Which {said} do you mean: {' or '.join(names)}?"
    elif len(names) == 1:
        body = f"{said} has no airport; the nearest is {names[0]}. Fly there?"
    else:
        body = f"{said} has no airport; the nearest are {' and '.join(names)}. Which one?"
    return ButtonsMessage(
        body=body,
        buttons=tuple(Button(replyids.airport(c), n) for c, n in zip(codes, names, strict=True)),
    )


def unknown_place(word: str, end: str) -> str:
    return (
        f"I don't know an airport called '{word}'. Which city are you flying "
        f"{'from' if end == 'origin' else 'to'}? The city's name or its airport works."
    )


def date_passed(when: date) -> str:
    return f"{day_with_year(when)} has already passed. What date do you want to fly?"


def return_before_departure(departure: str) -> str:
    return f"The return can't be before the flight out on {day(departure)}. When are you back?"


def search_failed(code: str | None, field: str | None, message: str) -> str:
    """The API's refusal in the traveller's words: no codes, fields or ISO dates."""
    if code in ("UPSTREAM_UNAVAILABLE", "UPSTREAM_ERROR"):
        return "The airlines aren't answering right now. Please try again in a minute."
    if code != "BAD_USER_INPUT":
        return "I couldn't search just now. Please try again."
    where = field or ""
    if where.endswith("departureDate"):
        if "past" in message:
            return "That date has already passed. What date do you want to fly?"
        reach = re.search(r"at most (\d+) days", message)
        horizon = f" (about {int(reach.group(1)) // 30} months)" if reach else ""
        return (
            f"That date is further ahead than airlines sell{horizon}. Please pick an earlier one."
        )
    if where.endswith(("origin", "destination")):
        return "I can't search flights for that airport. Please try the nearest big city."
    if where.startswith("passengers"):
        return (
            "That's more travellers than one booking takes: at most 9, and no more babies than "
            "adults (each sits on an adult's lap)."
        )
    return "I couldn't search that. Please check the places and the date and send it again."


def no_flights(wanted: dict[str, Any], today: date) -> str:
    departure = date.fromisoformat(wanted["departure_date"])
    route = f"{place_name(wanted['origin'])} to {place_name(wanted['destination'])}"
    if (departure - today).days > FAR_AHEAD_DAYS:
        return (
            f"I found no flights from {route} on {day(departure)} yet: that's far ahead, and the "
            "airlines may not have loaded that schedule yet. Try an earlier date, or ask again in "
            "a few weeks."
        )
    return (
        f"I couldn't find flights from {route} on {day(departure)}. Try another date, e.g. "
        "'the day after'."
    )


# --- Flights found ----------------------------------------------------------------------------


def departure_of(offer: dict[str, Any], leg: int = 0) -> datetime:
    return datetime.fromisoformat(offer["slices"][leg]["segments"][0]["departingAt"])


def fits(offer: dict[str, Any], time_of_day: str | None) -> bool:
    if not time_of_day or time_of_day not in TIME_WINDOWS:
        return True
    start, end = TIME_WINDOWS[time_of_day]
    hour = departure_of(offer).hour
    return start <= hour < end or start <= hour + 24 < end


def duration(offer: dict[str, Any]) -> int:
    return sum(int(s["durationMinutes"]) for s in offer["slices"])


def _hours(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours}h{rest:02d}"


def _stops(stops: int) -> str:
    return "nonstop" if stops == 0 else f"{stops} stop" + ("s" if stops > 1 else "")


def option(label: str, offer: dict[str, Any]) -> dict[str, Any]:
    """An offer as the session keeps it and the list shows it; a return shows both legs."""
    first = offer["slices"][0]
    departure = departure_of(offer)
    legs: list[dict[str, Any]] = []
    for index, leg in enumerate(offer["slices"]):
        leaves = departure_of(offer, index)
        arrives = datetime.fromisoformat(leg["segments"][-1]["arrivingAt"])
        legs.append(
            {
                "departs": leaves.isoformat(),
                "arrives": arrives.isoformat(),
                "minutes": int(leg["durationMinutes"]),
                "stops": int(leg["stops"]),
                "from": leg["segments"][0]["origin"].get("cityName") or "",
                "to": leg["segments"][-1]["destination"].get("cityName") or "",
            }
        )
    if len(legs) == 2:
        back = datetime.fromisoformat(legs[1]["departs"])
        description = (
            f"{offer['owner']['name']} · {departure:%H:%M} {_hours(legs[0]['minutes'])} · back "
            f"{back.day} {back:%b} {back:%H:%M} {_hours(legs[1]['minutes'])}"
        )
    else:
        description = (
            f"{offer['owner']['name']} · {departure:%a} {departure.day} {departure:%b} "
            f"{departure:%H:%M} · {_stops(first['stops'])} · "
            f"{_hours(int(first['durationMinutes']))}"
        )
    return {
        "id": offer["id"],
        "group": label,
        "title": f"{offer['price']['formatted']} {departure:%H:%M}",
        "description": description,
        "price": offer["price"]["formatted"],
        "airline_total": offer["totalAmount"]["amount"],
        "airline": offer["owner"]["name"],
        "departs": departure.isoformat(),
        "legs": legs,
    }


def pick(
    offers: Sequence[dict[str, Any]], time_of_day: str | None, limit: int = PAGE
) -> tuple[list[dict[str, Any]], str | None]:
    """The cheapest and the fastest of the flights that fit the time asked for (offers come
    cheapest first), and a note when that time leaves few flights or none."""
    fitting = [o for o in offers if fits(o, time_of_day)]
    note = None
    if time_of_day and not fitting:
        note = f"There are no {time_of_day} flights that day; here are the others."
        fitting = list(offers)
        time_of_day = None
    elif time_of_day and len(fitting) < 3:
        count = len(fitting)
        note = f"Only {count} {time_of_day} flight{'s' if count != 1 else ''} that day."
    cheap = fitting[: limit // 2]
    taken = {o["id"] for o in cheap}
    quickest = min(fitting, key=duration) if fitting else None
    rest = sorted((o for o in fitting if o["id"] not in taken), key=duration)
    label = "Fastest" if quickest is not None and quickest["id"] not in taken else "Next fastest"
    chosen = [("Cheapest", o) for o in cheap] + [(label, o) for o in rest[: limit - len(cheap)]]
    return [option(group, o) for group, o in chosen], note


def sorted_page(
    offers: Sequence[dict[str, Any]], time_of_day: str | None, how: str, skip: set[str]
) -> list[dict[str, Any]]:
    """A page of other flights: the next cheapest, or ordered as asked."""
    fitting = [o for o in offers if fits(o, time_of_day) and o["id"] not in skip]
    titles = {
        "more": "More flights",
        "cheaper": "Cheapest",
        "earlier": "Earliest",
        "later": "Latest",
        "faster": "Fastest",
    }
    if how == "earlier":
        fitting.sort(key=departure_of)
    elif how == "later":
        fitting.sort(key=departure_of, reverse=True)
    elif how == "faster":
        fitting.sort(key=duration)
    return [option(titles[how], o) for o in fitting[:PAGE]]


def options_message(
    options: Sequence[dict[str, Any]],
    wanted: dict[str, Any],
    *,
    first_number: int = 1,
    note: str | None = None,
    lead: str | None = None,
) -> OutboundMessage:
    sections: dict[str, list[ListRow]] = {}
    for number, row in enumerate(options, start=first_number):
        sections.setdefault(row["group"], []).append(
            ListRow(
                id=replyids.offer(number),
                title=f"{number}. {row['title']}",
                description=row["description"],
            )
        )
    lines = [line for line in (lead, trip_line(wanted), note) if line]
    lines.append("Tap to choose, or reply with a number. Reply MORE for more flights.")
    return ListMessage(
        body="\n".join(lines),
        button="See flights",
        sections=tuple(ListSection(title=k, rows=tuple(v)) for k, v in sections.items()),
    )


def chosen(row: dict[str, Any]) -> str:
    """The flight picked, every leg with its times and length."""
    lines = [f"Great choice: {row['airline']}, {row['price']}."]
    names = ("Out", "Back")
    for index, leg in enumerate(row.get("legs", ())):
        leaves = datetime.fromisoformat(leg["departs"])
        arrives = datetime.fromisoformat(leg["arrives"])
        lines.append(
            f"{names[index] if index < 2 else 'Then'}: {day(leaves.date())} {leaves:%H:%M} → "
            f"{arrives:%H:%M}, {_hours(leg['minutes'])}, {_stops(leg['stops'])}."
        )
    lines.append("Now the passenger details.")
    return "\n".join(lines)


def nothing_more() -> str:
    return "Those are all the flights I found for that day. Try another date for more."


def search_first() -> OutboundMessage:
    return TextMessage("Tell me where you're flying first, e.g. " + EXAMPLE + ".")
