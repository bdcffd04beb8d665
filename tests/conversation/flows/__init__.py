"""Scripted conversations: what a traveller sends, turn by turn, and what each answer must say.

A flow is written against the traveller's calendar (`When`), since the gateway reads dates in
Lagos time; expectations are regular expressions (case-insensitive) that the turn's answer, read
as the traveller reads it (bodies, buttons, rows, links), must contain, and `refuse` ones it must
not. A flow is complete when every turn's answer meets its expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Say:
    text: str
    expect: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tap:
    """Tap the button or list row of the last answer whose title matches `title`."""

    title: str
    expect: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()


@dataclass(frozen=True)
class Image:
    """A photo, with or without a caption."""

    caption: str | None
    expect: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pay:
    """Pay through the link the assistant sent (the sandbox checkout's Pay button), then wait for
    an unprompted message matching `expect`."""

    expect: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()


Turn = Say | Tap | Image | Pay


@dataclass(frozen=True)
class Flow:
    name: str
    turns: tuple[Turn, ...]
    settings: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class When:
    """Dates as the traveller means them, from `today` in Lagos."""

    today: date

    def days(self, n: int) -> date:
        return self.today + timedelta(days=n)

    def weekday(self, name: str) -> date:
        """'friday': the next one after today."""
        wanted = WEEKDAYS.index(name)
        return self.today + timedelta(days=(wanted - self.today.weekday() - 1) % 7 + 1)

    def next_week(self, name: str) -> date:
        """'next friday', 'next week friday': that day of next (Monday-first) week."""
        monday = self.today + timedelta(days=7 - self.today.weekday())
        return monday + timedelta(days=WEEKDAYS.index(name))

    def dm(self, day: int, month: int) -> date:
        """'10/1': the next 10 January, today included."""
        for year in (self.today.year, self.today.year + 1):
            candidate = date(year, month, day)
            if candidate >= self.today:
                return candidate
        raise ValueError("no such date")


def shown(day: date) -> str:
    """A pattern for a date as the assistant writes it: 'Sat 10 Jan' ('Sat 05 Jan' too)."""
    return f"{day:%a} 0?{day.day} {day:%b}"


def dm(day: date) -> str:
    """As the traveller types it: '10/1'."""
    return f"{day.day}/{day.month}"
