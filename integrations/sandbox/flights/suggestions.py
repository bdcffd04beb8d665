"""Place suggestions by prefix over names, cities and codes, accents folded."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from integrations.ports.flights import (
    Place,
)
from integrations.sandbox.flights.geography import _CITIES, _NOT_FOR_TRAVELLERS, _airports, _place

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
