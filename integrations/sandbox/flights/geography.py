"""The sandbox's world: real airports from the bundled places table, grouped into regions,
with distances and local time zones."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations import places
from integrations.ports.errors import UpstreamRejected
from integrations.ports.flights import (
    Place,
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


def _known(code: str, field: str) -> str:
    normalized = code.strip().upper()
    well_formed = len(normalized) == 3 and normalized.isascii() and normalized.isalpha()
    if well_formed and (normalized in _CITIES or normalized in _airports()):
        return normalized
    raise UpstreamRejected(
        UPSTREAM, f"unknown airport or city code {code.strip()[:16]!r}", field=field
    )
