"""The words of the reader: numbers, months, weekdays, everyday words that are not places, the
phrases that carry an intent, and the buffer a message is read from."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

# --- Vocabulary -------------------------------------------------------------------------------


def _numbered(*spellings: str) -> dict[str, int]:
    """Numbers from 1 in the order given; one argument may list variants ("september sept sep")."""
    return {word: number for number, words in enumerate(spellings, 1) for word in words.split()}


NUMBER_WORDS = _numbered(
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"
)
COUNT_WORDS = {**NUMBER_WORDS, "a": 1, "an": 1, "single": 1}
ORDINALS = _numbered(
    "first 1st", "second 2nd", "third 3rd", "fourth 4th", "fifth 5th",
    "sixth 6th", "seventh 7th", "eighth 8th", "ninth 9th", "tenth 10th",
)  # fmt: skip
MONTHS = _numbered(
    "january jan", "february febuary feburary feb", "march mar", "april apr", "may", "june jun",
    "july jul", "august aug", "september sept sep", "october oct", "november novemeber nov",
    "december decemeber dec",
)  # fmt: skip
WEEKDAYS = {  # Monday is 0, as in `date.weekday()`
    day: number - 1
    for day, number in _numbered(
        "monday", "tuesday tues", "wednesday wensday wednessday", "thursday thurs thur",
        "friday", "saturday", "sunday",
    ).items()
}  # fmt: skip
# Short forms that are also English words ("sat", "wed", "sun") count only after "on"/"next"/"this".
WEEKDAY_ABBREVIATIONS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that are never a place or a name even though many are IATA codes or city names ("the",
# "man", "fly", "may"), plus the vocabulary of this assistant and of Nigerian chat.
COMMON_WORDS = word_set(
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


def fold(text: str) -> str:
    """Lower case, accents and hyphens dropped: how place names are compared."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)*", plain))


# --- Patterns ---------------------------------------------------------------------------------


def words_pattern(words: Iterable[str]) -> str:
    """An alternation of words, longest first so "sept" is tried before "sep"."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


NUM = rf"(?P<n>\d{{1,2}}|{words_pattern(COUNT_WORDS)})"
MONTH = rf"(?P<mon>{words_pattern(MONTHS)})\.?"
SEPARATOR = re.compile(r"[,;\n|]")

GREETING = re.compile(
    r"^[\s,.!]*(?:hi+|hello+|helo|hey+|hiya|heya|hallo|howdy|greetings|good\s+(?:morning|afternoon|"
    r"evening|day)|gud\s+(?:morning|afternoon|evening|day)|gm|how\s+far|howfar|how\s+you\s+dey|"
    r"how\s+body|wetin\s+dey|wassup|whatsup|what'?s\s+up|sup|yo|hola|bawo|sannu|kedu|ndewo|"
    r"e\s*kaaro|ekaaro|e\s*kasan|e\s*kale|how\s+are\s+you(?:\s+doing)?|how'?s\s+it\s+going|"
    r"howfa|how\s+fa|how\s+una\s+dey|how\s+r\s+u|how\s+are\s+u|hw\s+far|"
    r"compliments\s+of\s+the\s+season)(?:\s+(?:sir|ma|o+|there|bro|boss|guys|team|sureflights|"
    r"dear|na))*\b[\s,.!?]*"
)
TRAILING_GREETING = re.compile(r"[\s,.!]*\bgood\s+(?:morning|afternoon|evening|night|day)\W*$")

RESTART = re.compile(
    r"\b(?:start\s*(?:over|again|afresh|all\s+over)|restart|re-start|reset|new\s+search|"
    r"new\s+booking|begin\s+again|from\s+scratch|start\s+from\s+(?:the\s+)?beginning|"
    r"make\s+we\s+start\s+(?:again|afresh)|clear\s+(?:everything|all)|another\s+search|search\s+again)\b"
)
CANCEL = re.compile(r"\b(?:cancel+(?:led)?|abort)\b")
GIVE_UP = re.compile(
    r"\b(?:stop|never\s*mind|nevermind|forget\s+(?:it|about\s+it)|leave\s+(?:it|am)|quit|exit|"
    r"not\s+interested|no\s+longer\s+interested|drop\s+it|"
    r"(?:no|don'?t|do\s+not)\s+(?:wan|want)\s+(?:again|it|anymore|am)|"
    r"(?:don'?t|do\s+not)\s+(?:book|pay|proceed|continue))\b"
)
HELP = re.compile(
    r"\b(?:help|menu|what\s+can\s+you\s+do|what\s+do\s+you\s+do|how\s+does\s+(?:this|it)\s+work|"
    r"how\s+(?:do|can)\s+i\s+use|how\s+to\s+use|commands|instructions|support|assistance|"
    r"wetin\s+you\s+(?:fit|dey)\s+do|what\s+are\s+my\s+options)\b|^\W*\?+\W*$"
)
STATUS = re.compile(
    r"\b(?:status|where\s+is\s+my\s+(?:booking|ticket|flight|reservation|order)|"
    r"check\s+(?:on\s+)?(?:my\s+)?(?:booking|ticket|reservation|payment)|my\s+booking|"
    r"booking\s+(?:details|reference)|track\s+(?:my\s+)?(?:booking|ticket)|"
    r"i\s+(?:have|don|done|don\s+already|already)\s+pa(?:y|id)|have\s+paid|i'?ve\s+"
    r"(?:already\s+|just\s+)?paid|i\s+(?:just\s+|already\s+)?paid|payment\s+made|"
    r"(?:did|has)\s+(?:my\s+)?payment\s+(?:go|gone|went)|"
    r"payment\s+(?:confirmed|successful|done|status)|"
    r"is\s+my\s+(?:ticket|booking|flight)\s+confirmed)\b"
)
# Small talk, answered like a greeting: who the assistant is, how it is doing.
SMALL_TALK = re.compile(
    r"\b(?:are\s+(?:you|u)\s+(?:a\s+|an\s+)?(?:robot|bot|human|real|machine|ai|person)|"
    r"who\s+(?:are|r)\s+(?:you|u)|what(?:'?s|\s+is)\s+your\s+name|how\s+(?:is|'?s)\s+(?:work|"
    r"business|your\s+day)|how\s+(?:are|r)\s+(?:you|u)\s+doing|hope\s+you(?:'re|\s+are)\s+"
    r"(?:fine|good|well)|nice\s+one|good\s+job|well\s+done|you\s+(?:dey|are)\s+(?:try|good)|"
    r"lol+|haha+|hehe+)\b|[😂🤣😊😁]"
)
THANKS = re.compile(
    r"\b(?:thanks?(?:\s+(?:a\s+lot|so\s+much|very\s+much|plenty|o+|sir|ma|boss|bro|dear))*|"
    r"thank\s*(?:you|u|yu|ya)(?:\s+(?:so|very)\s+much)?|thankyou|thx|tnx|tnks|tnk\s*u|tanx|"
    r"tanks|tank\s*(?:you|u)|ty|appreciate(?:d)?|i\s+appreciate(?:\s+it)?|much\s+appreciated|"
    r"god\s+bless(?:\s+(?:you|u))?|bless\s+(?:you|u)|e\s*se(?:\s+gan|\s+o+)?|daalu|nagode|"
    r"na\s*gode|grateful)\b|🙏+|❤️?|👏+"
)
# Wanting a person: customer care, an agent, a human.
HANDOFF = re.compile(
    r"\b(?:(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|your\s+|the\s+|one\s+|some\s+)?"
    r"(?:human|person|agent|someone|somebody|real\s+(?:person|human)|customer\s+(?:care|service|"
    r"support)|support|staff|representative|rep|operator|manager|team|officer)|"
    r"customer\s*(?:care|service|support|rep)|human\s+(?:being|agent)|real\s+(?:person|human)|"
    r"live\s+agent|(?:an\s+|your\s+)?agent|representative|support\s+(?:number|line|team)|"
    r"help\s*line|hotline|call\s+centre|call\s+center|contact\s+(?:you|your\s+office|support)|"
    r"your\s+(?:office|phone)\s+number|connect\s+me\s+(?:to|with)\s+\w+)\b"
)
# What a status check is worried about.
TICKET_CONCERN = re.compile(
    r"\b(?:(?:never|not|no|didn'?t|did\s+not|haven'?t|have\s+not|hasn'?t|yet\s+to|no\s+see|"
    r"never\s+see|don'?t|do\s+not)\s+(?:\w+\s+){0,2}(?:receive[d]?|recieve[d]?|get|got|gotten|"
    r"see|seen)\b(?:\s+\w+){0,3}?\s+(?:e-?ticket|ticket|confirmation|itinerary|booking|email|"
    r"mail|sms)s?|(?:where|wia)\s+(?:is\s+)?my\s+(?:e-?ticket|ticket|itinerary)|"
    r"(?:paid|pay|payment)\b(?:.*?)\b(?:nothing|no\s+ticket|no\s+confirmation|not\s+confirmed|"
    r"no\s+reply|no\s+response|no\s+update|still\s+pending|never\s+confirm))\b"
)
REFUND_CONCERN = re.compile(
    r"\b(?:refund(?:ed|s)?|money\s+back|reimburs\w*|my\s+money|return\s+my\s+money|"
    r"(?:flight|ticket|booking)\s+(?:was\s+|got\s+|don\s+|has\s+been\s+|is\s+)?"
    r"cancel+(?:l?ed)?|(?:they|airline|airlines)\s+(?:\w+\s+)?cancel+(?:l?ed)?|"
    r"cancel+(?:l?ed)\s+(?:flight|ticket|booking))\b"
)
# Short questions answered in a line.
QUESTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(
        r"\b(?:bag(?:s|gage|age|ages)?|luggage|luggages|laguage|lugage|lagguage|kg|kgs|kilos?|"
        r"kilogram(?:me)?s?|suitcases?|hand\s*luggage|carry[\s-]?on|checked\s+bags?|"
        r"allowance)\b"
    ), "baggage"),
    (re.compile(
        r"\b(?:pay(?:ment)?\s+(?:with|by|via|through|using|in)\s+(?:card|transfer|bank|ussd|cash|"
        r"crypto|pos|dollars?|naira|usd)|bank\s+transfer|transfer|ussd|debit\s+card|credit\s+card|"
        r"master\s*card|verve|paystack|payment\s+(?:methods?|options?)|how\s+(?:do|can|will|to)\s+"
        r"i\s+pay|how\s+to\s+pay|accept\s+(?:card|cards|transfer|cash|dollars?)|pay\s+with\s+card|"
        r"pay\s+cash|card\s+payment)\b"
    ), "payment_methods"),
    (re.compile(
        r"\b(?:visas?|passport|documents?|id\s+card|nin|international\s+passport|yellow\s+card|"
        r"vaccination)\b"
    ), "documents"),
)  # fmt: skip
QUESTION_CUE = re.compile(
    r"\?|\b(?:how|what|which|can|could|do|does|is|are|will|should|may|abeg|pls|please|how\s+many|"
    r"how\s+much|allowed|free|include[sd]?|accept|wetin|fit)\b"
)
# Asking for other options than those shown.
BROWSE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(
        r"\b(?:cheaper|less\s+expensive|lower\s+(?:price|fare)s?|too\s+(?:expensive|costly|much)|"
        r"e\s+(?:too\s+)?cost|costly|anything\s+cheap|something\s+cheap|cheap\s+one|reduce)\b"
    ), "cheaper"),
    (re.compile(r"\b(?:earlier|sooner|before\s+that)\b"), "earlier"),
    (re.compile(r"\b(?:later|after\s+that)\b"), "later"),
    (re.compile(r"\b(?:faster|quicker|shorter|shortest)\b"), "faster"),
    (re.compile(
        r"\b(?:(?:show|see|send|give\s+me|list|any)\s+(?:me\s+)?(?:more|other|another|others|"
        r"the\s+rest)|more\s+(?:options?|flights?|results?)|other\s+(?:options?|flights?|"
        r"airlines?)|next\s+(?:page|options?|ones?)|see\s+more|show\s+more|more)\b"
    ), "more"),
)  # fmt: skip
BROWSE_ONLY = re.compile(
    r"\b(?:options?|flights?|ones?|fares?|prices?|please|pls|abeg|any|"
    r"anything|something|show|see|me|get|do|you|have|are|there|is|the)\b"
)

SEARCH_WORDS = re.compile(
    r"\b(?:flights?|fly|flying|flite|travel(?:l?ing|s)?|tickets?|trip|fares?|airfare|"
    r"book(?:ing)?\s+(?:a\s+|me\s+|for\s+)?(?:flight|ticket|seat)|want\s+to\s+book|book\s+me|"
    r"how\s+much|price|cost|wan\s+go|wan\s+travel|going\s+to|search|find\s+me)\b"
)
CONFIRM = re.compile(
    r"\b(?:yes+|yess|yeah|yea|ya|yah|yep|yup|y|ok+|okay|okey|okk|kk|k|sure|confirm(?:ed)?|"
    r"correct|proceed|go\s+ahead\s+and\s+(?:book|pay)(?:\s+(?:it|am))?|go\s+ahead|go\s+on|"
    r"continue|alright|all\s+right|right|fine|perfect|great|"
    r"cool|good|sounds\s+good|looks\s+good|that'?s\s+(?:right|correct|fine|it|good)|"
    r"it'?s\s+(?:correct|fine|ok|okay|good)|book\s+(?:it|am|now)|pay(?:\s+now)?|"
    r"make\s+payment|oya|no\s+wahala|na\s+so|"
    r"e\s+correct|do\s+am|carry\s+go|sharp(?:\s+sharp)?|"
    r"let'?s\s+go|lets\s+do\s+it|do\s+it|i\s+agree|agreed|go)\b|[👍👌✅✔]"
)
NEGATIVE = re.compile(
    r"\b(?:no+|nope|nah|naa|nop|not\s+now|no\s+thanks|never|i\s+no\s+want|no\s+be\s+am)\b|[👎❌]"
)
FILLER = word_set(
    """
    please pls plz plss abeg biko sir ma madam o oo ooo thanks thank you tnx thx dear boss bro
    sis just then so well hmm erm uhm lol i am it that this is now na sha jare oh ah one and
    wait
    """
)

BARE_NUMBER = re.compile(
    rf"(?<![\w.:/])(?P<n>\d{{1,2}}|{words_pattern(NUMBER_WORDS)})(?!\w|[.:/]\d)"
)

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class Word(NamedTuple):
    start: int
    end: int
    low: str
    cased: str


_PUNCTUATION = str.maketrans("’‘“”–—", "''\"\"--")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_PUNCTUATION)
    return re.sub(r"\s*(?:-+>|=>|→|➡️?|⇒|⟶|➔)\s*", " - ", text)


class Buffer:
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

    def words(self, start: int = 0, end: int | None = None) -> list[Word]:
        stop = len(self.rest) if end is None else end
        return [
            Word(m.start(), m.end(), m.group(), self.cased[m.start() : m.end()])
            for m in WORD.finditer(self.rest, start, stop)
        ]

    def is_shouting(self) -> bool:
        letters = [ch for ch in self.cased if ch.isalpha()]
        upper = sum(1 for ch in letters if ch.isupper())
        return len(letters) >= 4 and upper / len(letters) > 0.7


def number_of(text: str) -> int:
    return int(text) if text.isdigit() else COUNT_WORDS[text]
