"""Dates and times of day in a message: exact, numeric, weekday, relative, holiday; which is the
departure, the return or a date of birth."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from conversation.reading.lexicon import (
    MONTH,
    MONTHS,
    NUM,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAYS,
    number_of,
    words_pattern,
)
from conversation.reading.slots import Expecting
from conversation.reading.state import ReadingState

# Dates. Each pattern is tried on what is left of the message, most specific first.
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\b")
_NUMERIC_DATE = re.compile(r"\b(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4}|\d{2})\b")
_SHORT_NUMERIC_DATE = re.compile(
    r"\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})\b(?![/.\-]\d)(?!\s*(?:am|pm|a\.m|p\.m|hrs?)\b)"
)
_COUNT_NOUN_AHEAD = (
    r"(?!\s*(?:x\s*)?(?:adults?|children|child|kids?|infants?|bab(?:y|ies)|people|persons?|"
    r"passengers?|pax|tickets?|seats?|am|pm|hrs?|hours?|o'?clock)\b)"
)
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s*(?:of\s+)?|[\-/.])\s*{MONTH}"
    rf"(?:(?:[\s,]+|[\-/.])(?P<y>\d{{4}})|[\-/'](?P<yy>\d{{2}}))?\b"
)
_MONTH_DAY = re.compile(
    rf"\b{MONTH}\s*(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b{_COUNT_NOUN_AHEAD}"
    rf"(?:,?\s*(?P<y>\d{{4}})\b)?"
)
_RELATIVE_DATE = re.compile(
    r"\b(?P<word>today|tonight|tonite|2nite|2night|2day|tonyt|(?:the\s+)?day\s+after\s+"
    r"(?:tomorrow|tmrw|tmr)|"
    r"next\s+tomorrow|next\s+tmrw|tomorrow|tomorow|tommorow|tommorrow|tomorro|tomoro|tmrw|tmr|"
    r"tmrow|tmw|2moro|2morrow|2mrw|2mor|this\s+weekend|next\s+weekend|weekend|"
    r"(?:next|this|coming)\s+(?:week|month)|later\s+this\s+(?:week|month))\b"
)
# The December rush home ("detty December") is planned around these.
_HOLIDAYS = {
    "christmas eve": (12, 24),
    "xmas eve": (12, 24),
    "christmas day": (12, 25),
    "christmas": (12, 25),
    "xmas": (12, 25),
    "boxing day": (12, 26),
    "new year's eve": (12, 31),
    "new years eve": (12, 31),
    "new year's day": (1, 1),
    "new years day": (1, 1),
    "new year day": (1, 1),
}
_HOLIDAY = re.compile(rf"\b(?P<h>{words_pattern(_HOLIDAYS)})\b")
_IN_DAYS = re.compile(
    rf"\b(?:in\s+{NUM.replace('1,2', '1,3')}\s+(?P<unit>days?|weeks?)(?:'?s?\s+time)?|"
    rf"{NUM.replace('<n>', '<n2>')}"
    r"\s+(?P<unit2>days?|weeks?)\s+from\s+(?:now|today))\b"
)
_WEEKDAY = re.compile(
    rf"\b(?:(?P<rel>next|this\s+coming|this|coming|on|by)\s+)?(?P<wd>{words_pattern(WEEKDAYS)})\b"
)
_WEEKDAY_SHORT = re.compile(
    rf"\b(?P<rel>next|this|coming|on|by)\s+(?P<wd>{words_pattern(WEEKDAY_ABBREVIATIONS)})\b\.?"
)
_DAY_ONLY = re.compile(
    r"\b(?P<pre>on|by|back|returning|return|till|until|from|to)\s+(?:on\s+)?(?:the\s+)?"
    r"(?P<d>\d{1,2})(?:st|nd|rd|th)\b"
)
# "next week friday", "friday next week": that day of next week.
_NEXT_WEEK_DAY = re.compile(
    rf"\bnext\s+week\s+(?:on\s+)?(?P<wd>{words_pattern(WEEKDAYS)})\b|"
    rf"\b(?:on\s+)?(?P<wd2>{words_pattern(WEEKDAYS)})\s+(?:of\s+)?next\s+week\b"
)
# "friday the 18th": the next 18th that is a Friday.
_WEEKDAY_DAY = re.compile(
    rf"\b(?:on\s+|this\s+|next\s+)?(?P<wd>{words_pattern(WEEKDAYS)})\s*,?\s*(?:the\s+)?"
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)\b(?!\s*(?:of\s+)?{MONTH})"
)
# "15th next month", "next month 15th".
_NEXT_MONTH_DAY = re.compile(
    r"\b(?:on\s+)?(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?next\s+month\b|"
    r"\bnext\s+month\s*,?\s*(?:on\s+)?(?:the\s+)?(?P<d2>\d{1,2})(?:st|nd|rd|th)?\b"
)
# "return after one week", "coming back in 5 days", "for 2 weeks": the return, from the departure.
_RETURN_AFTER = re.compile(
    rf"\b(?:and\s+)?(?:return(?:ing)?|back|com(?:e|ing)\s+back|fly\s+back)\s+(?:after|in)\s+"
    rf"{NUM}\s+(?P<unit>days?|weeks?|nights?)\b|"
    rf"\b(?:for|stay(?:ing)?\s+(?:for\s+)?|spend(?:ing)?)\s+{NUM.replace('<n>', '<n2>')}\s+"
    r"(?P<unit2>days?|weeks?|nights?)\b"
)
# "lagos to kano 27th": an ordinal with no month is a day of the month ("the 2nd one" is not).
_BARE_ORDINAL = re.compile(
    r"(?<![\d/.\-])\b(?P<d>\d{1,2})(?:st|nd|rd|th)\b"
    r"(?!\s*(?:one|option|choice|flight|offer|passenger|adult|child|person|time)s?\b)"
)
# The whole answer to "what date?": "18th", "the 20".
_ONLY_DAY = re.compile(r"^\W*(?:on\s+)?(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?\W*$")
# A past date this recent is a travel date that has passed, not a date of birth.
_RECENT_PAST_DAYS = 3 * 366

_RETURN_BEFORE = re.compile(
    r"\b(?:return(?:ing)?|back|till|until)\b(?:\s+(?:to|from)\s+[^\W\d_]+(?:\s+[^\W\d_]+)?)?"
    r"(?:\s+(?:flight|ticket|trip|date|day))?(?:\s*(?:is|:|=|on|by|for|to|-))*\s*(?:the\s+)?$"
)
_DOB_BEFORE = re.compile(
    r"\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birth\s*day|bday|born(?:\s+on)?)"
    r"\s*(?:is|:|=|-|na)?\s*$"
)
_RANGE_GAP = re.compile(r"^\s*(?:to|-|till|until|and|through|thru|&)\s*$")
_SAME_DAY_GAP = re.compile(r"^[\s,]*(?:the\s+)?$")

_CLOCK = re.compile(r"\b(?P<h>\d{1,2})(?:[:.](?P<min>\d{2}))?\s*(?P<ap>am|pm|a\.m\.?|p\.m\.?)")
_CLOCK_24H = re.compile(r"\b(?P<h>[01]?\d|2[0-3]):(?P<min>[0-5]\d)\b")
# "early"/"late" alone are times, but "early December" is not.
_NOT_A_TIME_AHEAD = rf"(?!\s+(?:{words_pattern(MONTHS)}|next|this|in)\b)"
_TIMES_OF_DAY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\blate\s+night\b|\bovernight\b|\bmidnight\b|\bred[\s-]?eye\b"), "night"),
    (re.compile(r"\b(?:late\s+|early\s+)?after\s*noon\b|\baftanoon\b|\bnoon\b|\bmid-?day\b"),
     "afternoon"),
    (re.compile(r"\b(?:late\s+|early\s+)?evening\b|\bevenin\b"), "evening"),
    (re.compile(rf"\b(?:early\s+|late\s+)?morning\b|\bmornin\b|\bmorn\b|\bdawn\b|"
                rf"\bearly\b{_NOT_A_TIME_AHEAD}"), "morning"),
    (re.compile(rf"\bnight\b|\bnite\b|\blate\b{_NOT_A_TIME_AHEAD}"), "night"),
)  # fmt: skip


class _DateMention(NamedTuple):
    start: int
    end: int
    spec: _DateSpec
    role: str | None  # "dob", "return" or None


@dataclass(frozen=True, slots=True)
class _DateSpec:
    """A date as written, resolved against an anchor (today, or the departure for a return)."""

    # "exact", "month_day", "holiday", "weekday", "next_weekday", "weekday_day", "day",
    # "next_month_day", "offset", "after" (days after the anchor) or "vague"
    kind: str
    year: int | None = None
    month: int = 0
    day: int = 0
    weekday: int = 0
    days: int = 0

    def resolve(self, today: date, anchor: date) -> date | None:
        if self.kind == "exact" and self.year is not None:
            return _safe_date(self.year, self.month, self.day)
        if self.kind in ("month_day", "holiday"):
            for year in range(anchor.year, anchor.year + 5):
                found = _safe_date(year, self.month, self.day)
                if found is not None and found >= anchor:
                    return found
            return None
        if self.kind == "day":
            year, month = anchor.year, anchor.month
            for _ in range(13):
                found = _safe_date(year, month, self.day)
                if found is not None and found >= anchor:
                    return found
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return None
        if self.kind == "weekday":
            return anchor + timedelta(days=(self.weekday - anchor.weekday() - 1) % 7 + 1)
        if self.kind == "next_weekday":
            next_monday = today + timedelta(days=7 - today.weekday())
            found = next_monday + timedelta(days=self.weekday)
            while found < anchor:
                found += timedelta(days=7)
            return found
        if self.kind == "weekday_day":
            found = anchor
            for _ in range(430):
                if found.day == self.day and found.weekday() == self.weekday:
                    return found
                found += timedelta(days=1)
            return _DateSpec("day", day=self.day).resolve(today, anchor)
        if self.kind == "next_month_day":
            year, month = (
                (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            )
            return _safe_date(year, month, self.day)
        if self.kind == "offset":
            return today + timedelta(days=self.days)
        if self.kind == "after":
            return anchor + timedelta(days=self.days) if anchor != today else None
        return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(text: str, today: date) -> int:
    """Four digits as written; two digits in this century unless that is more than a year ahead."""
    value = int(text)
    if len(text) == 4:
        return value
    return 2000 + value if 2000 + value <= today.year + 1 else 1900 + value


def _part_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 21:
        return "evening"
    return "night"


class DateReading(ReadingState):
    """Reads the travel dates, a date of birth and the time of day."""

    def _dates(self) -> None:
        found: list[_DateMention] = []

        def add(match: re.Match[str], spec: _DateSpec, start: int | None = None) -> None:
            begin = match.start() if start is None else start
            self.buf.blank(match.start(), match.end())
            found.append(_DateMention(begin, match.end(), spec, self._date_role(begin)))

        for match in list(_ISO_DATE.finditer(self.buf.rest)):
            y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
            if _safe_date(y, m, d):
                add(match, _DateSpec("exact", y, m, d))
        for match in list(_NUMERIC_DATE.finditer(self.buf.rest)):
            y, m, d = _year(match["y"], self.today), int(match["m"]), int(match["d"])
            if not _safe_date(y, m, d) and _safe_date(y, d, m):
                m, d = d, m  # month first, as some people (and phones) write it
            if _safe_date(y, m, d):
                add(match, _DateSpec("exact", y, m, d))
        for pattern in (_DAY_MONTH, _MONTH_DAY):
            for match in list(pattern.finditer(self.buf.rest)):
                m, d = MONTHS[match["mon"]], int(match["d"])
                written_year = match["y"] or match.groupdict().get("yy")
                if written_year:
                    spec = _DateSpec("exact", _year(written_year, self.today), m, d)
                else:
                    spec = _DateSpec("month_day", None, m, d)
                if _safe_date(spec.year or 2024, m, d):
                    add(match, spec)
        for match in list(_SHORT_NUMERIC_DATE.finditer(self.buf.rest)):
            m, d = int(match["m"]), int(match["d"])
            if _safe_date(2024, m, d):
                add(match, _DateSpec("month_day", None, m, d))
        for match in list(_NEXT_MONTH_DAY.finditer(self.buf.rest)):
            day = int(match["d"] or match["d2"])
            if 1 <= day <= 31:
                add(match, _DateSpec("next_month_day", day=day))
        for match in list(_NEXT_WEEK_DAY.finditer(self.buf.rest)):
            add(match, _DateSpec("next_weekday", weekday=WEEKDAYS[match["wd"] or match["wd2"]]))
        if not self.passenger_context:
            for match in list(_WEEKDAY_DAY.finditer(self.buf.rest)):
                spec = _DateSpec("weekday_day", day=int(match["d"]), weekday=WEEKDAYS[match["wd"]])
                add(match, spec)
        for match in list(_RELATIVE_DATE.finditer(self.buf.rest)):
            add(match, self._relative(match["word"]))
        for match in list(_HOLIDAY.finditer(self.buf.rest)):
            month, day = _HOLIDAYS[" ".join(match["h"].split())]
            add(match, _DateSpec("holiday", None, month, day))
        for match in list(_IN_DAYS.finditer(self.buf.rest)):
            n = number_of(match["n"] or match["n2"])
            unit = match["unit"] or match["unit2"]
            add(match, _DateSpec("offset", days=n * (7 if unit.startswith("week") else 1)))
        for match in list(_RETURN_AFTER.finditer(self.buf.rest)):
            n = number_of(match["n"] or match["n2"])
            unit = match["unit"] or match["unit2"]
            add(match, _DateSpec("after", days=n * (7 if unit.startswith("week") else 1)))
        self._weekdays(add)
        for match in list(_DAY_ONLY.finditer(self.buf.rest)):
            add(match, _DateSpec("day", day=int(match["d"])), start=match.start("d"))
        self._bare_days(add)
        self._assign_dates(sorted(found, key=lambda mention: mention.start))

    def _bare_days(self, add: Callable[[re.Match[str], _DateSpec], None]) -> None:
        """ "27th" with no month; a whole answer "18" when a date was asked for."""
        if self.passenger_context:
            return
        choosing = self.expecting in (Expecting.SELECTION, Expecting.CONFIRMATION)
        for match in list(_BARE_ORDINAL.finditer(self.buf.rest)):
            day = int(match["d"])
            if 1 <= day <= 31 and not (choosing and day <= 10):
                add(match, _DateSpec("day", day=day))
        if self.expecting in (Expecting.DATE, Expecting.RETURN_DATE):
            whole = _ONLY_DAY.match(self.buf.rest)
            if whole is not None and 1 <= int(whole["d"]) <= 31:
                add(whole, _DateSpec("day", day=int(whole["d"])))

    def _weekdays(self, add: Callable[[re.Match[str], _DateSpec], None]) -> None:
        bare_allowed = not self.passenger_context  # "Sunday Adeyemi" is a name, not a date
        for pattern, table in ((_WEEKDAY, WEEKDAYS), (_WEEKDAY_SHORT, WEEKDAY_ABBREVIATIONS)):
            for match in list(pattern.finditer(self.buf.rest)):
                relation = match["rel"]
                if relation is None and not bare_allowed:
                    continue
                kind = "next_weekday" if relation == "next" else "weekday"
                add(match, _DateSpec(kind, weekday=table[match["wd"]]))

    def _relative(self, word: str) -> _DateSpec:
        word = " ".join(word.split())
        if word in {"today", "tonight", "tonite", "2nite", "2night", "2day", "tonyt"}:
            if word not in ("today", "2day"):
                self.time_of_day = self.time_of_day or "night"
            return _DateSpec("offset", days=0)
        if word.startswith(("next tom", "next tm")) or "after" in word:
            return _DateSpec("offset", days=2)  # Nigerian "next tomorrow": the day after tomorrow
        if word.endswith("weekend"):
            kind = "next_weekday" if word.startswith("next") else "weekday"
            if self.today.weekday() == 5 and kind == "weekday":
                return _DateSpec("offset", days=0)
            return _DateSpec(kind, weekday=5)
        if "week" in word or "month" in word:
            return _DateSpec("vague")
        return _DateSpec("offset", days=1)

    def _date_role(self, start: int) -> str | None:
        before = self.buf.low[max(0, start - 60) : start]
        if _DOB_BEFORE.search(before):
            return "dob"
        if _RETURN_BEFORE.search(before):
            return "return"
        return None

    def _assign_dates(self, found: list[_DateMention]) -> None:
        # "friday 20th december" names one day twice: keep the calendar date.
        for first, second in itertools.pairwise(list(found)):
            if _SAME_DAY_GAP.match(self.buf.low[first.end : second.start]):
                kinds = {first.spec.kind, second.spec.kind}
                if kinds & {"weekday", "next_weekday"} and kinds & {"exact", "month_day", "day"}:
                    found.remove(first if first.spec.kind.endswith("weekday") else second)
        # "Christmas day 25th dec", "christmas, 24th": the calendar date says which day.
        written = [m for m in found if m.spec.kind in ("exact", "month_day", "day")]
        for holiday in [m for m in found if m.spec.kind == "holiday"]:
            if any(
                abs(m.start - holiday.end) <= 3 or abs(holiday.start - m.end) <= 3 for m in written
            ):
                found.remove(holiday)
        plain: list[_DateMention] = []
        returns: list[_DateMention] = []
        previous: _DateMention | None = None
        for mention in found:
            role = mention.role
            gap = self.buf.low[previous.end : mention.start] if previous else ""
            if (
                role is None
                and previous is not None
                and previous.role is None
                and _RANGE_GAP.match(gap)
                and mention.spec.kind != "vague"
            ):
                role = "return"  # "20 dec - 3 jan", "from 20 dec to 3 jan"
            previous = mention
            if role == "dob" or self.edit_field == "dob":
                if mention.spec.kind == "exact":
                    self.born_on = self.born_on or mention.spec.resolve(self.today, self.today)
            elif (
                role == "return"
                or mention.spec.kind == "after"
                or self.expecting is Expecting.RETURN_DATE
            ):
                returns.append(mention)
            else:
                plain.append(mention)
        for mention in plain:
            when = mention.spec.resolve(self.today, self.today)
            if when is None or when == self.departure_date:
                continue
            if mention.spec.kind == "exact" and when < self.today:
                # No flight leaves in the past: a recent date is a trip's, said to have passed.
                recent = (self.today - when).days <= _RECENT_PAST_DAYS
                if recent and not self.passenger_context:
                    self.past_date = self.past_date or when
                else:
                    self.born_on = self.born_on or when
            elif self.departure_date is None:
                self.departure_date = when
            else:
                returns.append(mention)
        for mention in returns:
            if self.return_date is None:
                anchor = self.departure_date or self.today
                self.return_date = mention.spec.resolve(self.today, anchor)

    def _times(self) -> None:
        found: list[tuple[int, str]] = []
        for match in self.buf.take(_CLOCK):
            hour = int(match["h"]) % 12 + (12 if match["ap"].startswith("p") else 0)
            found.append((match.start(), _part_of_day(hour)))
        for match in self.buf.take(_CLOCK_24H):
            found.append((match.start(), _part_of_day(int(match["h"]))))
        for pattern, part in _TIMES_OF_DAY:
            found.extend((match.start(), part) for match in self.buf.take(pattern))
        if found and self.time_of_day is None:
            self.time_of_day = min(found)[1]
