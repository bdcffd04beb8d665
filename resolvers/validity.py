"""How long an answer stays true: the data a request read, and until when that data holds.

Use cases call `depends_on` with the data they read (an exchange-rate table, a cached search)
and the moment it stops being current, or `not_reusable` when the answer cannot be given again
(a search that just asked the airline says `cached: false`, which a repeat would not). The edge
collects both around one operation to decide whether, and for how long, its response may be
served again. Outside `collecting()` both calls do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Validity:
    """What one operation's answer rests on: tags of the data read and the earliest expiry."""

    until: datetime | None = None
    tags: set[str] = field(default_factory=set)
    reusable: bool = True


_current: ContextVar[Validity | None] = ContextVar("validity", default=None)


def depends_on(tag: str, until: datetime) -> None:
    """The answer being built read the data `tag`, which stays current until `until`."""
    validity = _current.get()
    if validity is None:
        return
    validity.tags.add(tag)
    if validity.until is None or until < validity.until:
        validity.until = until


def not_reusable() -> None:
    """The answer being built is true of this moment only (it reports fresh upstream work)."""
    validity = _current.get()
    if validity is not None:
        validity.reusable = False


@contextmanager
def collecting() -> Iterator[Validity]:
    """Collect what the code run inside reads; tasks it starts share the same collection."""
    validity = Validity()
    token = _current.set(validity)
    try:
        yield validity
    finally:
        _current.reset(token)
