"""Labelled utterances: loading and scoring, shared by the tests and by the command line.

    .venv/bin/python -m tests.conversation.labelled tests/conversation/batches/batch_01.jsonl

An utterance is right when its intent is right, every slot it labels is right, and none of the
search slots it leaves out was read (a search with a date nobody wrote is not a right search).
Searches and the other messages are counted apart, as the goals are stated apart.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from conversation.reading import Expecting, parse

HERE = Path(__file__).parent
BATCHES = sorted((HERE / "batches").glob("batch_*.jsonl"))

# Slots a message must not gain by accident: left out of a label, they must be left unread.
STRICT_SLOTS = (
    "origin",
    "destination",
    "departure_date",
    "return_date",
    "time_of_day",
    "adults",
    "children",
    "infants",
    "child_ages",
    "cabin",
    "trip",
    "past_date",
)


@dataclass(frozen=True)
class Utterance:
    source: str
    line: int
    text: str
    expecting: Expecting | None
    today: date
    intent: str
    slots: dict[str, Any]


def load(path: Path) -> list[Utterance]:
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        row = json.loads(raw)
        rows.append(
            Utterance(
                source=path.name,
                line=number,
                text=row["text"],
                expecting=Expecting(row["expecting"]) if row["expecting"] else None,
                today=date.fromisoformat(row["today"]),
                intent=row["intent"],
                slots=row["slots"],
            )
        )
    return rows


def _plain(value: Any) -> Any:
    """A slot as labels write it: place codes, ISO dates, lists."""
    code = getattr(value, "code", None)
    if isinstance(code, str):
        return code
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _slot(slots: Any, name: str) -> Any:
    return _plain(getattr(slots, name, None))


def _passenger(slots: Any, name: str) -> Any:
    passenger = getattr(slots, "passenger", None)
    return None if passenger is None else _plain(getattr(passenger, name, None))


def _unread(name: str, value: Any) -> bool:
    if name == "adults":
        return value in (None, 1)  # one adult is what a search assumes anyway
    return value in (None, [], ())


def misses_of(utterance: Utterance) -> list[str]:
    """What the parser got wrong on one utterance; empty when it is right."""
    parsed = parse(utterance.text, today=utterance.today, expecting=utterance.expecting)
    misses: list[str] = []
    intent = getattr(parsed.intent, "value", parsed.intent)
    if intent != utterance.intent:
        misses.append(f"intent {intent}, expected {utterance.intent}")
    for name, want in utterance.slots.items():
        if name == "passenger":
            for field, wanted in want.items():
                got = _passenger(parsed.slots, field)
                if got != wanted:
                    misses.append(f"passenger.{field} {got!r}, expected {wanted!r}")
            continue
        got = _slot(parsed.slots, name)
        if got != want:
            misses.append(f"{name} {got!r}, expected {want!r}")
    for name in STRICT_SLOTS:
        if name not in utterance.slots:
            got = _slot(parsed.slots, name)
            if not _unread(name, got):
                misses.append(f"{name} {got!r} read, but not in the message")
    return misses


@dataclass(frozen=True)
class Score:
    searches: int
    searches_right: int
    others: int
    others_right: int
    misses: list[str]

    @property
    def total(self) -> int:
        return self.searches + self.others

    @property
    def right(self) -> int:
        return self.searches_right + self.others_right

    def line(self, name: str) -> str:
        def share(right: int, count: int) -> str:
            return f"{right}/{count} ({right / count:.1%})" if count else "0/0"

        return (
            f"{name}: searches with every slot right {share(self.searches_right, self.searches)}, "
            f"other messages right {share(self.others_right, self.others)}, "
            f"all {share(self.right, self.total)}"
        )


def score(utterances: list[Utterance]) -> Score:
    searches = searches_right = others = others_right = 0
    misses: list[str] = []
    for utterance in utterances:
        wrong = misses_of(utterance)
        is_search = utterance.intent == "search"
        searches += is_search
        others += not is_search
        if not wrong:
            searches_right += is_search
            others_right += not is_search
        else:
            where = f"{utterance.source}:{utterance.line} {utterance.text!r}"
            misses.append(f"{where}: " + "; ".join(wrong))
    return Score(searches, searches_right, others, others_right, misses)


def main(paths: list[str]) -> int:
    for raw in paths or [str(p) for p in BATCHES]:
        path = Path(raw)
        result = score(load(path))
        print(result.line(path.name))
        for miss in result.misses:
            print("  miss:", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
