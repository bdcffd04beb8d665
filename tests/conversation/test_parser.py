"""The WhatsApp message parser: accuracy on labelled Nigerian phrasings, and the tricky cases."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import conversation
from conversation.reading import (
    Expecting,
    Intent,
    PassengerFields,
    PlaceMatch,
    Slots,
    parse,
    places,
)
from tests.conversation import labelled

UTTERANCES = Path(__file__).with_name("utterances.jsonl")
TODAY = date(2026, 11, 26)  # a Thursday
INTENT_FLOOR = 0.95
SLOT_FLOOR = 0.90


@dataclass(frozen=True)
class Utterance:
    line: int
    text: str
    expecting: Expecting | None
    today: date
    intent: Intent
    slots: dict[str, Any]


def load_utterances() -> list[Utterance]:
    rows = []
    for number, raw in enumerate(UTTERANCES.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        row = json.loads(raw)
        rows.append(
            Utterance(
                line=number,
                text=row["text"],
                expecting=Expecting(row["expecting"]) if row["expecting"] else None,
                today=date.fromisoformat(row["today"]),
                intent=Intent(row["intent"]),
                slots=row["slots"],
            )
        )
    return rows


def found_value(slots: Slots, name: str) -> Any:
    """A slot as the labels write it: place codes, ISO dates, lists for unknown places."""
    value = getattr(slots, name)
    if isinstance(value, PlaceMatch):
        return value.code
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def passenger_value(passenger: PassengerFields | None, name: str) -> Any:
    if passenger is None:
        return None
    value = getattr(passenger, name)
    return value.isoformat() if isinstance(value, date) else value


def score(utterances: list[Utterance]) -> tuple[int, int, int, list[str]]:
    """(intents right, slot values right, slot values labelled, what went wrong)."""
    intents_right = slots_right = slots_labelled = 0
    misses: list[str] = []
    for utterance in utterances:
        parsed = parse(utterance.text, today=utterance.today, expecting=utterance.expecting)
        if parsed.intent is utterance.intent:
            intents_right += 1
        else:
            misses.append(
                f"line {utterance.line} {utterance.text!r}: intent {parsed.intent.value}, "
                f"expected {utterance.intent.value}"
            )
        for name, expected in utterance.slots.items():
            pairs: list[tuple[str, Any, Any]]
            if name == "passenger":
                pairs = [
                    (f"passenger.{field}", want, passenger_value(parsed.slots.passenger, field))
                    for field, want in expected.items()
                ]
            else:
                pairs = [(name, expected, found_value(parsed.slots, name))]
            for label, want, got in pairs:
                slots_labelled += 1
                if got == want:
                    slots_right += 1
                else:
                    where = f"line {utterance.line} {utterance.text!r}"
                    misses.append(f"{where}: {label} {got!r}, expected {want!r}")
    return intents_right, slots_right, slots_labelled, misses


def test_labelled_utterances_meet_the_accuracy_floors(report_accuracy: list[str]) -> None:
    utterances = load_utterances()
    intents_right, slots_right, slots_labelled, misses = score(utterances)
    intent_accuracy = intents_right / len(utterances)
    slot_accuracy = slots_right / slots_labelled
    line = (
        f"intent accuracy {intent_accuracy:.1%} ({len(utterances)} utterances), "
        f"slot accuracy {slot_accuracy:.1%} ({slots_labelled} slots)"
    )
    print(line)
    report_accuracy.append(line)
    for miss in misses:
        print("  miss:", miss)
    assert intent_accuracy >= INTENT_FLOOR, "\n".join(misses)
    assert slot_accuracy >= SLOT_FLOOR, "\n".join(misses)


def test_labelled_set_is_broad() -> None:
    first = load_utterances()
    batches = [u for path in labelled.BATCHES for u in labelled.load(path)]
    assert len(first) + len(batches) >= 600
    assert {u.intent for u in first} | {u.intent for u in batches} == set(Intent)
    assert {u.expecting for u in first} | {u.expecting for u in batches} == {
        None,
        *(e.value for e in Expecting),
    }
    names = {n for u in first for n in u.slots} | {n for u in batches for n in u.slots}
    assert names == set(Slots.__slots__)


def test_the_blind_batches_meet_the_goals(report_accuracy: list[str]) -> None:
    """Every batch after it was fixed: at least 95% of searches with every slot right and 95% of
    the other messages right (each batch's first pass is in README.md)."""
    result = labelled.score([u for path in labelled.BATCHES for u in labelled.load(path)])
    report_accuracy.append(result.line("blind batches"))
    for miss in result.misses:
        print("  miss:", miss)
    assert result.searches_right >= 0.95 * result.searches, "\n".join(result.misses)
    assert result.others_right >= 0.95 * result.others, "\n".join(result.misses)


def read(text: str, expecting: Expecting | None = None, today: date = TODAY) -> Slots:
    return parse(text, today=today, expecting=expecting).slots


# --- Places -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want to fly and see my mum",
        "can you book for one person",
        "Are you there? The man said I may pay now",
        "how do I get my bag",
        "fly out on sun",
    ],
)
def test_everyday_words_that_are_iata_codes_are_not_places(text: str) -> None:
    slots = read(text)
    assert slots.origin is None and slots.destination is None
    assert slots.unknown_places == ()


def test_everyday_words_around_a_real_place_stay_words() -> None:
    slots = read("I want to fly to Abuja and see my mum for one day")
    assert slots.origin is None
    assert slots.destination == PlaceMatch("ABV", "Abuja")


def test_a_code_written_in_capitals_is_a_place_anywhere() -> None:
    assert read("LHR please").destination == PlaceMatch("LHR", "London Heathrow")
    assert read("KGL-EBB").origin == PlaceMatch("KGL", "Kigali")


def test_a_lowercase_code_is_a_place_only_on_a_route() -> None:
    assert read("kgl to ebb").destination is not None
    assert read("kgl").destination is None


def test_shouting_does_not_turn_words_into_airports() -> None:
    slots = read("PLEASE I WANT TO FLY FROM LAGOS TO ABUJA FOR TWO")
    assert (slots.origin, slots.destination) == (
        PlaceMatch("LOS", "Lagos"),
        PlaceMatch("ABV", "Abuja"),
    )
    assert slots.adults == 2


def test_benin_means_benin_city_and_the_republic_is_said_in_full() -> None:
    assert read("Benin to Lagos").origin == PlaceMatch("BNI", "Benin City")
    assert read("Benin City to Lagos").origin == PlaceMatch("BNI", "Benin City")
    assert read("Lagos to Benin Republic").destination == PlaceMatch("COO", "Cotonou")


@pytest.mark.parametrize(
    ("text", "origin", "destination"),
    [
        ("from Lagos to Abuja", "LOS", "ABV"),
        ("Lagos to Abuja", "LOS", "ABV"),
        ("Lagos - Abuja", "LOS", "ABV"),
        ("Lagos-Abuja", "LOS", "ABV"),
        ("Lagos → Abuja", "LOS", "ABV"),
        ("fly to Abuja from Lagos", "LOS", "ABV"),
        ("Abuja from Lagos", "LOS", "ABV"),
        ("flight to Abuja", None, "ABV"),
        ("P.H. to Abuja", "PHC", "ABV"),
        ("Port Harcourt to Abuja", "PHC", "ABV"),
        ("to Mombasa from Nairobi", "NBO", "MBA"),
        ("Lagos to Abuja and back to Lagos", "LOS", "ABV"),
    ],
)
def test_route_patterns(text: str, origin: str | None, destination: str | None) -> None:
    slots = read(text)
    assert (slots.origin.code if slots.origin else None) == origin
    assert (slots.destination.code if slots.destination else None) == destination


def test_places_nobody_flies_to_are_reported_not_guessed() -> None:
    slots = read("flight from Lagos to Ikorodu")
    assert slots.origin == PlaceMatch("LOS", "Lagos")
    assert slots.destination is None
    assert slots.unknown_places == ("Ikorodu",)


def test_every_curated_place_is_a_known_code() -> None:
    gazetteer = places.gazetteer()
    for code in places._PLACES:
        assert code in gazetteer.codes, code
    for codes in places._AMBIGUOUS_PLACES.values():
        assert all(code in gazetteer.codes for code in codes)


# --- Dates ------------------------------------------------------------------------------------


def test_a_date_without_a_year_that_has_passed_is_next_year() -> None:
    assert read("Lagos to Abuja 15 Nov").departure_date == date(2027, 11, 15)
    assert read("Lagos to Abuja 3 jan", today=date(2026, 12, 28)).departure_date == date(2027, 1, 3)
    assert read("Lagos to Abuja 31 dec", today=date(2026, 12, 28)).departure_date == date(
        2026, 12, 31
    )


def test_a_return_date_comes_after_the_departure_across_the_new_year() -> None:
    slots = read("Lagos to Accra 28 dec back on 2nd", today=date(2026, 12, 1))
    assert slots.departure_date == date(2026, 12, 28)
    assert slots.return_date == date(2027, 1, 2)
    assert slots.trip == "return"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2026, 11, 26)),
        ("tomorrow", date(2026, 11, 27)),
        ("tmrw", date(2026, 11, 27)),
        ("next tomorrow", date(2026, 11, 28)),
        ("friday", date(2026, 11, 27)),
        ("this friday", date(2026, 11, 27)),
        ("next friday", date(2026, 12, 4)),
        ("thursday", date(2026, 12, 3)),
        ("in 3 days", date(2026, 11, 29)),
        ("20/12", date(2026, 12, 20)),
        ("20-12-2026", date(2026, 12, 20)),
        ("2026-12-20", date(2026, 12, 20)),
        ("December 20", date(2026, 12, 20)),
        ("15th November", date(2027, 11, 15)),
        ("on the 30th", date(2026, 11, 30)),
        ("friday 4th december", date(2026, 12, 4)),
    ],
)
def test_dates_are_read_in_the_travellers_calendar(text: str, expected: date) -> None:
    assert read(f"Lagos to Abuja {text}").departure_date == expected


def test_next_week_is_too_vague_to_be_a_date() -> None:
    slots = read("Lagos to Abuja next week")
    assert slots.departure_date is None
    assert slots.destination == PlaceMatch("ABV", "Abuja")


def test_a_past_date_with_a_year_is_a_date_of_birth_not_a_flight() -> None:
    slots = read("Lagos to Abuja 20 dec, DOB 02/03/1985")
    assert slots.departure_date == date(2026, 12, 20)
    assert slots.passenger == PassengerFields(born_on=date(1985, 3, 2))


def test_good_morning_is_a_greeting_not_a_time() -> None:
    parsed = parse("Good morning", today=TODAY)
    assert parsed.intent is Intent.GREETING
    assert parsed.slots.time_of_day is None


# --- Passengers and choices --------------------------------------------------------------------


def test_a_weekday_name_is_a_name_when_names_are_asked_for() -> None:
    slots = read("Monday Okon", expecting=Expecting.PASSENGER)
    assert slots.departure_date is None
    assert slots.passenger == PassengerFields(
        full_name="Monday Okon", given_name="Monday", family_name="Okon"
    )


def test_a_city_is_a_name_when_names_are_asked_for() -> None:
    parsed = parse("Jos Danladi", today=TODAY, expecting=Expecting.PASSENGER)
    assert parsed.intent is Intent.PASSENGER_DETAILS
    assert parsed.slots.destination is None


def test_bare_numbers_are_choices_only_when_choices_are_shown() -> None:
    assert parse("2", today=TODAY, expecting=Expecting.SELECTION).slots.selection == 2
    assert parse("2", today=TODAY).intent is Intent.UNKNOWN
    assert parse("2", today=TODAY, expecting=Expecting.PASSENGER).slots.selection is None


def test_a_new_search_is_heard_while_viewing_results() -> None:
    parsed = parse("lagos to abuja tomorrow", today=TODAY, expecting=Expecting.SELECTION)
    assert parsed.intent is Intent.SEARCH
    assert parsed.slots.selection is None


@pytest.mark.parametrize(
    "expecting", [None, Expecting.SELECTION, Expecting.PASSENGER, Expecting.CONFIRMATION]
)
@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("cancel", Intent.CANCEL),
        ("help", Intent.HELP),
        ("start over", Intent.RESTART),
        ("status SF7K2QXM", Intent.STATUS),
    ],
)
def test_explicit_intents_are_heard_in_every_state(
    text: str, intent: Intent, expecting: Expecting | None
) -> None:
    assert parse(text, today=TODAY, expecting=expecting).intent is intent


def test_no_cancels_only_when_asked_to_confirm() -> None:
    assert parse("no", today=TODAY, expecting=Expecting.CONFIRMATION).intent is Intent.CANCEL
    assert parse("no", today=TODAY, expecting=Expecting.PASSENGER).intent is Intent.UNKNOWN


def test_stating_a_detail_is_an_edit_except_while_details_are_collected() -> None:
    assert parse("my email is a@b.co", today=TODAY).intent is Intent.EDIT
    collecting = parse("my email is a@b.co", today=TODAY, expecting=Expecting.PASSENGER)
    assert collecting.intent is Intent.PASSENGER_DETAILS
    assert collecting.slots.edit_field is None


def test_booking_references_need_the_sf_prefix_and_six_characters() -> None:
    assert read("status sf7k2qxm").booking_reference == "SF7K2QXM"
    assert read("status SF7K2QX").booking_reference is None
    assert read("status XY7K2QXM").booking_reference is None


def test_parse_keeps_the_text_as_written() -> None:
    assert parse("  Lagos to Abuja  ", today=TODAY).text == "  Lagos to Abuja  "


# --- Boundaries and speed ---------------------------------------------------------------------


def test_the_conversation_imports_nothing_from_the_api_or_the_domain() -> None:
    imported: list[str] = []
    for path in Path(conversation.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported += [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] in {"graphql_api", "resolvers"}]


def test_reading_a_message_again_reads_it_the_same_way() -> None:
    """Nothing one message leaves behind changes how the next is read (the benchmark,
    bench/in_process.py, times this same pass over the labelled messages)."""
    utterances = load_utterances()
    first = [parse(u.text, today=u.today, expecting=u.expecting) for u in utterances]
    again = [parse(u.text, today=u.today, expecting=u.expecting) for u in reversed(utterances)]
    assert first == list(reversed(again))
    assert sum(1 for slots in first if slots.intent is not Intent.UNKNOWN) > len(first) // 2
