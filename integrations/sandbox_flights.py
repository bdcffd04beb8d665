"""The offline flight provider: deterministic offers over real airports, airlines and fares."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import struct
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from itertools import pairwise, product
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations import places
from integrations.errors import UpstreamRejected
from integrations.flights import (
    Amount,
    CabinClass,
    Carrier,
    Conditions,
    Offer,
    OfferPassenger,
    OfferUnavailable,
    PassengerKind,
    Place,
    ProviderMode,
    SearchRequest,
    SearchResult,
    Segment,
    Slice,
)

UPSTREAM = "sandbox"

_LOGO_URL = "https://assets.duffel.com/img/airlines/for-light-background/full-color-logo/{}.svg"

# --- Geography ---------------------------------------------------------------------------------

_REGIONS = {
    "NG": "NG",
    "WAF": "BJ BF CV CI GM GH GN GW LR ML MR NE SN SL TG",
    "CAF": "AO CM CF TD CG CD GQ GA ST",
    "EAF": "BI DJ ER ET KE RW SO SS SD TZ UG",
    "SAF": "BW KM LS MG MW MU MZ NA SC ZA SZ ZM ZW RE YT",
    "NAF": "DZ EG LY MA TN EH",
    "EUR": "AD AL AT BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GI GR HR HU IE IS IT LI LT LU "
    "LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SK SM TR UA XK GE AM AZ",
    "MEA": "AE BH IL IQ IR JO KW LB OM PS QA SA SY YE",
    "SAS": "AF BD BT IN LK MV NP PK",
    "CAS": "KZ KG TJ TM UZ",
    "EAS": "CN HK JP KP KR MN MO TW",
    "SEA": "BN KH ID LA MM MY PH SG TH TL VN",
    "OCE": "AU NZ FJ PG NC PF SB VU WS TO",
    "NAM": "US CA",
    "LAM": "MX GT BZ SV HN NI CR PA CU JM HT DO PR BS BB TT AG LC VC GD KN DM AW CW KY TC VG "
    "VI BM CO VE EC PE BO BR PY UY AR CL GY SR GF",
}
_REGION_OF = {country: region for region, codes in _REGIONS.items() for country in codes.split()}
_AFRICA = frozenset({"NG", "WAF", "CAF", "EAF", "SAF", "NAF"})

# Every Nigerian airport with scheduled service, most travelled first (the place table's order);
# the first four are the gateways foreign airlines fly to.
_NIGERIA = " ".join(a.code for a in places.NIGERIA if a.scheduled)
_NIGERIA_GATEWAYS = frozenset({"LOS", "ABV", "PHC", "KAN"})
# The busiest long-haul airports: several flights a day between any two of them.
_TRUNKS = "LHR CDG DXB IST AMS FRA JFK DOH ATL IAD IAH EWR ORD LAX SFO MIA BOS YYZ SIN HKG NRT"
_TRUNK_AIRPORTS = frozenset(_TRUNKS.split())

# Airports the long-haul airlines serve from their hubs when they fly to the airport's region,
# roughly largest first (the order also ranks place suggestions).
_MAJOR_AIRPORTS = """
LHR CDG DXB IST AMS FRA JFK DOH ADD NBO JNB ACC ATL CAI CMN IAD IAH EWR ORD LAX SFO MIA BOS YYZ
ABJ DSS LFW COO OUA BKO NIM CKY FNA ROB BJL NKC OXB RAI SID
DLA NSI LBV BZV PNR FIH NDJ BGF SSG LAD KGL EBB DAR JRO ZNZ MBA JUB KRT BJM JIB MGQ
CPT DUR HRE LUN LLW MPM WDH GBE VFA MRU SEZ TNR RAK ALG TUN HRG SSH TNG AGA
MUC MAD BCN FCO ZRH VIE BRU CPH DUB MXP ATH LIS OSL ARN HEL WAW PRG BUD GVA MAN BER HAM DUS
NCE LYS EDI AUH RUH JED DMM KWI BAH MCT AMM BEY TLV MED
DEL BOM BLR MAA HYD CCU COK KHI LHE ISB DAC CMB KTM MLE
PEK PKX PVG CAN HKG TPE NRT HND ICN KIX CTS SIN BKK KUL CGK MNL SGN HAN DPS
SYD MEL BNE PER AKL DFW SEA DEN DTW MSP PHL CLT MCO LAS PHX YUL YVR
MEX CUN GRU GIG EZE BOG LIM SCL PTY
"""
# Second airports of big cities: suggested after the majors, flown by the airlines naming them.
_CITY_AIRPORTS = """
LGW LCY STN LTN SEN ORY BVA LIN BGY CIA BMA NYO SAW SHJ LGA DCA BWI MDW YTZ CGH VCP SDU AEP
GMP ITM UKB OKD HLP SVO DME VKO
"""

# Metropolitan codes the resolvers accept, and the airports each covers.
_CITIES = {code: (name, " ".join(members)) for code, (name, members) in places.METRO_AREAS.items()}

# City names as travellers write them, where the data set spells them otherwise.
_CITY_NAMES = {
    "ENU": "Enugu", "BNI": "Benin City", "DSS": "Dakar", "CTS": "Sapporo", "IST": "Istanbul",
    "FRA": "Frankfurt", "YYZ": "Toronto", "YUL": "Montreal", "YVR": "Vancouver", "BKO": "Bamako",
    "SID": "Sal", "ZNZ": "Zanzibar", "EZE": "Buenos Aires", "PTY": "Panama City", "DPS": "Bali",
    "BVA": "Paris", "NYO": "Stockholm", "MRU": "Mauritius", "DMM": "Dammam", "DEL": "Delhi",
}  # fmt: skip

# Not somewhere a traveller books a ticket to, unless curated above.
_NOT_FOR_TRAVELLERS = re.compile(
    r"heliport|seaplane|air base|air force|naval|army|\braf\b|airstrip|\bahp\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Airport:
    code: str
    name: str
    city: str
    country: str
    region: str
    zone: ZoneInfo
    lat: float
    lon: float
    major: bool
    rank: int


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _airports() -> dict[str, _Airport]:
    """Every airport of the place table, loaded once per process."""
    rows = [
        (a.code, a.name, a.city, a.country, a.time_zone, a.latitude, a.longitude)
        for a in places.airports().values()
    ]
    majors = set(_MAJOR_AIRPORTS.split()) | _NIGERIA_GATEWAYS
    ranked = [*_NIGERIA.split(), *_MAJOR_AIRPORTS.split(), *_CITY_AIRPORTS.split()]
    ranks = {code: position for position, code in enumerate(ranked)}
    airports: dict[str, _Airport] = {}
    for code, name, city, country, zone, lat, lon in rows:
        rank = ranks.get(code)
        if rank is None:
            # No traffic figures in the data: international airports are usually the bigger ones.
            rank = 100_000 if "international" in name.lower() else 200_000
        airports[code] = _Airport(
            code=code,
            name=name,
            city=_CITY_NAMES.get(code) or city or name,
            country=country,
            region=_REGION_OF.get(country, "ZZ"),
            zone=_zone(zone),
            lat=float(lat),
            lon=float(lon),
            major=code in majors,
            rank=rank,
        )
    return airports


def _airport(code: str) -> _Airport:
    return _airports()[code]


def _members(code: str) -> tuple[str, ...]:
    """The airports a searched code covers: itself, or a metropolitan area's airports."""
    city = _CITIES.get(code)
    if city is not None:
        return tuple(c for c in city[1].split() if c in _airports())
    return (code,)


@lru_cache(maxsize=65_536)
def _km(a: str, b: str) -> float:
    """Great-circle distance (haversine)."""
    x, y = _airport(a), _airport(b)
    lat1, lat2 = math.radians(x.lat), math.radians(y.lat)
    dlat, dlon = lat2 - lat1, math.radians(y.lon - x.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _eastward(a: str, b: str) -> float:
    """How much of the route heads east (1) or west (-1); jet streams speed eastbound flights."""
    x, y = _airport(a), _airport(b)
    lat1, lat2 = math.radians(x.lat), math.radians(y.lat)
    dlon = math.radians(y.lon - x.lon)
    east = math.sin(dlon) * math.cos(lat2)
    north = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return east / (math.hypot(east, north) or 1.0)


@cache
def _place(code: str) -> Place:
    city = _CITIES.get(code)
    if city is not None:
        main = _airport(_members(code)[0])
        return Place(
            iata_code=code,
            name=city[0],
            type="city",
            city_name=city[0],
            country_code=main.country,
            time_zone=main.zone.key,
            latitude=main.lat,
            longitude=main.lon,
        )
    airport = _airport(code)
    return Place(
        iata_code=code,
        name=airport.name,
        city_name=airport.city,
        country_code=airport.country,
        time_zone=airport.zone.key,
        latitude=airport.lat,
        longitude=airport.lon,
    )


# --- Airlines ----------------------------------------------------------------------------------

_CABIN_LETTERS: dict[str, CabinClass] = {
    "E": "economy",
    "P": "premium_economy",
    "B": "business",
    "F": "first",
}
_REGIONAL, _NARROWBODY, _WIDEBODY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Airline:
    code: str
    name: str
    currency: str  # international fares; Nigerian domestic fares are always in naira
    hubs: tuple[str, ...]
    regions: frozenset[str]  # regions whose major airports it flies to from every hub
    stations: frozenset[str]  # further airports it flies to from every hub
    hub_stations: frozenset[tuple[str, str]]  # (hub, airport) routes flown from one hub only
    home: str  # the country whose airports its hubs feed
    alliance: str
    fleet: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    fare: float  # price level against the market
    holds: bool  # sells offers that can be held and paid later
    cabins: frozenset[CabinClass]
    nigerian: bool
    max_km: float


def _airline(
    code: str,
    name: str,
    currency: str,
    hubs: str,
    *,
    regions: str = "",
    stations: str = "",
    home: str = "",
    alliance: str = "",
    fleet: tuple[str, str, str],
    fare: float = 1.0,
    holds: bool = True,
    cabins: str = "EB",
    nigerian: bool = False,
) -> _Airline:
    spelled = {r for r in regions.split() if r != "AFR"} | (_AFRICA if "AFR" in regions else set())
    plain = {s for s in stations.split() if "/" not in s}
    one_hub = {(s.split("/")[1], s.split("/")[0]) for s in stations.split() if "/" in s}
    types = tuple(tuple(t.strip() for t in kind.split(",") if t.strip()) for kind in fleet)
    regional, narrow, wide = types
    return _Airline(
        code=code,
        name=name,
        currency=currency,
        hubs=tuple(hubs.split()),
        regions=frozenset(spelled),
        stations=frozenset(plain),
        hub_stations=frozenset(one_hub),
        home=home,
        alliance=alliance,
        fleet=(regional, narrow, wide),
        fare=fare,
        holds=holds,
        cabins=frozenset(_CABIN_LETTERS[c] for c in cabins),
        nigerian=nigerian,
        max_km=15_600.0 if wide else 5_600.0 if narrow else 1_900.0,
    )


# Routes are hub-and-spoke: an airline flies between one of its hubs and an airport it serves.
# `CODE/HUB` in `stations` is flown from that hub only.
_AIRLINES: Final = {
    a.code: a
    for a in (
        # Nigerian airlines: domestic network from their bases, a few regional routes.
        _airline(
            "P4", "Air Peace", "USD", "LOS ABV", nigerian=True, holds=False,
            stations="PHC KAN ENU QOW CBQ BNI QUO ABB ILR JOS KAD SKO MIU YOL AKR QRW GMO BCU "
            "ACC/LOS FNA/LOS ROB/LOS BJL/LOS DSS/LOS ABJ/LOS JNB/LOS LGW/LOS LGW/ABV",
            fleet=("Embraer 145, Embraer 175", "Embraer 195-E2, Boeing 737-500",
                   "Boeing 777-300"),
        ),
        _airline(
            "W3", "Arik Air", "USD", "LOS ABV", nigerian=True, holds=False,
            stations="PHC KAN ENU QOW CBQ BNI QUO ABB ILR JOS SKO YOL QRW",
            fleet=("Bombardier CRJ900, De Havilland Dash 8-400", "Boeing 737-800", ""),
        ),
        _airline(
            "QI", "Ibom Air", "USD", "QUO LOS ABV", nigerian=True, holds=False,
            stations="PHC CBQ ENU", fleet=("Bombardier CRJ900", "Airbus A220-300", ""),
        ),
        _airline(
            "UN", "United Nigeria Airlines", "USD", "ABV LOS ENU", nigerian=True, holds=False,
            stations="QOW ABB PHC KAN JOS BNI", cabins="E",
            fleet=("Embraer 145, Bombardier CRJ900", "Airbus A320", ""),
        ),
        _airline(
            "OF", "Overland Airways", "USD", "LOS ABV", nigerian=True, holds=False,
            stations="IBA ILR AKR BNI KAD MIU SKO YOL BCU DKA MXJ GMO", cabins="E", fare=0.95,
            fleet=("ATR 72-600, Embraer 175", "", ""),
        ),
        _airline(
            "VK", "ValueJet", "USD", "LOS ABV", nigerian=True, holds=False,
            stations="PHC KAN BNI QRW QOW", cabins="E", fare=0.88,
            fleet=("Bombardier CRJ900", "", ""),
        ),
        # West African regionals.
        _airline(
            "AW", "Africa World Airlines", "USD", "ACC", holds=False, home="GH", cabins="E",
            stations="LOS ABV FNA ROB BJL ABJ DSS LFW", fleet=("Embraer 145", "Embraer 190", ""),
        ),
        _airline(
            "KP", "ASKY Airlines", "USD", "LFW", holds=False, fare=0.95,
            stations="LOS ABV ACC ABJ DSS COO OUA BKO NIM CKY FNA ROB BJL NKC DLA NSI LBV BZV "
            "FIH NDJ BGF SSG LAD",
            fleet=("De Havilland Dash 8-400", "Boeing 737-800", ""),
        ),
        # Europe.
        _airline(
            "BA", "British Airways", "GBP", "LHR", home="GB", alliance="oneworld", fare=1.12,
            regions="EUR NAM MEA SAS EAS SEA LAM", cabins="EPBF",
            stations="LOS ABV ACC JNB CPT NBO CAI CMN RAK MRU",
            fleet=("Embraer 190", "Airbus A320neo, Airbus A321neo",
                   "Boeing 787-9, Airbus A350-1000, Boeing 777-200ER"),
        ),
        _airline(
            "VS", "Virgin Atlantic", "GBP", "LHR", alliance="SkyTeam", fare=1.08, cabins="EPB",
            stations="LOS ACC JNB CPT JFK BOS IAD ATL LAX SFO MCO MIA SEA LAS DEL BOM BLR RUH",
            fleet=("", "", "Boeing 787-9, Airbus A350-1000, Airbus A330-900neo"),
        ),
        _airline(
            "AF", "Air France", "EUR", "CDG", home="FR", alliance="SkyTeam", fare=1.06,
            regions="EUR NAM LAM MEA SAS EAS SEA", cabins="EPBF",
            stations="LOS ABV ACC ABJ DSS COO LFW OUA BKO NIM CKY FNA NKC DLA NSI LBV BZV FIH "
            "NDJ BGF LAD PNR NBO JNB CPT TNR MRU SEZ CAI CMN RAK ALG TUN",
            fleet=("Embraer 190, Airbus A220-300", "Airbus A320, Airbus A321",
                   "Airbus A350-900, Boeing 777-300ER, Boeing 787-9"),
        ),
        _airline(
            "KL", "KLM", "EUR", "AMS", home="NL", alliance="SkyTeam", fare=1.03,
            regions="EUR NAM LAM MEA SAS EAS SEA", cabins="EPB",
            stations="LOS ABV ACC NBO KGL EBB DAR JRO ZNZ JNB CPT CAI CMN",
            fleet=("Embraer 175, Embraer 195-E2", "Boeing 737-800",
                   "Boeing 787-9, Boeing 777-300ER, Airbus A330-200"),
        ),
        _airline(
            "LH", "Lufthansa", "EUR", "FRA MUC", home="DE", alliance="Star Alliance", fare=1.08,
            regions="EUR NAM LAM MEA SAS EAS SEA", cabins="EPBF",
            stations="LOS/FRA ABV/FRA ACC/FRA ADD/FRA NBO/FRA JNB CPT CAI LAD/FRA MBA/FRA DAR/MUC",
            fleet=("Bombardier CRJ900, Embraer 195", "Airbus A320neo, Airbus A321",
                   "Airbus A350-900, Boeing 747-8, Airbus A340-300"),
        ),
        _airline(
            "TK", "Turkish Airlines", "USD", "IST", home="TR", alliance="Star Alliance", fare=0.9,
            regions="AFR EUR NAM LAM MEA SAS CAS EAS SEA", stations="LGW SAW SVO",
            fleet=("", "Boeing 737 MAX 8, Airbus A321neo",
                   "Airbus A350-900, Boeing 777-300ER, Boeing 787-9"),
        ),
        # The Gulf.
        _airline(
            "EK", "Emirates", "USD", "DXB", fare=1.02, cabins="EPBF",
            regions="EUR NAM MEA SAS EAS SEA OCE",
            stations="LOS ACC ABJ DSS CKY ADD NBO EBB DAR JNB CPT DUR HRE LUN LAD MRU SEZ CAI "
            "CMN ALG TUN LGW SVO GRU EZE",
            fleet=("", "", "Boeing 777-300ER, Airbus A380-800"),
        ),
        _airline(
            "QR", "Qatar Airways", "USD", "DOH", alliance="oneworld", cabins="EBF",
            regions="EUR NAM MEA SAS CAS EAS SEA OCE",
            stations="LOS ABV KAN ACC ABJ DSS ADD NBO KGL EBB DAR JRO ZNZ MBA JNB CPT DUR HRE "
            "LUN MPM WDH MRU SEZ CAI CMN ALG TUN KRT JIB MGQ LGW SVO GRU",
            fleet=("", "Airbus A320", "Boeing 787-8, Airbus A350-900, Boeing 777-300ER"),
        ),
        # East, North and Southern Africa.
        _airline(
            "ET", "Ethiopian Airlines", "USD", "ADD", home="ET", alliance="Star Alliance",
            regions="AFR MEA SAS EAS SEA", fare=0.88,
            stations="ENU LHR CDG FRA BRU FCO MAD ARN CPH DUB GVA VIE ATH IST MXP OSL MAN IAD EWR "
            "ORD YYZ ATL LAX GRU SVO",
            fleet=("De Havilland Dash 8-400", "Boeing 737 MAX 8",
                   "Boeing 787-9, Airbus A350-900, Boeing 777-300ER"),
        ),
        _airline(
            "KQ", "Kenya Airways", "USD", "NBO", home="KE", alliance="SkyTeam", fare=0.92,
            regions="AFR", stations="LHR CDG AMS JFK DXB BOM BKK CAN",
            fleet=("Embraer 190", "Boeing 737-800", "Boeing 787-8"),
        ),
        _airline(
            "WB", "RwandAir", "USD", "KGL", fare=0.9,
            stations="LOS ABV ACC ABJ COO DLA LBV BZV FIH NBO EBB DAR JRO BJM JNB CPT HRE LUN "
            "LHR BRU DXB DOH BOM",
            fleet=("Bombardier CRJ900", "Boeing 737-800", "Airbus A330-300"),
        ),
        _airline(
            "MS", "EgyptAir", "USD", "CAI", home="EG", alliance="Star Alliance", fare=0.86,
            regions="AFR EUR MEA SAS EAS", stations="JFK IAD YYZ BKK KUL",
            fleet=("Airbus A220-300", "Boeing 737-800, Airbus A320neo",
                   "Boeing 787-9, Airbus A330-300"),
        ),
        _airline(
            "AT", "Royal Air Maroc", "EUR", "CMN", home="MA", alliance="oneworld", fare=0.85,
            regions="EUR",
            stations="LOS ABV ACC ABJ DSS COO LFW OUA BKO NIM CKY FNA ROB BJL NKC DLA NSI LBV "
            "BZV FIH NDJ BGF SSG CAI TUN ALG JFK IAD MIA BOS YUL DOH JED RUH GRU",
            fleet=("Embraer 190", "Boeing 737-800", "Boeing 787-9"),
        ),
        _airline(
            "SA", "South African Airways", "USD", "JNB", home="ZA", alliance="Star Alliance",
            fare=0.95, stations="LOS ACC DAR FIH HRE LUN LLW MPM WDH GBE VFA MRU PER GRU",
            fleet=("", "Airbus A320", "Airbus A330-300, Airbus A340-300"),
        ),
        # The Americas.
        _airline(
            "DL", "Delta Air Lines", "USD", "ATL JFK DTW MSP LAX SEA", home="US", fare=1.05,
            alliance="SkyTeam", regions="NAM LAM EUR", cabins="EPB",
            stations="LOS/ATL LOS/JFK ACC/JFK DSS/JFK JNB/ATL CPT/ATL TLV/JFK NRT/DTW HND/ATL "
            "HND/LAX ICN/ATL ICN/DTW PVG/DTW TPE/SEA MNL/SEA SYD/LAX AKL/LAX",
            fleet=("Embraer 175", "Airbus A321neo, Boeing 737-900ER, Airbus A220-300",
                   "Airbus A330-900neo, Airbus A350-900, Boeing 767-400ER"),
        ),
        _airline(
            "UA", "United Airlines", "USD", "EWR IAD IAH ORD SFO", home="US", fare=1.02,
            alliance="Star Alliance", regions="NAM LAM EUR", cabins="EPB",
            stations="LOS/IAD LOS/IAH ACC/IAD JNB/EWR CPT/EWR DEL/EWR TLV/EWR AMM/IAD DXB/EWR "
            "NRT/SFO HND/SFO ICN/SFO PVG/SFO HKG/SFO TPE/SFO MNL/SFO SIN/SFO SYD/SFO SYD/IAH "
            "MEL/SFO AKL/SFO",
            fleet=("Embraer 175", "Boeing 737 MAX 9, Airbus A320",
                   "Boeing 787-9, Boeing 777-200ER, Boeing 767-300ER"),
        ),
        _airline(
            "AC", "Air Canada", "USD", "YYZ YUL YVR", home="CA", alliance="Star Alliance",
            regions="NAM LAM EUR", cabins="EPB",
            stations="CMN/YUL ALG/YUL NRT/YVR HND/YVR ICN/YVR PVG/YVR HKG/YVR DEL/YYZ BOM/YYZ "
            "SYD/YVR AKL/YVR TLV/YYZ DXB/YYZ",
            fleet=("Embraer 175, Bombardier CRJ900", "Airbus A220-300, Airbus A321",
                   "Boeing 787-9, Boeing 777-300ER"),
        ),
        # Asia and Oceania.
        _airline(
            "SQ", "Singapore Airlines", "USD", "SIN", alliance="Star Alliance", fare=1.08,
            regions="SEA EAS SAS OCE", cabins="EPBF",
            stations="LHR CDG FRA MUC AMS ZRH FCO MXP BCN IST MAN CPH JFK EWR LAX SFO SEA IAH "
            "YVR JNB CPT DXB",
            fleet=("", "Boeing 737 MAX 8", "Airbus A350-900, Boeing 787-10, Boeing 777-300ER"),
        ),
        _airline(
            "QF", "Qantas", "USD", "SYD MEL PER", home="AU", alliance="oneworld", fare=1.1,
            regions="OCE", cabins="EPBF",
            stations="LHR/PER JNB/SYD SIN HKG HND NRT LAX/SYD LAX/MEL DFW/SYD SFO/SYD",
            fleet=("De Havilland Dash 8-400", "Boeing 737-800",
                   "Boeing 787-9, Airbus A380-800, Airbus A330-300"),
        ),
    )
}  # fmt: skip

# Partnerships outside the three alliances: codeshares on each other's flights.
_PARTNERS = frozenset({("EK", "QF"), ("WB", "QR"), ("KP", "ET")})
_HUBS: Final = tuple(dict.fromkeys(h for a in _AIRLINES.values() for h in a.hubs))
# Where foreign airlines hand travellers to Nigerian domestic flights on one ticket.
_INTERLINE_AIRPORTS = frozenset({"LOS", "ABV"})

_MIN_LEG_KM = 100.0


@cache
def _carrier(code: str) -> Carrier:
    return Carrier(iata_code=code, name=_AIRLINES[code].name, logo_url=_LOGO_URL.format(code))


def _partners(a: str, b: str) -> bool:
    alliance = _AIRLINES[a].alliance
    return (alliance != "" and alliance == _AIRLINES[b].alliance) or (
        (a, b) in _PARTNERS or (b, a) in _PARTNERS
    )


def _interline(a: str, b: str, at: str) -> bool:
    return at in _INTERLINE_AIRPORTS and _AIRLINES[a].nigerian != _AIRLINES[b].nigerian


def _connects(a: str, b: str, at: str) -> bool:
    # Connections happen at one of the two airlines' hubs, on one ticket.
    if at not in _AIRLINES[a].hubs and at not in _AIRLINES[b].hubs:
        return False
    return a == b or _partners(a, b) or _interline(a, b, at)


def _serves_from(line: _Airline, hub: str, other: _Airport, km: float) -> bool:
    return (
        other.code in line.hubs
        or other.code in line.stations
        or (hub, other.code) in line.hub_stations
        or (other.major and other.region in line.regions)
        # The home airline feeds its country's airports from its hubs.
        or (other.country == line.home and km <= 3_000)
    )


def _flies(line: _Airline, a: str, b: str) -> bool:
    """Whether the airline flies this route nonstop."""
    if a == b:
        return False
    km = _km(a, b)
    if not _MIN_LEG_KM <= km <= line.max_km:
        return False
    if not line.nigerian and _airport(a).country == "NG" == _airport(b).country:
        return False  # foreign airlines have no cabotage rights
    return (a in line.hubs and _serves_from(line, a, _airport(b), km)) or (
        b in line.hubs and _serves_from(line, b, _airport(a), km)
    )


def _needless(first: str, second: str, hub: str, origin: str, destination: str) -> bool:
    """A connection nobody would sell: a short hop to reach a flight the airline has anyway."""
    if first == second:
        short_hop = min(_km(origin, hub), _km(hub, destination)) < 1_000
        return short_hop and _flies(_AIRLINES[first], origin, destination)
    if not _interline(first, second, hub):
        return False
    # A domestic feeder flight sold with a foreign airline that serves that city itself.
    foreign, nigerian_end = (second, origin) if _AIRLINES[first].nigerian else (first, destination)
    line = _AIRLINES[foreign]
    return any(_flies(line, nigerian_end, h) for h in line.hubs)


def _detour_limit(origin: str, destination: str, km: float) -> float:
    # Short domestic hops tolerate a long way round through the hub; long-haul travellers less.
    if _airport(origin).country == "NG" == _airport(destination).country:
        return 4.0  # between two regional airports, Lagos or Abuja is the only way
    if km < 800:
        return 2.2
    if km < 2_500:
        return 1.7
    if km < 10_000:
        return 1.6
    return 1.3


_Path = tuple[tuple[str, str, str], ...]  # (airline, from, to) per leg


@lru_cache(maxsize=8_192)
def _routes(origin: str, destination: str, stops: int) -> tuple[_Path, ...]:
    """The airline paths with exactly `stops` connections, the most direct first."""
    lines = tuple(_AIRLINES.values())
    if stops == 0:
        return tuple(
            ((a.code, origin, destination),) for a in lines if _flies(a, origin, destination)
        )
    direct = _km(origin, destination)
    if direct < 1_500 and _routes(origin, destination, 0):
        return ()  # nobody sells a connection on a short route that has nonstop flights
    limit = _detour_limit(origin, destination, direct)
    found: list[tuple[float, _Path]] = []
    if stops == 1:
        for hub in _HUBS:
            if hub in (origin, destination):
                continue
            ratio = (_km(origin, hub) + _km(hub, destination)) / direct
            if ratio > limit:
                continue
            firsts = [a.code for a in lines if _flies(a, origin, hub)]
            seconds = [a.code for a in lines if _flies(a, hub, destination)] if firsts else []
            for first in firsts:
                for second in seconds:
                    if _connects(first, second, hub) and not _needless(
                        first, second, hub, origin, destination
                    ):
                        found.append((ratio, ((first, origin, hub), (second, hub, destination))))
        found.sort(key=lambda item: item[0])
        return tuple(path for _, path in found[:24])
    leaving = {h: [a.code for a in lines if _flies(a, origin, h)] for h in _HUBS}
    arriving = {h: [a.code for a in lines if _flies(a, h, destination)] for h in _HUBS}
    for one in _HUBS:
        if one in (origin, destination) or not leaving[one]:
            continue
        to_one = _km(origin, one)
        for two in _HUBS:
            if two in (origin, destination, one) or not arriving[two]:
                continue
            ratio = (to_one + _km(one, two) + _km(two, destination)) / direct
            if ratio > limit:
                continue
            middles = [a.code for a in lines if _flies(a, one, two)]
            for first, middle, last in product(leaving[one], middles, arriving[two]):
                if (
                    _connects(first, middle, one)
                    and _connects(middle, last, two)
                    and not _needless(first, middle, one, origin, two)
                ):
                    path = ((first, origin, one), (middle, one, two), (last, two, destination))
                    found.append((ratio, path))
    found.sort(key=lambda item: item[0])
    return tuple(path for _, path in found[:12])


# --- Timetables --------------------------------------------------------------------------------


def _seed(*parts: object) -> int:
    # hashlib, not hash(): the same search must give the same offers in every process.
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _rng(*parts: object) -> random.Random:
    return random.Random(_seed(*parts))  # noqa: S311 - reproducible sandbox data, not a secret


@dataclass(frozen=True, slots=True)
class _Departure:
    minute: int  # local time of day at the origin
    number: int
    aircraft: str
    minutes: int  # block time
    days: int  # weekdays operated, Monday = bit 0


_DAILY = 0b111_1111
# Departure banks in local minutes after midnight: morning, midday, evening, late night.
_BANKS = ((360, 630), (660, 930), (960, 1290), (1320, 1435))
_SHORT_HAUL_BANKS = (4, 3, 3, 0)
_LONG_HAUL_BANKS = (2, 2, 3, 3)


def _turboprop(aircraft: str) -> bool:
    return "ATR" in aircraft or "Dash 8" in aircraft


def _aircraft(line: _Airline, km: float, rng: random.Random) -> tuple[str, int]:
    """A type from the airline's fleet that suits the distance, and its size class."""
    regional = [t for t in line.fleet[_REGIONAL] if km < 600 or not _turboprop(t)]
    narrow, wide = line.fleet[_NARROWBODY], line.fleet[_WIDEBODY]
    if km >= 4_500 and wide:
        kind = _WIDEBODY
    elif km < 1_200 and regional and (not narrow or rng.random() < 0.6):
        kind = _REGIONAL
    elif narrow and km < 5_600:
        kind = _NARROWBODY
    elif wide:
        kind = _WIDEBODY
    else:
        kind = _REGIONAL if line.fleet[_REGIONAL] else _NARROWBODY
    types = regional if kind == _REGIONAL and regional else line.fleet[kind]
    return rng.choice(types), kind


def _block_minutes(a: str, b: str, aircraft: str, kind: int) -> int:
    """Gate to gate: the type's block speed, ~30 minutes of taxi and climb, winds aloft."""
    speed = 480.0 if _turboprop(aircraft) else (700.0, 780.0, 820.0)[kind]
    km = _km(a, b)
    airborne = km / speed * 60 * (1 - 0.07 * _eastward(a, b))
    return 5 * round((30 + airborne) / 5)


def _frequency(line: _Airline, a: _Airport, b: _Airport, km: float, rng: random.Random) -> int:
    if line.nigerian and a.country == b.country == "NG":
        bases = {a.code, b.code} & {"LOS", "ABV"}
        if len(bases) == 2:
            return 6 if line.code == "P4" else rng.randint(2, 4)
        if bases and (a.code in _NIGERIA_GATEWAYS or b.code in _NIGERIA_GATEWAYS):
            return rng.randint(2, 3)
        return rng.randint(1, 2)
    if km < 1_500:
        return rng.randint(1, 2 + a.major + b.major)
    if km < 4_000:
        return rng.randint(1, 2)
    if a.code in _TRUNK_AIRPORTS and b.code in _TRUNK_AIRPORTS:
        return rng.randint(2, 4)
    return 2 if a.major and b.major and rng.random() < 0.25 else 1


@lru_cache(maxsize=16_384)
def _timetable(code: str, a: str, b: str) -> tuple[_Departure, ...]:
    """The airline's daily departures on a route, the same every week."""
    line = _AIRLINES[code]
    rng = _rng("timetable", code, a, b)
    km = _km(a, b)
    origin, destination = _airport(a), _airport(b)
    count = _frequency(line, origin, destination, km, rng)
    weights = _LONG_HAUL_BANKS if km >= 4_000 else _SHORT_HAUL_BANKS
    minutes: list[int] = []
    for _ in range(count):
        start, end = rng.choices(_BANKS, weights)[0]
        minutes.append(5 * (rng.randrange(start, end) // 5))
    minutes.sort()
    for i in range(1, len(minutes)):
        # Keep an airline's departures on one route at least an hour apart.
        minutes[i] = min(max(minutes[i], minutes[i - 1] + 60), 1435)
    days = _DAILY
    if count == 1 and not (origin.major and destination.major) and rng.random() < 0.5:
        days = 0
        for day in rng.sample(range(7), rng.randint(3, 6)):
            days |= 1 << day
    # Long-haul flights carry low numbers; the two directions of a route differ by one.
    pair = _seed("flight-number", code, *sorted((a, b)))
    base = 1 + 2 * (pair % 150) if km >= 4_000 else 201 + 2 * (pair % 700)
    base += 0 if a < b else 1
    departures = []
    for i, minute in enumerate(minutes):
        aircraft, kind = _aircraft(line, km, rng)
        block = _block_minutes(a, b, aircraft, kind) + 5 * rng.randint(-1, 2)
        departures.append(_Departure(minute, base + 2 * i, aircraft, block, days))
    return tuple(departures)


# Compared by identity: they live in cached tuples, so the model caches below key on them cheaply.
@dataclass(frozen=True, slots=True, eq=False)
class _Leg:
    operator: str
    marketer: str
    number: int
    origin: str
    destination: str
    departs: datetime  # UTC
    arrives: datetime  # UTC
    minutes: int
    aircraft: str


@dataclass(frozen=True, slots=True, eq=False)
class _Itinerary:
    legs: tuple[_Leg, ...]
    owner: str
    km: float  # origin to destination, what the fare is based on
    domestic: bool  # within Nigeria, priced in naira
    jitter: float  # this itinerary's fare against the model, from the day's demand
    minutes: int

    @property
    def departs(self) -> datetime:
        return self.legs[0].departs

    @property
    def arrives(self) -> datetime:
        return self.legs[-1].arrives

    @property
    def stops(self) -> int:
        return len(self.legs) - 1

    @property
    def score(self) -> int:
        """Lower is more attractive: time in the air and on the ground, a stop costs an hour."""
        return self.minutes + 60 * self.stops


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a path's itineraries share whatever the day: worked out once per path."""

    owner: str  # sells the ticket: the airline of the longest flight
    marketers: tuple[str, ...]  # per leg: the owner on its partners' flights (codeshare)
    km: float
    domestic: bool
    zones: tuple[ZoneInfo, ...]  # per leg, at its origin
    earliest: tuple[int, ...]  # per leg, the shortest connection onto it, in minutes


@lru_cache(maxsize=16_384)
def _plan(path: _Path) -> _Plan:
    owner = max(path, key=lambda leg: _km(leg[1], leg[2]))[0]
    marketers = tuple(
        owner if code != owner and _partners(owner, code) else code for code, _, _ in path
    )
    # Changing between a domestic and an international terminal takes longer.
    earliest = tuple(
        120 if i and _interline(path[i - 1][0], code, a) else 60
        for i, (code, a, _) in enumerate(path)
    )
    return _Plan(
        owner=owner,
        marketers=marketers,
        km=_km(path[0][1], path[-1][2]),
        domestic=all(_airport(a).country == "NG" == _airport(b).country for _, a, b in path),
        zones=tuple(_airport(a).zone for _, a, _ in path),
        earliest=earliest,
    )


@lru_cache(maxsize=16_384)
def _codeshare_number(marketer: str, operator: str, number: int) -> int:
    # Codeshare numbers sit in a high range of the marketing airline's own.
    return 5_000 + _seed("codeshare", marketer, operator, number) % 4_000


def _leg(path: _Path, plan: _Plan, index: int, departs: datetime, departure: _Departure) -> _Leg:
    code, a, b = path[index]
    marketer = plan.marketers[index]
    number = departure.number
    if marketer != code:
        number = _codeshare_number(marketer, code, number)
    arrives = departs + timedelta(minutes=departure.minutes)
    return _Leg(
        code, marketer, number, a, b, departs, arrives, departure.minutes, departure.aircraft
    )


def _fly(path: _Path, day: date, rng: random.Random) -> list[_Itinerary]:
    """The itineraries along a path departing on `day` (local), connections banked at the hubs."""
    plan = _plan(path)
    later = [_timetable(*leg) for leg in path[1:]]
    found: list[_Itinerary] = []
    for departure in _timetable(*path[0]):
        if not departure.days >> day.weekday() & 1:
            continue
        clock = time(departure.minute // 60, departure.minute % 60)
        local = datetime.combine(day, clock, plan.zones[0])
        legs = [_leg(path, plan, 0, local.astimezone(UTC), departure)]
        for index in range(1, len(path)):
            earliest = plan.earliest[index]
            wait = 5 * round(rng.triangular(earliest, 240, earliest + 40) / 5)
            departs = legs[-1].arrives + timedelta(minutes=wait)
            at_hub = departs.astimezone(plan.zones[index])
            minute = at_hub.hour * 60 + at_hub.minute
            scheduled = min(later[index - 1], key=lambda d: abs(d.minute - minute))
            legs.append(_leg(path, plan, index, departs, scheduled))
        minutes = (legs[-1].arrives - legs[0].departs) // timedelta(minutes=1)
        jitter = rng.uniform(0.9, 1.15)
        found.append(_Itinerary(tuple(legs), plan.owner, plan.km, plan.domestic, jitter, minutes))
    return found


@lru_cache(maxsize=2_048)
def _slice_options(
    origin: str, destination: str, day: date, two_stops: bool
) -> tuple[_Itinerary, ...]:
    """Every itinerary for one slice; deterministic for the same origin, destination and day."""
    rng = _rng("slice", origin, destination, day.isoformat())
    pairs = [(o, d) for o in _members(origin) for d in _members(destination) if o != d]
    found: list[_Itinerary] = []
    for o, d in pairs:
        for path in (*_routes(o, d, 0), *_routes(o, d, 1)):
            found.extend(_fly(path, day, rng))
    if two_stops:
        km = max((_km(o, d) for o, d in pairs), default=0.0)
        # Two stops only where fewer are scarce or the journey is very long anyway; a separate
        # stream keeps the shorter itineraries identical whatever max_connections says.
        if km >= 9_000 or len({it.owner for it in found}) < 3:
            extra = _rng("slice-2", origin, destination, day.isoformat())
            for o, d in pairs:
                for path in _routes(o, d, 2):
                    found.extend(_fly(path, day, extra))
    return tuple(found)


# --- Fares -------------------------------------------------------------------------------------

_CABIN_MULTIPLIER: dict[CabinClass, float] = {
    "economy": 1.0,
    "premium_economy": 1.6,
    "business": 3.5,
    "first": 6.0,
}
_PASSENGER_SHARE: dict[PassengerKind, Decimal] = {
    "adult": Decimal(1),
    "child": Decimal("0.75"),
    "infant_without_seat": Decimal("0.10"),
}
# Sandbox conversion for comparing and pricing; not what travellers are charged in the end.
_PER_USD = {"USD": 1.0, "GBP": 0.79, "EUR": 0.92, "NGN": 1_550.0}
_STOP_DISCOUNT = (1.0, 0.9, 0.82)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class _Brand:
    """A fare family: its price against the cheapest and its rules (fees in USD or naira)."""

    name: str
    factor: float
    refund_fee: float | None  # None: not refundable
    change_fee: float | None  # None: not changeable


_BRANDS: dict[tuple[bool, CabinClass], tuple[_Brand, ...]] = {
    (True, "economy"): (
        _Brand("saver", 1.0, None, 10_000),
        _Brand("classic", 1.2, 20_000, 10_000),
        _Brand("flex", 1.4, 7_500, 0),
    ),
    (False, "economy"): (
        _Brand("light", 1.0, None, None),
        _Brand("standard", 1.22, None, 120),
        _Brand("flex", 1.6, 60, 0),
    ),
    (True, "business"): (_Brand("business", 1.0, 25_000, 10_000), _Brand("flex", 1.25, 0, 0)),
    (False, "premium_economy"): (_Brand("standard", 1.0, None, 150), _Brand("flex", 1.3, 90, 0)),
    (False, "business"): (_Brand("business", 1.0, 300, 200), _Brand("flex", 1.25, 0, 0)),
    (False, "first"): (_Brand("first", 1.0, 0, 0),),
}


@cache
def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _season(day: date) -> float:
    """December and early January (travel home for the holidays), Easter and summer cost more."""
    if (day.month, day.day) >= (12, 15) or (day.month, day.day) <= (1, 7):
        return 1.22
    if day.month == 12 or (day.month == 1 and day.day <= 15):
        return 1.1
    if -9 <= (day - _easter(day.year)).days <= 3:
        return 1.1
    if day.month in (7, 8):
        return 1.12
    return 1.0


def _date_factor(day: date, booked: date) -> float:
    weekday = {4: 1.08, 5: 1.04, 6: 1.08}.get(day.weekday(), 1.0)
    # Fares climb steeply in the last couple of weeks before departure.
    advance = 0.93 + 0.47 * math.exp(-max((day - booked).days, 0) / 10)
    return _season(day) * weekday * advance


def _fare(itinerary: _Itinerary, day: date, booked: date) -> float:
    """The cheapest adult economy fare, in US dollars, before taxes."""
    km = itinerary.km
    if itinerary.domestic:
        base = (52_000 + 115 * km) / _PER_USD["NGN"]
    else:
        base = 80 + 0.16 * min(km, 2_500) + 0.085 * max(km - 2_500, 0)
    return (
        base
        * _STOP_DISCOUNT[itinerary.stops]
        * _AIRLINES[itinerary.owner].fare
        * _date_factor(day, booked)
        * itinerary.jitter
    )


def _taxes(itinerary: _Itinerary, base: float) -> float:
    legs = len(itinerary.legs)
    if itinerary.domestic:
        return 0.1 * base + legs * 2_500 / _PER_USD["NGN"]
    return 0.18 * base + 30 * legs


# --- Offers ------------------------------------------------------------------------------------

_CABINS: tuple[CabinClass, ...] = ("economy", "premium_economy", "business", "first")
_KINDS: tuple[PassengerKind, ...] = ("adult", "child", "infant_without_seat")
_MAX_OFFERS = 60
# Airlines load their timetables about 330 days ahead: a search beyond finds no flights yet; one
# beyond a year is refused.
_LOADED_DAYS = 330
_SCHEDULE_DAYS = 366
# Premium economy and first exist only on long-haul aircraft.
_LONG_HAUL_ONLY = frozenset({"premium_economy", "first"})


@dataclass(frozen=True, slots=True)
class _Query:
    """A search as the sandbox keys it: what the offers, and so the offer ids, depend on."""

    slices: tuple[tuple[str, str, date], ...]
    passengers: tuple[tuple[PassengerKind, int | None], ...]
    cabin: CabinClass
    max_connections: int


@dataclass(frozen=True, slots=True)
class _Candidate:
    owner: str
    itineraries: tuple[_Itinerary, ...]
    brand: _Brand
    currency: str
    base: float  # one adult, US dollars
    tax: float

    @property
    def minutes(self) -> int:
        return sum(it.minutes for it in self.itineraries)


def _feasible(combo: tuple[_Itinerary, ...]) -> bool:
    # A later slice leaves at least two hours after the previous one lands.
    return all(
        later.departs >= earlier.arrives + timedelta(hours=2) for earlier, later in pairwise(combo)
    )


def _offers_cabin(owner: str, cabin: CabinClass, combo: tuple[_Itinerary, ...]) -> bool:
    if cabin not in _AIRLINES[owner].cabins:
        return False
    return cabin not in _LONG_HAUL_ONLY or all(it.km >= 3_000 for it in combo)


def _combos(
    query: _Query, options: list[list[_Itinerary]]
) -> list[tuple[str, tuple[_Itinerary, ...]]]:
    """One itinerary per slice, one owner per offer where an airline covers every slice."""
    keep = {1: 6, 2: 3}.get(len(options), 2)
    per_owner = {1: 6, 2: 4}.get(len(options), 3)
    coverage: dict[str, int] = {}
    for opts in options:
        for owner in dict.fromkeys(it.owner for it in opts):
            coverage[owner] = coverage.get(owner, 0) + 1
    most = max(coverage.values())
    owners = [owner for owner, covered in coverage.items() if covered == most]
    if most < len(options):
        # No airline flies every slice: those flying most of them sell the others on their
        # ticket, as interline segments.
        owners = owners[:3]
    chosen: list[tuple[str, tuple[_Itinerary, ...]]] = []
    for owner in owners:
        best = []
        for opts in options:
            own = [it for it in opts if it.owner == owner]
            best.append(sorted(own or opts, key=lambda it: it.score)[: keep if own else 2])
        combos = [c for c in product(*best) if _feasible(c)]
        combos.sort(key=lambda c: sum(it.score for it in c))
        chosen.extend(
            (owner, c) for c in combos[:per_owner] if _offers_cabin(owner, query.cabin, c)
        )
    return chosen


def _candidates(query: _Query, booked: date) -> list[_Candidate]:
    """The offers of a search, in their final order (cheapest first), before pricing in money."""
    options: list[list[_Itinerary]] = []
    for origin, destination, day in query.slices:
        if (day - booked).days > _LOADED_DAYS:
            return []  # on sale, but the airlines have not loaded that timetable yet
        found = _slice_options(origin, destination, day, query.max_connections >= 2)
        options.append([it for it in found if it.stops <= query.max_connections])
        if not options[-1]:
            return []
    round_trip = len(query.slices) == 2 and query.slices[0][0] == query.slices[1][1]
    multiplier = _CABIN_MULTIPLIER[query.cabin] * (0.92 if round_trip else 1.0)
    by_owner: dict[str, list[_Candidate]] = {}
    for owner, combo in _combos(query, options):
        domestic = all(it.domestic for it in combo)
        fares = [
            _fare(it, day, booked) * multiplier
            for it, (_, _, day) in zip(combo, query.slices, strict=True)
        ]
        currency = "NGN" if domestic else _AIRLINES[owner].currency
        brands = _BRANDS.get((domestic, query.cabin)) or _BRANDS[(False, query.cabin)]
        for brand in brands:
            base = sum(fares) * brand.factor
            tax = sum(_taxes(it, f * brand.factor) for it, f in zip(combo, fares, strict=True))
            by_owner.setdefault(owner, []).append(
                _Candidate(owner, combo, brand, currency, base, tax)
            )
    # Every airline keeps its cheapest offers in the result before any airline gets more.
    queues = [
        sorted(group, key=lambda c: (c.base + c.tax, c.minutes)) for group in by_owner.values()
    ]
    picked: list[_Candidate] = []
    depth = 0
    while len(picked) < _MAX_OFFERS and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    picked = picked[:_MAX_OFFERS]
    picked.sort(
        key=lambda c: (c.base + c.tax, c.minutes, c.owner, c.itineraries[0].departs, c.brand.name)
    )
    return picked


def _cents(units: float) -> Decimal:
    return Decimal(round(units * 100)).scaleb(-2).quantize(_CENT)


@lru_cache(maxsize=1_024)
def _conditions(brand: _Brand, domestic: bool, currency: str, seats: int) -> Conditions:
    """The fare family's rules; fees are for the whole booking."""
    refund, change = brand.refund_fee, brand.change_fee
    return Conditions(
        refundable=refund is not None,
        refund_penalty=None if refund is None else _fee(refund, domestic, currency, seats),
        changeable=change is not None,
        change_penalty=None if change is None else _fee(change, domestic, currency, seats),
    )


def _fee(amount: float, domestic: bool, currency: str, seats: int) -> Amount:
    # Naira fees are set as they are; others in round amounts of the airline's currency.
    value = amount if domestic else 5 * round(amount * _PER_USD[currency] / 5)
    return Amount(amount=Decimal(int(value * seats)).quantize(_CENT), currency=currency)


def _price(
    candidate: _Candidate, passengers: tuple[tuple[PassengerKind, int | None], ...], factor: float
) -> tuple[Decimal, Decimal]:
    """Base and tax for the whole booking, each passenger's share rounded to the cent."""
    rate = _PER_USD[candidate.currency]
    # Airlines file fares in whole units (naira in hundreds); taxes are to the cent.
    naira = candidate.currency == "NGN"
    adult_base = Decimal(
        100 * round(candidate.base * factor * rate / 100)
        if naira
        else round(candidate.base * factor * rate)
    )
    adult_tax = Decimal(round(candidate.tax * rate)) if naira else _cents(candidate.tax * rate)
    base = tax = Decimal(0)
    for kind, _ in passengers:
        share = _PASSENGER_SHARE[kind]
        base += (adult_base * share).quantize(_CENT)
        tax += (adult_tax * share).quantize(_CENT)
    return base.quantize(_CENT), tax.quantize(_CENT)


# --- Offer ids ---------------------------------------------------------------------------------
#
# An offer id carries everything needed to rebuild its offer on any replica without shared state:
# the normalized search, when it ran and the offer's position in the result. Layout, then
# urlsafe base64 without padding:
#   version(1) created(4, Unix seconds) index(1)
#   slices<<4 | cabin<<2 | max_connections (1)
#   per slice: origin(2) destination(2) departure date(2, days since 2000-01-01)
#   passengers(1), per passenger: kind (0x80 set when an age byte follows) [age(1)]
#   checksum(4): BLAKE2b of all of the above, so a garbled id is refused rather than misread.

_ID_PREFIX = "off_sandbox_"
_ID_VERSION = 1
_ID_ALPHABET = re.compile(r"^[A-Za-z0-9_-]{16,200}$")
_EPOCH_DAY = date(2000, 1, 1).toordinal()
_CHECKSUM_KEY = b"sureflights-offer"[:16]


def _code_number(code: str) -> int:
    return (ord(code[0]) - 65) * 676 + (ord(code[1]) - 65) * 26 + ord(code[2]) - 65


def _code_text(number: int) -> str:
    first, rest = divmod(number, 676)
    second, third = divmod(rest, 26)
    if first >= 26:
        raise ValueError("not a code")
    return "".join(chr(65 + n) for n in (first, second, third))


def _pack_query(query: _Query) -> bytes:
    head = len(query.slices) << 4 | _CABINS.index(query.cabin) << 2 | query.max_connections
    out = bytearray([head])
    for origin, destination, day in query.slices:
        out += struct.pack(
            ">HHH", _code_number(origin), _code_number(destination), day.toordinal() - _EPOCH_DAY
        )
    out.append(len(query.passengers))
    for kind, age in query.passengers:
        if age is None:
            out.append(_KINDS.index(kind))
        else:
            out += bytes((0x80 | _KINDS.index(kind), age))
    return bytes(out)


def _unpack_query(data: bytes) -> _Query:
    head = data[0]
    count, cabin, connections = head >> 4, head >> 2 & 3, head & 3
    if not 1 <= count <= 4 or connections > 2:
        raise ValueError("bad header")
    slices = []
    at = 1
    for _ in range(count):
        origin, destination, days = struct.unpack_from(">HHH", data, at)
        at += 6
        slices.append(
            (_code_text(origin), _code_text(destination), date.fromordinal(_EPOCH_DAY + days))
        )
    passengers: list[tuple[PassengerKind, int | None]] = []
    total = data[at]
    at += 1
    for _ in range(total):
        flag = data[at]
        at += 1
        age: int | None = None
        if flag & 0x80:
            age = data[at]
            at += 1
        passengers.append((_KINDS[flag & 0x7F], age))
    if at != len(data) or not 1 <= total <= 9:
        raise ValueError("bad passengers")
    return _Query(tuple(slices), tuple(passengers), _CABINS[cabin], connections)


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=4, person=_CHECKSUM_KEY).digest()


def _offer_id(query_bytes: bytes, created: datetime, index: int) -> str:
    payload = struct.pack(">BIB", _ID_VERSION, int(created.timestamp()), index) + query_bytes
    token = base64.urlsafe_b64encode(payload + _checksum(payload)).rstrip(b"=").decode()
    return _ID_PREFIX + token


def _read_offer_id(offer_id: str) -> tuple[_Query, datetime, int]:
    """The search, its time and the offer's position, or `OfferUnavailable` for a foreign id."""
    token = offer_id.removeprefix(_ID_PREFIX)
    if token == offer_id or not _ID_ALPHABET.match(token):
        raise OfferUnavailable(UPSTREAM, "no such offer")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload, checksum = raw[:-4], raw[-4:]
        if len(payload) < 7 or _checksum(payload) != checksum:
            raise ValueError("checksum")
        version, stamp, index = struct.unpack_from(">BIB", payload)
        if version != _ID_VERSION:
            raise ValueError("version")
        query = _unpack_query(payload[6:])
        for origin, destination, _ in query.slices:
            _known(origin, "origin")
            _known(destination, "destination")
    except (ValueError, IndexError, struct.error, UpstreamRejected) as error:
        raise OfferUnavailable(UPSTREAM, "no such offer") from error
    return query, datetime.fromtimestamp(stamp, UTC), index


# --- The provider ------------------------------------------------------------------------------


def _known(code: str, field: str) -> str:
    normalized = code.strip().upper()
    well_formed = len(normalized) == 3 and normalized.isascii() and normalized.isalpha()
    if well_formed and (normalized in _CITIES or normalized in _airports()):
        return normalized
    raise UpstreamRejected(
        UPSTREAM, f"unknown airport or city code {code.strip()[:16]!r}", field=field
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxFlights:
    """Flight search with no Duffel account: believable, deterministic offers that can be booked.

    The same search gives the same offers (ids, flights, prices) within the same second; offer
    expiry and hold deadlines follow the clock. `get_offer` rebuilds an offer from its id alone,
    so any replica answers for offers another one found. An offer refreshed more than ten minutes
    after its search may come back a few percent dearer or cheaper (decided by its id), so clients
    meet price changes as they would with a live airline.
    """

    mode: ProviderMode = "SANDBOX"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utc_now,
        offer_ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._clock = clock
        self._offer_ttl = offer_ttl

    def _now(self) -> datetime:
        now = self._clock()
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)

    async def search(self, request: SearchRequest) -> SearchResult:
        created = self._now().replace(microsecond=0)
        query = _normalize(request, created)
        packed = _pack_query(query)
        candidates = _candidates(query, created.date())
        passengers = _passengers(packed, query)
        offers = [
            self._offer(query, packed, created, index, candidate, passengers, 1.0)
            for index, candidate in enumerate(candidates)
        ]
        request_id = (
            "orq_sandbox_"
            + hashlib.blake2b(
                struct.pack(">I", int(created.timestamp())) + packed, digest_size=10
            ).hexdigest()
        )
        return SearchResult(request_id=request_id, created_at=created, offers=offers)

    async def get_offer(self, offer_id: str) -> Offer:
        """The offer as searched, repriced a little after ten minutes; else `OfferUnavailable`."""
        offer_id = offer_id.strip()
        query, created, index = _read_offer_id(offer_id)
        now = self._now()
        if created > now + timedelta(minutes=5):
            raise OfferUnavailable(UPSTREAM, "no such offer")
        if now >= created + self._offer_ttl:
            raise OfferUnavailable(UPSTREAM, "offer expired")
        candidates = _candidates(query, created.date())
        if index >= len(candidates):
            raise OfferUnavailable(UPSTREAM, "no such offer")
        packed = _pack_query(query)
        factor = _reprice(offer_id) if now - created > timedelta(minutes=10) else 1.0
        return self._offer(
            query, packed, created, index, candidates[index], _passengers(packed, query), factor
        )

    async def suggest_places(self, query: str, limit: int = 10) -> list[Place]:
        """Cities and airports for free text: code first, then city names, then airport names."""
        return _suggest(query, limit)

    def _offer(
        self,
        query: _Query,
        packed: bytes,
        created: datetime,
        index: int,
        candidate: _Candidate,
        passengers: list[OfferPassenger],
        factor: float,
    ) -> Offer:
        base, tax = _price(candidate, query.passengers, factor)
        domestic = all(it.domestic for it in candidate.itineraries)
        seats = sum(1 for kind, _ in query.passengers if kind != "infant_without_seat")
        currency = candidate.currency
        departs = candidate.itineraries[0].departs
        # Airlines stop holding seats three days before departure.
        holds = _AIRLINES[candidate.owner].holds and departs - created > timedelta(hours=72)
        pay_by = guarantee = None
        if holds:
            pay_by = min(created + timedelta(hours=72), departs - timedelta(hours=24))
            guarantee = min(pay_by, created + timedelta(hours=24))
        return Offer(
            id=_offer_id(packed, created, index),
            mode=self.mode,
            total_amount=base + tax,
            total_currency=currency,
            base_amount=base,
            tax_amount=tax,
            owner=_carrier(candidate.owner),
            slices=[
                _slice(it, origin, destination)
                for it, (origin, destination, _) in zip(
                    candidate.itineraries, query.slices, strict=True
                )
            ],
            passengers=passengers,
            expires_at=created + self._offer_ttl,
            conditions=_conditions(candidate.brand, domestic, currency, seats),
            requires_instant_payment=not holds,
            payment_required_by=pay_by,
            price_guarantee_expires_at=guarantee,
        )


def _normalize(request: SearchRequest, created: datetime) -> _Query:
    slices: list[tuple[str, str, date]] = []
    previous: date | None = None
    for wanted in request.slices:
        origin = _known(wanted.origin, "origin")
        destination = _known(wanted.destination, "destination")
        if set(_members(origin)) & set(_members(destination)):
            raise UpstreamRejected(
                UPSTREAM, f"origin and destination are both {origin}", field="destination"
            )
        today = created.astimezone(_airport(_members(origin)[0]).zone).date()
        day = wanted.departure_date
        if day < today:
            raise UpstreamRejected(
                UPSTREAM, f"departure date {day.isoformat()} is in the past", field="departure_date"
            )
        if day > today + timedelta(days=_SCHEDULE_DAYS):
            raise UpstreamRejected(
                UPSTREAM,
                f"no schedules are on sale for {day.isoformat()} yet",
                field="departure_date",
            )
        if previous is not None and day < previous:
            raise UpstreamRejected(UPSTREAM, "slices must be in date order", field="departure_date")
        previous = day
        slices.append((origin, destination, day))
    passengers: list[tuple[PassengerKind, int | None]] = []
    for passenger in request.passengers:
        if passenger.age is not None and not 0 <= passenger.age <= 130:
            raise UpstreamRejected(
                UPSTREAM, f"age {passenger.age} is not valid", field="passengers"
            )
        passengers.append((passenger.type, passenger.age))
    wanted_connections = request.max_connections
    if wanted_connections is not None and wanted_connections < 0:
        raise UpstreamRejected(
            UPSTREAM, "max_connections cannot be negative", field="max_connections"
        )
    # Duffel's default is one connection, and it never offers more than two.
    connections = 1 if wanted_connections is None else min(wanted_connections, 2)
    return _Query(tuple(slices), tuple(passengers), request.cabin_class, connections)


def _passengers(packed: bytes, query: _Query) -> list[OfferPassenger]:
    return [
        OfferPassenger(
            id="pas_sandbox_" + hashlib.blake2b(packed + bytes([i]), digest_size=8).hexdigest(),
            type=kind,
            age=age,
        )
        for i, (kind, age) in enumerate(query.passengers)
    ]


def _reprice(offer_id: str) -> float:
    """The step an older offer's fare takes when refreshed: up for some, down for a few."""
    roll = _seed("reprice", offer_id)
    chance, size = roll % 100, roll // 100 % 5
    if chance < 40:
        return 1 + (1 + size) / 100
    if chance < 50:
        return 1 - (1 + size % 3) / 100
    return 1.0


@lru_cache(maxsize=4_096)
def _segment(leg: _Leg) -> Segment:
    fingerprint = (
        f"{leg.marketer}{leg.number}|{leg.operator}|{leg.origin}|{leg.departs.isoformat()}"
    )
    return Segment(
        id="seg_sandbox_" + hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest(),
        origin=_place(leg.origin),
        destination=_place(leg.destination),
        departing_at=leg.departs.astimezone(_airport(leg.origin).zone),
        arriving_at=leg.arrives.astimezone(_airport(leg.destination).zone),
        duration_minutes=leg.minutes,
        marketing_carrier=_carrier(leg.marketer),
        operating_carrier=_carrier(leg.operator),
        flight_number=f"{leg.marketer}{leg.number:04d}",
        aircraft=leg.aircraft,
    )


@lru_cache(maxsize=8_192)
def _slice(itinerary: _Itinerary, origin: str, destination: str) -> Slice:
    return Slice(
        origin=_place(origin),
        destination=_place(destination),
        duration_minutes=itinerary.minutes,
        segments=[_segment(leg) for leg in itinerary.legs],
    )


# --- Place suggestions -------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents or punctuation, so "Sao" finds "São" and "st." finds "St"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


@dataclass(frozen=True, slots=True)
class _PlaceIndex:
    places: tuple[Place, ...]  # best first
    by_code: dict[str, int]
    cities: tuple[tuple[str, int], ...]  # (folded city name, place), sorted
    names: tuple[tuple[str, int], ...]  # (folded airport name from each word on, place), sorted


@cache
def _place_index() -> _PlaceIndex:
    airports = _airports()
    entries: list[tuple[tuple[int, int, str], Place, str, str]] = []
    for code, (city, members) in _CITIES.items():
        ranks = [airports[m].rank for m in members.split() if m in airports]
        entries.append(((min(ranks), 0, code), _place(code), _fold(city), ""))
    for airport in airports.values():
        if airport.rank >= 100_000 and _NOT_FOR_TRAVELLERS.search(airport.name):
            continue
        key = (airport.rank, 1, airport.code)
        entries.append((key, _place(airport.code), _fold(airport.city), _fold(airport.name)))
    entries.sort(key=lambda entry: entry[0])
    cities: list[tuple[str, int]] = []
    names: list[tuple[str, int]] = []
    for i, (_, _, city, name) in enumerate(entries):
        cities.append((city, i))
        words = name.split(" ")
        names.extend((" ".join(words[w:]), i) for w in range(len(words)) if words[w])
    return _PlaceIndex(
        places=tuple(entry[1] for entry in entries),
        by_code={entry[1].iata_code: i for i, entry in enumerate(entries)},
        cities=tuple(sorted(cities)),
        names=tuple(sorted(names)),
    )


def _prefixed(table: tuple[tuple[str, int], ...], prefix: str) -> Iterable[int]:
    at = bisect_left(table, (prefix, -1))
    while at < len(table) and table[at][0].startswith(prefix):
        yield table[at][1]
        at += 1


def _suggest(query: str, limit: int) -> list[Place]:
    folded = _fold(query)
    if not folded or limit <= 0:
        return []
    index = _place_index()
    tiers: list[Iterable[int]] = []
    code = query.strip().upper()
    if code in index.by_code:
        tiers.append((index.by_code[code],))
    tiers.append(sorted(set(_prefixed(index.cities, folded))))
    tiers.append(sorted(set(_prefixed(index.names, folded))))
    picked: dict[int, None] = {}
    for tier in tiers:
        for place in tier:
            picked.setdefault(place)
            if len(picked) >= limit:
                return [index.places[i] for i in picked]
    return [index.places[i] for i in picked]
