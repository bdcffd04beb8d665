"""The WhatsApp booking assistant: reads a message, moves the conversation, answers.

It is a client of the GraphQL schema: every search, booking and payment goes through the
`Execute` callable the composition root hands it, so the API's validation, access rules,
idempotency and errors hold on WhatsApp too. Failures become plain-language replies.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from conversation import replies
from conversation.reading import Intent, Parsed, PassengerFields, Slots, parse
from conversation.session import EXPECTING, Session, Sessions, State
from integrations.cache import Cache
from integrations.store import ConversationRepository
from integrations.whatsapp import (
    InboundMessage,
    OutboundMessage,
    TextMessage,
    WhatsAppSender,
)

log = logging.getLogger("sureflights.conversation")

DEFAULT_TIME_ZONE = "Africa/Lagos"
# How long a booking made on WhatsApp remembers the number it came from, for notifications.
CONTACT_TTL_SECONDS = 400 * 86_400
MAX_OPTIONS = 10
# Free-form messages may be sent only this long after the traveller's last message.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
TITLES_BY_GENDER = {"m": "mr", "f": "ms"}
GENDER_BY_TITLE = {"mr": "m", "mrs": "f", "ms": "f", "miss": "f"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A GraphQL response: `errors` as clients see them (message, extensions.code, ...)."""

    data: dict[str, Any] | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_code(self) -> str | None:
        if not self.errors:
            return None
        code: str | None = (self.errors[0].get("extensions") or {}).get("code")
        return code

    @property
    def error_field(self) -> str | None:
        if not self.errors:
            return None
        value: str | None = (self.errors[0].get("extensions") or {}).get("field")
        return value


class Execute(Protocol):
    async def __call__(
        self,
        document: str,
        variables: Mapping[str, Any],
        *,
        wa_id: str,
        access_token: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome: ...


SEARCH = """
query Search($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    id
    cheapest: offers(first: 20, sortBy: PRICE) { ...Option }
    fastest: offers(first: 10, sortBy: DURATION) { ...Option }
  }
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
CREATE_BOOKING = """
mutation Book($input: CreateBookingInput!) {
  createBooking(input: $input) {
    accessToken
    booking { reference status airlineReference payBy totalAmount { formatted } }
  }
}
"""
START_PAYMENT = """
mutation Pay($ref: ID!) {
  initializePayment(bookingReference: $ref) { reference authorizationUrl amount { formatted } }
}
"""
BOOKING_STATUS = """
query Status($ref: ID!) {
  booking(reference: $ref) {
    reference status airlineReference totalAmount { formatted }
    slices { origin { iataCode } destination { iataCode } segments { departingAt flightNumber } }
    payment { status authorizationUrl }
  }
}
"""
CANCEL_BOOKING = "mutation Cancel($ref: ID!) { cancelBooking(reference: $ref) { status } }"


def contact_key(booking_reference: str) -> str:
    return f"wa:booking:{booking_reference}"


class ConversationHandler:
    def __init__(
        self,
        *,
        execute: Execute,
        sessions: Sessions,
        sender: WhatsAppSender,
        conversations: ConversationRepository,
        contacts: Cache,
        payment_currency: str = "NGN",
        time_zone: str = DEFAULT_TIME_ZONE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.execute = execute
        self.sessions = sessions
        self.sender = sender
        self.conversations = conversations
        self.contacts = contacts
        self.payment_currency = payment_currency
        self.zone = ZoneInfo(time_zone)
        self.clock = clock
        # One message at a time per traveller, so two quick messages cannot race on the session.
        self._turns: dict[str, asyncio.Lock] = {}

    # --- The entry point ---------------------------------------------------------------------

    async def handle(self, message: InboundMessage) -> None:
        """Answer one inbound message; never raises, never leaves the traveller without a reply."""
        turn = self._turns.setdefault(message.wa_id, asyncio.Lock())
        try:
            async with turn:
                await self._handle(message)
        finally:
            if not turn.locked():
                self._turns.pop(message.wa_id, None)

    async def _handle(self, message: InboundMessage) -> None:
        now = self.clock()
        try:
            await self._record_inbound(message, now)
            await self._mark_read(message)
            session = await self.sessions.load(message.wa_id)
            known = session.booking_reference, session.state
            session.last_inbound_at = now.isoformat()
            try:
                answers = await self.respond(session, message)
            except Exception:
                log.exception("conversation step failed", extra={"state": session.state})
                answers = [TextMessage(replies.SOMETHING_WENT_WRONG)]
            await self.sessions.save(session)
        except Exception:
            # The stores failed; the traveller still hears something rather than nothing.
            log.exception("conversation state unavailable")
            await self.deliver(message.wa_id, [TextMessage(replies.SOMETHING_WENT_WRONG)])
            return
        await self.deliver(message.wa_id, answers)
        if (session.booking_reference, session.state) != known:
            await self._remember(session)

    async def _mark_read(self, message: InboundMessage) -> None:
        """Blue ticks: the traveller sees the message was read while the answer is prepared."""
        try:
            await self.sender.mark_read(message.message_id)
        except Exception:  # a missing read receipt is cosmetic; the answer still goes out
            log.warning("read receipt not sent", exc_info=True)

    async def _record_inbound(self, message: InboundMessage, now: datetime) -> None:
        await self.conversations.append_messages(
            message.wa_id,
            [
                {
                    "direction": "in",
                    "message_id": message.message_id,
                    "kind": message.kind,
                    "body": message.text,
                    "reply_id": message.reply_id,
                    "at": now.isoformat(),
                }
            ],
            now=now,
        )

    async def deliver(self, wa_id: str, answers: Sequence[OutboundMessage]) -> None:
        sent: list[dict[str, Any]] = []
        now = self.clock()
        for answer in answers:
            try:
                ids = await self.sender.send(wa_id, answer)
            except Exception:
                log.exception("reply not delivered")
                ids = []
            sent.append(
                {
                    "direction": "out",
                    "message_ids": ids,
                    "kind": type(answer).__name__,
                    "body": replies.plain_text(answer),
                    "at": now.isoformat(),
                }
            )
        try:
            await self.conversations.append_messages(wa_id, sent, now=now)
        except Exception:  # the replies went out; only their record is missing
            log.exception("outgoing messages not recorded")

    async def _remember(self, session: Session) -> None:
        """Keep the state, and a new booking with its access token, on the conversation."""
        record = await self.conversations.get(session.wa_id)
        if record is None:
            return
        references = list(record.booking_references)
        if session.booking_reference and session.booking_reference not in references:
            references.append(session.booking_reference)
        tokens = dict(record.data.get("tokens", {}))
        if session.booking_reference and session.access_token:
            tokens[session.booking_reference] = session.access_token
        await self.conversations.save(
            type(record)(
                phone=record.phone,
                state=session.state.value,
                created_at=record.created_at,
                updated_at=self.clock(),
                data={**record.data, "tokens": tokens},
                messages=record.messages,
                booking_references=references,
            )
        )

    # --- Telling the traveller, unprompted ------------------------------------------------------

    async def notify_booking(self, wa_id: str, reference: str, status: str) -> None:
        """Message the traveller when their booking is confirmed or refunded."""
        session = await self.sessions.load(wa_id)
        token = await self._token_for(session, reference)
        # The session lives 24 hours from the traveller's last message, like Meta's window.
        last_inbound = session.last_inbound_at
        window_open = (
            last_inbound is not None
            and self.clock() - datetime.fromisoformat(last_inbound) < CUSTOMER_SERVICE_WINDOW
        )
        booking: dict[str, Any] | None = None
        if token is not None:
            outcome = await self.execute(
                BOOKING_STATUS, {"ref": reference}, wa_id=wa_id, access_token=token
            )
            booking = (outcome.data or {}).get("booking")
        answer: OutboundMessage
        if status == "CONFIRMED" and booking is not None:
            answer = (
                TextMessage(replies.confirmed(booking, self.zone))
                if window_open
                else replies.confirmation_template(booking)
            )
        elif status in ("REFUNDED", "FAILED"):
            answer = (
                TextMessage(replies.refunded(reference))
                if window_open
                else replies.refund_template(reference)
            )
        else:
            return
        if session.booking_reference == reference:
            session.move(State.CONFIRMED if status == "CONFIRMED" else State.INITIAL)
            if status != "CONFIRMED":
                session.reset()
            await self.sessions.save(session)
        await self.deliver(wa_id, [answer])

    # --- Reading the message ---------------------------------------------------------------

    async def respond(self, session: Session, message: InboundMessage) -> list[OutboundMessage]:
        today = self.clock().astimezone(self.zone).date()
        if message.kind == "unsupported":
            return [TextMessage(replies.UNSUPPORTED), replies.help_message()]
        if message.kind in ("button_reply", "list_reply") and message.reply_id:
            tapped = await self._tapped(session, message.reply_id)
            if tapped is not None:
                return tapped
        text = (message.text or "").strip()
        parsed = parse(text, today=today, expecting=EXPECTING[session.state])
        return await self._dispatch(session, parsed, today)

    async def _tapped(self, session: Session, reply_id: str) -> list[OutboundMessage] | None:
        if reply_id.startswith("offer:") and session.state == State.VIEWING_RESULTS:
            return await self._select(session, int(reply_id.split(":", 1)[1]))
        if reply_id == "confirm" and session.state == State.REVIEWING_BOOKING:
            return await self._book(session)
        if reply_id == "edit" and session.state == State.REVIEWING_BOOKING:
            return [TextMessage(replies.HOW_TO_EDIT)]
        if reply_id == "cancel":
            return await self._cancel(session)
        return None

    async def _dispatch(
        self, session: Session, parsed: Parsed, today: date
    ) -> list[OutboundMessage]:
        intent = parsed.intent
        if intent is Intent.RESTART:
            session.reset()
            return [TextMessage(replies.STARTING_OVER), replies.help_message()]
        if intent is Intent.CANCEL:
            return await self._cancel(session)
        if intent is Intent.HELP:
            return [replies.help_message()]
        if intent is Intent.GREETING:
            return [TextMessage(replies.greeting(session.state)), replies.help_message()]
        if intent is Intent.STATUS:
            return await self._status(session, parsed.slots.booking_reference)
        if intent is Intent.SEARCH:
            return await self._search(session, parsed.slots, today)
        state = session.state
        if state == State.VIEWING_RESULTS and intent is Intent.SELECT:
            return await self._select(session, parsed.slots.selection or 0)
        if state == State.COLLECTING_PASSENGERS and intent in (
            Intent.PASSENGER_DETAILS,
            Intent.EDIT,
            Intent.UNKNOWN,
        ):
            return self._collect(session, parsed)
        if state == State.REVIEWING_BOOKING:
            if intent is Intent.CONFIRM:
                return await self._book(session)
            if intent in (Intent.EDIT, Intent.PASSENGER_DETAILS):
                return self._edit(session, parsed)
        if state == State.SEARCHING and intent is Intent.UNKNOWN and parsed.slots != Slots():
            return await self._search(session, parsed.slots, today)
        if state == State.AWAITING_PAYMENT and session.booking_reference:
            return await self._status(session, session.booking_reference)
        return [TextMessage(replies.not_understood(state)), replies.help_message()]

    # --- Searching -------------------------------------------------------------------------

    async def _search(self, session: Session, slots: Slots, today: date) -> list[OutboundMessage]:
        if session.state not in (State.INITIAL, State.SEARCHING):
            # A new route starts afresh; "tomorrow" or "business class" refines the last search.
            kept = {} if (slots.origin or slots.destination) else dict(session.search)
            session.reset()
            session.search = kept
        wanted = session.search
        for name in ("origin", "destination"):
            place = getattr(slots, name)
            if place is not None:
                if place.candidates:
                    session.move(State.SEARCHING)
                    return [TextMessage(replies.which_place(place.name, place.candidates))]
                wanted[name] = place.code
                wanted[f"{name}_name"] = place.name
        for name in ("departure_date", "return_date"):
            value = getattr(slots, name)
            if value is not None:
                wanted[name] = value.isoformat()
        for name in ("adults", "children", "infants", "cabin", "time_of_day", "trip"):
            value = getattr(slots, name)
            if value is not None:
                wanted[name] = value
        if slots.unknown_places and not (slots.origin and slots.destination):
            session.move(State.SEARCHING)
            return [TextMessage(replies.unknown_place(slots.unknown_places[0]))]
        missing = replies.missing_search_slot(wanted)
        if missing is not None:
            session.move(State.SEARCHING)
            return [TextMessage(missing)]
        return await self._run_search(session)

    async def _run_search(self, session: Session) -> list[OutboundMessage]:
        wanted = session.search
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
        search_input = {
            "slices": legs,
            "passengers": {
                "adults": wanted.get("adults") or 1,
                "children": wanted.get("children") or 0,
                "infants": wanted.get("infants") or 0,
            },
            "cabinClass": str(wanted.get("cabin") or "economy").upper(),
            "currency": self.payment_currency,
        }
        outcome = await self.execute(SEARCH, {"input": search_input}, wa_id=session.wa_id)
        if outcome.errors:
            session.move(State.SEARCHING)
            return [TextMessage(replies.search_failed(outcome.error_code, outcome.errors))]
        assert outcome.data is not None
        found = outcome.data["searchFlights"]
        options = replies.pick_options(
            found["cheapest"], found["fastest"], wanted.get("time_of_day"), MAX_OPTIONS
        )
        if not options:
            session.move(State.SEARCHING)
            return [TextMessage(replies.NO_FLIGHTS)]
        session.options = options
        session.move(State.VIEWING_RESULTS)
        return [replies.options_message(options, wanted)]

    # --- Choosing and passengers -------------------------------------------------------------

    async def _select(self, session: Session, number: int) -> list[OutboundMessage]:
        if not 1 <= number <= len(session.options):
            return [TextMessage(replies.pick_a_number(len(session.options)))]
        session.selected = session.options[number - 1]
        session.move(State.SELECTED_FLIGHT)
        wanted = session.search
        kinds = (
            ["adult"] * int(wanted.get("adults") or 1)
            + ["child"] * int(wanted.get("children") or 0)
            + ["infant_without_seat"] * int(wanted.get("infants") or 0)
        )
        session.passengers = [{"type": kind} for kind in kinds]
        session.move(State.COLLECTING_PASSENGERS)
        return [
            TextMessage(replies.selected(session.selected)),
            TextMessage(replies.ask_passenger(session.passengers, 0, missing=None)),
        ]

    def _current(self, session: Session) -> int | None:
        for index, passenger in enumerate(session.passengers):
            if replies.missing_fields(passenger, lead=index == 0):
                return index
        return None

    def _collect(self, session: Session, parsed: Parsed) -> list[OutboundMessage]:
        index = self._current(session)
        if index is None:
            return self._review(session)
        passenger = session.passengers[index]
        fields = parsed.slots.passenger
        if fields is None and session.asking and parsed.text:
            fields = replies.single_answer(session.asking, parsed)
        if fields is None:
            missing = replies.missing_fields(passenger, lead=index == 0)
            return [TextMessage(replies.ask_passenger(session.passengers, index, missing))]
        problem = _merge(passenger, fields)
        if problem:
            return [TextMessage(problem)]
        if index > 0:
            lead = session.passengers[0]
            passenger.setdefault("email", lead.get("email"))
            passenger.setdefault("phone", lead.get("phone"))
        missing = replies.missing_fields(passenger, lead=index == 0)
        if missing:
            session.asking = missing[0]
            return [TextMessage(replies.ask_passenger(session.passengers, index, missing))]
        session.asking = None
        following = self._current(session)
        if following is not None:
            return [TextMessage(replies.ask_passenger(session.passengers, following, None))]
        return self._review(session)

    def _review(self, session: Session) -> list[OutboundMessage]:
        session.move(State.REVIEWING_BOOKING)
        assert session.selected is not None
        session.expected_total = session.selected["airline_total"]
        return [replies.review_message(session.selected, session.passengers)]

    def _edit(self, session: Session, parsed: Parsed) -> list[OutboundMessage]:
        fields = parsed.slots.passenger
        if fields is None:
            return [TextMessage(replies.HOW_TO_EDIT)]
        problem = _merge(session.passengers[0], fields)
        if problem:
            return [TextMessage(problem)]
        return self._review(session)

    # --- Booking and paying ---------------------------------------------------------------

    async def _book(self, session: Session) -> list[OutboundMessage]:
        assert session.selected is not None
        passengers = [replies.passenger_input(p) for p in session.passengers]
        booking_input = {
            "offerId": session.selected["id"],
            "passengers": passengers,
            "currency": self.payment_currency,
            "expectedTotalAmount": session.expected_total,
        }
        # The same traveller confirming the same thing twice gets one booking.
        key = "wa-" + hashlib.sha256(repr((session.wa_id, booking_input)).encode()).hexdigest()[:40]
        outcome = await self.execute(
            CREATE_BOOKING, {"input": booking_input}, wa_id=session.wa_id, idempotency_key=key
        )
        if outcome.errors:
            return await self._booking_refused(session, outcome)
        assert outcome.data is not None
        created = outcome.data["createBooking"]
        session.booking_reference = created["booking"]["reference"]
        session.access_token = created["accessToken"]
        await self.contacts.set(
            contact_key(created["booking"]["reference"]),
            session.wa_id.encode(),
            CONTACT_TTL_SECONDS,
        )
        paying = await self.execute(
            START_PAYMENT,
            {"ref": session.booking_reference},
            wa_id=session.wa_id,
            access_token=session.access_token,
            idempotency_key=f"{key}-pay",
        )
        if paying.errors or paying.data is None:
            session.move(State.AWAITING_PAYMENT)
            return [TextMessage(replies.payment_link_failed(session.booking_reference))]
        payment = paying.data["initializePayment"]
        session.payment_reference = payment["reference"]
        session.move(State.AWAITING_PAYMENT)
        return [TextMessage(replies.pay_now(created["booking"], payment))]

    async def _booking_refused(self, session: Session, outcome: Outcome) -> list[OutboundMessage]:
        code = outcome.error_code
        if code == "PRICE_CHANGED":
            extensions = outcome.errors[0].get("extensions") or {}
            session.expected_total = extensions.get("totalAmount")
            return [replies.price_changed_message(extensions)]
        if code == "OFFER_EXPIRED":
            refreshed = await self._run_search(session)
            return [TextMessage(replies.FARE_EXPIRED), *refreshed]
        if code == "BAD_USER_INPUT" and outcome.error_field:
            index, name = replies.passenger_field_of(outcome.error_field)
            if index is not None and name is not None and index < len(session.passengers):
                session.passengers[index].pop(name, None)
                session.asking = name
                session.move(State.COLLECTING_PASSENGERS)
                return [TextMessage(replies.detail_refused(outcome.errors[0]["message"], name))]
        return [TextMessage(replies.booking_failed(code))]

    async def _status(self, session: Session, reference: str | None) -> list[OutboundMessage]:
        reference = (reference or session.booking_reference or "").upper()
        if not reference:
            return [TextMessage(replies.WHICH_BOOKING)]
        token = await self._token_for(session, reference)
        if token is None:
            return [TextMessage(replies.not_your_booking(reference))]
        outcome = await self.execute(
            BOOKING_STATUS, {"ref": reference}, wa_id=session.wa_id, access_token=token
        )
        if outcome.errors or outcome.data is None or outcome.data.get("booking") is None:
            return [TextMessage(replies.not_your_booking(reference))]
        return [TextMessage(replies.booking_status(outcome.data["booking"], self.zone))]

    async def _token_for(self, session: Session, reference: str) -> str | None:
        if session.booking_reference == reference and session.access_token:
            return session.access_token
        record = await self.conversations.get(session.wa_id)
        if record is None:
            return None
        token: str | None = record.data.get("tokens", {}).get(reference)
        return token

    async def _cancel(self, session: Session) -> list[OutboundMessage]:
        if session.state == State.AWAITING_PAYMENT and session.booking_reference:
            outcome = await self.execute(
                CANCEL_BOOKING,
                {"ref": session.booking_reference},
                wa_id=session.wa_id,
                access_token=session.access_token,
            )
            reference = session.booking_reference
            session.reset()
            if outcome.errors:
                return [TextMessage(replies.cancel_failed(reference))]
            return [TextMessage(replies.booking_cancelled(reference))]
        had_something = session.state != State.INITIAL
        session.reset()
        return [TextMessage(replies.CANCELLED if had_something else replies.NOTHING_TO_CANCEL)]


def _merge(passenger: dict[str, Any], fields: PassengerFields) -> str | None:
    """Copy what the traveller gave into `passenger`; a message when something does not fit."""
    if fields.full_name and not (fields.given_name and fields.family_name):
        parts = fields.full_name.split()
        if len(parts) < 2:
            return replies.FULL_NAME_PLEASE
        passenger["given_name"] = " ".join(parts[:-1])
        passenger["family_name"] = parts[-1]
    if fields.given_name:
        passenger["given_name"] = fields.given_name
    if fields.family_name:
        passenger["family_name"] = fields.family_name
    if fields.email:
        passenger["email"] = fields.email
    if fields.phone:
        passenger["phone"] = fields.phone
    if fields.born_on:
        passenger["born_on"] = fields.born_on.isoformat()
    if fields.title:
        passenger["title"] = fields.title
        if fields.title in GENDER_BY_TITLE and not fields.gender:
            passenger["gender"] = GENDER_BY_TITLE[fields.title]
    if fields.gender:
        passenger["gender"] = fields.gender
        passenger.setdefault("title", TITLES_BY_GENDER[fields.gender])
    return None
