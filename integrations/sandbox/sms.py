"""The sandbox's SMS: kept in memory instead of sent, as (recipient, text) pairs."""

from __future__ import annotations

import itertools

from integrations.ports.notifications import SmsMessage


class RecordingSms:
    def __init__(self) -> None:
        self.sent: list[SmsMessage] = []
        self._ids = itertools.count(1)

    async def send(self, message: SmsMessage) -> str:
        self.sent.append(message)
        return f"sms.sandbox.{next(self._ids)}"
