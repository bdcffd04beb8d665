"""The sandbox WhatsApp sender: keeps what would have been sent."""

from __future__ import annotations

import itertools
from typing import Any

from integrations.ports.messaging import OutboundMessage
from integrations.whatsapp.limits import fit_to_limits, request_body


class RecordingSender:
    """The sandbox: keeps what would have been sent, for the terminal chat and sandbox mode."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        """(recipient, request body) pairs, oldest first, exactly as the live client posts them."""
        self.read: list[str] = []
        self.typing: list[str] = []
        self._ids = itertools.count(1)

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        ids = []
        for part in fit_to_limits(message):
            self.sent.append((to, request_body(to, part)))
            ids.append(f"wamid.sandbox.{next(self._ids)}")
        return ids

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        self.read.append(message_id)
        if typing:
            self.typing.append(message_id)
