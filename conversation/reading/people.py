"""People in a message: how many travel and how old the children are, and a passenger's name,
title, gender, email and phone."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from conversation.reading.lexicon import (
    BARE_NUMBER,
    COMMON_WORDS,
    NUM,
    NUMBER_WORDS,
    SEPARATOR,
    Word,
    number_of,
    word_set,
    words_pattern,
)
from conversation.reading.state import ReadingState

_NAME_FILLER = word_set(
    """
    my name names is i am i'm im it's its this here are and the please pls plz abeg sir ma
    details detail passenger full email e-mail phone number mobile dob date of birth born on
    title gender sex to it as called me call no. thanks thank you kindly below use
    baby infant child kid son daughter
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
    "master": "mr",  # a boy's title; airlines ticket him as MR
}
_GENDER_OF_TITLE = {"mr": "m", "mrs": "f", "ms": "f", "miss": "f"}
_GENDERS = {"male": "m", "m": "m", "man": "m", "boy": "m", "female": "f", "f": "f", "woman": "f"}

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_NG = re.compile(
    r"(?<![\w+])(?:\+?\s?234[\s\-.]*(?:\(0\)[\s\-.]*|0)?|0)[789][01]\d(?:[\s\-.]?\d){7}(?!\d)"
)
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s\-.]?\(?\d{1,4}\)?){2,5}(?!\d)")

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
_TITLE = re.compile(r"\b(?P<t>mrs|mr|ms|miss|dr|mister|doctor|master)\b\.?(?=\s+[^\W\d_])")
_TITLE_ALONE = re.compile(r"\b(?P<t>mrs|mr|ms|miss|dr|master)\b\.?")
_GENDER = re.compile(r"\b(?P<g>male|female)\b|(?:^|(?<=[,;|\n]))\s*(?P<letter>m|f)\s*(?=$|[,;|\n])")
_HONORIFIC = re.compile(rf"\b(?P<h>{words_pattern(_HONORIFICS)})\b\.?")

_ADULT_NOUNS = (
    r"adults?|adlts?|adult|grown[\s-]?ups?|people|persons?|pple|ppl|passengers?|pax|"
    r"travell?ers?|tickets?|seats?"
)
_CHILD_NOUNS = r"children|child|childrn|kids?|pikins?|pickins?|boys?|girls?|sons?|daughters?|teens?"
_INFANT_NOUNS = r"infants?|bab(?:y|ies)|toddlers?|newborns?|lap\s+infants?"
_COUNT = re.compile(
    rf"\b{NUM}\s*(?:x\s*)?(?P<noun>{_ADULT_NOUNS}|{_CHILD_NOUNS}|{_INFANT_NOUNS})\b"
)
_COUNT_AFTER = re.compile(
    r"\b(?P<noun>adults?|children|kids|infants|babies|passengers|pax)\s*[:=x]?\s*(?P<n>\d{1,2})\b"
)
_MY_CHILD = re.compile(rf"\b(?:my|our)\s+(?P<noun>{_CHILD_NOUNS}|{_INFANT_NOUNS})\b")
# One child named without "my": "my wife and baby", "with baby".
_AND_CHILD = re.compile(
    r"\b(?:and|&|plus|with|n)\s+(?:the\s+|a\s+|one\s+)?(?:little\s+|small\s+)?"
    r"(?P<noun>baby|infant|toddler|newborn|child|kid|son|daughter|boy|girl|pikin)\b"
)
_SINGLE_CHILD_NOUNS = r"child|kid|son|daughter|boy|girl|pikin|pickin|teen"
_PLURAL_CHILD_NOUNS = r"children|childrn|kids|sons|daughters|boys|girls|pikins|pickins|teens"
_AGE_WORDS = words_pattern(NUMBER_WORDS)
_AGE_UNIT = r"(?P<unit>y(?:ea)?rs?|yrs?|yo|y/o|months?|mths?|mnths?|mos?|weeks?|wks?)"
# "my 5 year old son", "a 6 months old baby", "my 2-year-old".
_AGED_CHILD = re.compile(
    rf"\b(?P<age>\d{{1,2}}|{_AGE_WORDS})\s*-?\s*{_AGE_UNIT}\s*-?\s*(?:old\s+)?"
    rf"(?P<noun>{_SINGLE_CHILD_NOUNS}|{_INFANT_NOUNS}|twins|brother|sister|nephew|niece|cousin)?\b"
)
# "my daughter is 8", "my son na 5 years".
_CHILD_IS = re.compile(
    rf"\b(?:my|our)\s+(?P<noun>{_SINGLE_CHILD_NOUNS}|brother|sister)\s*(?:is|na|,)\s*"
    rf"(?P<age>\d{{1,2}})\s*(?:{_AGE_UNIT})?(?:\s*old)?\b"
)
# "2 kids (7 and 10)", "twins (3 yrs)", "our 2 boys, aged 4 and 9".
_CHILDREN_AGES = re.compile(
    rf"\b(?:(?P<n>\d|{_AGE_WORDS})\s+)?(?P<noun>{_PLURAL_CHILD_NOUNS}|{_SINGLE_CHILD_NOUNS}|twins|"
    rf"{_INFANT_NOUNS})\s*(?:\((?P<inside>[^)]{{1,40}})\)|,?\s*(?:aged?|ages?)\s+"
    rf"(?P<listed>\d{{1,2}}(?:\s*(?:,|and|&)\s*\d{{1,2}})*"
    rf"(?:\s*{_AGE_UNIT.replace('unit', 'u2')})?))"
)
_ONE_AGE = re.compile(
    rf"(?P<age>\d{{1,2}}|{_AGE_WORDS})\s*(?:-?\s*(?P<unit>y(?:ea)?rs?|yrs?|yo|months?|mths?|"
    rf"mnths?|mos?|weeks?|wks?))?"
)
_ANY_CHILD = re.compile(rf"\b(?:{_SINGLE_CHILD_NOUNS}|{_PLURAL_CHILD_NOUNS})\b")
_SELF = re.compile(r"\b(?:me|myself|i|i'm|im)\b")
_WITH_MINE = re.compile(r"\b(?:with|plus)\s+(?:my|our)\b")
_COMPANION = re.compile(
    r"\b(?:(?P<n>\d|two|three|four|five|six)\s+)?(?:of\s+)?(?:my\s+|our\s+)?(?P<who>wife|husband|"
    r"hubby|spouse|partner|fianc[eé]e?|friends?|brothers?|sisters?|colleagues?|mum|mom|mother|dad|"
    r"father|parents|mama|papa|mummy|daddy|cousins?|uncle|aunt(?:y|ie)?|missus|wifey|girlfriend|"
    r"boyfriend|padi|paddy|in-?laws?|grand(?:ma|pa|mother|father)|nephew|niece)\b"
)
_COMPANIONS = (
    r"wife|husband|hubby|spouse|partner|fianc[eé]e?|friends?|brothers?|sisters?|bro|sis|"
    r"colleagues?|mum|mom|mother|dad|father|parents|boss|oga|madam|mama|papa|mummy|daddy|"
    r"cousins?|uncle|aunt(?:y|ie)?|missus|wifey|girlfriend|boyfriend|padi|paddy|guy"
)
_ME_AND = re.compile(
    rf"\b(?:me|myself|i)\s*(?:and|&|n|plus|with|\+)\s*(?:my\s+|our\s+)?"
    rf"(?:{NUM}\s+)?(?P<who>{_COMPANIONS})\b"
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
    rf"\b(?:we\s+are|we're|we\s+be|party\s+of|group\s+of|family\s+of|total\s+of)\s+{NUM}\b|"
    rf"\b{NUM.replace('<n>', '<n2>')}\s+of\s+us\b"
)
_FOR_N = re.compile(
    rf"\b(?:for|4)\s+(?P<n>\d|{words_pattern(NUMBER_WORDS)})\b"
    r"(?!\s*(?:days?|nights?|weeks?|months?|hours?|hrs?|am|pm|k\b|naira|[:./\-]\d))"
)


def _age_in_years(value: int, unit: str | None) -> int:
    if unit and unit.startswith(("m", "w")):
        return 0 if unit.startswith("w") else value // 12
    return value


def _ages_in(text: str) -> list[int]:
    ages = []
    for match in _ONE_AGE.finditer(text.lower()):
        ages.append(_age_in_years(number_of(match["age"]), match["unit"]))
    unit = re.search(r"months?|mths?|mnths?|mos?", text.lower())
    if unit and ages and not re.search(r"y(?:ea)?rs?|yo", text.lower()):
        ages = [age // 12 for age in ages]
    return ages


def _passenger_kind(noun: str) -> str:
    if re.fullmatch(_INFANT_NOUNS, noun):
        return "infants"
    if re.fullmatch(_CHILD_NOUNS, noun):
        return "children"
    return "adults"


def _is_name_word(word: Word) -> bool:
    return (
        word.low.isalpha() or bool(re.fullmatch(r"[^\W\d_]+(?:'[^\W\d_]+)*", word.low))
    ) and word.low not in COMMON_WORDS


def _tidy_name(words: list[Word], cased: str) -> str:
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


class PeopleReading(ReadingState):
    """Reads the travellers and a passenger's details."""

    def _contacts(self) -> None:
        email = self.buf.take_first(_EMAIL)
        if email is not None:
            self.email = self.buf.cased[email.start() : email.end()]
        phone = self.buf.take_first(_PHONE_NG) or self.buf.take_first(_PHONE_INTERNATIONAL)
        if phone is not None:
            self.phone = self.buf.cased[phone.start() : phone.end()].strip()

    def _name_labels(self) -> None:
        title = self.buf.take_first(_TITLE_LABEL)
        if title is not None:
            self.title = _TITLES[title.group("v")]
        gender = self.buf.take_first(_GENDER_LABEL)
        if gender is not None:
            self.gender = _GENDERS[gender.group("v")]
        for label in list(_NAME_LABEL.finditer(self.buf.rest)):
            end = len(self.buf.rest)
            separator = SEPARATOR.search(self.buf.rest, label.end())
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

    def _name_words(self, words: list[Word]) -> list[Word]:
        """The leading words that can be a name; a title or honorific before them is noted."""
        taken: list[Word] = []
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

    def _counts(self) -> None:
        def put(kind: str, n: int) -> None:
            self.counts.setdefault(kind, n)

        self._ages(put)
        for match in self.buf.take(_COUNT) + self.buf.take(_COUNT_AFTER):
            put(_passenger_kind(match["noun"]), number_of(match["n"]))
        for match in self.buf.take(_MY_CHILD) + self.buf.take(_AND_CHILD):
            put(_passenger_kind(match["noun"]), 1)
        family = self._family()
        for match in self.buf.take(_ME_AND) + self.buf.take(_AND_ME):
            companions = number_of(match["n"]) if match.groupdict().get("n") else 1
            who = match["who"] or match.groupdict().get("with")
            put("adults", max(family, 1 + (2 if who == "parents" else companions)))
        if self.buf.take(_SOLO):
            put("adults", 1)
        for match in self.buf.take(_GROUP):
            put("adults", number_of(match["n"] or match["n2"]))
        if "adults" not in self.counts and (for_n := self.buf.take_first(_FOR_N)):
            put("adults", number_of(for_n["n"]))
        if "adults" not in self.counts and family:
            put("adults", family)
        if "adults" not in self.counts and self.counts and _ME_WITH_KIDS.search(self.buf.low):
            put("adults", 1)  # "me and my 2 kids"
        if self.edit_field == "passengers" and not self.counts:
            number = self.buf.take_first(BARE_NUMBER)
            if number is not None:
                put("adults", number_of(number["n"]))  # "change passengers to 3"
        self._settle_ages()

    def _ages(self, put: Callable[[str, int], None]) -> None:
        """Children written with their ages; an age under two is an infant's."""
        for match in self.buf.take(_CHILDREN_AGES):
            ages = _ages_in(match["inside"] or match["listed"] or "")
            if not ages:
                continue
            twins = match["noun"] == "twins"
            if twins and len(ages) == 1:
                ages = ages * 2
            said = number_of(match["n"]) if match["n"] else (2 if twins else len(ages))
            if said != len(ages):
                continue
            self._add_children(ages, put)
        for match in self.buf.take(_CHILD_IS):
            self._add_children([_age_in_years(int(match["age"]), match["unit"])], put)
        for match in self.buf.take(_AGED_CHILD):
            possessed = re.search(r"\b(?:my|our)\s+$", self.buf.low[: match.start()])
            if match["noun"] is None and not possessed and not _ANY_CHILD.search(self.buf.low):
                continue  # "our 1 year old" is a child; "15 years" alone is not
            age = _age_in_years(number_of(match["age"]), match["unit"])
            self._add_children([age, age] if match["noun"] == "twins" else [age], put)

    def _add_children(self, ages: list[int], put: Callable[[str, int], None]) -> None:
        infants = sum(1 for age in ages if age < 2)
        older = [age for age in ages if age >= 2]
        if infants:
            self.counts["infants"] = self.counts.get("infants", 0) + infants
        if older:
            self.counts["children"] = self.counts.get("children", 0) + len(older)
            self.child_ages.extend(older)

    def _settle_ages(self) -> None:
        if self.child_ages and len(self.child_ages) != self.counts.get("children"):
            self.child_ages = []  # ages for some of the children only: none are sent

    def _family(self) -> int:
        """Adults named as family or friends, the writer included when they travel too."""
        companions = 0
        for match in _COMPANION.finditer(self.buf.rest):
            who = match["who"]
            if match["n"]:
                companions += number_of(match["n"])
            elif who == "parents":
                companions += 2
            elif who.endswith("s") and who not in ("boss",):
                continue  # "my friends": how many is not said
            else:
                companions += 1
        children = bool(self.counts.get("children") or self.counts.get("infants"))
        if not companions and not children:
            return 0
        low = self.buf.low
        writer = bool(_SELF.search(low) or _WITH_MINE.search(low))
        if not writer and children and re.search(r"\b(?:my|our)\b", low):
            writer = not re.search(r"\bfor\s+(?:my|our)\b", low)
        return companions + (1 if writer else 0)

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
