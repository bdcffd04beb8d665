"""Flows, batch 1: slots kept across questions, edits after results, typos, what is not a search."""

from __future__ import annotations

from tests.conversation.flows import Flow, Image, Say, Tap, When, dm, shown


def flows(when: When) -> list[Flow]:
    # Day/month dates a few weeks ahead, as travellers type them ("10/1"), whenever this runs.
    jan10 = when.days(38)
    jan15 = when.days(43)
    jan20 = when.days(48)
    jan12 = when.days(40)
    jan19 = when.days(47)
    jan22 = when.days(50)
    friday = when.weekday("fri")
    saturday = when.weekday("sat")
    return [
        Flow(
            "benin with the baby keeps the date and the baby",
            (
                Say(
                    f"Lagos to Benin {dm(jan10)} with my baby",
                    expect=(r"Lagos → Benin City", shown(jan10), r"1 infant"),
                ),
            ),
        ),
        Flow(
            "the missing end is remembered",
            (
                Say("I wan go Abuja next tomorrow", expect=(r"from\?",)),
                Say("Lagos", expect=(r"Lagos → Abuja", shown(when.days(2)))),
            ),
        ),
        Flow(
            "the date asked for, then given",
            (
                Say("PH to Lagos", expect=(r"date|when",)),
                Say("friday", expect=(r"Port Harcourt → Lagos", shown(friday))),
            ),
        ),
        Flow(
            "typos are confirmed with buttons",
            (
                Say("abujaa to lagoss 2moro", expect=(r"Did you mean Abuja\?", r"\[Yes\]")),
                Tap("Yes", expect=(r"Did you mean Lagos\?",)),
                Tap("Yes", expect=(r"Abuja → Lagos", shown(when.days(1)))),
            ),
        ),
        Flow(
            "a new day after the results",
            (
                Say("Lagos to Abuja friday", expect=(shown(friday),)),
                Say("actually make it saturday", expect=(r"Lagos → Abuja", shown(saturday))),
            ),
        ),
        Flow(
            "more travellers after the results",
            (
                Say(f"lagos to kano {dm(jan15)}", expect=(r"Lagos → Kano",)),
                Say("change to 2 adults", expect=(r"Lagos → Kano", shown(jan15), r"2 adults")),
            ),
        ),
        Flow(
            "business class instead",
            (
                Say("Abuja to Lagos next friday", expect=(shown(when.next_week("fri")),)),
                Say("business class instead", expect=(r"Abuja → Lagos", r"business")),
            ),
        ),
        Flow(
            "sorry I meant Kano",
            (
                Say(f"Lagos to Abuja on {dm(jan20)}", expect=(r"Lagos → Abuja",)),
                Say("sorry I meant Kano", expect=(r"Lagos → Kano", shown(jan20))),
            ),
        ),
        Flow(
            "show more",
            (
                Say(f"lagos to abuja {dm(jan12)}", expect=(r"Lagos → Abuja",)),
                Say("show more", expect=(r"\b11\. ",), refuse=(r"didn't get",)),
            ),
        ),
        Flow(
            "cheaper options",
            (
                Say(f"lagos to london {dm(jan20)}", expect=(r"Lagos → London",)),
                Say("cheaper options?", expect=(r"cheapest",), refuse=(r"passenger",)),
            ),
        ),
        Flow("thanks", (Say("tnx", expect=(r"welcome",), refuse=(r"didn't get",)),)),
        Flow(
            "a person, please",
            (
                Say(
                    "I want to talk to a human",
                    expect=(r"team", r"\+234 700 000 0000"),
                    refuse=(r"didn't get",),
                ),
            ),
        ),
        Flow(
            "a ticket never received, with no booking from this number",
            (Say("I never receive my ticket", expect=(r"find a booking",), refuse=(r"from\?",)),),
        ),
        Flow(
            "a refund asked for, with no booking from this number",
            (
                Say(
                    "my flight was cancelled, I want refund",
                    expect=(r"find a booking",),
                    refuse=(r"nothing to cancel",),
                ),
            ),
        ),
        Flow("baggage", (Say("how many kg luggage can I carry", expect=(r"\bkg\b",)),)),
        Flow("payment methods", (Say("do you accept bank transfer?", expect=(r"transfer",)),)),
        Flow(
            "a family of five",
            (
                Say(
                    f"me, my wife and our 3 children going to PH from Abuja on {dm(jan22)}",
                    expect=(r"Abuja → Port Harcourt", shown(jan22), r"2 adults, 3 children"),
                ),
            ),
        ),
        Flow(
            "children's ages",
            (
                Say(
                    f"2 adults 2 kids (7 and 10) lagos to abuja {dm(jan19)}",
                    expect=(r"Lagos → Abuja", r"2 adults, 2 children"),
                ),
            ),
        ),
        Flow(
            "a date that has passed",
            (Say("Kano to Abuja on 2/1/2025", expect=(r"passed",), refuse=(r"2025-01-02",)),),
        ),
        Flow(
            "a photo with a caption",
            (Image("Lagos to Abuja tomorrow", expect=(r"Lagos → Abuja", shown(when.days(1)))),),
        ),
    ]
