"""The sandbox flight provider: believable, deterministic offers that any replica can rebuild."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from integrations.ports.errors import UpstreamRejected
from integrations.ports.flights import (
    CabinClass,
    FlightProvider,
    Offer,
    OfferUnavailable,
    PassengerRequest,
    SearchRequest,
    SearchResult,
    Segment,
    SliceRequest,
)
from integrations.sandbox.flights import SandboxFlights

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY = date(2025, 3, 20)
NIGERIAN_AIRLINES = {"P4", "W3", "QI", "UN", "OF", "VK"}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def request(
    *slices: tuple[str, str, date],
    adults: int = 1,
    children: int = 0,
    infants: int = 0,
    cabin: CabinClass = "economy",
    max_connections: int | None = None,
) -> SearchRequest:
    return SearchRequest(
        slices=[SliceRequest(origin=o, destination=d, departure_date=day) for o, d, day in slices],
        passengers=[
            *(PassengerRequest(type="adult") for _ in range(adults)),
            *(PassengerRequest(type="child", age=8) for _ in range(children)),
            *(PassengerRequest(type="infant_without_seat") for _ in range(infants)),
        ],
        cabin_class=cabin,
        max_connections=max_connections,
    )


async def search(
    provider: SandboxFlights,
    *slices: tuple[str, str, date],
    adults: int = 1,
    children: int = 0,
    infants: int = 0,
    cabin: CabinClass = "economy",
    max_connections: int | None = None,
) -> SearchResult:
    wanted = request(
        *slices,
        adults=adults,
        children=children,
        infants=infants,
        cabin=cabin,
        max_connections=max_connections,
    )
    return await provider.search(wanted)


def segments(offer: Offer) -> list[Segment]:
    return [segment for s in offer.slices for segment in s.segments]


def airports(offer: Offer) -> list[str]:
    return [seg.destination.iata_code for s in offer.slices for seg in s.segments[:-1]]


def great_circle_km(segment: Segment) -> float:
    a, b = segment.origin, segment.destination
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> SandboxFlights:
    return SandboxFlights(clock=clock)


def test_the_sandbox_is_a_flight_provider_in_sandbox_mode(sandbox: SandboxFlights) -> None:
    provider: FlightProvider = sandbox
    assert provider.mode == "SANDBOX"


# --- Determinism -------------------------------------------------------------------------------


async def test_the_same_search_gives_the_same_offers(clock: Clock) -> None:
    first = await search(
        SandboxFlights(clock=clock), ("LOS", "LHR", DAY), ("LHR", "LOS", DAY + timedelta(days=7))
    )
    again = await search(
        SandboxFlights(clock=clock), ("LOS", "LHR", DAY), ("LHR", "LOS", DAY + timedelta(days=7))
    )

    assert first.offers
    assert first == again


ANOTHER_PROCESS = """
import asyncio, sys
from datetime import UTC, date, datetime
from integrations.ports.flights import PassengerRequest, SearchRequest, SliceRequest
from integrations.sandbox.flights import SandboxFlights

wanted = SearchRequest(
    slices=[SliceRequest(origin="LOS", destination="JFK", departure_date=date(2025, 3, 20))],
    passengers=[PassengerRequest(type="adult")],
)
provider = SandboxFlights(clock=lambda: datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
sys.stdout.write(asyncio.run(provider.search(wanted)).model_dump_json())
"""


def test_another_process_gives_the_same_offers() -> None:
    # Python's own hash() differs between processes; the sandbox must not depend on it.
    answers = [
        subprocess.run(
            [sys.executable, "-c", ANOTHER_PROCESS],
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            text=True,
            timeout=60,
        ).stdout
        for seed in ("1", "2")
    ]

    first, second = (SearchResult.model_validate_json(answer) for answer in answers)
    assert first.offers
    assert first == second


async def test_a_later_search_differs_only_in_ids_and_deadlines(
    clock: Clock, sandbox: SandboxFlights
) -> None:
    first = await search(sandbox, ("LOS", "ABV", DAY))
    clock.now += timedelta(minutes=3)
    later = await search(sandbox, ("LOS", "ABV", DAY))

    assert [o.id for o in first.offers] != [o.id for o in later.offers]
    assert [o.expires_at + timedelta(minutes=3) for o in first.offers] == [
        o.expires_at for o in later.offers
    ]
    unchanging = {"id", "expires_at", "payment_required_by", "price_guarantee_expires_at"}
    assert [o.model_dump(exclude=unchanging) for o in first.offers] == [
        o.model_dump(exclude=unchanging) for o in later.offers
    ]


async def test_a_different_search_gives_different_offers(sandbox: SandboxFlights) -> None:
    monday = await search(sandbox, ("LOS", "LHR", DAY))
    tuesday = await search(sandbox, ("LOS", "LHR", DAY + timedelta(days=1)))
    elsewhere = await search(sandbox, ("LOS", "CDG", DAY))

    def shape(result: SearchResult) -> list[tuple[Decimal, list[datetime]]]:
        return [(o.total_amount, [s.departing_at for s in segments(o)]) for o in result.offers]

    assert shape(monday) != shape(tuesday)
    assert shape(monday) != shape(elsewhere)
    assert not {o.id for o in monday.offers} & {o.id for o in tuesday.offers}


async def test_results_survive_the_json_round_trip_the_search_cache_makes(
    sandbox: SandboxFlights,
) -> None:
    result = await search(sandbox, ("LOS", "JFK", DAY), ("JFK", "LOS", DAY + timedelta(days=10)))

    assert SearchResult.model_validate_json(result.model_dump_json()) == result


# --- Routes, airlines and times ----------------------------------------------------------------


async def test_lagos_abuja_is_a_direct_domestic_flight_in_naira_on_nigerian_airlines(
    sandbox: SandboxFlights,
) -> None:
    result = await search(sandbox, ("LOS", "ABV", DAY))

    assert 8 <= len(result.offers) <= 60
    assert {o.total_currency for o in result.offers} == {"NGN"}
    assert {o.owner.iata_code for o in result.offers} <= NIGERIAN_AIRLINES
    assert len({o.owner.iata_code for o in result.offers}) >= 4
    direct = [o for o in result.offers if o.slices[0].stops == 0]
    assert len(direct) == len(result.offers)
    for offer in result.offers:
        for segment in segments(offer):
            assert segment.departing_at.utcoffset() == timedelta(hours=1)
            assert segment.arriving_at.utcoffset() == timedelta(hours=1)
            assert 50 <= segment.duration_minutes <= 110
        assert offer.owner.logo_url == (
            "https://assets.duffel.com/img/airlines/for-light-background/full-color-logo/"
            f"{offer.owner.iata_code}.svg"
        )
    cheapest = min(o.total_amount for o in result.offers)
    assert Decimal(80_000) <= cheapest <= Decimal(200_000)
    assert max(o.total_amount for o in result.offers) <= Decimal(300_000)


async def test_lagos_london_flies_direct_in_six_to_seven_hours_or_via_real_hubs(
    sandbox: SandboxFlights,
) -> None:
    result = await search(sandbox, ("LOS", "LHR", DAY))

    direct = [o for o in result.offers if o.slices[0].stops == 0]
    assert {o.owner.iata_code for o in direct} == {"BA", "VS"}
    assert all(6 * 60 <= o.slices[0].duration_minutes <= 7 * 60 for o in direct)
    via = {hub for o in result.offers for hub in airports(o)}
    assert {"CDG", "AMS", "FRA", "IST"} <= via
    assert via <= {"CDG", "AMS", "FRA", "MUC", "IST", "CMN", "CAI", "ABV"}
    assert {o.total_currency for o in result.offers} >= {"GBP", "EUR", "USD"}
    currencies = {o.owner.iata_code: o.total_currency for o in result.offers}
    assert (currencies["BA"], currencies["AF"], currencies["TK"]) == ("GBP", "EUR", "USD")


async def test_every_flight_lasts_as_long_as_its_distance_takes(sandbox: SandboxFlights) -> None:
    for route in [("LOS", "LHR"), ("LOS", "JFK"), ("ABV", "DXB"), ("PHC", "ABV"), ("LHR", "SIN")]:
        result = await search(sandbox, (*route, DAY))
        assert result.offers, route
        for segment in {s.id: s for o in result.offers for s in segments(o)}.values():
            km = great_circle_km(segment)
            # Gate to gate: taxi and climb plus cruise somewhere between turboprop and jet speed.
            assert 20 + km / 950 * 60 <= segment.duration_minutes <= 60 + km / 430 * 60, segment


async def test_segments_arrive_after_they_leave_and_connections_last_one_to_four_hours(
    sandbox: SandboxFlights,
) -> None:
    trips = [
        (("LOS", "SYD", DAY),),
        (("KAN", "LHR", DAY), ("LHR", "KAN", DAY + timedelta(days=5))),
        (("SKO", "CBQ", DAY),),
        (("ENU", "JFK", DAY),),
    ]
    checked = 0
    for slices in trips:
        result = await search(sandbox, *slices, max_connections=2)
        for offer in result.offers:
            for s in offer.slices:
                for segment in s.segments:
                    elapsed = segment.arriving_at - segment.departing_at
                    assert elapsed == timedelta(minutes=segment.duration_minutes) > timedelta(0)
                for before, after in zip(s.segments, s.segments[1:], strict=False):
                    assert before.destination.iata_code == after.origin.iata_code
                    layover = after.departing_at - before.arriving_at
                    assert timedelta(hours=1) <= layover <= timedelta(hours=4)
                    checked += 1
                total = s.segments[-1].arriving_at - s.segments[0].departing_at
                assert total == timedelta(minutes=s.duration_minutes)
    assert checked > 50


async def test_long_haul_beyond_the_network_connects_through_gulf_hubs(
    sandbox: SandboxFlights,
) -> None:
    result = await search(sandbox, ("LOS", "SYD", DAY))

    assert result.offers
    assert all(o.slices[0].stops == 1 for o in result.offers)
    assert {hub for o in result.offers for hub in airports(o)} <= {"DXB", "DOH"}
    arrival = result.offers[0].slices[0].segments[-1].arriving_at
    assert arrival.utcoffset() == timedelta(hours=11)  # Sydney in March keeps daylight saving
    assert arrival.date() > DAY


async def test_two_connections_only_when_asked_for(sandbox: SandboxFlights) -> None:
    default = await search(sandbox, ("LOS", "SYD", DAY))
    two = await search(sandbox, ("LOS", "SYD", DAY), max_connections=2)

    assert max(o.slices[0].stops for o in default.offers) == 1  # Duffel's default
    assert max(o.slices[0].stops for o in two.offers) == 2
    assert len(two.offers) > len(default.offers)


async def test_max_connections_zero_leaves_only_nonstop_flights(sandbox: SandboxFlights) -> None:
    new_york = await search(sandbox, ("LOS", "JFK", DAY), max_connections=0)
    sydney = await search(sandbox, ("LOS", "SYD", DAY), max_connections=0)
    connecting = await search(sandbox, ("LOS", "JFK", DAY))

    assert new_york.offers
    assert all(s.stops == 0 for o in new_york.offers for s in o.slices)
    assert {o.owner.iata_code for o in new_york.offers} == {"DL"}
    assert sydney.offers == []
    assert {"LHR", "CDG", "AMS", "IST"} <= {hub for o in connecting.offers for hub in airports(o)}


async def test_london_time_follows_daylight_saving(sandbox: SandboxFlights) -> None:
    summer = await search(sandbox, ("LOS", "LHR", date(2025, 7, 15)), max_connections=0)
    winter = await search(sandbox, ("LHR", "LOS", date(2026, 1, 15)), max_connections=0)

    assert {s.arriving_at.utcoffset() for o in summer.offers for s in segments(o)} == {
        timedelta(hours=1)
    }
    assert {s.departing_at.utcoffset() for o in winter.offers for s in segments(o)} == {
        timedelta(0)
    }


async def test_a_city_code_searches_all_its_airports(sandbox: SandboxFlights) -> None:
    result = await search(sandbox, ("LOS", "LON", DAY))

    assert {o.slices[0].destination.iata_code for o in result.offers} == {"LON"}
    assert result.offers[0].slices[0].destination.type == "city"
    arrivals = {o.slices[0].segments[-1].destination.iata_code for o in result.offers}
    assert {"LHR", "LGW"} <= arrivals <= {"LHR", "LGW", "LCY", "STN", "LTN", "SEN"}


async def test_codeshares_show_the_operating_airline(sandbox: SandboxFlights) -> None:
    result = await search(sandbox, ("LOS", "JFK", DAY))

    shared = [
        s for o in result.offers for s in segments(o) if s.operating_carrier != s.marketing_carrier
    ]
    assert shared
    for segment in shared:
        assert segment.flight_number.startswith(segment.marketing_carrier.iata_code)


# --- Trips -------------------------------------------------------------------------------------


async def test_a_return_trip_pairs_an_outbound_and_an_inbound_flight_of_one_airline(
    sandbox: SandboxFlights,
) -> None:
    result = await search(sandbox, ("LOS", "LHR", DAY), ("LHR", "LOS", DAY + timedelta(days=14)))

    assert 30 <= len(result.offers) <= 60
    for offer in result.offers:
        out, back = offer.slices
        assert (out.origin.iata_code, out.destination.iata_code) == ("LOS", "LHR")
        assert (back.origin.iata_code, back.destination.iata_code) == ("LHR", "LOS")
        assert out.segments[0].departing_at.date() == DAY
        assert back.segments[0].departing_at.date() == DAY + timedelta(days=14)
        flown = {s.marketing_carrier.iata_code for s in segments(offer)}
        assert offer.owner.iata_code in flown


async def test_a_three_city_trip_keeps_its_slices_in_order(sandbox: SandboxFlights) -> None:
    legs = [
        ("LOS", "ABV", DAY),
        ("ABV", "KAN", DAY + timedelta(days=2)),
        ("KAN", "LOS", DAY + timedelta(days=5)),
    ]
    result = await search(sandbox, *legs)

    assert len(result.offers) >= 8
    for offer in result.offers:
        assert [(s.origin.iata_code, s.destination.iata_code) for s in offer.slices] == [
            (o, d) for o, d, _ in legs
        ]
        for earlier, later in zip(offer.slices, offer.slices[1:], strict=False):
            assert later.segments[0].departing_at > earlier.segments[-1].arriving_at
        assert offer.total_currency == "NGN"


async def test_a_multi_city_trip_no_airline_covers_is_sold_by_the_one_covering_most(
    sandbox: SandboxFlights,
) -> None:
    result = await search(
        sandbox,
        ("LOS", "ABV", DAY),
        ("ABV", "LHR", DAY + timedelta(days=3)),
        ("LHR", "JFK", DAY + timedelta(days=6)),
        ("JFK", "LOS", DAY + timedelta(days=12)),
    )

    assert result.offers
    assert all(len(o.slices) == 4 for o in result.offers)
    assert all(o.total_currency != "NGN" for o in result.offers)


# --- Fares -------------------------------------------------------------------------------------


async def test_business_costs_several_times_economy_on_the_same_flights(
    sandbox: SandboxFlights,
) -> None:
    economy = await search(sandbox, ("LOS", "LHR", DAY))
    business = await search(sandbox, ("LOS", "LHR", DAY), cabin="business")
    first = await search(sandbox, ("LOS", "LHR", DAY), cabin="first")

    def cheapest(result: SearchResult, airline: str) -> Decimal:
        return min(
            o.total_amount
            for o in result.offers
            if o.owner.iata_code == airline and o.slices[0].stops == 0
        )

    assert 2.5 <= cheapest(business, "BA") / cheapest(economy, "BA") <= 4.5
    assert cheapest(first, "BA") > cheapest(business, "BA")
    assert {o.owner.iata_code for o in first.offers} <= {"BA", "AF", "LH", "EK", "QR", "SQ", "QF"}


async def test_children_pay_three_quarters_and_lap_infants_a_tenth(sandbox: SandboxFlights) -> None:
    alone = await search(sandbox, ("LOS", "ACC", DAY))
    family = await search(sandbox, ("LOS", "ACC", DAY), adults=2, children=1, infants=1)

    assert len(alone.offers) == len(family.offers)
    for single, group in zip(alone.offers, family.offers, strict=True):
        expected = single.total_amount * Decimal("2.85")
        assert abs(group.total_amount - expected) <= Decimal("0.05")
        assert [p.type for p in group.passengers] == [
            "adult",
            "adult",
            "child",
            "infant_without_seat",
        ]
        assert group.passengers[2].age == 8
        assert all(p.id.startswith("pas_") for p in group.passengers)
        assert len({p.id for p in group.passengers}) == 4


async def test_base_and_tax_add_up_to_the_total_to_the_cent(sandbox: SandboxFlights) -> None:
    for slices in [
        (("LOS", "ABV", DAY),),
        (("LOS", "LHR", DAY), ("LHR", "LOS", DAY + timedelta(days=9))),
        (("ABV", "DXB", DAY),),
    ]:
        result = await search(sandbox, *slices, adults=2, children=1, infants=1)
        for offer in result.offers:
            assert offer.base_amount is not None and offer.tax_amount is not None
            assert offer.base_amount + offer.tax_amount == offer.total_amount
            assert offer.total_amount.as_tuple().exponent == -2
            assert offer.tax_amount > 0


async def test_fares_rise_close_to_departure_and_in_december(sandbox: SandboxFlights) -> None:
    async def cheapest(day: date) -> Decimal:
        result = await search(sandbox, ("LOS", "ABV", day))
        return min(o.total_amount for o in result.offers)

    # Tuesdays, so weekday surcharges do not blur the comparison.
    assert await cheapest(date(2025, 3, 4)) > await cheapest(date(2025, 4, 29))
    assert await cheapest(date(2025, 12, 23)) > await cheapest(date(2025, 11, 18))


async def test_conditions_and_payment_terms_vary_between_fares(
    sandbox: SandboxFlights, clock: Clock
) -> None:
    result = await search(sandbox, ("LOS", "LHR", DAY))
    conditions = {o.conditions for o in result.offers}

    assert any(not c.refundable and not c.changeable for c in conditions)
    assert any(
        c.changeable and c.change_penalty and c.change_penalty.amount > 0 for c in conditions
    )
    assert any(c.refundable and c.refund_penalty is not None for c in conditions)
    held = [o for o in result.offers if not o.requires_instant_payment]
    assert held
    for offer in held:
        assert (
            offer.payment_required_by is not None and offer.price_guarantee_expires_at is not None
        )
        assert clock.now < offer.price_guarantee_expires_at <= offer.payment_required_by
        assert offer.payment_required_by <= offer.slices[0].segments[0].departing_at - timedelta(
            hours=24
        )

    domestic = await search(sandbox, ("LOS", "ABV", DAY))
    assert all(
        o.requires_instant_payment and o.payment_required_by is None for o in domestic.offers
    )
    soon = await search(sandbox, ("LOS", "LHR", NOW.date() + timedelta(days=1)))
    assert all(o.requires_instant_payment for o in soon.offers)


# --- Offers over time and across replicas ------------------------------------------------------


async def test_offers_expire_after_their_time_to_live(clock: Clock) -> None:
    sandbox = SandboxFlights(clock=clock, offer_ttl=timedelta(minutes=20))
    result = await search(sandbox, ("LOS", "ABV", DAY))
    offer = result.offers[0]

    assert offer.expires_at == NOW + timedelta(minutes=20)
    assert result.created_at == NOW
    clock.now = NOW + timedelta(minutes=19, seconds=59)
    assert (await sandbox.get_offer(offer.id)).id == offer.id
    clock.now = NOW + timedelta(minutes=20)
    with pytest.raises(OfferUnavailable, match="expired"):
        await sandbox.get_offer(offer.id)


async def test_another_replica_rebuilds_the_very_same_offer(clock: Clock) -> None:
    searched = await search(
        SandboxFlights(clock=clock),
        ("LOS", "LHR", DAY),
        ("LHR", "LOS", DAY + timedelta(days=7)),
        adults=2,
        children=1,
    )
    clock.now += timedelta(minutes=5)
    replica = SandboxFlights(clock=clock)

    for offer in searched.offers:
        assert await replica.get_offer(offer.id) == offer


async def test_an_offer_refreshed_after_ten_minutes_may_change_price_but_not_flights(
    clock: Clock,
) -> None:
    sandbox = SandboxFlights(clock=clock)
    searched = await search(sandbox, ("LOS", "JFK", DAY))
    clock.now += timedelta(minutes=11)

    refreshed = [await sandbox.get_offer(o.id) for o in searched.offers]
    changed = [
        (a, b)
        for a, b in zip(searched.offers, refreshed, strict=True)
        if a.total_amount != b.total_amount
    ]
    assert changed
    assert len(changed) < len(refreshed)
    for before, after in zip(searched.offers, refreshed, strict=True):
        assert after.slices == before.slices
        assert abs(after.total_amount / before.total_amount - 1) <= Decimal("0.07")
        assert after.base_amount is not None and after.tax_amount is not None
        assert after.base_amount + after.tax_amount == after.total_amount
    assert refreshed == [await sandbox.get_offer(o.id) for o in searched.offers]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda i: i[:-1] + ("A" if i[-1] != "A" else "B"),
        lambda i: i[:20],
        lambda i: i + "AAAA",
        lambda i: i.replace("off_sandbox_", "off_"),
        lambda i: "off_0000AJySzfAebZOfc24O4e",
        lambda i: "off_sandbox_!!!!!!!!!!!!!!!!!!!!",
        lambda i: "",
    ],
)
async def test_a_garbled_offer_id_is_unavailable(
    sandbox: SandboxFlights, mangle: Callable[[str], str]
) -> None:
    offer = (await search(sandbox, ("LOS", "ABV", DAY))).offers[0]

    with pytest.raises(OfferUnavailable):
        await sandbox.get_offer(mangle(offer.id))


# --- Input the sandbox refuses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("slices", "field"),
    [
        ((("QQQ", "ABV", DAY),), "origin"),
        ((("LOS", "ZZZ", DAY),), "destination"),
        ((("LOS", "LOS", DAY),), "destination"),
        ((("LOS", "ABV", date(2025, 3, 1)),), "departure_date"),
        ((("LOS", "ABV", date(2026, 6, 1)),), "departure_date"),
        ((("LOS", "ABV", DAY), ("ABV", "LOS", DAY - timedelta(days=1))), "departure_date"),
    ],
)
async def test_searches_it_cannot_answer_are_rejected_naming_the_field(
    sandbox: SandboxFlights, slices: tuple[tuple[str, str, date], ...], field: str
) -> None:
    with pytest.raises(UpstreamRejected) as rejected:
        await search(sandbox, *slices)

    assert rejected.value.field == field
    assert rejected.value.upstream == "sandbox"
    if field == "origin":
        assert "QQQ" in rejected.value.detail


# --- Places ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("lag", "LOS"),
        ("LOS", "LOS"),
        ("los", "LOS"),
        ("abuja", "ABV"),
        ("port harcourt", "PHC"),
        ("Kano", "KAN"),
        ("uyo", "QUO"),
        ("murtala", "LOS"),
        ("heathrow", "LHR"),
        ("são paulo", "SAO"),
        ("SAO PAULO", "SAO"),
    ],
)
async def test_places_put_the_best_match_first(
    sandbox: SandboxFlights, query: str, first: str
) -> None:
    places = await sandbox.suggest_places(query)

    assert places[0].iata_code == first


async def test_london_suggests_the_city_then_its_airports(sandbox: SandboxFlights) -> None:
    places = await sandbox.suggest_places("London")

    assert (places[0].iata_code, places[0].type, places[0].name) == ("LON", "city", "London")
    assert [p.iata_code for p in places[1:6]] == ["LHR", "LGW", "LCY", "STN", "LTN"]
    lagos = (await sandbox.suggest_places("LOS"))[0]
    assert (lagos.type, lagos.city_name, lagos.country_code, lagos.time_zone) == (
        "airport",
        "Lagos",
        "NG",
        "Africa/Lagos",
    )


async def test_place_suggestions_are_limited(sandbox: SandboxFlights) -> None:
    assert len(await sandbox.suggest_places("a")) == 10
    assert len(await sandbox.suggest_places("a", limit=3)) == 3
    assert await sandbox.suggest_places("   ") == []
    assert await sandbox.suggest_places("qqqqqq") == []


# --- Many days ------------------------------------------------------------------------------


async def test_a_return_search_on_any_of_forty_days_offers_flights_on_the_dates_asked(
    sandbox: SandboxFlights,
) -> None:
    """The search the benchmark times (bench/in_process.py), held to what it must answer."""
    for i in range(40):
        out_day, back_day = DAY + timedelta(days=i), DAY + timedelta(days=i + 10)
        result = await search(sandbox, ("LOS", "LHR", out_day), ("LHR", "LOS", back_day))

        assert 30 <= len(result.offers) <= 60, out_day
        assert len({offer.id for offer in result.offers}) == len(result.offers)
        for offer in result.offers:
            out, back = offer.slices
            assert out.segments[0].departing_at.date() == out_day
            assert back.segments[0].departing_at.date() == back_day
            assert out.segments[-1].arriving_at < back.segments[0].departing_at
            assert offer.expires_at > NOW
