"""Places in a message: airports and cities by code, name, nickname or a near spelling, and which
end of the trip each is."""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import NamedTuple

import airportsdata
from rapidfuzz import process
from rapidfuzz.distance import OSA

from conversation.reading.lexicon import (
    COMMON_WORDS,
    FILLER,
    MONTHS,
    NUMBER_WORDS,
    WEEKDAYS,
    Word,
    fold,
)
from conversation.reading.slots import Expecting, PlaceMatch
from conversation.reading.state import PASSENGER_FIELDS, ReadingState
from integrations import places

# Places abroad: code: (name, how travellers write it, "|" between spellings). These match
# anywhere in a message; Nigeria's airports and their names come from `integrations.places`.
_PLACES: dict[str, tuple[str, str]] = {
    # West and Central Africa
    "COO": ("Cotonou", "cotonou|benin republic|republic of benin"),
    "ACC": ("Accra", "accra|kotoka"),
    "KMS": ("Kumasi", "kumasi"),
    "ABJ": ("Abidjan", "abidjan"),
    "DSS": ("Dakar", "dakar"),
    "LFW": ("Lome", "lome|lomé"),
    "DLA": ("Douala", "douala"),
    "BJL": ("Banjul", "banjul"),
    "FNA": ("Freetown", "freetown"),
    "ROB": ("Monrovia", "monrovia"),
    "FIH": ("Kinshasa", "kinshasa"),
    "LAD": ("Luanda", "luanda"),
    "NIM": ("Niamey", "niamey"),
    "BKO": ("Bamako", "bamako"),
    "OUA": ("Ouagadougou", "ouagadougou|ouaga"),
    "LBV": ("Libreville", "libreville"),
    "SSG": ("Malabo", "malabo"),
    "NDJ": ("N'Djamena", "ndjamena|n'djamena"),
    # East, South and North Africa
    "NBO": ("Nairobi", "nairobi|jkia"),
    "ADD": ("Addis Ababa", "addis ababa|addis"),
    "KGL": ("Kigali", "kigali"),
    "EBB": ("Entebbe", "entebbe|kampala"),
    "DAR": ("Dar es Salaam", "dar es salaam|dar"),
    "JNB": ("Johannesburg", "johannesburg|joburg|jo'burg|jozi|jhb|or tambo"),
    "CPT": ("Cape Town", "cape town|capetown"),
    "LUN": ("Lusaka", "lusaka"),
    "HRE": ("Harare", "harare"),
    "CAI": ("Cairo", "cairo"),
    "CMN": ("Casablanca", "casablanca"),
    # Middle East and Asia
    "DXB": ("Dubai", "dubai|dxb"),
    "AUH": ("Abu Dhabi", "abu dhabi"),
    "DOH": ("Doha", "doha|qatar"),
    "JED": ("Jeddah", "jeddah|jedda|jidda|makkah|mecca|makka"),
    "MED": ("Madinah", "madinah|medina|madina|medinah"),
    "RUH": ("Riyadh", "riyadh"),
    "IST": ("Istanbul", "istanbul"),
    "CAN": ("Guangzhou", "guangzhou"),
    "BJS": ("Beijing", "beijing"),
    "BOM": ("Mumbai", "mumbai|bombay"),
    "DEL": ("New Delhi", "new delhi|delhi"),
    "KUL": ("Kuala Lumpur", "kuala lumpur"),
    "SIN": ("Singapore", "singapore"),
    "HKG": ("Hong Kong", "hong kong"),
    "TYO": ("Tokyo", "tokyo"),
    # Europe
    "LON": ("London", "london"),
    "LHR": ("London Heathrow", "heathrow|lhr|london heathrow"),
    "LGW": ("London Gatwick", "gatwick|lgw|london gatwick"),
    "STN": ("London Stansted", "stansted"),
    "LTN": ("London Luton", "luton"),
    "MAN": ("Manchester", "manchester"),
    "GLA": ("Glasgow", "glasgow"),
    "EDI": ("Edinburgh", "edinburgh"),
    "ABZ": ("Aberdeen", "aberdeen"),
    "DUB": ("Dublin", "dublin"),
    "PAR": ("Paris", "paris"),
    "CDG": ("Paris Charles de Gaulle", "charles de gaulle|cdg"),
    "AMS": ("Amsterdam", "amsterdam|schiphol"),
    "BRU": ("Brussels", "brussels"),
    "FRA": ("Frankfurt", "frankfurt"),
    "MUC": ("Munich", "munich"),
    "BER": ("Berlin", "berlin"),
    "ZRH": ("Zurich", "zurich"),
    "GVA": ("Geneva", "geneva"),
    "VIE": ("Vienna", "vienna"),
    "ROM": ("Rome", "rome"),
    "MIL": ("Milan", "milan"),
    "MAD": ("Madrid", "madrid"),
    "BCN": ("Barcelona", "barcelona"),
    "LIS": ("Lisbon", "lisbon"),
    # The Americas
    "NYC": ("New York", "new york|new york city|nyc"),
    "JFK": ("New York JFK", "jfk"),
    "EWR": ("Newark", "newark"),
    "WAS": ("Washington", "washington|washington dc"),
    "IAD": ("Washington Dulles", "dulles"),
    "IAH": ("Houston", "houston"),
    "ATL": ("Atlanta", "atlanta"),
    "CHI": ("Chicago", "chicago"),
    "DFW": ("Dallas", "dallas"),
    "LAX": ("Los Angeles", "los angeles"),
    "SFO": ("San Francisco", "san francisco"),
    "BOS": ("Boston", "boston"),
    "MIA": ("Miami", "miami"),
    "YTO": ("Toronto", "toronto"),
    "YYZ": ("Toronto Pearson", "pearson"),
    "YUL": ("Montreal", "montreal"),
    "YVR": ("Vancouver", "vancouver"),
    "YYC": ("Calgary", "calgary"),
    "YEG": ("Edmonton", "edmonton"),
    "YOW": ("Ottawa", "ottawa"),
    "SAO": ("Sao Paulo", "sao paulo"),
}

# Words with more than one likely reading: the first code is what a traveller in Nigeria usually
# means, the rest are kept as candidates.
_AMBIGUOUS_PLACES: dict[str, tuple[str, ...]] = {
    "birmingham": ("BHX", "BHM"),
    "delta": ("ABB", "QRW"),
    "delta state": ("ABB", "QRW"),
}

# Short forms that are also everyday words: a place only after "from"/"to" or beside another place.
_WEAK_ALIASES = {"lag": "LOS", "dc": "WAS", "la": "LAX", "ny": "NYC"}


class _Gazetteer:
    """Every way of naming a place that the reader knows, built once from the place table, the
    names above and airportsdata's city names."""

    def __init__(self) -> None:
        table = places.airports()
        metro_areas = airportsdata.load_iata_macs()
        display = {code: name for code, (name, _) in _PLACES.items()}
        self.codes: dict[str, PlaceMatch] = {}
        for code, airport in table.items():
            self.codes[code] = PlaceMatch(code, display.get(code) or airport.city)
        for code, metro in metro_areas.items():
            self.codes[code] = PlaceMatch(code, display.get(code) or metro["name"])
        for code, (name, _) in places.METRO_AREAS.items():
            self.codes[code] = PlaceMatch(code, display.get(code) or name)

        self.aliases: dict[str, PlaceMatch] = {}
        for airport in places.NIGERIA:
            for spelling in (airport.code.lower(), *airport.names):
                self.aliases.setdefault(fold(spelling), PlaceMatch(airport.code, airport.city))
        for code, (name, spellings) in _PLACES.items():
            for spelling in spellings.split("|"):
                self.aliases[fold(spelling)] = PlaceMatch(code, name)
        for spelling, codes in _AMBIGUOUS_PLACES.items():
            # Named as the traveller wrote it: "Which Delta do you mean: Asaba or Warri?"
            self.aliases[spelling] = PlaceMatch(codes[0], spelling.title(), codes)

        self.weak: dict[str, PlaceMatch] = {
            spelling: self.codes[code] for spelling, code in _WEAK_ALIASES.items()
        }
        # City names from airportsdata, trusted only where a place is expected ("to Mombasa").
        metro_by_name = {fold(metro["name"]): code for code, metro in metro_areas.items()}
        by_city: dict[str, list[str]] = {}
        for code, airport in table.items():
            for city in airport.city.split(","):
                key = fold(city)
                if key and key not in COMMON_WORDS:
                    by_city.setdefault(key, []).append(code)
        for key, city_codes in by_city.items():
            metro_code = metro_by_name.get(key)
            if metro_code is not None or len(city_codes) == 1:
                self.weak.setdefault(key, self.codes[metro_code or city_codes[0]])
                continue
            candidates = tuple(sorted(city_codes))
            busiest = [c for c in candidates if "international" in table[c].name.lower()]
            chosen = (busiest or list(candidates))[0]
            self.weak.setdefault(key, PlaceMatch(chosen, self.codes[chosen].name, candidates))
        # Longer city names ("santa cruz de la sierra") are only ever reached by their IATA code.
        self.longest_alias = 4
        self.first_words = {
            key.split()[0] for key in (*self.aliases, *self.weak) if len(key.split()) > 1
        }
        # What a misspelt word is compared with: the names above of one word, Nigeria's first.
        one_word = [name for name in self.aliases if " " not in name and len(name) >= 4]
        self.spellings = [name for name in dict.fromkeys(one_word) if name.isalpha()]

    def guess(self, word: str) -> PlaceMatch | None:
        """The place a misspelt word most likely names ("abujaa", "lagoss"), to be confirmed: one
        letter off in a short name, two in a longer one, and the first letter as written."""
        if len(word) < 4 or not word.isalpha():
            return None
        limit = 1 if len(word) <= 5 else 2
        found = process.extractOne(word, self.spellings, scorer=OSA.distance, score_cutoff=limit)
        if found is None or found[0][0] != word[0]:
            return None
        place = self.aliases[found[0]]
        return PlaceMatch(place.code, place.name, place.candidates, guessed=True)


@cache
def gazetteer() -> _Gazetteer:
    return _Gazetteer()


# Words just before a place that say which end of the trip it is.
_ORIGIN_WORDS = frozenset({"from", "frm", "fr", "leaving", "leave", "depart", "departing", "comot"})
_DESTINATION_WORDS = frozenset(
    {"to", "2", "into", "go", "towards", "reach", "arrive", "arriving", "land", "landing"}
)
# Weaker hints, overruled by "X to Y": "fly Lagos to Abuja", "I dey Lagos".
_SOFT_DESTINATION_WORDS = frozenset({"for", "fly", "travel", "visit", "visiting", "flying"})
_SOFT_ORIGIN_WORDS = frozenset({"dey"})
_ARRIVING_WORDS = frozenset({"be", "land", "landing", "arrive", "arriving", "arrives", "reach"})
_STAYING_WORDS = frozenset(
    {"i'm", "im", "am", "currently", "based", "live", "living", "stay", "staying", "dey", "now"}
)
_RETURN_LEG_WORDS = frozenset({"back", "return", "returning"})
_CONNECTORS = frozenset({"-", "to", "/", ">", "2", "go", "to go", "and go", "-to", "--"})

_DOTTED_PH = re.compile(r"\bp\.\s?h\b\.?")


class _Mention(NamedTuple):
    place: PlaceMatch
    start: int
    end: int
    strong: bool


def _could_be_place(word: Word) -> bool:
    return (
        len(word.low) >= 3
        and word.low.isalpha()
        and word.low not in COMMON_WORDS
        and word.low not in MONTHS
        and word.low not in WEEKDAYS
        and word.low not in NUMBER_WORDS
        and word.low not in FILLER
    )


class PlaceReading(ReadingState):
    """Finds the origin and destination, and names nobody flies to."""

    def _places(self) -> None:
        # "P.H." and "P. H" for Port Harcourt, padded so positions still line up.
        self.buf.rest = _DOTTED_PH.sub(lambda m: "ph".ljust(len(m.group())), self.buf.rest)
        if self.edit_field in PASSENGER_FIELDS:
            return
        words = self.buf.words()
        mentions = self._place_mentions(words)
        roles = self._place_roles(mentions)
        routed = any(role is not None and role[1] for role in roles)
        cue = routed or self.search_words or self.edit_cue is not None
        if self.passenger_context and not cue:
            return  # a bare "Kano Ibrahim" while names are being asked for is a name
        for mention, role in zip(mentions, roles, strict=True):
            if role is None:
                continue
            self.buf.blank(mention.start, mention.end)
            if role[0] == "origin" and self.origin is None:
                self.origin = mention.place
            elif role[0] == "destination" and self.destination is None:
                self.destination = mention.place
        if cue or self.origin or self.destination or self.departure_date:
            self._unknown_places(words, mentions)
        unhinted = [r for r in roles if r is not None and not r[1]]
        if self.unknown_destination and self.origin is None and len(unhinted) == 1:
            # "Lagos to Aba": the place named is where the trip starts.
            self.origin, self.destination = self.destination, None

    def _place_mentions(self, words: list[Word]) -> list[_Mention]:
        known = gazetteer()
        shouting = self.buf.is_shouting()
        folded = [fold(w.low) for w in words]
        mentions: list[_Mention] = []
        i = 0
        while i < len(words):
            found: _Mention | None = None
            longest = known.longest_alias if folded[i] in known.first_words else 1
            for size in range(min(longest, len(words) - i), 0, -1):
                group = words[i : i + size]
                if any(
                    len(self.buf.rest[a.end : b.start]) > 2 for a, b in itertools.pairwise(group)
                ):
                    continue
                key = " ".join(folded[i : i + size])
                start, end = group[0].start, group[-1].end
                if key in places.TOWNS_WITHOUT_AIRPORT:
                    break  # "Aba" is a town with no airport (and ABA is in Siberia)
                if key in known.aliases:
                    found = _Mention(known.aliases[key], start, end, strong=True)
                elif key in known.weak and key not in COMMON_WORDS:
                    found = _Mention(known.weak[key], start, end, strong=False)
                elif size == 1 and len(key) == 3 and key.upper() in known.codes:
                    written_as_code = group[0].cased.isupper() and not shouting
                    if key in COMMON_WORDS and not written_as_code:
                        continue
                    strong = written_as_code and key not in COMMON_WORDS
                    found = _Mention(known.codes[key.upper()], start, end, strong)
                elif size == 1 and _could_be_place(group[0]) and (guess := known.guess(key)):
                    found = _Mention(guess, start, end, strong=False)
                if found is not None:
                    i += size
                    break
            if found is None:
                i += 1
            else:
                mentions.append(found)
        return self._airports_of_cities(mentions)

    def _airports_of_cities(self, mentions: list[_Mention]) -> list[_Mention]:
        """ "New York JFK", "London Gatwick": a city and then one of its airports is the airport."""
        merged: list[_Mention] = []
        for mention in mentions:
            if merged:
                city = merged[-1]
                members = places.METRO_AREAS.get(city.place.code, ("", ()))[1]
                gap = self.buf.rest[city.end : mention.start]
                if mention.place.code in members and not gap.strip():
                    merged[-1] = _Mention(mention.place, city.start, mention.end, True)
                    continue
            merged.append(mention)
        return merged

    def _place_roles(self, mentions: list[_Mention]) -> list[tuple[str, bool] | None]:
        """For each mention: ("origin" | "destination", written as a route?), or None to drop it."""
        count = len(mentions)
        hints = [self._hint_before(m.start) for m in mentions]
        roles: list[str | None] = [None] * count
        routed = [False] * count
        pairs = [
            " ".join(self.buf.rest[a.end : b.start].split()) in _CONNECTORS
            for a, b in itertools.pairwise(mentions)
        ]
        linked = [(i > 0 and pairs[i - 1]) or (i < count - 1 and pairs[i]) for i in range(count)]
        for i, hint in enumerate(hints):
            if hint in {"origin", "destination"}:
                roles[i], routed[i] = hint, True
        for i, paired in enumerate(pairs):
            if paired and roles[i + 1] != "origin":  # "X to Y", "X-Y", "X → Y"
                if roles[i] is None:
                    roles[i], routed[i] = "origin", True
                if roles[i + 1] is None:
                    roles[i + 1], routed[i + 1] = "destination", True
        # The whole answer to "where from?" may be a name that is also a word ("Jos").
        answering = self.expecting in (Expecting.ORIGIN, Expecting.DESTINATION) and count == 1
        if "negated" in hints and self.edit_cue is None:
            self.edit_cue = "weak"  # "from abuja not lagos": a correction
        kept = [
            i
            for i, m in enumerate(mentions)
            if hints[i] not in ("return_leg", "negated")
            and (m.strong or routed[i] or linked[i] or (answering and not m.place.guessed))
        ]
        for i in kept:
            hint = hints[i]
            if roles[i] is None and hint in {"soft_origin", "soft_destination"}:
                roles[i] = hint.removeprefix("soft_")
        taken = {roles[i] for i in kept if roles[i] is not None}
        unassigned = [i for i in kept if roles[i] is None]
        for n, i in enumerate(unassigned):
            if "destination" in taken and "origin" not in taken:
                roles[i] = "origin"
            elif "origin" in taken and "destination" not in taken:
                roles[i] = "destination"
            elif len(unassigned) > 1 and n == 0 and not taken:
                roles[i] = "origin"  # "Lagos Abuja friday": written in travel order
            elif self.expecting is Expecting.ORIGIN and not taken:
                roles[i] = "origin"  # the answer to "where are you flying from?"
            else:
                roles[i] = "destination"
            taken.add(roles[i] or "")
        if not kept:
            # Only a return leg or a stop was named ("back to Lagos"): it is still where they go.
            kept = [i for i, m in enumerate(mentions) if m.strong and hints[i] == "return_leg"]
            for i in kept:
                roles[i] = "destination"
        results: list[tuple[str, bool] | None] = [None] * count
        for i in kept:
            role = roles[i]
            if role is not None:
                results[i] = (role, routed[i])
        return results

    def _hint_before(self, start: int) -> str | None:
        # Read from the message as written: "fly" and "going" were taken out as search words.
        before = self.buf.low[max(0, start - 40) : start]
        words = re.findall(r"[^\W_]+(?:'[^\W_]+)*|[-/>]", before)
        if not words:
            return None
        last = words[-1]
        previous = words[-2] if len(words) > 1 else ""
        if (previous in _RETURN_LEG_WORDS and last in {"to", "2", "in"}) or last == "via":
            return "return_leg"
        if last in {"in", "at"}:
            if previous in _ARRIVING_WORDS:
                return "destination"  # "I need to be in Abuja", "land in Kano"
            return "origin" if previous in _STAYING_WORDS else None  # "I'm in Lagos"
        if last in _ORIGIN_WORDS:
            return "origin"
        if last in _DESTINATION_WORDS:
            return "destination"
        if last == "not":
            return "negated"  # "from abuja not lagos"
        if last in _SOFT_DESTINATION_WORDS:
            return None if self.expecting is Expecting.ORIGIN else "soft_destination"
        if last in _SOFT_ORIGIN_WORDS:
            return "soft_origin"
        return None

    def _unknown_places(self, words: list[Word], mentions: list[_Mention]) -> None:
        taken = {(m.start, m.end) for m in mentions}
        covered = [(m.start, m.end) for m in mentions]
        for i, word in enumerate(words):
            if any(start <= word.start < end for start, end in covered):
                continue
            if not _could_be_place(word) or (word.start, word.end) in taken:
                continue
            before = self._hint_before(word.start)
            next_word = words[i + 1] if i + 1 < len(words) else None
            leads_route = (
                next_word is not None
                and next_word.low in {"to", "2"}
                and (i == 0 or word.cased[:1].isupper())
            )
            if before not in {"origin", "destination"} and not leads_route:
                continue
            run = [word]
            if word.cased[:1].isupper():
                for follower in words[i + 1 : i + 3]:
                    if not (follower.cased[:1].isupper() and _could_be_place(follower)):
                        break
                    run.append(follower)
            self.unknown_places.append(self.buf.cased[run[0].start : run[-1].end])
            self.unknown_destination = self.unknown_destination or before == "destination"
            self.buf.blank(run[0].start, run[-1].end)
            covered.append((run[0].start, run[-1].end))
