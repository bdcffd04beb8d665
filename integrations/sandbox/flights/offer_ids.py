"""Offer ids that carry their whole search, so any replica rebuilds its offer without shared
state."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from datetime import UTC, date, datetime

from integrations.ports.errors import UpstreamRejected
from integrations.ports.flights import (
    OfferUnavailable,
    PassengerKind,
)
from integrations.sandbox.flights.geography import UPSTREAM, _known
from integrations.sandbox.flights.offers import _CABINS, _KINDS, _Query

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
