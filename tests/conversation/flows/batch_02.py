"""Flows, batch 2: places that need a question, round trips, booking to the end, detours."""

from __future__ import annotations

from tests.conversation.flows import Flow, Image, Pay, Say, Tap, When, dm, shown

DETAILS = "Name: Ngozi Eze, Email: ngozi@example.com, Phone: 08031234567, DOB: 04/03/1992, Mrs"


def flows(when: When) -> list[Flow]:
    out, back = when.days(45), when.days(51)
    soon = when.days(33)
    return [
        Flow(
            "delta state means Asaba or Warri",
            (
                Say(f"I want to fly from Lagos to Delta on {dm(soon)}", expect=(r"Which Delta",)),
                Tap("Warri", expect=(r"Lagos → Warri", shown(soon))),
            ),
        ),
        Flow(
            "a town with no airport",
            (
                Say("Abuja to Aba friday", expect=(r"Aba has no airport", r"\[Owerri\]")),
                Tap("Owerri", expect=(r"Abuja → Owerri", shown(when.weekday("fri")))),
            ),
        ),
        Flow(
            "a round trip shows both legs",
            (
                Say(
                    f"Calabar to Lagos {dm(out)} return {dm(back)}",
                    expect=(
                        r"Calabar → Lagos",
                        r"back " + shown(back),
                        r"back \d+ \w{3} \d\d:\d\d",
                    ),
                ),
                Say("1", expect=(r"Out: ", r"Back: ")),
            ),
        ),
        Flow(
            "a time of day is kept and said",
            (Say("Lagos to Jos tomorrow morning", expect=(r"Lagos → Jos", r"morning")),),
        ),
        Flow(
            "booked and paid from the chat",
            (
                Say(f"Lagos to Abuja {dm(soon)}", expect=(r"Lagos → Abuja",)),
                Tap(r"^1\. ", expect=(r"passenger 1 of 1",)),
                Say(DETAILS, expect=(r"Ngozi Eze",)),
                Tap("Confirm", expect=(r"\[Pay now\]", r"Booking SF")),
                Pay(expect=(r"confirmed",)),
            ),
        ),
        Flow(
            "the date asked for, answered with a day",
            (
                Say("Lagos to Abuja", expect=(r"date",)),
                Say("the 20th", expect=(r"Lagos → Abuja", r"\b20 \w{3}\b")),
            ),
        ),
        Flow(
            "the return asked for",
            (
                Say(f"Lagos to London round trip {dm(out)}", expect=(r"coming back",)),
                Say(dm(back), expect=(r"Lagos → London", r"back " + shown(back))),
            ),
        ),
        Flow(
            "pidgin and a group",
            (
                Say(
                    "abeg we be 3, lagos go abuja next week friday",
                    expect=(r"Lagos → Abuja", shown(when.next_week("fri")), r"3 adults"),
                ),
            ),
        ),
        Flow(
            "a wife and a baby",
            (
                Say(
                    f"with my wife and baby, lagos to enugu {dm(out)}",
                    expect=(r"Lagos → Enugu", r"2 adults, 1 infant"),
                ),
            ),
        ),
        Flow(
            "two people, after the results",
            (
                Say(f"Lagos to Abuja {dm(out)}", expect=(r"1 adult",)),
                Say("make it 2 people", expect=(r"Lagos → Abuja", shown(out), r"2 adults")),
            ),
        ),
        Flow(
            "earlier flights",
            (
                Say(f"Lagos to Abuja {dm(out)}", expect=(r"Lagos → Abuja",)),
                Say("earlier flight pls", expect=(r"Earliest",)),
            ),
        ),
        Flow(
            "a greeting, then a search",
            (
                Say("good morning", expect=(r"Hello",)),
                Say(f"Kano to Lagos on {dm(out)}", expect=(r"Kano → Lagos", shown(out))),
            ),
        ),
        Flow(
            "thanks after the results",
            (
                Say(f"Enugu to Abuja {dm(out)}", expect=(r"Enugu → Abuja",)),
                Say("thank you", expect=(r"welcome",)),
            ),
        ),
        Flow(
            "a question while choosing, then the choice",
            (
                Say(f"Lagos to Abuja {dm(out)}", expect=(r"Lagos → Abuja",)),
                Say("can I pay with card?", expect=(r"card",)),
                Say("1", expect=(r"passenger 1 of 1",)),
            ),
        ),
        Flow(
            "customer care while choosing, then the choice",
            (
                Say(f"Lagos to Kano {dm(out)}", expect=(r"Lagos → Kano",)),
                Say("I want to talk to customer care", expect=(r"team",)),
                Say("2", expect=(r"passenger 1 of 1",)),
            ),
        ),
        Flow(
            "a photo with no caption",
            (Image(None, expect=(r"text",)),),
        ),
        Flow(
            "cancel a search half-asked",
            (
                Say("Lagos to Abuja", expect=(r"date",)),
                Say("cancel", expect=(r"cancelled",)),
            ),
        ),
        Flow(
            "a reference that is not from this number",
            (Say("status SFK3M9PQ", expect=(r"can't find",)),),
        ),
        Flow(
            "a typo confirmed in words",
            (
                Say(f"enuguu to lagos {dm(out)}", expect=(r"Did you mean Enugu\?",)),
                Say("yes", expect=(r"Enugu → Lagos", shown(out))),
            ),
        ),
        Flow(
            "a typo refused, then the right city",
            (
                Say(f"abuj to kano {dm(out)}", expect=(r"Did you mean Abuja\?",)),
                Say("no", expect=(r"Which city are you flying from\?",)),
                Say("Lagos", expect=(r"Lagos → Kano", shown(out))),
            ),
        ),
    ]
