"""Who flies where in the sandbox: the airlines, their hubs and partners, and the routes
between two airports."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import product
from typing import Final

from integrations.ports.flights import (
    CabinClass,
    Carrier,
)
from integrations.sandbox.flights.geography import _AFRICA, _LOGO_URL, _Airport, _airport, _km

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
