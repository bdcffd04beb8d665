"""The one place table: every airport with an IATA code, the metropolitan codes that cover several,
and every Nigerian airport with its city, state and the names travellers use for it.

It serves the search validation (which codes exist, each airport's time zone), the sandbox flight
network and the assistant's reader. The world comes from `airportsdata`; Nigeria is listed here in
full, because that data set lacks several of its airports (Uyo, Warri, Akure, Bauchi, Katsina)
and spells some cities otherwise ("Enegu", "Benin").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import airportsdata

LAGOS_TIME = "Africa/Lagos"


@dataclass(frozen=True, slots=True)
class Airport:
    code: str
    name: str
    city: str
    country: str
    time_zone: str
    latitude: float
    longitude: float
    state: str = ""
    names: tuple[str, ...] = ()
    """How travellers name it, lower case: nicknames, the airport's name, the state."""
    scheduled: bool = True
    """Whether airlines fly there on a timetable (a few Nigerian airports are military or idle)."""


def _ng(
    code: str,
    name: str,
    city: str,
    state: str,
    at: tuple[float, float],
    names: str,
    *,
    scheduled: bool = True,
) -> Airport:
    return Airport(
        code=code,
        name=name,
        city=city,
        country="NG",
        time_zone=LAGOS_TIME,
        latitude=at[0],
        longitude=at[1],
        state=state,
        names=tuple(n.strip() for n in names.split("|") if n.strip()),
        scheduled=scheduled,
    )


# Every Nigerian airport with an IATA code, the most travelled first. A name shared by two
# airports (the state "Delta" has Asaba and Warri) is given to neither; the reader asks instead.
NIGERIA: tuple[Airport, ...] = (
    _ng("LOS", "Murtala Muhammed International Airport", "Lagos", "Lagos", (6.57737, 3.32116),
        "lagos|eko|lasgidi|gidi|ikeja|lekki|ikoyi|victoria island|mmia|mm2|mma2|mmia2"
        "|murtala muhammed|murtala mohammed|murtala muhammed airport|murtala mohammed airport"
        "|murtala|lagos airport|lagos state"),
    _ng("ABV", "Nnamdi Azikiwe International Airport", "Abuja", "FCT", (9.00679, 7.26317),
        "abuja|abj|fct|nnamdi azikiwe|nnamdi azikiwe airport|naia|garki|wuse|maitama|abujah"
        "|federal capital territory|abuja airport"),
    _ng("PHC", "Port Harcourt International Airport", "Port Harcourt", "Rivers",
        (5.01549, 6.94959),
        "port harcourt|portharcourt|port harcout|port harcort|portharcout|ph|phc|pitakwa|ph city"
        "|omagwa|garden city|rivers|rivers state|port harcourt airport"),
    _ng("KAN", "Mallam Aminu Kano International Airport", "Kano", "Kano", (12.0476, 8.52462),
        "kano|aminu kano|mallam aminu kano|makia|kano state|kano airport"),
    _ng("ENU", "Akanu Ibiam International Airport", "Enugu", "Enugu", (6.47427, 7.56196),
        "enugu|akanu ibiam|akanu ibiam airport|coal city|enugu state|enugu airport"),
    _ng("QOW", "Sam Mbakwe International Cargo Airport", "Owerri", "Imo", (5.42706, 7.20603),
        "owerri|owere|sam mbakwe|sam mbakwe airport|imo|imo state|owerri airport"),
    _ng("CBQ", "Margaret Ekpo International Airport", "Calabar", "Cross River",
        (4.97602, 8.3472),
        "calabar|margaret ekpo|margaret ekpo airport|cross river|cross river state"
        "|calabar airport"),
    _ng("BNI", "Benin Airport", "Benin City", "Edo", (6.31698, 5.5995),
        "benin|benin city|edo|edo state|benin airport"),
    _ng("QUO", "Victor Attah International Airport", "Uyo", "Akwa Ibom", (4.8725, 8.0933),
        "uyo|akwa ibom|akwaibom|ibom|victor attah|victor attah airport|akwa ibom airport"),
    _ng("ABB", "Asaba International Airport", "Asaba", "Delta", (6.20333, 6.65889),
        "asaba|asaba airport"),
    _ng("ILR", "Ilorin International Airport", "Ilorin", "Kwara", (8.44021, 4.49392),
        "ilorin|kwara|kwara state|ilorin airport"),
    _ng("JOS", "Yakubu Gowon Airport", "Jos", "Plateau", (9.63983, 8.86905),
        "jos|yakubu gowon|plateau|plateau state|jos airport"),
    _ng("KAD", "Kaduna International Airport", "Kaduna", "Kaduna", (10.696, 7.32011),
        "kaduna|kd|kaduna state|kaduna airport"),
    _ng("SKO", "Sadiq Abubakar III International Airport", "Sokoto", "Sokoto",
        (12.9163, 5.20719), "sokoto|sadiq abubakar|sokoto state|sokoto airport"),
    _ng("MIU", "Maiduguri International Airport", "Maiduguri", "Borno", (11.8553, 13.0809),
        "maiduguri|maidugri|maid|borno|borno state|maiduguri airport"),
    _ng("YOL", "Yola Airport", "Yola", "Adamawa", (9.25755, 12.4304),
        "yola|adamawa|adamawa state|yola airport"),
    _ng("AKR", "Akure Airport", "Akure", "Ondo", (7.2467, 5.3010),
        "akure|ondo|ondo state|akure airport"),
    _ng("QRW", "Warri Airport", "Warri", "Delta", (5.5961, 5.8178),
        "warri|osubi|osubi airport|warri airport"),
    _ng("IBA", "Ibadan Airport", "Ibadan", "Oyo", (7.36246, 3.97833),
        "ibadan|oyo|oyo state|ibadan airport"),
    _ng("GMO", "Gombe Lawanti International Airport", "Gombe", "Gombe", (10.29833, 10.89639),
        "gombe|lawanti|gombe state|gombe airport"),
    _ng("BCU", "Sir Abubakar Tafawa Balewa International Airport", "Bauchi", "Bauchi",
        (10.2945, 9.8175), "bauchi|tafawa balewa|abubakar tafawa balewa|bauchi state"),
    _ng("DKA", "Umaru Musa Yar'Adua Airport", "Katsina", "Katsina", (13.0078, 7.6603),
        "katsina|umaru musa yaradua|umaru musa yar'adua|katsina state|katsina airport"),
    _ng("MXJ", "Minna Airport", "Minna", "Niger", (9.65217, 6.46226),
        "minna|niger state|minna airport"),
    _ng("ZAR", "Zaria Airport", "Zaria", "Kaduna", (11.1302, 7.68581), "zaria",
        scheduled=False),
    _ng("MDI", "Makurdi Airport", "Makurdi", "Benue", (7.70388, 8.61394),
        "makurdi|benue|benue state", scheduled=False),
)  # fmt: skip

# Nigerian towns travellers name that have no airport of their own, and the airports that serve
# them, nearest first.
TOWNS_WITHOUT_AIRPORT: dict[str, tuple[str, ...]] = {
    town: tuple(codes.split())
    for town, codes in {
        "aba": "PHC QOW", "umuahia": "QOW PHC", "onitsha": "ABB ENU", "nnewi": "ABB ENU",
        "awka": "ABB ENU", "nsukka": "ENU", "abakaliki": "ENU", "afikpo": "ENU",
        "abeokuta": "LOS", "ijebu ode": "LOS", "sagamu": "LOS", "shagamu": "LOS", "ota": "LOS",
        "ikorodu": "LOS", "epe": "LOS", "badagry": "LOS", "osogbo": "IBA ILR", "oshogbo": "IBA ILR",
        "ile ife": "IBA", "ogbomoso": "ILR IBA", "ado ekiti": "AKR", "lokoja": "ABV",
        "lafia": "ABV", "keffi": "ABV", "suleja": "ABV", "okene": "ABV", "yenagoa": "PHC",
        "bayelsa": "PHC", "sapele": "QRW", "ughelli": "QRW", "auchi": "BNI", "ekpoma": "BNI",
        "jalingo": "YOL", "damaturu": "MIU", "potiskum": "MIU", "dutse": "KAN",
        "birnin kebbi": "SKO", "gusau": "SKO", "kafanchan": "KAD",
    }.items()
}  # fmt: skip

# Metropolitan codes the searches accept, and the airports each covers, the main one first.
METRO_AREAS: dict[str, tuple[str, tuple[str, ...]]] = {
    code: (name, tuple(members.split()))
    for code, (name, members) in {
        "LON": ("London", "LHR LGW LCY STN LTN SEN"),
        "NYC": ("New York", "JFK EWR LGA"),
        "PAR": ("Paris", "CDG ORY BVA"),
        "MIL": ("Milan", "MXP LIN BGY"),
        "ROM": ("Rome", "FCO CIA"),
        "TYO": ("Tokyo", "HND NRT"),
        "WAS": ("Washington", "IAD DCA BWI"),
        "CHI": ("Chicago", "ORD MDW"),
        "MOW": ("Moscow", "SVO DME VKO"),
        "STO": ("Stockholm", "ARN BMA NYO"),
        "BJS": ("Beijing", "PEK PKX"),
        "BUE": ("Buenos Aires", "EZE AEP"),
        "DTT": ("Detroit", "DTW"),
        "JKT": ("Jakarta", "CGK HLP"),
        "OSA": ("Osaka", "KIX ITM UKB"),
        "RIO": ("Rio de Janeiro", "GIG SDU"),
        "SAO": ("São Paulo", "GRU CGH VCP"),
        "SEL": ("Seoul", "ICN GMP"),
        "SPK": ("Sapporo", "CTS OKD"),
        "YMQ": ("Montreal", "YUL"),
        "YTO": ("Toronto", "YYZ YTZ"),
    }.items()
}


@cache
def airports() -> Mapping[str, Airport]:
    """Every airport by IATA code: airportsdata's, with Nigeria as listed above."""
    table: dict[str, Airport] = {}
    for code, row in airportsdata.load("IATA").items():
        table[code] = Airport(
            code=code,
            name=row["name"],
            city=row["city"] or row["name"],
            country=row["country"],
            time_zone=row["tz"] or "UTC",
            latitude=float(row["lat"]),
            longitude=float(row["lon"]),
            state=row["subd"] or "",
        )
    for airport in NIGERIA:
        table[airport.code] = airport
    return table


def is_listed(code: str) -> bool:
    """Whether `code` (upper case) is an airport or metropolitan code of this table."""
    return code in METRO_AREAS or code in airports()


def time_zone_of(code: str) -> str | None:
    """The time zone of an airport, or of a metropolitan area's main airport."""
    metro = METRO_AREAS.get(code)
    airport = airports().get(metro[1][0] if metro else code)
    return airport.time_zone if airport is not None else None
