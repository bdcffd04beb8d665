"""Reads a traveller's WhatsApp message into an intent and slots (places, dates, passengers...).

Rule-based on purpose: regexes and small tables tuned to how Nigerians write ("PH", "abj", "next
tomorrow", pidgin), backed by `airportsdata` for IATA codes and city names, so every reading can be
explained and a message is read in well under a millisecond.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from typing import NamedTuple

import airportsdata


class Intent(StrEnum):
    GREETING = "greeting"
    HELP = "help"
    SEARCH = "search"
    SELECT = "select"
    PASSENGER_DETAILS = "passenger_details"
    EDIT = "edit"
    CONFIRM = "confirm"
    CANCEL = "cancel"
    STATUS = "status"
    RESTART = "restart"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """An airport or city. `candidates` lists every reading when the words were ambiguous; `code`
    is then the likeliest of them for a traveller in Nigeria."""

    code: str
    name: str
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PassengerFields:
    full_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    born_on: date | None = None
    title: str | None = None
    gender: str | None = None


@dataclass(frozen=True, slots=True)
class Slots:
    origin: PlaceMatch | None = None
    destination: PlaceMatch | None = None
    departure_date: date | None = None
    return_date: date | None = None
    time_of_day: str | None = None
    adults: int | None = None
    children: int | None = None
    infants: int | None = None
    cabin: str | None = None
    trip: str | None = None
    selection: int | None = None
    passenger: PassengerFields | None = None
    edit_field: str | None = None
    booking_reference: str | None = None
    unknown_places: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Parsed:
    intent: Intent
    slots: Slots
    text: str


def parse(text: str, *, today: date, expecting: str | None = None) -> Parsed:
    """Read one message. `today` is the traveller's local date; `expecting` is what the conversation
    just asked for ("selection", "passenger", "confirmation" or None) and only breaks ties: an
    explicit "cancel", "help", "start over", status check or new search is read in any state.

    Conventions: a lone place with no "from"/"to" is the destination; a year-less date is its next
    occurrence; "next friday" is the Friday of next (Monday-first) week and "next week" is too vague
    to be a date; an explicit-year date in the past is a date of birth. In the "passenger" state
    "my email is x" is a detail, elsewhere it is an EDIT of what was given before.
    """
    reader = _Reader(text, today, expecting)
    reader.read()
    intent = reader.intent()
    return Parsed(intent=intent, slots=reader.slots(intent), text=text)


# --- Vocabulary -------------------------------------------------------------------------------


def _numbered(*spellings: str) -> dict[str, int]:
    """Numbers from 1 in the order given; one argument may list variants ("september sept sep")."""
    return {word: number for number, words in enumerate(spellings, 1) for word in words.split()}


_NUMBER_WORDS = _numbered(
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"
)
_COUNT_WORDS = {**_NUMBER_WORDS, "a": 1, "an": 1, "single": 1}
_ORDINALS = _numbered(
    "first 1st", "second 2nd", "third 3rd", "fourth 4th", "fifth 5th",
    "sixth 6th", "seventh 7th", "eighth 8th", "ninth 9th", "tenth 10th",
)  # fmt: skip
_MONTHS = _numbered(
    "january jan", "february febuary feburary feb", "march mar", "april apr", "may", "june jun",
    "july jul", "august aug", "september sept sep", "october oct", "november novemeber nov",
    "december decemeber dec",
)  # fmt: skip
_WEEKDAYS = {  # Monday is 0, as in `date.weekday()`
    day: number - 1
    for day, number in _numbered(
        "monday", "tuesday tues", "wednesday wensday wednessday", "thursday thurs thur",
        "friday", "saturday", "sunday",
    ).items()
}  # fmt: skip
# Short forms that are also English words ("sat", "wed", "sun") count only after "on"/"next"/"this".
_WEEKDAY_ABBREVIATIONS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that are never a place or a name even though many are IATA codes or city names ("the",
# "man", "fly", "may"), plus the vocabulary of this assistant and of Nigerian chat.
_COMMON_WORDS = _word_set(
    """
    a about above abeg abi across actually add after again ago ahead air airline airport airways
    all almost alone along already also am an and another any anyone anything anytime are area
    around as ask at available away back bad bag bags be because been before begin being below
    best better between big bit biko book booked booking bookings both bring but buy by call can
    cancel cannot cant can't car change cheap cheapest check child children choose class come
    coming confirm cost could date day days dear dem detail details dey did do does doing don done
    dont don't down due each early economy either else email end enter evening every fare fares
    fast few find fine first flight flights fly flying for free from full get give go going gone
    good got great had has have having he hello help her here hey hi him his home how however i
    if im i'm in info inside into is it its it's just kids know last late later leave leaving let
    like little look love make many maybe me menu mine money more morning most much must my name
    near need new next nice night no none not nothing now of off ok okay old on once one only
    open option or other our out over pay people per person phone place please pls plz price
    quick rather really reach return returning right round same say search see seat seats send
    she should sir so some someone something soon sorry start still stop such sure take tell
    than thank thanks that the their them then there these they thing think this those through
    ticket tickets time to today tomorrow tonight too travel traveling travelling trip try two
    until up us use very via visit wait wan want was way we week weekend well wetin what when
    where which while who why will wish with without would yes yet you your yours
    abs act age aid ang arm art bed box bro bus cut die dog dry ear eat far fat fam fun gas gud
    hat hot ill key kid lay lie lol lot mad man mom mum dad nor odd omg omo oya pen pet pie pop
    pot ppl rid row sad sea sef shy sis son sum tax tea thx tie tip toe toy una van war wet win
    top run red low big per btw dob nin bvn otp atm pos vip fyi sms pdf usd ngn gbp eur asap
    ma madam boss oga una una wey wetin sabi fit dey comot carry abeg na o oo jare sha oh
    male female adult adults infant infants baby babies passenger passengers pax traveller
    travellers traveler travelers business premium coach way ways status reference booking
    nigeria naija state city town country abroad somewhere anywhere there overseas
    school church mosque work office market house hotel village destination origin arrival
    departure cabin surname address birthday title gender number mobile whatsapp
    """
)

# Words a name never is, for a message that is only a name ("I am Chinedu Okafor please").
_NAME_FILLER = _word_set(
    """
    my name names is i am i'm im it's its this here are and the please pls plz abeg sir ma
    details detail passenger full email e-mail phone number mobile dob date of birth born on
    title gender sex to it as called me call no. thanks thank you kindly below use
    """
)

# Honorifics Nigerians put before names that do not belong on a ticket.
_HONORIFICS = {
    "chief": None,
    "alhaji": "m",
    "alh": "m",
    "mallam": "m",
    "malam": "m",
    "alhaja": "f",
    "hajia": "f",
    "hajiya": "f",
    "pastor": None,
    "engr": None,
    "engineer": None,
    "barr": None,
    "barrister": None,
    "prof": None,
    "professor": None,
    "hon": None,
    "rev": None,
    "evang": None,
    "deacon": "m",
    "deaconess": "f",
}
_TITLES = {
    "mr": "mr",
    "mister": "mr",
    "mrs": "mrs",
    "ms": "ms",
    "miss": "miss",
    "dr": "dr",
    "doctor": "dr",
}
_GENDER_OF_TITLE = {"mr": "m", "mrs": "f", "ms": "f", "miss": "f"}
_GENDERS = {"male": "m", "m": "m", "man": "m", "boy": "m", "female": "f", "f": "f", "woman": "f"}

# --- Places -----------------------------------------------------------------------------------

# code: (name, how travellers write it, "|" between spellings). These match anywhere in a message.
_PLACES: dict[str, tuple[str, str]] = {
    # Nigeria
    "LOS": (
        "Lagos",
        "lagos|eko|lasgidi|gidi|ikeja|lekki|ikoyi|victoria island|los|mmia|mm2"
        "|murtala muhammed|murtala mohammed|murtala muhammed airport",
    ),
    "ABV": ("Abuja", "abuja|abj|fct|nnamdi azikiwe|garki|wuse|maitama|abv|abujah"),
    "PHC": (
        "Port Harcourt",
        "port harcourt|portharcourt|port harcout|port harcort|portharcout|ph|phc|pitakwa|ph city",
    ),
    "KAN": ("Kano", "kano|kan"),
    "ENU": ("Enugu", "enugu|enu"),
    "QOW": ("Owerri", "owerri|owere|qow"),
    "CBQ": ("Calabar", "calabar|cbq"),
    "BNI": ("Benin City", "benin city|bni"),
    "COO": ("Cotonou", "cotonou|benin republic|republic of benin"),
    "QUO": ("Uyo", "uyo|akwa ibom|quo"),
    "ABB": ("Asaba", "asaba"),
    "ILR": ("Ilorin", "ilorin"),
    "JOS": ("Jos", "jos"),
    "KAD": ("Kaduna", "kaduna"),
    "ZAR": ("Zaria", "zaria"),
    "SKO": ("Sokoto", "sokoto"),
    "MIU": ("Maiduguri", "maiduguri|maidugri"),
    "YOL": ("Yola", "yola"),
    "AKR": ("Akure", "akure"),
    "QRW": ("Warri", "warri|osubi"),
    "IBA": ("Ibadan", "ibadan"),
    "GMO": ("Gombe", "gombe"),
    "BCU": ("Bauchi", "bauchi"),
    "MXJ": ("Minna", "minna"),
    "DKA": ("Katsina", "katsina"),
    "MDI": ("Makurdi", "makurdi"),
    # West and Central Africa
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
    "JNB": ("Johannesburg", "johannesburg|joburg|jozi|jhb|or tambo"),
    "CPT": ("Cape Town", "cape town|capetown"),
    "LUN": ("Lusaka", "lusaka"),
    "HRE": ("Harare", "harare"),
    "CAI": ("Cairo", "cairo"),
    "CMN": ("Casablanca", "casablanca"),
    # Middle East and Asia
    "DXB": ("Dubai", "dubai|dxb"),
    "AUH": ("Abu Dhabi", "abu dhabi"),
    "DOH": ("Doha", "doha|qatar"),
    "JED": ("Jeddah", "jeddah|jedda"),
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
    "LHR": ("London Heathrow", "heathrow|lhr"),
    "LGW": ("London Gatwick", "gatwick|lgw"),
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
# means ("Benin" is Benin City; the republic's airport is Cotonou), the rest are kept as candidates.
_AMBIGUOUS_PLACES: dict[str, tuple[str, ...]] = {
    "benin": ("BNI", "COO"),
    "birmingham": ("BHX", "BHM"),
}

# Short forms that are also everyday words: a place only after "from"/"to" or beside another place.
_WEAK_ALIASES = {"lag": "LOS", "dc": "WAS", "la": "LAX", "ny": "NYC"}

# Nigerian airports with scheduled flights that `airportsdata` does not list.
_EXTRA_AIRPORTS = {
    "QUO": "Uyo",
    "AKR": "Akure",
    "QRW": "Warri",
    "BCU": "Bauchi",
    "DKA": "Katsina",
}


class _Gazetteer:
    """Every way of naming a place that this parser knows, built once from the tables above and
    airportsdata."""

    def __init__(self) -> None:
        airports = airportsdata.load("IATA")
        metro_areas = airportsdata.load_iata_macs()
        display = {code: name for code, (name, _) in _PLACES.items()}
        self.codes: dict[str, PlaceMatch] = {}
        for code, airport in airports.items():
            self.codes[code] = PlaceMatch(
                code, display.get(code) or airport["city"] or airport["name"]
            )
        for code, metro in metro_areas.items():
            self.codes[code] = PlaceMatch(code, display.get(code) or metro["name"])
        for code, name in _EXTRA_AIRPORTS.items():
            self.codes[code] = PlaceMatch(code, name)

        self.aliases: dict[str, PlaceMatch] = {}
        for code, (name, spellings) in _PLACES.items():
            for spelling in spellings.split("|"):
                self.aliases[_fold(spelling)] = PlaceMatch(code, name)
        for spelling, codes in _AMBIGUOUS_PLACES.items():
            self.aliases[spelling] = PlaceMatch(codes[0], self.codes[codes[0]].name, codes)

        self.weak: dict[str, PlaceMatch] = {
            spelling: self.codes[code] for spelling, code in _WEAK_ALIASES.items()
        }
        # City names from airportsdata, trusted only where a place is expected ("to Mombasa").
        metro_by_name = {_fold(metro["name"]): code for code, metro in metro_areas.items()}
        by_city: dict[str, list[str]] = {}
        for code, airport in airports.items():
            for city in airport["city"].split(","):
                key = _fold(city)
                if key and key not in _COMMON_WORDS:
                    by_city.setdefault(key, []).append(code)
        for key, city_codes in by_city.items():
            metro_code = metro_by_name.get(key)
            if metro_code is not None or len(city_codes) == 1:
                self.weak.setdefault(key, self.codes[metro_code or city_codes[0]])
                continue
            candidates = tuple(sorted(city_codes))
            busiest = [c for c in candidates if "international" in airports[c]["name"].lower()]
            chosen = (busiest or list(candidates))[0]
            self.weak.setdefault(key, PlaceMatch(chosen, self.codes[chosen].name, candidates))
        # Longer city names ("santa cruz de la sierra") are only ever reached by their IATA code.
        self.longest_alias = 4
        self.first_words = {
            key.split()[0] for key in (*self.aliases, *self.weak) if len(key.split()) > 1
        }


@cache
def _gazetteer() -> _Gazetteer:
    return _Gazetteer()


def _fold(text: str) -> str:
    """Lower case, accents and hyphens dropped: how place names are compared."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)*", plain))


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


# --- Patterns ---------------------------------------------------------------------------------


def _words_pattern(words: Iterable[str]) -> str:
    """An alternation of words, longest first so "sept" is tried before "sep"."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_NUM = rf"(?P<n>\d{{1,2}}|{_words_pattern(_COUNT_WORDS)})"
_MONTH = rf"(?P<mon>{_words_pattern(_MONTHS)})\.?"
_SEPARATOR = re.compile(r"[,;\n|]")

_REFERENCE = re.compile(r"\bsf[a-z2-9]{6}\b")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_NG = re.compile(
    r"(?<![\w+])(?:\+?\s?234[\s\-.]*(?:\(0\)[\s\-.]*|0)?|0)[789][01]\d(?:[\s\-.]?\d){7}(?!\d)"
)
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s\-.]?\(?\d{1,4}\)?){2,5}(?!\d)")

_GREETING = re.compile(
    r"^[\s,.!]*(?:hi+|hello+|helo|hey+|hiya|heya|hallo|howdy|greetings|good\s+(?:morning|afternoon|"
    r"evening|day)|gud\s+(?:morning|afternoon|evening|day)|gm|how\s+far|howfar|how\s+you\s+dey|"
    r"how\s+body|wetin\s+dey|wassup|whatsup|what'?s\s+up|sup|yo|hola|bawo|sannu|kedu|ndewo|"
    r"e\s*kaaro|ekaaro|e\s*kasan|e\s*kale|how\s+are\s+you(?:\s+doing)?|how'?s\s+it\s+going|"
    r"compliments\s+of\s+the\s+season)(?:\s+(?:sir|ma|o+|there|bro|boss|guys|team|sureflights|"
    r"dear|na))*\b[\s,.!?]*"
)
_TRAILING_GREETING = re.compile(r"[\s,.!]*\bgood\s+(?:morning|afternoon|evening|night|day)\W*$")

_RESTART = re.compile(
    r"\b(?:start\s*(?:over|again|afresh|all\s+over)|restart|re-start|reset|new\s+search|"
    r"new\s+booking|begin\s+again|from\s+scratch|start\s+from\s+(?:the\s+)?beginning|"
    r"make\s+we\s+start\s+(?:again|afresh)|clear\s+(?:everything|all)|another\s+search|search\s+again)\b"
)
_CANCEL = re.compile(r"\b(?:cancel+(?:led)?|abort)\b")
_GIVE_UP = re.compile(
    r"\b(?:stop|never\s*mind|nevermind|forget\s+(?:it|about\s+it)|leave\s+(?:it|am)|quit|exit|"
    r"not\s+interested|no\s+longer\s+interested|drop\s+it|"
    r"(?:no|don'?t|do\s+not)\s+(?:wan|want)\s+(?:again|it|anymore|am)|"
    r"(?:don'?t|do\s+not)\s+(?:book|pay|proceed|continue))\b"
)
_HELP = re.compile(
    r"\b(?:help|menu|what\s+can\s+you\s+do|what\s+do\s+you\s+do|how\s+does\s+(?:this|it)\s+work|"
    r"how\s+(?:do|can)\s+i\s+use|how\s+to\s+use|commands|instructions|support|assistance|"
    r"wetin\s+you\s+(?:fit|dey)\s+do|what\s+are\s+my\s+options)\b|^\W*\?+\W*$"
)
_STATUS = re.compile(
    r"\b(?:status|where\s+is\s+my\s+(?:booking|ticket|flight|reservation|order)|"
    r"check\s+(?:on\s+)?(?:my\s+)?(?:booking|ticket|reservation|payment)|my\s+booking|"
    r"booking\s+(?:details|reference)|track\s+(?:my\s+)?(?:booking|ticket)|"
    r"i\s+(?:have|don|done|don\s+already|already)\s+pa(?:y|id)|have\s+paid|i'?ve\s+"
    r"(?:already\s+|just\s+)?paid|i\s+(?:just\s+|already\s+)?paid|payment\s+made|"
    r"(?:did|has)\s+(?:my\s+)?payment\s+(?:go|gone|went)|"
    r"payment\s+(?:confirmed|successful|done|status)|"
    r"is\s+my\s+(?:ticket|booking|flight)\s+confirmed)\b"
)
_SEARCH_WORDS = re.compile(
    r"\b(?:flights?|fly|flying|flite|travel(?:l?ing|s)?|tickets?|trip|fares?|airfare|"
    r"book(?:ing)?\s+(?:a\s+|me\s+|for\s+)?(?:flight|ticket|seat)|want\s+to\s+book|book\s+me|"
    r"how\s+much|price|cost|wan\s+go|wan\s+travel|going\s+to|search|find\s+me)\b"
)
_CONFIRM = re.compile(
    r"\b(?:yes+|yess|yeah|yea|ya|yah|yep|yup|y|ok+|okay|okey|okk|kk|k|sure|confirm(?:ed)?|"
    r"correct|proceed|go\s+ahead|go\s+on|continue|alright|all\s+right|right|fine|perfect|great|"
    r"cool|good|sounds\s+good|looks\s+good|that'?s\s+(?:right|correct|fine|it|good)|"
    r"it'?s\s+(?:correct|fine|ok|okay|good)|book\s+(?:it|am|now)|pay(?:\s+now)?|"
    r"make\s+payment|go\s+ahead\s+and\s+(?:book|pay)(?:\s+(?:it|am))?|oya|no\s+wahala|na\s+so|"
    r"e\s+correct|do\s+am|carry\s+go|sharp(?:\s+sharp)?|"
    r"let'?s\s+go|lets\s+do\s+it|do\s+it|i\s+agree|agreed|go)\b|[👍👌✅✔]"
)
_NEGATIVE = re.compile(
    r"\b(?:no+|nope|nah|naa|nop|not\s+now|no\s+thanks|never|i\s+no\s+want|no\s+be\s+am)\b|[👎❌]"
)
_FILLER = _word_set(
    """
    please pls plz plss abeg biko sir ma madam o oo ooo thanks thank you tnx thx dear boss bro
    sis just then so well hmm erm uhm lol i am it that this is now na sha jare oh ah one and
    """
)

_EDIT_STRONG = re.compile(
    r"\b(?:change[sd]?|chnage|chage|update|edit|modify|amend|switch|replace|make\s+it|put\s+it|"
    r"correct(?=\s+(?:the|my|it|\w+\s+to)\b))\b"
)
_EDIT_WEAK = re.compile(
    r"\b(?:actually|sorry|i\s+mean[t]?|correction|instead|wrong|mistake|typo|"
    r"should\s+(?:be|read)|it'?s\s+not)\b"
)
# Which detail an edit is about: (pattern, field, part of the name if only one part changes).
_EDIT_FIELDS: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(pattern), field, part)
    for pattern, field, part in (
        (r"\bnumber\s+of\s+(?:passengers|people|travell?ers|adults|tickets|seats)\b",
         "passengers", None),
        (r"\b(?:date\s+of\s+birth|d\.?o\.?b\b|birth\s*date|birthday|bday)", "dob", None),
        (r"\b(?:first\s*name|given\s*names?|firstname)\b", "name", "given"),
        (r"\b(?:surname|last\s*name|lastname|family\s*name)\b", "name", "family"),
        (r"\b(?:passenger'?s?\s+)?(?:full\s*)?names?\b|\bspelling\b", "name", None),
        (r"\be-?mail(?:\s+address)?\b", "email", None),
        (r"\b(?:phone(?:\s+(?:number|no))?|mobile(?:\s+number)?|whatsapp\s+number|"
         r"telephone|number)\b", "phone", None),
        (r"\btitle\b", "title", None),
        (r"\b(?:gender|sex)\b", "gender", None),
        (r"\breturn(?:ing)?\s+(?:date|day)\b", "date", "return"),
        (r"\b(?:travel|departure|flight|travelling)\s+(?:date|day)\b|\bdate\b|\bday\b",
         "date", None),
        (r"\b(?:origin|departure\s+(?:city|airport)|starting\s+(?:point|city)|leaving\s+from)\b",
         "origin", None),
        (r"\b(?:destination|arrival\s+(?:city|airport)|where\s+i'?m\s+going)\b",
         "destination", None),
        (r"\b(?:passengers?|travell?ers?|people|pax|adults?|children|kids|infants|persons)\b",
         "passengers", None),
        (r"\b(?:cabin(?:\s+class)?|class|seat\s+class)\b", "cabin", None),
    )
)  # fmt: skip
_STATED_FIELD = re.compile(r"^\W*(?:my\s+|the\s+|our\s+|his\s+|her\s+)?")
_STATED_VERB = re.compile(r"^\s*(?:is|are|should\s+be|na|:|=|-)\s*\S")
_PASSENGER_FIELDS = frozenset({"name", "email", "phone", "dob", "title", "gender"})

_NAME_LABEL = re.compile(
    r"(?<![^\s,;|])(?:my\s+|the\s+|passenger'?s?\s+)?(?P<label>full\s*names?|first\s*names?|"
    r"given\s*names?|firstname|other\s*names?|middle\s*names?|surname|last\s*name|lastname|"
    r"family\s*name|names?)\s*(?:[:=\-]+|\bis\b|\bna\b)\s*"
)
_TITLE_LABEL = re.compile(
    r"\btitle\s*(?:[:=\-]|\bis\b|\bshould\s+be\b|\bna\b)\s*(?P<v>mrs|mr|ms|miss|dr)\b\.?"
)
_GENDER_LABEL = re.compile(
    r"\b(?:gender|sex)\s*(?:[:=\-]|\bis\b)\s*(?P<v>male|female|man|woman|m|f)\b"
)
_TITLE = re.compile(r"\b(?P<t>mrs|mr|ms|miss|dr|mister|doctor)\b\.?(?=\s+[^\W\d_])")
_TITLE_ALONE = re.compile(r"\b(?P<t>mrs|mr|ms|miss|dr)\b\.?")
_GENDER = re.compile(r"\b(?P<g>male|female)\b|(?:^|(?<=[,;|\n]))\s*(?P<letter>m|f)\s*(?=$|[,;|\n])")
_HONORIFIC = re.compile(rf"\b(?P<h>{_words_pattern(_HONORIFICS)})\b\.?")

# Dates. Each pattern is tried on what is left of the message, most specific first.
_ISO_DATE = re.compile(r"\b(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\b")
_NUMERIC_DATE = re.compile(r"\b(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4}|\d{2})\b")
_SHORT_NUMERIC_DATE = re.compile(
    r"\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})\b(?![/.\-]\d)(?!\s*(?:am|pm|a\.m|p\.m|hrs?)\b)"
)
_COUNT_NOUN_AHEAD = (
    r"(?!\s*(?:x\s*)?(?:adults?|children|child|kids?|infants?|bab(?:y|ies)|people|persons?|"
    r"passengers?|pax|tickets?|seats?|am|pm|hrs?|hours?|o'?clock)\b)"
)
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s*(?:of\s+)?|[\-/.])\s*{_MONTH}"
    rf"(?:(?:[\s,]+|[\-/.])(?P<y>\d{{4}})|[\-/'](?P<yy>\d{{2}}))?\b"
)
_MONTH_DAY = re.compile(
    rf"\b{_MONTH}\s*(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b{_COUNT_NOUN_AHEAD}"
    rf"(?:,?\s*(?P<y>\d{{4}})\b)?"
)
_RELATIVE_DATE = re.compile(
    r"\b(?P<word>today|tonight|tonite|(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw|tmr)|"
    r"next\s+tomorrow|next\s+tmrw|tomorrow|tomorow|tommorow|tommorrow|tomorro|tomoro|tmrw|tmr|"
    r"tmrow|tmw|2moro|2morrow|2mrw|2mor|this\s+weekend|next\s+weekend|weekend|"
    r"(?:next|this|coming)\s+(?:week|month)|later\s+this\s+(?:week|month))\b"
)
# The December rush home ("detty December") is planned around these.
_HOLIDAYS = {
    "christmas eve": (12, 24),
    "xmas eve": (12, 24),
    "christmas day": (12, 25),
    "christmas": (12, 25),
    "xmas": (12, 25),
    "boxing day": (12, 26),
    "new year's eve": (12, 31),
    "new years eve": (12, 31),
    "new year's day": (1, 1),
    "new years day": (1, 1),
    "new year day": (1, 1),
}
_HOLIDAY = re.compile(rf"\b(?P<h>{_words_pattern(_HOLIDAYS)})\b")
_IN_DAYS = re.compile(
    rf"\b(?:in\s+{_NUM}\s+(?P<unit>days?|weeks?)(?:'?s?\s+time)?|{_NUM.replace('<n>', '<n2>')}"
    r"\s+(?P<unit2>days?|weeks?)\s+from\s+(?:now|today))\b"
)
_WEEKDAY = re.compile(
    rf"\b(?:(?P<rel>next|this\s+coming|this|coming|on|by)\s+)?(?P<wd>{_words_pattern(_WEEKDAYS)})\b"
)
_WEEKDAY_SHORT = re.compile(
    rf"\b(?P<rel>next|this|coming|on|by)\s+(?P<wd>{_words_pattern(_WEEKDAY_ABBREVIATIONS)})\b\.?"
)
_DAY_ONLY = re.compile(
    r"\b(?P<pre>on|by|back|returning|return|till|until|from|to)\s+(?:on\s+)?(?:the\s+)?"
    r"(?P<d>\d{1,2})(?:st|nd|rd|th)\b"
)
_RETURN_BEFORE = re.compile(
    r"\b(?:return(?:ing)?|back|till|until)\b(?:\s+(?:to|from)\s+[^\W\d_]+(?:\s+[^\W\d_]+)?)?"
    r"(?:\s+(?:flight|ticket|trip|date|day))?(?:\s*(?:is|:|=|on|by|for|to|-))*\s*(?:the\s+)?$"
)
_DOB_BEFORE = re.compile(
    r"\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birth\s*day|bday|born(?:\s+on)?)"
    r"\s*(?:is|:|=|-|na)?\s*$"
)
_RANGE_GAP = re.compile(r"^\s*(?:to|-|till|until|and|through|thru|&)\s*$")
_SAME_DAY_GAP = re.compile(r"^[\s,]*(?:the\s+)?$")

_CLOCK = re.compile(r"\b(?P<h>\d{1,2})(?:[:.](?P<min>\d{2}))?\s*(?P<ap>am|pm|a\.m\.?|p\.m\.?)")
_CLOCK_24H = re.compile(r"\b(?P<h>[01]?\d|2[0-3]):(?P<min>[0-5]\d)\b")
# "early"/"late" alone are times, but "early December" is not.
_NOT_A_TIME_AHEAD = rf"(?!\s+(?:{_words_pattern(_MONTHS)}|next|this|in)\b)"
_TIMES_OF_DAY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\blate\s+night\b|\bovernight\b|\bmidnight\b|\bred[\s-]?eye\b"), "night"),
    (re.compile(r"\b(?:late\s+|early\s+)?after\s*noon\b|\baftanoon\b|\bnoon\b|\bmid-?day\b"),
     "afternoon"),
    (re.compile(r"\b(?:late\s+|early\s+)?evening\b|\bevenin\b"), "evening"),
    (re.compile(rf"\b(?:early\s+|late\s+)?morning\b|\bmornin\b|\bmorn\b|\bdawn\b|"
                rf"\bearly\b{_NOT_A_TIME_AHEAD}"), "morning"),
    (re.compile(rf"\bnight\b|\bnite\b|\blate\b{_NOT_A_TIME_AHEAD}"), "night"),
)  # fmt: skip

_ADULT_NOUNS = (
    r"adults?|adlts?|adult|grown[\s-]?ups?|people|persons?|pple|ppl|passengers?|pax|"
    r"travell?ers?|tickets?|seats?"
)
_CHILD_NOUNS = r"children|child|childrn|kids?|pikins?|pickins?|boys?|girls?|sons?|daughters?|teens?"
_INFANT_NOUNS = r"infants?|bab(?:y|ies)|toddlers?|newborns?|lap\s+infants?"
_COUNT = re.compile(
    rf"\b{_NUM}\s*(?:x\s*)?(?P<noun>{_ADULT_NOUNS}|{_CHILD_NOUNS}|{_INFANT_NOUNS})\b"
)
_COUNT_AFTER = re.compile(
    r"\b(?P<noun>adults?|children|kids|infants|babies|passengers|pax)\s*[:=x]?\s*(?P<n>\d{1,2})\b"
)
_MY_CHILD = re.compile(rf"\b(?:my|our)\s+(?P<noun>{_CHILD_NOUNS}|{_INFANT_NOUNS})\b")
_COMPANIONS = (
    r"wife|husband|hubby|spouse|partner|fianc[eé]e?|friends?|brothers?|sisters?|bro|sis|"
    r"colleagues?|mum|mom|mother|dad|father|parents|boss|oga|madam|mama|papa|mummy|daddy|"
    r"cousins?|uncle|aunt(?:y|ie)?|missus|wifey|girlfriend|boyfriend|padi|paddy|guy"
)
_ME_AND = re.compile(
    rf"\b(?:me|myself|i)\s*(?:and|&|n|plus|with|\+)\s*(?:my\s+|our\s+)?"
    rf"(?:{_NUM}\s+)?(?P<who>{_COMPANIONS})\b"
)
_AND_ME = re.compile(
    rf"\bmy\s+(?P<who>{_COMPANIONS})\s+(?:and|&|n)\s+(?:i|me|myself)\b|"
    rf"\b(?:with|plus)\s+(?:my|our)\s+(?P<with>{_COMPANIONS})\b"
)
_ME_WITH_KIDS = re.compile(r"\b(?:me|myself|i)\s*(?:and|&|with|plus|\+)\s")
_SOLO = re.compile(
    r"\b(?:just\s+me|only\s+me|me\s+alone|myself\s+alone|just\s+myself|only\s+myself|"
    r"by\s+myself|na\s+only\s+me|solo|alone|one\s+person)\b"
)
_GROUP = re.compile(
    rf"\b(?:we\s+are|we're|we\s+be|party\s+of|group\s+of|family\s+of|total\s+of)\s+{_NUM}\b|"
    rf"\b{_NUM.replace('<n>', '<n2>')}\s+of\s+us\b"
)
_FOR_N = re.compile(
    rf"\bfor\s+(?P<n>\d|{_words_pattern(_NUMBER_WORDS)})\b"
    r"(?!\s*(?:days?|nights?|weeks?|months?|hours?|hrs?|am|pm|k\b|naira|[:./\-]\d))"
)

_CABINS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bpremium(?:\s*(?:economy|eco|econ))?(?:\s+class)?\b"), "premium_economy"),
    (re.compile(r"\b(?:first|1st)\s*class\b|\b(?:in|fly)\s+first\b"), "first"),
    (re.compile(r"(?<!\bon\s)\b(?:business|busness|bussiness|buisness|biz|bizness)(?:\s*class)?\b"
                r"(?!\s+trip)"), "business"),
    (re.compile(r"\b(?:economy|econ|eco|economic|econmy|coach|cheap\s+seats?)(?:\s*class)?\b"),
     "economy"),
)  # fmt: skip
_TRIPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bone[\s-]*way\b|\b1[\s-]*way\b|\bsingle\s+(?:ticket|trip|journey|flight)\b|"
                r"\bno\s+return\b|\bnot\s+returning\b|\boneway\b"), "one_way"),
    (re.compile(r"\bround[\s-]*trip\b|\broundtrip\b|\breturn(?:ing)?\b|\btwo[\s-]*ways?\b|"
                r"\b2[\s-]*ways?\b|\band\s+back\b|\bto\s+and\s+fro\b|\bcom(?:e|ing)\s+back\b"),
     "return"),
)  # fmt: skip

_EXPLICIT_SELECTION = re.compile(
    rf"(?:\b(?:option|opt|choice|offer)\s*(?:no\.?|number|#)?\s*|#\s*)"
    rf"(?P<n>\d{{1,2}}|{_words_pattern(_NUMBER_WORDS)})\b"
)
_NUMBERED_SELECTION = re.compile(
    rf"\b(?:no\.?|number|num|nr|flight|pick|take|choose|want|give\s+me)\s*"
    rf"(?P<n>\d{{1,2}}|{_words_pattern(_NUMBER_WORDS)})\b"
)
_ORDINAL_SELECTION = re.compile(
    rf"\b(?:the\s+)?(?P<o>{_words_pattern(_ORDINALS)})\b(?:\s+(?:one|option|choice|flight|offer))?"
)
_CHEAPEST = re.compile(
    r"\b(?:the\s+)?(?:cheapest|lowest|least\s+expensive|cheaper)(?:\s+(?:one|option|flight|offer|"
    r"price|fare))?\b"
)
_BARE_NUMBER = re.compile(
    rf"(?<![\w.:/])(?P<n>\d{{1,2}}|{_words_pattern(_NUMBER_WORDS)})(?!\w|[.:/]\d)"
)

_DOTTED_PH = re.compile(r"\bp\.\s?h\b\.?")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


# --- Reading ----------------------------------------------------------------------------------


class _Word(NamedTuple):
    start: int
    end: int
    low: str
    cased: str


class _Mention(NamedTuple):
    place: PlaceMatch
    start: int
    end: int
    strong: bool


class _DateMention(NamedTuple):
    start: int
    end: int
    spec: _DateSpec
    role: str | None  # "dob", "return" or None


@dataclass(frozen=True, slots=True)
class _DateSpec:
    """A date as written, resolved against an anchor (today, or the departure for a return)."""

    kind: str  # "exact", "month_day", "weekday", "next_weekday", "day", "offset", "vague"
    year: int | None = None
    month: int = 0
    day: int = 0
    weekday: int = 0
    days: int = 0

    def resolve(self, today: date, anchor: date) -> date | None:
        if self.kind == "exact" and self.year is not None:
            return _safe_date(self.year, self.month, self.day)
        if self.kind == "month_day":
            for year in range(anchor.year, anchor.year + 5):
                found = _safe_date(year, self.month, self.day)
                if found is not None and found >= anchor:
                    return found
            return None
        if self.kind == "day":
            year, month = anchor.year, anchor.month
            for _ in range(13):
                found = _safe_date(year, month, self.day)
                if found is not None and found >= anchor:
                    return found
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return None
        if self.kind == "weekday":
            return anchor + timedelta(days=(self.weekday - anchor.weekday() - 1) % 7 + 1)
        if self.kind == "next_weekday":
            next_monday = today + timedelta(days=7 - today.weekday())
            found = next_monday + timedelta(days=self.weekday)
            while found < anchor:
                found += timedelta(days=7)
            return found
        if self.kind == "offset":
            return today + timedelta(days=self.days)
        return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(text: str, today: date) -> int:
    """Four digits as written; two digits in this century unless that is more than a year ahead."""
    value = int(text)
    if len(text) == 4:
        return value
    return 2000 + value if 2000 + value <= today.year + 1 else 1900 + value


_PUNCTUATION = str.maketrans("’‘“”–—", "''\"\"--")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_PUNCTUATION)
    return re.sub(r"\s*(?:-+>|=>|→|➡️?|⇒|⟶|➔)\s*", " - ", text)


class _Buffer:
    """The message being read: `rest` is what is left, lower-cased, with what was read blanked out
    so positions still line up with `cased` and `low`."""

    def __init__(self, text: str) -> None:
        low = text.lower()
        self.cased = text if len(low) == len(text) else low
        self.low = low
        self.rest = low

    def blank(self, start: int, end: int) -> None:
        self.rest = self.rest[:start] + " " * (end - start) + self.rest[end:]

    def take(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        matches = list(pattern.finditer(self.rest))
        for match in matches:
            self.blank(match.start(), match.end())
        return matches

    def take_first(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.search(self.rest)
        if match is not None:
            self.blank(match.start(), match.end())
        return match

    def words(self, start: int = 0, end: int | None = None) -> list[_Word]:
        stop = len(self.rest) if end is None else end
        return [
            _Word(m.start(), m.end(), m.group(), self.cased[m.start() : m.end()])
            for m in _WORD.finditer(self.rest, start, stop)
        ]

    def is_shouting(self) -> bool:
        letters = [ch for ch in self.cased if ch.isalpha()]
        upper = sum(1 for ch in letters if ch.isupper())
        return len(letters) >= 4 and upper / len(letters) > 0.7


class _Reader:
    """Reads one message step by step; each step takes what it understands out of the buffer."""

    def __init__(self, text: str, today: date, expecting: str | None) -> None:
        self.buf = _Buffer(_normalise(text))
        self.today = today
        self.expecting = expecting
        self.greeting = self.restart = self.cancel = self.give_up = self.help = False
        self.status = self.search_words = self.confirm = self.negative = False
        self.edit_cue: str | None = None  # "strong", "weak" or "stated"
        self.edit_field: str | None = None
        self.edit_part: str | None = None
        self.reference: str | None = None
        self.email: str | None = None
        self.phone: str | None = None
        self.full_name: str | None = None
        self.given_name: str | None = None
        self.family_name: str | None = None
        self.title: str | None = None
        self.gender: str | None = None
        self.born_on: date | None = None
        self.departure_date: date | None = None
        self.return_date: date | None = None
        self.time_of_day: str | None = None
        self.counts: dict[str, int] = {}
        self.cabin: str | None = None
        self.trip: str | None = None
        self.origin: PlaceMatch | None = None
        self.destination: PlaceMatch | None = None
        self.unknown_places: list[str] = []
        self.selection: int | None = None
        self.explicit_selection = False

    def read(self) -> None:
        self._greeting()
        self._reference()
        self._contacts()
        self._intent_phrases()
        self._edit()
        self._name_labels()
        self._dates()
        self._times()
        self._counts()
        self._cabin_and_trip()
        self.search_words = bool(self.buf.take(_SEARCH_WORDS))
        self._places()
        self._selection()
        self._passenger()
        self._yes_or_no()
        self._finish_edit()

    # -- steps --

    def _greeting(self) -> None:
        while (match := _GREETING.match(self.buf.rest)) and match.end() > match.start():
            if not match.group().strip(" ,.!?"):
                break
            self.greeting = True
            self.buf.blank(match.start(), match.end())
        if self.buf.take(_TRAILING_GREETING):
            self.greeting = True

    def _reference(self) -> None:
        match = self.buf.take_first(_REFERENCE)
        if match is not None:
            self.reference = match.group().upper()

    def _contacts(self) -> None:
        email = self.buf.take_first(_EMAIL)
        if email is not None:
            self.email = self.buf.cased[email.start() : email.end()]
        phone = self.buf.take_first(_PHONE_NG) or self.buf.take_first(_PHONE_INTERNATIONAL)
        if phone is not None:
            self.phone = self.buf.cased[phone.start() : phone.end()].strip()

    def _intent_phrases(self) -> None:
        self.restart = bool(self.buf.take(_RESTART))
        self.cancel = bool(self.buf.take(_CANCEL))
        self.status = bool(self.buf.take(_STATUS))
        self.help = bool(self.buf.take(_HELP))
        self.give_up = bool(self.buf.take(_GIVE_UP))

    def _edit(self) -> None:
        rest = self.buf.rest
        cue = _EDIT_STRONG.search(rest)
        if cue is not None:
            self.edit_cue = "strong"
        elif (cue := _EDIT_WEAK.search(rest)) is not None:
            self.edit_cue = "weak"
        field = self._edit_field_at(cue.end() if cue is not None else 0)
        if field is None and cue is not None:
            field = self._edit_field_at(0)
        if field is not None:
            match, name, part = field
            if cue is None:
                # "email is jd@x.com", "my phone na 0803...": a field stated at the start.
                lead = _STATED_FIELD.match(rest)
                if lead is None or lead.end() != match.start():
                    return
                if not _STATED_VERB.match(self.buf.low[match.end() :]):
                    return
                self.edit_cue = "stated"
            elif name in _PASSENGER_FIELDS:
                self.buf.blank(match.start(), match.end())  # so "surname" is not read as a name
            self.edit_field, self.edit_part = name, part
        if cue is not None:
            self.buf.blank(cue.start(), cue.end())

    def _edit_field_at(self, start: int) -> tuple[re.Match[str], str, str | None] | None:
        best: tuple[re.Match[str], str, str | None] | None = None
        for pattern, name, part in _EDIT_FIELDS:
            match = pattern.search(self.buf.rest, start)
            if match is not None and (best is None or match.start() < best[0].start()):
                best = (match, name, part)
        return best

    def _name_labels(self) -> None:
        title = self.buf.take_first(_TITLE_LABEL)
        if title is not None:
            self.title = _TITLES[title.group("v")]
        gender = self.buf.take_first(_GENDER_LABEL)
        if gender is not None:
            self.gender = _GENDERS[gender.group("v")]
        for label in list(_NAME_LABEL.finditer(self.buf.rest)):
            end = len(self.buf.rest)
            separator = _SEPARATOR.search(self.buf.rest, label.end())
            if separator is not None:
                end = separator.start()
            words = self._name_words(self.buf.words(label.end(), end))
            if not words:
                continue
            name = _tidy_name(words, self.buf.cased)
            kind = label.group("label").replace(" ", "")
            if kind.startswith(("first", "given", "firstname")):
                self.given_name = name
            elif kind.startswith(("surname", "last", "family")):
                self.family_name = name
            elif kind.startswith(("other", "middle")):
                continue
            else:
                self.full_name = name
            self.buf.blank(label.start(), words[-1].end)

    def _name_words(self, words: list[_Word]) -> list[_Word]:
        """The leading words that can be a name; a title or honorific before them is noted."""
        taken: list[_Word] = []
        for word in words:
            if word.low in _TITLES or word.low in _HONORIFICS:
                if not taken:
                    self._title_or_honorific(word.low)
                    self.buf.blank(word.start, word.end)
                    continue
                break
            if not _is_name_word(word):
                break
            taken.append(word)
        return taken

    def _title_or_honorific(self, word: str) -> None:
        if word in _TITLES:
            self.title = self.title or _TITLES[word]
        elif _HONORIFICS.get(word):
            self.gender = self.gender or _HONORIFICS[word]

    @property
    def passenger_context(self) -> bool:
        return (
            self.expecting == "passenger"
            or self.edit_field in _PASSENGER_FIELDS
            or any((self.email, self.phone, self.full_name, self.given_name, self.family_name))
            or bool(self.title or self.gender)
        )

    def _dates(self) -> None:
        found: list[_DateMention] = []

        def add(match: re.Match[str], spec: _DateSpec, start: int | None = None) -> None:
            begin = match.start() if start is None else start
            self.buf.blank(match.start(), match.end())
            found.append(_DateMention(begin, match.end(), spec, self._date_role(begin)))

        for match in list(_ISO_DATE.finditer(self.buf.rest)):
            y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
            if _safe_date(y, m, d):
                add(match, _DateSpec("exact", y, m, d))
        for match in list(_NUMERIC_DATE.finditer(self.buf.rest)):
            y, m, d = _year(match["y"], self.today), int(match["m"]), int(match["d"])
            if not _safe_date(y, m, d) and _safe_date(y, d, m):
                m, d = d, m  # month first, as some people (and phones) write it
            if _safe_date(y, m, d):
                add(match, _DateSpec("exact", y, m, d))
        for pattern in (_DAY_MONTH, _MONTH_DAY):
            for match in list(pattern.finditer(self.buf.rest)):
                m, d = _MONTHS[match["mon"]], int(match["d"])
                written_year = match["y"] or match.groupdict().get("yy")
                if written_year:
                    spec = _DateSpec("exact", _year(written_year, self.today), m, d)
                else:
                    spec = _DateSpec("month_day", None, m, d)
                if _safe_date(spec.year or 2024, m, d):
                    add(match, spec)
        for match in list(_SHORT_NUMERIC_DATE.finditer(self.buf.rest)):
            m, d = int(match["m"]), int(match["d"])
            if _safe_date(2024, m, d):
                add(match, _DateSpec("month_day", None, m, d))
        for match in list(_RELATIVE_DATE.finditer(self.buf.rest)):
            add(match, self._relative(match["word"]))
        for match in list(_HOLIDAY.finditer(self.buf.rest)):
            month, day = _HOLIDAYS[" ".join(match["h"].split())]
            add(match, _DateSpec("month_day", None, month, day))
        for match in list(_IN_DAYS.finditer(self.buf.rest)):
            n = _count(match["n"] or match["n2"])
            unit = match["unit"] or match["unit2"]
            add(match, _DateSpec("offset", days=n * (7 if unit.startswith("week") else 1)))
        self._weekdays(add)
        for match in list(_DAY_ONLY.finditer(self.buf.rest)):
            add(match, _DateSpec("day", day=int(match["d"])), start=match.start("d"))
        self._assign_dates(sorted(found, key=lambda mention: mention.start))

    def _weekdays(self, add: Callable[[re.Match[str], _DateSpec], None]) -> None:
        bare_allowed = not self.passenger_context  # "Sunday Adeyemi" is a name, not a date
        for pattern, table in ((_WEEKDAY, _WEEKDAYS), (_WEEKDAY_SHORT, _WEEKDAY_ABBREVIATIONS)):
            for match in list(pattern.finditer(self.buf.rest)):
                relation = match["rel"]
                if relation is None and not bare_allowed:
                    continue
                kind = "next_weekday" if relation == "next" else "weekday"
                add(match, _DateSpec(kind, weekday=table[match["wd"]]))

    def _relative(self, word: str) -> _DateSpec:
        word = " ".join(word.split())
        if word in {"today", "tonight", "tonite"}:
            if word != "today":
                self.time_of_day = self.time_of_day or "night"
            return _DateSpec("offset", days=0)
        if word.startswith(("next tom", "next tm")) or "after" in word:
            return _DateSpec("offset", days=2)  # Nigerian "next tomorrow": the day after tomorrow
        if word.endswith("weekend"):
            kind = "next_weekday" if word.startswith("next") else "weekday"
            if self.today.weekday() == 5 and kind == "weekday":
                return _DateSpec("offset", days=0)
            return _DateSpec(kind, weekday=5)
        if "week" in word or "month" in word:
            return _DateSpec("vague")
        return _DateSpec("offset", days=1)

    def _date_role(self, start: int) -> str | None:
        before = self.buf.low[max(0, start - 60) : start]
        if _DOB_BEFORE.search(before):
            return "dob"
        if _RETURN_BEFORE.search(before):
            return "return"
        return None

    def _assign_dates(self, found: list[_DateMention]) -> None:
        # "friday 20th december" names one day twice: keep the calendar date.
        for first, second in itertools.pairwise(list(found)):
            if _SAME_DAY_GAP.match(self.buf.low[first.end : second.start]):
                kinds = {first.spec.kind, second.spec.kind}
                if kinds & {"weekday", "next_weekday"} and kinds & {"exact", "month_day", "day"}:
                    found.remove(first if first.spec.kind.endswith("weekday") else second)
        plain: list[_DateMention] = []
        returns: list[_DateMention] = []
        previous: _DateMention | None = None
        for mention in found:
            role = mention.role
            gap = self.buf.low[previous.end : mention.start] if previous else ""
            if (
                role is None
                and previous is not None
                and previous.role is None
                and _RANGE_GAP.match(gap)
                and mention.spec.kind != "vague"
            ):
                role = "return"  # "20 dec - 3 jan", "from 20 dec to 3 jan"
            previous = mention
            if role == "dob" or self.edit_field == "dob":
                if mention.spec.kind == "exact":
                    self.born_on = self.born_on or mention.spec.resolve(self.today, self.today)
            elif role == "return":
                returns.append(mention)
            else:
                plain.append(mention)
        for mention in plain:
            when = mention.spec.resolve(self.today, self.today)
            if when is None:
                continue
            if mention.spec.kind == "exact" and when < self.today:
                self.born_on = self.born_on or when  # no flight leaves in the past
            elif self.departure_date is None:
                self.departure_date = when
            else:
                returns.append(mention)
        for mention in returns:
            if self.return_date is None:
                anchor = self.departure_date or self.today
                self.return_date = mention.spec.resolve(self.today, anchor)

    def _times(self) -> None:
        found: list[tuple[int, str]] = []
        for match in self.buf.take(_CLOCK):
            hour = int(match["h"]) % 12 + (12 if match["ap"].startswith("p") else 0)
            found.append((match.start(), _part_of_day(hour)))
        for match in self.buf.take(_CLOCK_24H):
            found.append((match.start(), _part_of_day(int(match["h"]))))
        for pattern, part in _TIMES_OF_DAY:
            found.extend((match.start(), part) for match in self.buf.take(pattern))
        if found and self.time_of_day is None:
            self.time_of_day = min(found)[1]

    def _counts(self) -> None:
        def put(kind: str, n: int) -> None:
            self.counts.setdefault(kind, n)

        for match in self.buf.take(_COUNT) + self.buf.take(_COUNT_AFTER):
            put(_passenger_kind(match["noun"]), _count(match["n"]))
        for match in self.buf.take(_MY_CHILD):
            put(_passenger_kind(match["noun"]), 1)
        for match in self.buf.take(_ME_AND) + self.buf.take(_AND_ME):
            companions = _count(match["n"]) if match.groupdict().get("n") else 1
            who = match["who"] or match.groupdict().get("with")
            put("adults", 1 + (2 if who == "parents" else companions))
        if self.buf.take(_SOLO):
            put("adults", 1)
        for match in self.buf.take(_GROUP):
            put("adults", _count(match["n"] or match["n2"]))
        if "adults" not in self.counts and (for_n := self.buf.take_first(_FOR_N)):
            put("adults", _count(for_n["n"]))
        if "adults" not in self.counts and self.counts and _ME_WITH_KIDS.search(self.buf.low):
            put("adults", 1)  # "me and my 2 kids"
        if self.edit_field == "passengers" and not self.counts:
            number = self.buf.take_first(_BARE_NUMBER)
            if number is not None:
                put("adults", _count(number["n"]))  # "change passengers to 3"

    def _cabin_and_trip(self) -> None:
        for pattern, cabin in _CABINS:
            if self.buf.take(pattern):
                self.cabin = self.cabin or cabin
        for pattern, trip in _TRIPS:
            if self.buf.take(pattern):
                self.trip = self.trip or trip
        if self.trip is None and self.return_date is not None:
            self.trip = "return"

    def _places(self) -> None:
        # "P.H." and "P. H" for Port Harcourt, padded so positions still line up.
        self.buf.rest = _DOTTED_PH.sub(lambda m: "ph".ljust(len(m.group())), self.buf.rest)
        if self.edit_field in _PASSENGER_FIELDS:
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

    def _place_mentions(self, words: list[_Word]) -> list[_Mention]:
        gazetteer = _gazetteer()
        shouting = self.buf.is_shouting()
        folded = [_fold(w.low) for w in words]
        mentions: list[_Mention] = []
        i = 0
        while i < len(words):
            found: _Mention | None = None
            longest = gazetteer.longest_alias if folded[i] in gazetteer.first_words else 1
            for size in range(min(longest, len(words) - i), 0, -1):
                group = words[i : i + size]
                if any(
                    len(self.buf.rest[a.end : b.start]) > 2 for a, b in itertools.pairwise(group)
                ):
                    continue
                key = " ".join(folded[i : i + size])
                start, end = group[0].start, group[-1].end
                if key in gazetteer.aliases:
                    found = _Mention(gazetteer.aliases[key], start, end, strong=True)
                elif key in gazetteer.weak and key not in _COMMON_WORDS:
                    found = _Mention(gazetteer.weak[key], start, end, strong=False)
                elif size == 1 and len(key) == 3 and key.upper() in gazetteer.codes:
                    written_as_code = group[0].cased.isupper() and not shouting
                    if key in _COMMON_WORDS and not written_as_code:
                        continue
                    strong = written_as_code and key not in _COMMON_WORDS
                    found = _Mention(gazetteer.codes[key.upper()], start, end, strong)
                if found is not None:
                    i += size
                    break
            if found is None:
                i += 1
            else:
                mentions.append(found)
        return mentions

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
        kept = [
            i
            for i, m in enumerate(mentions)
            if hints[i] != "return_leg" and (m.strong or routed[i] or linked[i])
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
        if last in _SOFT_DESTINATION_WORDS:
            return "soft_destination"
        if last in _SOFT_ORIGIN_WORDS:
            return "soft_origin"
        return None

    def _unknown_places(self, words: list[_Word], mentions: list[_Mention]) -> None:
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
            self.buf.blank(run[0].start, run[-1].end)
            covered.append((run[0].start, run[-1].end))

    def _selection(self) -> None:
        expecting = self.expecting == "selection"
        match = self.buf.take_first(_EXPLICIT_SELECTION)
        if match is not None:
            self.selection, self.explicit_selection = _count(match["n"]), True
            return
        if not expecting:
            return
        if (match := self.buf.take_first(_NUMBERED_SELECTION)) is not None:
            self.selection = _count(match["n"])
        elif (match := self.buf.take_first(_ORDINAL_SELECTION)) is not None:
            self.selection = _ORDINALS[match["o"]]
        elif self.buf.take_first(_CHEAPEST) is not None:
            self.selection = 1  # results are listed cheapest first
        elif (match := self.buf.take_first(_BARE_NUMBER)) is not None:
            self.selection = _count(match["n"])
        if self.selection is not None and not 1 <= self.selection <= 50:
            self.selection = None

    def _passenger(self) -> None:
        if not self.passenger_context:
            title = _TITLE.search(self.buf.rest)
            if title is None or title["t"] == "miss":
                return
        for match in self.buf.take(_TITLE) + self.buf.take(_TITLE_ALONE):
            self.title = self.title or _TITLES[match["t"]]
        for match in self.buf.take(_HONORIFIC):
            self._title_or_honorific(match["h"])
        for match in self.buf.take(_GENDER):
            self.gender = self.gender or _GENDERS[match["g"] or match["letter"]]
        if self.gender is None and self.title in _GENDER_OF_TITLE:
            self.gender = _GENDER_OF_TITLE[self.title]
        if self.full_name or self.given_name or self.family_name:
            return
        words = [w for w in self.buf.words() if w.low not in _NAME_FILLER]
        if not 1 <= len(words) <= 5 or not all(_is_name_word(w) for w in words):
            return
        name = _tidy_name(words, self.buf.cased)
        if self.buf.cased[words[0].end : words[1].start if len(words) > 1 else 0] == "/":
            # The airline way, "OKAFOR/CHINEDU": family name first.
            self.family_name, self.given_name = name.split()[0], " ".join(name.split()[1:])
            self.full_name = f"{self.given_name} {self.family_name}"
        elif self.edit_part == "given":
            self.given_name = name
        elif self.edit_part == "family":
            self.family_name = name
        else:
            self.full_name = name
        self.buf.blank(words[0].start, words[-1].end)

    def _yes_or_no(self) -> None:
        rest = self.buf.rest
        confirm = list(_CONFIRM.finditer(rest))
        # "no wahala" (no problem) is a yes that starts with "no".
        negative = [
            n
            for n in _NEGATIVE.finditer(rest)
            if not any(c.start() <= n.start() < c.end() for c in confirm)
        ]
        for match in confirm + negative:
            rest = rest[: match.start()] + " " * (match.end() - match.start()) + rest[match.end() :]
        leftover = {m.group() for m in _WORD.finditer(rest)} - _FILLER
        if leftover:
            return
        if negative:
            self.negative = True
        elif confirm:
            self.confirm = True

    def _finish_edit(self) -> None:
        if self.edit_cue is None:
            return
        if self.edit_field is None:
            self.edit_field = self._edit_field_from_values()
        if self.edit_field == "origin" and self.origin is None and self.destination is not None:
            self.origin, self.destination = self.destination, None
        elif (
            self.edit_field == "date"
            and self.edit_part == "return"
            and self.return_date is None
            and self.departure_date is not None
        ):
            self.return_date, self.departure_date = self.departure_date, None

    def _edit_field_from_values(self) -> str | None:
        by_value = (
            ("email", self.email),
            ("phone", self.phone),
            ("dob", self.born_on),
            ("date", self.departure_date or self.return_date),
            ("origin", self.origin if self.destination is None else None),
            ("destination", self.destination),
            ("cabin", self.cabin),
            ("passengers", self.counts),
            ("name", self.full_name or self.given_name or self.family_name),
            ("title", self.title),
            ("gender", self.gender),
        )
        return next((field for field, value in by_value if value), None)

    # -- results --

    def _has_passenger_fields(self) -> bool:
        return any(
            (
                self.full_name,
                self.given_name,
                self.family_name,
                self.email,
                self.phone,
                self.born_on,
                self.title,
                self.gender,
            )
        )

    def _is_edit(self, wants_search: bool) -> bool:
        if self.edit_cue == "strong":
            return True
        has_value = self._has_passenger_fields() or any(
            (self.origin, self.destination, self.departure_date, self.return_date, self.cabin)
        )
        if self.edit_cue == "weak":
            whole_new_route = self.origin is not None and self.destination is not None
            return (has_value or self.edit_field is not None) and not whole_new_route
        if self.edit_cue == "stated":
            if self.edit_field not in _PASSENGER_FIELDS:
                return has_value or bool(self.counts)
            if self.expecting == "passenger" or wants_search:
                return False
            kinds = sum(bool(v) for v in (self._any_name(), self.email, self.phone, self.born_on))
            return self.expecting == "confirmation" or kinds <= 1
        return False

    def _any_name(self) -> str | None:
        return self.full_name or self.given_name or self.family_name

    def intent(self) -> Intent:
        has_route = self.origin is not None or self.destination is not None
        wants_search = has_route or self.search_words or bool(self.unknown_places)
        refines_search = self.trip is not None or any(
            (self.departure_date, self.return_date, self.time_of_day, self.counts, self.cabin)
        )
        if self.cancel:
            return Intent.CANCEL
        if self.reference:
            return Intent.STATUS
        if self._is_edit(wants_search):
            return Intent.EDIT
        if self.status:
            return Intent.STATUS
        if self.restart:
            return Intent.SEARCH if has_route else Intent.RESTART
        if self.help and not wants_search:
            return Intent.HELP
        if self.expecting == "selection" and self.selection is not None and not has_route:
            return Intent.SELECT  # "the third flight"
        if wants_search:
            return Intent.SEARCH
        if self.selection is not None and (
            self.expecting == "selection" or self.explicit_selection
        ):
            return Intent.SELECT
        if self._has_passenger_fields():
            return Intent.PASSENGER_DETAILS
        if self.confirm and not refines_search:
            return Intent.CONFIRM
        if self.give_up or (self.negative and self.expecting == "confirmation"):
            return Intent.CANCEL
        if refines_search:
            return Intent.SEARCH
        if self.greeting:
            return Intent.GREETING
        return Intent.UNKNOWN

    def slots(self, intent: Intent) -> Slots:
        passenger = None
        if self._has_passenger_fields():
            given, family = self.given_name, self.family_name
            full = self.full_name
            if full is not None and given is None and family is None:
                parts = full.split()
                given = " ".join(parts[:-1]) or parts[0]
                family = parts[-1] if len(parts) > 1 else None
            elif full is None and given and family:
                full = f"{given} {family}"
            passenger = PassengerFields(
                full_name=full,
                given_name=given,
                family_name=family,
                email=self.email,
                phone=self.phone,
                born_on=self.born_on,
                title=self.title,
                gender=self.gender,
            )
        return Slots(
            origin=self.origin,
            destination=self.destination,
            departure_date=self.departure_date,
            return_date=self.return_date,
            time_of_day=self.time_of_day,
            adults=self.counts.get("adults"),
            children=self.counts.get("children"),
            infants=self.counts.get("infants"),
            cabin=self.cabin,
            trip=self.trip,
            selection=self.selection,
            passenger=passenger,
            edit_field=self.edit_field if intent is Intent.EDIT else None,
            booking_reference=self.reference,
            unknown_places=tuple(self.unknown_places),
        )


def _count(text: str) -> int:
    return int(text) if text.isdigit() else _COUNT_WORDS[text]


def _passenger_kind(noun: str) -> str:
    if re.fullmatch(_INFANT_NOUNS, noun):
        return "infants"
    if re.fullmatch(_CHILD_NOUNS, noun):
        return "children"
    return "adults"


def _part_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 21:
        return "evening"
    return "night"


def _is_name_word(word: _Word) -> bool:
    return (
        word.low.isalpha() or bool(re.fullmatch(r"[^\W\d_]+(?:'[^\W\d_]+)*", word.low))
    ) and word.low not in _COMMON_WORDS


def _could_be_place(word: _Word) -> bool:
    return (
        len(word.low) >= 3
        and word.low.isalpha()
        and word.low not in _COMMON_WORDS
        and word.low not in _MONTHS
        and word.low not in _WEEKDAYS
        and word.low not in _NUMBER_WORDS
        and word.low not in _FILLER
    )


def _tidy_name(words: list[_Word], cased: str) -> str:
    """The words as written, joined as in the message ("Adebayo-Smith"); all-lower or all-upper
    names are put in title case."""
    parts = [words[0].cased]
    for previous, word in itertools.pairwise(words):
        joiner = cased[previous.end : word.start]
        parts.append(("-" if joiner == "-" else " ") + word.cased)
    name = "".join(parts)
    if name.islower() or name.isupper():
        name = name.title()
    return name
