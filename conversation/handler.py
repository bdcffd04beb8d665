"""The WhatsApp booking assistant: reads a message, moves the conversation, answers.

It is a client of the GraphQL schema: every search, booking and payment goes through the
`Execute` callable the composition root hands it, so the API's validation, access rules,
idempotency and errors hold on WhatsApp too. Failures become plain-language replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from conversation import answers, replies, results
from conversation.gateway import Execute, Outcome
from conversation.reading import Intent, Parsed, PassengerFields, Slots, parse
from conversation.replyids import Action, ReplyId
from conversation.searching import SearchFlow
from conversation.session import Session, Sessions, State
from conversation.transcript import Transcript
from integrations.ports.messaging import (
    Button,
    ButtonsMessage,
    InboundMessage,
    NoticeMessage,
    OutboundMessage,
    StatusUpdate,
    TextMessage,
    WhatsAppSender,
)

log = logging.getLogger("sureflights.conversation")

DEFAULT_TIME_ZONE = "Africa/Lagos"
# Free-form messages may be sent only this long after the traveller's last message.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
TITLES_BY_GENDER = {"m": "mr", "f": "ms"}
# A boy is ticketed MR (the "Master" parents write), a girl MISS.
YOUNG_TITLES_BY_GENDER = {"m": "mr", "f": "miss"}
GENDER_BY_TITLE = {"mr": "m", "mrs": "f", "ms": "f", "miss": "f"}
# Fields an edit may change that belong to the search rather than to a passenger.
SEARCH_EDITS = frozenset({"date", "origin", "destination", "cabin", "passengers", "time_of_day"})
_GIVING_UP = re.compile(r"\b(?:cancel|stop|forget|abort|quit|never\s*mind)", re.IGNORECASE)

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
    slices {
      origin { iataCode cityName } destination { iataCode cityName }
      segments { departingAt flightNumber }
    }
    passengers { email }
    payment { status authorizationUrl }
  }
}
"""
CANCEL_BOOKING = "mutation Cancel($ref: ID!) { cancelBooking(reference: $ref) { status } }"
ACCEPT_CHANGE = """
mutation Keep($ref: ID!, $change: ID!) {
  acceptAirlineChange(bookingReference: $ref, changeId: $change) { reference status }
}
"""
CANCEL_FOR_CHANGE = """
mutation Refuse($ref: ID!, $change: ID!) {
  cancelForAirlineChange(bookingReference: $ref, changeId: $change) { reference status }
}
"""
STOP_SMS = """
mutation StopSms($ref: ID!) {
  updateNotificationPreferences(bookingReference: $ref, sms: false) { reference }
}
"""
# "stop sms", "STOP SMS please", "no more sms": the traveller turns text messages off.
_STOP_SMS = re.compile(r"^\W*(?:stop|no\s+more|unsubscribe(?:\s+from)?)\s+(?:sms|texts?)\b", re.I)
# A traveller asking after their bookings hears about this many, newest first.
BOOKINGS_TOLD = 3


@dataclass
class _Turn:
    """One inbound message being answered: its read receipt (with the typing indicator when a
    search runs) is sent once, while the answer is worked out, and before the answer."""

    message: InboundMessage
    sender: WhatsAppSender
    receipt: asyncio.Task[None] | None = None

    def acknowledge(self, *, typing: bool = False) -> None:
        if self.receipt is None:
            self.receipt = asyncio.create_task(self._send(typing))

    async def _send(self, typing: bool) -> None:
        try:
            await self.sender.mark_read(self.message.message_id, typing=typing)
        except Exception:  # a missing read receipt is cosmetic; the answer still goes out
            log.warning("read receipt not sent", exc_info=True)

    async def settled(self) -> None:
        self.acknowledge()
        assert self.receipt is not None
        await self.receipt


_TURN: ContextVar[_Turn | None] = ContextVar("conversation_turn", default=None)


class ConversationHandler:
    def __init__(
        self,
        *,
        execute: Execute,
        sessions: Sessions,
        sender: WhatsAppSender,
        transcript: Transcript,
        payment_currency: str = "NGN",
        support_contact: str = "",
        time_zone: str = DEFAULT_TIME_ZONE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.execute = execute
        self.sessions = sessions
        self.sender = sender
        self.transcript = transcript
        self.payment_currency = payment_currency
        self.support_contact = support_contact.strip()
        self.zone = ZoneInfo(time_zone)
        self.clock = clock
        self.searches = SearchFlow(
            execute=execute, payment_currency=payment_currency, before_search=self._typing
        )
        # One message at a time per traveller, so two quick messages cannot race on the session.
        self._turns: dict[str, asyncio.Lock] = {}

    # --- The entry point ---------------------------------------------------------------------

    async def handle(self, message: InboundMessage) -> None:
        """Answer one inbound message once, however often Meta delivers it; never raises, never
        leaves the traveller without a reply."""
        try:
            if not await self.transcript.first_delivery(message, self.clock()):
                return
        except Exception:
            log.exception("message de-duplication unavailable; answering anyway")
        message = await self._known_sender(message)
        turn = self._turns.setdefault(message.wa_id, asyncio.Lock())
        try:
            async with turn:
                await self._handle(message)
        finally:
            if not turn.locked():
                self._turns.pop(message.wa_id, None)

    async def record_status(self, status: StatusUpdate) -> None:
        await self.transcript.record_status(status, self.clock())

    async def _known_sender(self, message: InboundMessage) -> InboundMessage:
        """A traveller writing without their number (a WhatsApp username) keeps the
        conversation their number had."""
        if message.user_id is None or message.wa_id != message.user_id:
            return message
        try:
            known = await self.sessions.wa_id_of(message.user_id)
        except Exception:
            log.warning("business-scoped user id not looked up", exc_info=True)
            return message
        return replace(message, wa_id=known) if known else message

    async def _handle(self, message: InboundMessage) -> None:
        now = self.clock()
        turn = _Turn(message, self.sender)
        token = _TURN.set(turn)
        try:
            try:
                await self.transcript.record_inbound(message, now)
                session = await self.sessions.load(message.wa_id)
                known = session.booking_reference, session.state
                session.last_inbound_at = now.isoformat()
                await self._note_user_id(session, message)
                try:
                    answers_ = await self.respond(session, message)
                except Exception:
                    log.exception("conversation step failed", extra={"state": session.state})
                    answers_ = [TextMessage(replies.SOMETHING_WENT_WRONG)]
                await self.sessions.save(session)
            except Exception:
                # The stores failed; the traveller still hears something rather than nothing.
                log.exception("conversation state unavailable")
                await self.deliver(message.wa_id, [TextMessage(replies.SOMETHING_WENT_WRONG)])
                return
            await self.deliver(message.wa_id, answers_)
        finally:
            _TURN.reset(token)
            with contextlib.suppress(Exception):
                await turn.settled()
        if (session.booking_reference, session.state) != known:
            await self.transcript.remember(
                session.wa_id,
                state=session.state.value,
                booking_reference=session.booking_reference,
                access_token=session.access_token,
                now=self.clock(),
            )

    async def _note_user_id(self, session: Session, message: InboundMessage) -> None:
        user_id = message.user_id
        if user_id and user_id != message.wa_id and session.user_id != user_id:
            await self.sessions.note_user_id(user_id, message.wa_id)
            session.user_id = user_id

    async def _typing(self) -> None:
        """A search is about to run: the traveller sees "typing…" meanwhile."""
        turn = _TURN.get()
        if turn is not None:
            turn.acknowledge(typing=True)

    async def deliver(self, wa_id: str, answers_: Sequence[OutboundMessage]) -> None:
        turn = _TURN.get()
        if turn is not None:
            await turn.settled()  # the read receipt (and typing) before the answer
        sent: list[dict[str, Any]] = []
        now = self.clock()
        for answer in answers_:
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
        await self.transcript.record_outbound(wa_id, sent, now)

    # --- Telling the traveller, unprompted ------------------------------------------------------

    async def notify(self, wa_id: str, notice: NoticeMessage) -> list[str]:
        """Tell the traveller, unprompted, what happened to their booking: the notice's text
        inside WhatsApp's 24-hour window (with buttons when it asks for an answer), its approved
        template outside it. The message ids; raises when it did not go."""
        session = await self.sessions.load(wa_id)
        # The session lives 24 hours from the traveller's last message, like Meta's window.
        last_inbound = session.last_inbound_at
        window_open = (
            last_inbound is not None
            and self.clock() - datetime.fromisoformat(last_inbound) < CUSTOMER_SERVICE_WINDOW
        )
        answer: OutboundMessage = notice.template
        if window_open and notice.change_id is not None:
            value = f"{notice.booking_reference}:{notice.change_id}"
            answer = ButtonsMessage(
                body=notice.text,
                buttons=(
                    Button(ReplyId(Action.KEEP_CHANGE, value).encode(), "Keep new times"),
                    Button(ReplyId(Action.REFUSE_CHANGE, value).encode(), "Cancel, refund me"),
                ),
            )
        elif window_open:
            answer = TextMessage(notice.text)
        if session.booking_reference == notice.booking_reference and notice.session:
            if notice.session == "confirmed":
                session.move(State.CONFIRMED)
            else:
                session.move(State.INITIAL)
                session.reset()
            await self.sessions.save(session)
        ids = await self.sender.send(wa_id, answer)
        now = self.clock()
        await self.transcript.record_outbound(
            wa_id,
            [
                {
                    "direction": "out",
                    "message_ids": ids,
                    "kind": type(answer).__name__,
                    "body": replies.plain_text(answer),
                    "at": now.isoformat(),
                }
            ],
            now,
        )
        return ids

    # --- Reading the message ---------------------------------------------------------------

    async def respond(self, session: Session, message: InboundMessage) -> list[OutboundMessage]:
        today = self.clock().astimezone(self.zone).date()
        if message.kind == "unsupported":
            return [TextMessage(replies.UNSUPPORTED), replies.help_message()]
        if message.kind in ("button_reply", "list_reply") and message.reply_id:
            tapped = ReplyId.decode(message.reply_id)
            if tapped is not None:
                answered = await self._tapped(session, tapped, message, today)
                if answered is not None:
                    return answered
        text = (message.text or "").strip()
        if _STOP_SMS.match(text):
            return await self._stop_sms(session)
        parsed = parse(text, today=today, expecting=session.expecting)
        return await self._dispatch(session, parsed, today, message)

    async def _tapped(
        self, session: Session, tapped: ReplyId, message: InboundMessage, today: date
    ) -> list[OutboundMessage] | None:
        action = tapped.action
        pending = (session.pending or {}).get("ask")
        if action is Action.OFFER and session.state == State.VIEWING_RESULTS:
            return await self._select(session, tapped.number)
        if action is Action.CONFIRM and session.state == State.REVIEWING_BOOKING:
            return await self._book(session)
        if action is Action.EDIT and session.state == State.REVIEWING_BOOKING:
            return [TextMessage(replies.HOW_TO_EDIT)]
        if action is Action.CANCEL:
            return await self._cancel(session)
        if action in (Action.YES, Action.NO) and pending == "place":
            return await self.searches.answer(session, action is Action.YES, today)
        if action is Action.AIRPORT and pending == "airport":
            return await self.searches.choose(session, tapped.value, today)
        if action is Action.MORE:
            return await self.searches.browse(session, "more", today)
        if action is Action.HUMAN:
            return await self._handoff(session, message, "asked")
        if action in (Action.KEEP_CHANGE, Action.REFUSE_CHANGE):
            reference, _, change_id = tapped.value.partition(":")
            return await self._answer_change(session, reference, change_id, action)
        return None

    async def _answer_change(
        self, session: Session, reference: str, change_id: str, action: Action
    ) -> list[OutboundMessage]:
        keep = action is Action.KEEP_CHANGE
        outcome = await self.execute(
            ACCEPT_CHANGE if keep else CANCEL_FOR_CHANGE,
            {"ref": reference, "change": change_id},
            wa_id=session.wa_id,
        )
        if outcome.errors:
            return [TextMessage(replies.change_not_answered(reference, outcome.errors[0]))]
        return [TextMessage(replies.change_answered(reference, keep=keep))]

    async def _dispatch(
        self, session: Session, parsed: Parsed, today: date, message: InboundMessage
    ) -> list[OutboundMessage]:
        intent = parsed.intent
        state = session.state
        pending = (session.pending or {}).get("ask")
        if (
            pending == "place"
            and intent in (Intent.CONFIRM, Intent.CANCEL)
            and (intent is Intent.CONFIRM or not _GIVING_UP.search(parsed.text))
        ):
            return await self.searches.answer(session, intent is Intent.CONFIRM, today)
        if intent is Intent.RESTART:
            session.reset()
            return [TextMessage(replies.STARTING_OVER), replies.help_message()]
        if intent is Intent.CANCEL:
            return await self._cancel(session)
        if intent is Intent.HELP:
            return [replies.help_message()]
        if intent is Intent.GREETING:
            return [TextMessage(replies.greeting(state)), replies.help_message()]
        if intent is Intent.THANKS:
            return [TextMessage(answers.THANKS)]
        if intent is Intent.HANDOFF:
            return await self._handoff(session, message, "asked")
        if intent is Intent.QUESTION:
            return [answers.answer_question(parsed.slots.topic)]
        if intent is Intent.STATUS:
            if parsed.slots.concern is not None and not parsed.slots.booking_reference:
                return await self._bookings(session, parsed.slots.concern, message)
            return await self._status(session, parsed.slots.booking_reference)
        if intent is Intent.MORE:
            return await self.searches.browse(session, parsed.slots.browse or "more", today)
        if intent is Intent.SEARCH:
            return await self.searches.take(session, parsed.slots, today)
        if intent is Intent.EDIT and self._changes_search(session, parsed):
            return await self.searches.take(session, parsed.slots, today, change=True)
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
            return await self.searches.take(session, parsed.slots, today)
        if state == State.AWAITING_PAYMENT and session.booking_reference:
            return await self._status(session, session.booking_reference)
        if state == State.SEARCHING and pending in ("origin", "destination", "date", "return_date"):
            missing = "departure_date" if pending == "date" else pending
            return [
                TextMessage("Sorry, I didn't get that. " + results.ask(missing, session.search))
            ]
        return [TextMessage(replies.not_understood(state)), replies.help_message()]

    @staticmethod
    def _changes_search(session: Session, parsed: Parsed) -> bool:
        """An edit of the search: while searching or looking at flights, or of a search field."""
        slots = parsed.slots
        if slots.edit_field in SEARCH_EDITS:
            return (
                slots.edit_field != "passengers"
                or session.state
                in (
                    State.INITIAL,
                    State.SEARCHING,
                    State.VIEWING_RESULTS,
                )
                or slots.passenger is None
            )
        searchy = any(
            (slots.origin, slots.destination, slots.departure_date, slots.return_date, slots.cabin)
        )
        return searchy and slots.passenger is None

    # --- Not a search ------------------------------------------------------------------------

    async def _handoff(
        self, session: Session, message: InboundMessage, reason: str
    ) -> list[OutboundMessage]:
        await self.transcript.request_handoff(
            session.wa_id,
            said=message.text or "",
            reason=reason,
            profile_name=message.profile_name,
            now=self.clock(),
        )
        return [TextMessage(answers.handoff_requested(self.support_contact))]

    async def _bookings(
        self, session: Session, concern: str, message: InboundMessage
    ) -> list[OutboundMessage]:
        """ "I never receive my ticket", "I want refund": the state of their bookings."""
        found = await self.transcript.bookings(session.wa_id)
        if session.booking_reference and session.access_token:
            mine = (session.booking_reference, session.access_token)
            found = [mine, *(b for b in found if b[0] != mine[0])]
        bookings = []
        for reference, token in found[:BOOKINGS_TOLD]:
            outcome = await self.execute(
                BOOKING_STATUS, {"ref": reference}, wa_id=session.wa_id, access_token=token
            )
            booking = (outcome.data or {}).get("booking")
            if booking is not None:
                bookings.append(booking)
        if not bookings:
            return [answers.no_bookings(self.support_contact)]
        lines = [answers.about_booking(b, concern) for b in bookings]
        if answers.wants_person(concern, bookings):
            await self._handoff(session, message, concern)
        return [answers.bookings_answer(lines)]

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
            TextMessage(results.chosen(session.selected)),
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
        return [replies.pay_now(created["booking"], payment, self.zone)]

    async def _booking_refused(self, session: Session, outcome: Outcome) -> list[OutboundMessage]:
        code = outcome.error_code
        if code == "PRICE_CHANGED":
            extensions = outcome.errors[0].get("extensions") or {}
            session.expected_total = extensions.get("totalAmount")
            return [replies.price_changed_message(extensions)]
        if code == "OFFER_EXPIRED":
            today = self.clock().astimezone(self.zone).date()
            refreshed = await self.searches.run(session, today)
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

    async def _stop_sms(self, session: Session) -> list[OutboundMessage]:
        """No more text messages about the traveller's bookings (WhatsApp and email go on)."""
        references = await self.transcript.booking_references(session.wa_id)
        if session.booking_reference and session.booking_reference not in references:
            references.append(session.booking_reference)
        for reference in references:
            outcome = await self.execute(STOP_SMS, {"ref": reference}, wa_id=session.wa_id)
            if outcome.errors:
                log.warning("SMS not turned off", extra={"booking": reference})
        return [TextMessage(replies.sms_stopped(references))]

    async def _token_for(self, session: Session, reference: str) -> str | None:
        if session.booking_reference == reference and session.access_token:
            return session.access_token
        return await self.transcript.token_for(session.wa_id, reference)

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
        young = passenger.get("type") in ("child", "infant_without_seat")
        titles = YOUNG_TITLES_BY_GENDER if young else TITLES_BY_GENDER
        passenger.setdefault("title", titles[fields.gender])
    return None
