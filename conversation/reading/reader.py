"""Reads a traveller's WhatsApp message into an intent and slots (places, dates, passengers...).

Rule-based on purpose: regexes and small tables tuned to how Nigerians write ("PH", "abj", "next
tomorrow", pidgin), backed by the place table for IATA codes and city names, so every reading can
be explained and a message is read in well under a millisecond. Each step of `Reader.read` takes
what it understands out of the message; the steps live beside their vocabulary in `places`,
`dates` and `people`.
"""

from __future__ import annotations

import re
from datetime import date

from conversation.reading.dates import DateReading
from conversation.reading.lexicon import (
    BARE_NUMBER,
    BROWSE,
    CANCEL,
    CONFIRM,
    FILLER,
    GIVE_UP,
    GREETING,
    HANDOFF,
    HELP,
    NEGATIVE,
    NUMBER_WORDS,
    ORDINALS,
    QUESTION_CUE,
    QUESTIONS,
    REFUND_CONCERN,
    RESTART,
    SEARCH_WORDS,
    SMALL_TALK,
    STATUS,
    THANKS,
    TICKET_CONCERN,
    TRAILING_GREETING,
    WORD,
    number_of,
    words_pattern,
)
from conversation.reading.people import PeopleReading
from conversation.reading.places import PlaceReading
from conversation.reading.slots import Expecting, Intent, Parsed, PassengerFields, Slots
from conversation.reading.state import PASSENGER_FIELDS


def parse(text: str, *, today: date, expecting: Expecting | None = None) -> Parsed:
    """Read one message. `today` is the traveller's local date; `expecting` is what the conversation
    just asked for (an `Expecting`, or its value) and only breaks ties: an
    explicit "cancel", "help", "start over", status check or new search is read in any state.

    Conventions: a lone place with no "from"/"to" is the destination; a year-less date is its next
    occurrence; "next friday" is the Friday of next (Monday-first) week and "next week" is too vague
    to be a date; an explicit-year date in the past is a date of birth. In the "passenger" state
    "my email is x" is a detail, elsewhere it is an EDIT of what was given before.
    """
    reader = Reader(text, today, expecting)
    reader.read()
    intent = reader.intent()
    return Parsed(intent=intent, slots=reader.slots(intent), text=text)


_REFERENCE = re.compile(r"\bsf[a-z2-9]{6}\b")
_SHORT_GREETING = re.compile(r"^\W*(?:morning|afternoon|evening)(?:\s+(?:sir|ma|o+|all))?\W*$")

_EDIT_STRONG = re.compile(
    r"\b(?:change[sd]?|chnage|chage|update|edit|modify|amend|switch|replace|make\s+it|put\s+it|"
    r"correct(?=\s+(?:the|my|it|\w+\s+to)\b))\b"
)
_EDIT_WEAK = re.compile(
    r"\b(?:actually|sorry|i\s+mean[t]?|correction|instead|wrong|mistake|typo|"
    r"should\s+(?:be|read)|it'?s\s+not)\b"
)
# Which detail an edit is about: (pattern, field, part of the name if only one part changes).
_EDIT_FIELDS: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(pattern), field, part)
    for pattern, field, part in (
        (r"\bnumber\s+of\s+(?:passengers|people|travell?ers|adults|tickets|seats)\b",
         "passengers", None),
        (r"\b(?:date\s+of\s+birth|d\.?o\.?b\b|birth\s*date|birthday|bday)", "dob", None),
        (r"\b(?:first\s*name|given\s*names?|firstname)\b", "name", "given"),
        (r"\b(?:surname|last\s*name|lastname|family\s*name)\b", "name", "family"),
        (r"\b(?:passenger'?s?\s+)?(?:full\s*)?names?\b|\bspelling\b", "name", None),
        (r"\be-?mail(?:\s+address)?\b", "email", None),
        (r"\b(?:phone(?:\s+(?:number|no))?|mobile(?:\s+number)?|whatsapp\s+number|"
         r"telephone|number)\b", "phone", None),
        (r"\btitle\b", "title", None),
        (r"\b(?:gender|sex)\b", "gender", None),
        (r"\breturn(?:ing)?\s+(?:date|day)\b", "date", "return"),
        (r"\b(?:travel|departure|flight|travelling)\s+(?:date|day)\b|\bdate\b|\bday\b",
         "date", None),
        (r"\b(?:origin|departure\s+(?:city|airport)|starting\s+(?:point|city)|leaving\s+from)\b",
         "origin", None),
        (r"\b(?:destination|arrival\s+(?:city|airport)|where\s+i'?m\s+going)\b",
         "destination", None),
        (r"\b(?:passengers?|travell?ers?|people|pax|adults?|children|kids|infants|persons)\b",
         "passengers", None),
        (r"\b(?:cabin(?:\s+class)?|class|seat\s+class)\b", "cabin", None),
    )
)  # fmt: skip
_STATED_FIELD = re.compile(r"^\W*(?:my\s+|the\s+|our\s+|his\s+|her\s+)?")
_STATED_VERB = re.compile(r"^\s*(?:is|are|should\s+be|na|:|=|-)\s*\S")

_CABINS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bpremium(?:\s*(?:economy|eco|econ))?(?:\s+class)?\b"), "premium_economy"),
    (re.compile(r"\b(?:first|1st)\s*class\b|\b(?:in|fly)\s+first\b"), "first"),
    (re.compile(r"(?<!\bon\s)\b(?:business|busness|bussiness|buisness|biz|bizness)(?:\s*class)?\b"
                r"(?!\s+trip)"), "business"),
    (re.compile(r"\b(?:economy|econ|eco|economic|econmy|coach|cheap\s+seats?)(?:\s*class)?\b"),
     "economy"),
)  # fmt: skip
_TRIPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bone[\s-]*way\b|\b1[\s-]*way\b|\bsingle\s+(?:ticket|trip|journey|flight)\b|"
                r"\bno\s+return\b|\bnot\s+returning\b|\boneway\b"), "one_way"),
    (re.compile(r"\bround[\s-]*trip\b|\broundtrip\b|\breturn(?:ing)?\b|\btwo[\s-]*ways?\b|"
                r"\b2[\s-]*ways?\b|\band\s+back\b|\bto\s+and\s+fro\b|\bcom(?:e|ing)\s+back\b"),
     "return"),
)  # fmt: skip

_EXPLICIT_SELECTION = re.compile(
    rf"(?:\b(?:option|opt|choice|offer)\s*(?:no\.?|number|#)?\s*|#\s*)"
    rf"(?P<n>\d{{1,2}}|{words_pattern(NUMBER_WORDS)})\b"
)
_NUMBERED_SELECTION = re.compile(
    rf"\b(?:no\.?|number|num|nr|flight|pick|take|choose|want|give\s+me)\s*"
    rf"(?P<n>\d{{1,2}}|{words_pattern(NUMBER_WORDS)})\b"
)
_ORDINAL_SELECTION = re.compile(
    rf"\b(?:the\s+)?(?P<o>{words_pattern(ORDINALS)})\b(?:\s+(?:one|option|choice|flight|offer))?"
)
_CHEAPEST = re.compile(
    r"\b(?:the\s+)?(?:cheapest|lowest|least\s+expensive)(?:\s+(?:one|option|flight|offer|"
    r"price|fare))?\b"
)


class Reader(PlaceReading, DateReading, PeopleReading):
    def read(self) -> None:
        self._greeting()
        self._reference()
        self._contacts()
        self._intent_phrases()
        self._edit()
        self._name_labels()
        self._dates()
        self._times()
        self._counts()
        self._cabin_and_trip()
        self._topic_and_browse()
        self.search_words = bool(self.buf.take(SEARCH_WORDS))
        self._places()
        self._selection()
        self._passenger()
        self._yes_or_no()
        self._finish_edit()

    # -- steps --

    def _greeting(self) -> None:
        while (match := GREETING.match(self.buf.rest)) and match.end() > match.start():
            if not match.group().strip(" ,.!?"):
                break
            self.greeting = True
            self.buf.blank(match.start(), match.end())
        if self.buf.take(TRAILING_GREETING):
            self.greeting = True
        if self.expecting is None and (short := _SHORT_GREETING.match(self.buf.rest)):
            self.greeting = True  # "morning" on its own says good morning
            self.buf.blank(short.start(), short.end())

    def _reference(self) -> None:
        match = self.buf.take_first(_REFERENCE)
        if match is not None:
            self.reference = match.group().upper()

    def _intent_phrases(self) -> None:
        self.restart = bool(self.buf.take(RESTART))
        # "my flight was cancelled, I want refund" asks after a booking; it cancels nothing.
        if self.buf.take(REFUND_CONCERN):
            self.concern = "refund"
        if self.buf.take(TICKET_CONCERN):
            self.concern = self.concern or "ticket"
        self.handoff = bool(self.buf.take(HANDOFF))
        self.cancel = bool(self.buf.take(CANCEL))
        self.status = bool(self.buf.take(STATUS)) or self.concern is not None
        self.help = bool(self.buf.take(HELP))
        self.give_up = bool(self.buf.take(GIVE_UP))
        self.thanks = bool(self.buf.take(THANKS))
        if self.buf.take(SMALL_TALK):
            self.greeting = True

    def _topic_and_browse(self) -> None:
        """A short question ("is hand luggage free?"), or other options than those shown."""
        for pattern, topic in QUESTIONS:
            if pattern.search(self.buf.rest) and QUESTION_CUE.search(self.buf.low):
                self.topic = self.topic or topic
        if self.expecting not in (Expecting.SELECTION, None):
            return
        for pattern, browse in BROWSE:
            if self.buf.take_first(pattern) is not None:
                self.browse = self.browse or browse

    def _edit(self) -> None:
        rest = self.buf.rest
        cue = _EDIT_STRONG.search(rest)
        if cue is not None:
            self.edit_cue = "strong"
        elif (cue := _EDIT_WEAK.search(rest)) is not None:
            self.edit_cue = "weak"
        field = self._edit_field_at(cue.end() if cue is not None else 0)
        if field is None and cue is not None:
            field = self._edit_field_at(0)
        if field is not None:
            match, name, part = field
            if cue is None:
                # "email is jd@x.com", "my phone na 0803...": a field stated at the start.
                lead = _STATED_FIELD.match(rest)
                if lead is None or lead.end() != match.start():
                    return
                if not _STATED_VERB.match(self.buf.low[match.end() :]):
                    return
                self.edit_cue = "stated"
            elif name in PASSENGER_FIELDS:
                self.buf.blank(match.start(), match.end())  # so "surname" is not read as a name
            self.edit_field, self.edit_part = name, part
        if cue is not None:
            self.buf.blank(cue.start(), cue.end())

    def _edit_field_at(self, start: int) -> tuple[re.Match[str], str, str | None] | None:
        best: tuple[re.Match[str], str, str | None] | None = None
        for pattern, name, part in _EDIT_FIELDS:
            match = pattern.search(self.buf.rest, start)
            if match is not None and (best is None or match.start() < best[0].start()):
                best = (match, name, part)
        return best

    def _cabin_and_trip(self) -> None:
        for pattern, cabin in _CABINS:
            if self.buf.take(pattern):
                self.cabin = self.cabin or cabin
        for pattern, trip in _TRIPS:
            if self.buf.take(pattern):
                self.trip = self.trip or trip
        if self.trip is None and self.return_date is not None:
            self.trip = "return"

    def _selection(self) -> None:
        expecting = self.expecting is Expecting.SELECTION
        match = self.buf.take_first(_EXPLICIT_SELECTION)
        if match is not None:
            self.selection, self.explicit_selection = number_of(match["n"]), True
            return
        if not expecting:
            return
        if (match := self.buf.take_first(_NUMBERED_SELECTION)) is not None:
            self.selection = number_of(match["n"])
        elif (match := self.buf.take_first(_ORDINAL_SELECTION)) is not None:
            self.selection = ORDINALS[match["o"]]
        elif self.buf.take_first(_CHEAPEST) is not None:
            self.selection = 1  # results are listed cheapest first
        elif (match := self.buf.take_first(BARE_NUMBER)) is not None:
            self.selection = number_of(match["n"])
        if self.selection is not None and not 1 <= self.selection <= 50:
            self.selection = None

    def _yes_or_no(self) -> None:
        rest = self.buf.rest
        confirm = list(CONFIRM.finditer(rest))
        # "no wahala" (no problem) is a yes that starts with "no".
        negative = [
            n
            for n in NEGATIVE.finditer(rest)
            if not any(c.start() <= n.start() < c.end() for c in confirm)
        ]
        for match in confirm + negative:
            rest = rest[: match.start()] + " " * (match.end() - match.start()) + rest[match.end() :]
        leftover = {m.group() for m in WORD.finditer(rest)} - FILLER
        if leftover:
            return
        if negative:
            self.negative = True
        elif confirm:
            self.confirm = True

    def _finish_edit(self) -> None:
        if self.edit_cue is None:
            return
        if self.edit_field is None:
            self.edit_field = self._edit_field_from_values()
        if self.edit_field == "origin" and self.origin is None and self.destination is not None:
            self.origin, self.destination = self.destination, None
        elif (
            self.edit_field == "date"
            and self.edit_part == "return"
            and self.return_date is None
            and self.departure_date is not None
        ):
            self.return_date, self.departure_date = self.departure_date, None

    def _edit_field_from_values(self) -> str | None:
        by_value = (
            ("email", self.email),
            ("phone", self.phone),
            ("dob", self.born_on),
            ("date", self.departure_date or self.return_date),
            ("origin", self.origin if self.destination is None else None),
            ("destination", self.destination),
            ("cabin", self.cabin),
            ("passengers", self.counts),
            ("time_of_day", self.time_of_day),
            ("name", self.full_name or self.given_name or self.family_name),
            ("title", self.title),
            ("gender", self.gender),
        )
        return next((field for field, value in by_value if value), None)

    # -- results --

    def _has_passenger_fields(self) -> bool:
        return any(
            (
                self.full_name,
                self.given_name,
                self.family_name,
                self.email,
                self.phone,
                self.born_on,
                self.title,
                self.gender,
            )
        )

    def _is_edit(self, wants_search: bool) -> bool:
        if self.edit_cue == "strong":
            return True
        has_value = self._has_passenger_fields() or any(
            (self.origin, self.destination, self.departure_date, self.return_date, self.cabin)
        )
        if self.edit_cue == "weak":
            whole_new_route = self.origin is not None and self.destination is not None
            return (has_value or self.edit_field is not None) and not whole_new_route
        if self.edit_cue == "stated":
            if self.edit_field not in PASSENGER_FIELDS:
                return has_value or bool(self.counts)
            if self.expecting is Expecting.PASSENGER or wants_search:
                return False
            kinds = sum(bool(v) for v in (self._any_name(), self.email, self.phone, self.born_on))
            return self.expecting is Expecting.CONFIRMATION or kinds <= 1
        return False

    def _is_question(self, has_route: bool) -> bool:
        """A question with a place in it is still a question when it asks about documents
        ("do I need visa to go dubai") or is asked without a date."""
        if self.topic is None or self.departure_date is not None:
            return False
        return not has_route or self.topic == "documents"

    def _any_name(self) -> str | None:
        return self.full_name or self.given_name or self.family_name

    def intent(self) -> Intent:
        has_route = self.origin is not None or self.destination is not None
        wants_search = has_route or self.search_words or bool(self.unknown_places)
        refines_search = self.trip is not None or any(
            (self.departure_date, self.return_date, self.time_of_day, self.counts, self.cabin)
        )
        if self.cancel and self.concern != "refund":
            return Intent.CANCEL
        if self.reference:
            return Intent.STATUS
        if self.handoff and not has_route:
            return Intent.HANDOFF
        if self._is_edit(wants_search):
            return Intent.EDIT
        if self.status:
            return Intent.STATUS
        if self.restart:
            return Intent.SEARCH if has_route else Intent.RESTART
        if self.help and not wants_search:
            return Intent.HELP
        if self._is_question(has_route):
            return Intent.QUESTION
        if (
            self.browse is not None
            and not has_route
            and not refines_search
            and not self.explicit_selection
        ):
            return Intent.MORE  # "any cheaper one?"
        if self.expecting is Expecting.SELECTION and self.selection is not None and not has_route:
            return Intent.SELECT  # "the third flight"
        if self.expecting is Expecting.SELECTION and refines_search and not has_route:
            return Intent.EDIT  # "morning flights only", while the results are shown
        if wants_search:
            return Intent.SEARCH
        if self.selection is not None and (
            self.expecting is Expecting.SELECTION or self.explicit_selection
        ):
            return Intent.SELECT
        if self._has_passenger_fields():
            return Intent.PASSENGER_DETAILS
        if self.thanks and self.expecting is not Expecting.CONFIRMATION and not refines_search:
            return Intent.THANKS  # "alright thanks"
        if self.confirm and not refines_search:
            return Intent.CONFIRM
        if self.give_up or (self.negative and self.expecting is Expecting.CONFIRMATION):
            return Intent.CANCEL
        if refines_search:
            return Intent.SEARCH
        if self.thanks:
            return Intent.THANKS
        if self.greeting:
            return Intent.GREETING
        return Intent.UNKNOWN

    def slots(self, intent: Intent) -> Slots:
        passenger = None
        if self._has_passenger_fields():
            given, family = self.given_name, self.family_name
            full = self.full_name
            if full is not None and given is None and family is None:
                parts = full.split()
                given = " ".join(parts[:-1]) or parts[0]
                family = parts[-1] if len(parts) > 1 else None
            elif full is None and given and family:
                full = f"{given} {family}"
            passenger = PassengerFields(
                full_name=full,
                given_name=given,
                family_name=family,
                email=self.email,
                phone=self.phone,
                born_on=self.born_on,
                title=self.title,
                gender=self.gender,
            )
        return Slots(
            origin=self.origin,
            destination=self.destination,
            departure_date=self.departure_date,
            return_date=self.return_date,
            time_of_day=self.time_of_day,
            adults=self.counts.get("adults"),
            children=self.counts.get("children"),
            infants=self.counts.get("infants"),
            cabin=self.cabin,
            trip=self.trip,
            selection=self.selection,
            passenger=passenger,
            edit_field=self.edit_field if intent is Intent.EDIT else None,
            booking_reference=self.reference,
            unknown_places=tuple(self.unknown_places),
            child_ages=tuple(self.child_ages),
            past_date=self.past_date,
            topic=self.topic if intent is Intent.QUESTION else None,
            concern=self.concern if intent is Intent.STATUS else None,
            browse=self.browse if intent is Intent.MORE else None,
        )
