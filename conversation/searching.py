"""A search kept across messages: what the traveller has said so far, the one question still
needed (with buttons where a tap answers it), the flights found, and the changes made to them.

Nothing understood is thrown away: a question about one place keeps the date, the travellers and
the other place, and an answer fills exactly the slot that was asked about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any

from conversation import results
from conversation.gateway import Execute
from conversation.reading import PlaceMatch, Slots
from conversation.session import Session, State
from integrations import places
from integrations.ports.messaging import OutboundMessage, TextMessage

SEARCH = """
query Search($input: FlightSearchInput!) {
  searchFlights(input: $input) { id offers(first: 40, sortBy: PRICE) { ...Option } }
}
fragment Option on FlightOffer {
  id
  totalAmount { amount currency }
  price { amount currency formatted }
  owner { iataCode name }
  slices {
    durationMinutes stops
    segments {
      departingAt arrivingAt flightNumber
      origin { iataCode cityName } destination { iataCode cityName }
    }
  }
}
"""
SEARCHED = """
query Searched($id: ID!) {
  flightSearch(id: $id) { id offers(first: 40, sortBy: PRICE) { ...Option } }
}
""" + SEARCH[SEARCH.index("fragment") :]

ENDS = ("origin", "destination")
COUNTS = ("adults", "children", "infants")
DETAILS = ("cabin", "time_of_day", "trip")


class SearchFlow:
    def __init__(
        self,
        *,
        execute: Execute,
        payment_currency: str,
        before_search: Callable[[], Awaitable[None]],
    ) -> None:
        self.execute = execute
        self.payment_currency = payment_currency
        self.before_search = before_search

    # --- What the traveller said ----------------------------------------------------------

    async def take(
        self, session: Session, slots: Slots, today: date, *, change: bool = False
    ) -> list[OutboundMessage]:
        """Add what a message says to the search, then ask what is missing or search."""
        if session.state not in (State.INITIAL, State.SEARCHING):
            # A whole new route starts afresh; anything else changes the search shown.
            new_route = slots.origin is not None and slots.destination is not None
            kept = {} if new_route and not change else dict(session.search)
            session.reset()
            session.search = kept
        session.pending = None
        wanted = session.search
        for end in ENDS:
            place = getattr(slots, end)
            if place is not None:
                self._place(session, end, place)
        self._dates(wanted, slots)
        self._travellers(wanted, slots)
        for name in DETAILS:
            value = getattr(slots, name)
            if value is not None:
                wanted[name] = value
        if slots.return_date is None and slots.trip == "one_way":
            wanted.pop("return_date", None)
        if slots.past_date is not None and slots.departure_date is None:
            session.move(State.SEARCHING)
            session.pending = {"ask": "date"}
            return [TextMessage(results.date_passed(slots.past_date))]
        if slots.unknown_places and not all(wanted.get(end) for end in ENDS):
            return self._unknown(session, slots.unknown_places[0])
        return await self.proceed(session, today)

    def _place(self, session: Session, end: str, place: PlaceMatch) -> None:
        wanted = session.search
        wanted.pop(f"{end}_guessed", None)
        wanted.pop(f"{end}_choices", None)
        if place.candidates:
            wanted.pop(end, None)
            wanted[f"{end}_choices"] = {"said": place.name, "codes": list(place.candidates)}
            return
        wanted[end] = place.code
        wanted[f"{end}_name"] = place.name
        if place.guessed:
            wanted[f"{end}_guessed"] = True

    def _dates(self, wanted: dict[str, Any], slots: Slots) -> None:
        if slots.departure_date is not None:
            wanted["departure_date"] = slots.departure_date.isoformat()
            back = wanted.get("return_date")
            if back and back < wanted["departure_date"] and slots.return_date is None:
                wanted.pop("return_date")  # "make it saturday" moved the trip past the return
        if slots.return_date is not None:
            wanted["return_date"] = slots.return_date.isoformat()
            wanted["trip"] = "return"

    def _travellers(self, wanted: dict[str, Any], slots: Slots) -> None:
        for name in COUNTS:
            value = getattr(slots, name)
            if value is not None:
                wanted[name] = value
        if slots.child_ages:
            wanted["child_ages"] = list(slots.child_ages)
        elif slots.children is not None and len(wanted.get("child_ages", ())) != slots.children:
            wanted.pop("child_ages", None)

    def _unknown(self, session: Session, word: str) -> list[OutboundMessage]:
        wanted = session.search
        end = "destination" if wanted.get("origin") else "origin"
        session.move(State.SEARCHING)
        nearest = places.TOWNS_WITHOUT_AIRPORT.get(" ".join(word.lower().split()))
        if nearest:
            session.pending = {"ask": "airport", "end": end, "codes": list(nearest)}
            return [results.choose_airport(word.title(), nearest, has_airport=False)]
        session.pending = {"ask": end}
        return [TextMessage(results.unknown_place(word, end))]

    # --- The next question, or the search -------------------------------------------------

    async def proceed(self, session: Session, today: date) -> list[OutboundMessage]:
        wanted = session.search
        for end in ENDS:
            choices = wanted.get(f"{end}_choices")
            if choices:
                session.move(State.SEARCHING)
                session.pending = {"ask": "airport", "end": end, "codes": choices["codes"]}
                return [results.choose_airport(choices["said"], choices["codes"], has_airport=True)]
        for end in ENDS:
            if wanted.get(f"{end}_guessed"):
                session.move(State.SEARCHING)
                session.pending = {"ask": "place", "end": end}
                return [results.did_you_mean(wanted[f"{end}_name"])]
        missing = self._missing(wanted)
        if missing is not None:
            session.move(State.SEARCHING)
            session.pending = {"ask": "origin" if missing == "route" else missing}
            return [TextMessage(results.ask(missing, wanted))]
        if wanted.get("return_date") and wanted["return_date"] < wanted["departure_date"]:
            wanted.pop("return_date")
            session.move(State.SEARCHING)
            session.pending = {"ask": "return_date"}
            return [TextMessage(results.return_before_departure(wanted["departure_date"]))]
        return await self.run(session, today)

    @staticmethod
    def _missing(wanted: Mapping[str, Any]) -> str | None:
        if not wanted.get("origin") and not wanted.get("destination"):
            return "route"
        for name in ("origin", "destination", "departure_date"):
            if not wanted.get(name):
                return name
        if wanted.get("trip") == "return" and not wanted.get("return_date"):
            return "return_date"
        return None

    async def answer(self, session: Session, yes: bool, today: date) -> list[OutboundMessage]:
        """ "Did you mean …?" answered."""
        end = (session.pending or {}).get("end", "origin")
        wanted = session.search
        session.pending = None
        if yes:
            wanted.pop(f"{end}_guessed", None)
            return await self.proceed(session, today)
        for key in (end, f"{end}_name", f"{end}_guessed"):
            wanted.pop(key, None)
        session.pending = {"ask": end}
        return [TextMessage(results.which_then(end))]

    async def choose(self, session: Session, code: str, today: date) -> list[OutboundMessage]:
        """An airport tapped for a town without one, or for a name with several."""
        pending = session.pending or {}
        end = pending.get("end", "destination")
        if code not in pending.get("codes", ()):
            return await self.proceed(session, today)
        session.pending = None
        session.search.pop(f"{end}_choices", None)
        self._place(session, end, PlaceMatch(code, results.place_name(code)))
        return await self.proceed(session, today)

    # --- Searching and showing ------------------------------------------------------------

    def _input(self, wanted: Mapping[str, Any]) -> dict[str, Any]:
        legs = [
            {
                "origin": wanted["origin"],
                "destination": wanted["destination"],
                "departureDate": wanted["departure_date"],
            }
        ]
        if wanted.get("return_date"):
            legs.append(
                {
                    "origin": wanted["destination"],
                    "destination": wanted["origin"],
                    "departureDate": wanted["return_date"],
                }
            )
        passengers: dict[str, Any] = {
            "adults": wanted.get("adults") or 1,
            "children": wanted.get("children") or 0,
            "infants": wanted.get("infants") or 0,
        }
        ages = wanted.get("child_ages") or []
        if ages and len(ages) == passengers["children"] and all(2 <= a <= 17 for a in ages):
            passengers["childAges"] = ages
        return {
            "slices": legs,
            "passengers": passengers,
            "cabinClass": str(wanted.get("cabin") or "economy").upper(),
            "currency": self.payment_currency,
        }

    async def run(self, session: Session, today: date) -> list[OutboundMessage]:
        wanted = session.search
        await self.before_search()
        outcome = await self.execute(SEARCH, {"input": self._input(wanted)}, wa_id=session.wa_id)
        if outcome.errors:
            session.move(State.SEARCHING)
            error = outcome.errors[0]
            return [
                TextMessage(
                    results.search_failed(
                        outcome.error_code, outcome.error_field, str(error.get("message", ""))
                    )
                )
            ]
        assert outcome.data is not None
        found = outcome.data["searchFlights"]
        options, note = results.pick(found["offers"], wanted.get("time_of_day"))
        if not options:
            session.move(State.SEARCHING)
            return [TextMessage(results.no_flights(wanted, today))]
        session.options = options
        session.search_id = found["id"]
        session.shown = len(options)
        session.move(State.VIEWING_RESULTS)
        return [results.options_message(options, wanted, note=note)]

    async def browse(self, session: Session, how: str, today: date) -> list[OutboundMessage]:
        """More flights of the search shown: the next ones, or reordered as asked."""
        if session.state != State.VIEWING_RESULTS or not session.search_id:
            return [results.search_first()]
        outcome = await self.execute(SEARCHED, {"id": session.search_id}, wa_id=session.wa_id)
        found = (outcome.data or {}).get("flightSearch")
        if outcome.errors or not found:
            return await self.run(session, today)  # the search expired: search again
        wanted = session.search
        if how == "more":
            page = results.sorted_page(
                found["offers"], wanted.get("time_of_day"), how, {o["id"] for o in session.options}
            )
            if not page:
                return [TextMessage(results.nothing_more())]
            first = len(session.options) + 1
            session.options = [*session.options, *page]
            session.shown = len(session.options)
            return [results.options_message(page, wanted, first_number=first)]
        page = results.sorted_page(found["offers"], wanted.get("time_of_day"), how, set())
        if not page:
            return [TextMessage(results.nothing_more())]
        session.options = page
        session.shown = len(page)
        lead = {
            "cheaper": f"Cheapest first: the lowest fare is {page[0]['price']}.",
            "earlier": "Earliest flights first.",
            "later": "Latest flights first.",
            "faster": "Fastest flights first.",
        }[how]
        return [results.options_message(page, wanted, lead=lead)]
