"""`sureflights chat`: the WhatsApp conversation in a terminal, through the same handler.

Lists and buttons are shown as numbered options; typing a number taps the option. In sandbox
payment mode, typing PAY (or DECLINE) settles the payment exactly as the sandbox checkout does.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from conversation.replyids import Action, ReplyId
from conversation.session import Sessions
from graphql_api.bootstrap import open_services
from graphql_api.context import Services
from graphql_api.settings import Settings
from integrations.ports.messaging import (
    ButtonsMessage,
    InboundMessage,
    LinkMessage,
    ListMessage,
    OutboundMessage,
    TemplateMessage,
    TextMessage,
)
from integrations.sandbox.payments import SandboxPayments


class TerminalSender:
    """Renders outgoing messages as text; remembers the options last shown so numbers tap them."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.options: list[tuple[str, str]] = []

    async def send(self, to: str, message: OutboundMessage) -> list[str]:
        self.write(render(message))
        if isinstance(message, ButtonsMessage):
            self.options = [(b.id, b.title) for b in message.buttons]
        elif isinstance(message, ListMessage):
            self.options = [(r.id, r.title) for s in message.sections for r in s.rows]
        return [f"wamid.terminal.{secrets.token_hex(6)}"]

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        if typing:
            self.write("…")


def render(message: OutboundMessage) -> str:
    if isinstance(message, TextMessage):
        return message.body
    if isinstance(message, ButtonsMessage):
        lines = [message.header or "", message.body]
        lines += [f"  [{n}] {b.title}" for n, b in enumerate(message.buttons, start=1)]
        return "\n".join(line for line in lines if line)
    if isinstance(message, ListMessage):
        lines = [message.body]
        number = 0
        for section in message.sections:
            lines.append(f"  {section.title}:")
            for row in section.rows:
                number += 1
                lines.append(f"  [{number}] {row.title}  {row.description or ''}".rstrip())
        return "\n".join(lines)
    if isinstance(message, LinkMessage):
        return f"{message.body}\n  [{message.button}] {message.url}"
    assert isinstance(message, TemplateMessage)
    return f"(template {message.name}: {', '.join(message.body_parameters)})"


def inbound(text: str, wa_id: str, options: list[tuple[str, str]]) -> InboundMessage:
    """What the traveller typed, as WhatsApp would deliver it (a number taps a shown option)."""
    now = datetime.now(UTC)
    message_id = f"wamid.terminal.{secrets.token_hex(8)}"
    if text.isdigit() and options and 1 <= int(text) <= len(options):
        reply_id, title = options[int(text) - 1]
        decoded = ReplyId.decode(reply_id)
        if decoded is not None and decoded.action is Action.OFFER:
            return InboundMessage(
                message_id, wa_id, None, now, "list_reply", title, reply_id, "interactive"
            )
        return InboundMessage(
            message_id, wa_id, None, now, "button_reply", title, reply_id, "interactive"
        )
    return InboundMessage(message_id, wa_id, None, now, "text", text, None, "text")


async def run_chat(settings: Settings, phone: str) -> None:
    sender = TerminalSender(lambda text: print(f"\nSureFlights: {text}\n", flush=True))
    # The process's own services, with the terminal as the WhatsApp sender: the one booking
    # notifier they run tells this terminal when a payment confirms the booking.
    async with open_services(settings, sender=sender) as services:
        wa_id = phone.lstrip("+")
        mode = "sandbox" if isinstance(services.payment_provider, SandboxPayments) else "live"
        print(f"Chatting as +{wa_id} ({mode} payments). Type 'help', or Ctrl-D to quit.")
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, _read_line)
            if line is None:
                break
            text = line.strip()
            if not text:
                continue
            if text.upper() in ("PAY", "DECLINE") and await _settle_in_sandbox(
                services, wa_id, succeed=text.upper() == "PAY"
            ):
                await asyncio.sleep(0.2)  # let the notifier's message arrive
                continue
            await services.conversation.handle(inbound(text, wa_id, sender.options))


def _read_line() -> str | None:
    try:
        return input("You: ")
    except EOFError:
        return None


async def _settle_in_sandbox(services: Services, wa_id: str, *, succeed: bool) -> bool:
    provider = services.payment_provider
    if not isinstance(provider, SandboxPayments):
        return False
    reference = (await Sessions(services.shared.sessions).load(wa_id)).payment_reference
    if not reference:
        return False
    await provider.complete(reference, succeed=succeed)
    await services.payments.settle_payment(reference, source="sandbox")
    if not succeed:
        print("\n(sandbox) Payment declined.\n", file=sys.stdout, flush=True)
    return True
