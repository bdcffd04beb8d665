"""A real SMTP server in the test process (aiosmtpd), which keeps what it receives and can be
told to refuse, defer or stop answering, as a mail provider would."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, content_type: str) -> str:
        found = next(p for p in self.message.walk() if p.get_content_type() == content_type)
        return str(found.get_content())

    def attachments(self) -> dict[str, bytes]:
        return {
            str(p.get_filename()): bytes(p.get_payload(decode=True))
            for p in self.message.iter_attachments()
        }


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    # Answers to give instead of accepting, one per message (e.g. "451 4.3.0 try later").
    refusals: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(
            Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed)
        )
        return "250 2.0.0 queued"


class SmtpTestServer:
    def __init__(self, *, tls_context: ssl.SSLContext | None = None, **options: Any) -> None:
        self.port = _free_port()
        self.handler = _Handler()
        self._options = options
        self._tls = tls_context
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> SmtpTestServer:
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self._tls,
            **self._options,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse_next(self, *answers: str) -> None:
        self.handler.refusals.extend(answers)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The messages received, once there are `count` of them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(self.received)} emails received, {count} awaited")
            await asyncio.sleep(0.02)
        return list(self.received)


def self_signed_context(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts exactly that certificate."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
