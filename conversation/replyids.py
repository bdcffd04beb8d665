"""The ids of the buttons and list rows the assistant sends, built and read in one place.

WhatsApp hands a tapped button's id back in the reply webhook; every id is `action` or
`action:value`, short and readable in the conversation record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    OFFER = "offer"
    """A flight option: value is its number in the list."""
    CONFIRM = "confirm"
    EDIT = "edit"
    CANCEL = "cancel"
    YES = "yes"
    """"Did you mean …?" answered yes."""
    NO = "no"
    AIRPORT = "airport"
    """An airport chosen for a town or a name with several: value is its code."""
    MORE = "more"
    """More flight options of the same search."""
    HUMAN = "human"
    """The traveller asks for a person."""
    KEEP_CHANGE = "keep_change"
    """An airline change accepted: value is `booking reference:change id`."""
    REFUSE_CHANGE = "refuse_change"
    """An airline change refused: the booking is cancelled with the refund the airline allows."""


@dataclass(frozen=True, slots=True)
class ReplyId:
    action: Action
    value: str = ""

    def encode(self) -> str:
        return f"{self.action.value}:{self.value}" if self.value else self.action.value

    @property
    def number(self) -> int:
        return int(self.value) if self.value.isdigit() else 0

    @classmethod
    def decode(cls, raw: str) -> ReplyId | None:
        """The id WhatsApp handed back, or None for one this assistant never sent."""
        name, _, value = raw.strip().partition(":")
        try:
            return cls(Action(name), value)
        except ValueError:
            return None


def offer(number: int) -> str:
    return ReplyId(Action.OFFER, str(number)).encode()


def airport(code: str) -> str:
    return ReplyId(Action.AIRPORT, code).encode()


def plain(action: Action) -> str:
    return ReplyId(action).encode()
