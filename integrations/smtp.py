"""Email over SMTP (aiosmtplib): `smtp://` with STARTTLS, `smtps://` with implicit TLS.

`SMTP_URL` carries the server and its credentials: `smtp://user:pass@host:587` upgrades the
connection with STARTTLS before it authenticates (credentials never cross in the clear: a server
that offers no STARTTLS is refused), `smtps://user:pass@host:465` speaks TLS from the start, and
`smtp://host:25?starttls=off` is for a relay on a trusted network without credentials.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from integrations.ports.errors import UpstreamRejected, UpstreamUnavailable
from integrations.ports.notifications import EmailMessage, build_mime

UPSTREAM = "smtp"
DEFAULT_TIMEOUT_SECONDS = 20.0

log = logging.getLogger("sureflights.email")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool | None
    """True: required; None: used when offered (no credentials); False: never."""

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """The server an `SMTP_URL` names; ValueError (one line) when it is not usable."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SMTP_URL names no host")
        implicit = parts.scheme == "smtps"
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        choice = options.get("starttls", "").lower()
        if choice not in ("", "off", "require"):
            raise ValueError("SMTP_URL's starttls option is off or require")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if implicit or choice == "off":
            starttls: bool | None = False
        elif choice == "require" or username:
            starttls = True
        else:
            starttls = None
        if choice == "off" and username:
            raise ValueError("SMTP_URL with credentials needs TLS: drop starttls=off")
        try:
            port = parts.port or (465 if implicit else 587)
        except ValueError as error:
            raise ValueError(f"SMTP_URL has a bad port: {error}") from None
        return cls(parts.hostname, port, username, password, implicit, starttls)

    @property
    def where(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


class SmtpEmailSender:
    """Sends each message on a connection of its own (mail is not latency-critical, and a
    connection per message survives server restarts without pool bookkeeping)."""

    def __init__(
        self,
        server: SmtpServer,
        sender: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server = server
        self.sender = sender
        self.timeout = timeout
        self._tls = tls_context

    async def send(self, message: EmailMessage) -> str:
        mime = build_mime(message, self.sender)
        server = self.server
        try:
            await aiosmtplib.send(
                mime.as_bytes(),  # flattened under our policy, not the library's
                sender=email.utils.parseaddr(self.sender)[1],
                recipients=[email.utils.parseaddr(message.to)[1]],
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.implicit_tls,
                start_tls=server.starttls,
                timeout=self.timeout,
                tls_context=self._tls,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = {r.code for r in error.recipients}
            detail = "; ".join(f"{r.code} {r.message}" for r in error.recipients)[:300]
            if codes and all(400 <= c < 500 for c in codes):
                raise UpstreamUnavailable(UPSTREAM, f"recipient deferred: {detail}") from error
            raise UpstreamRejected(UPSTREAM, f"recipient refused: {detail}") from error
        except aiosmtplib.SMTPAuthenticationError as error:
            raise UpstreamRejected(UPSTREAM, f"sign-in refused: {error.code}") from error
        except aiosmtplib.SMTPResponseException as error:
            detail = f"{error.code} {error.message}"[:300]
            if 400 <= error.code < 500:
                raise UpstreamUnavailable(UPSTREAM, detail) from error
            raise UpstreamRejected(UPSTREAM, detail) from error
        except aiosmtplib.SMTPException as error:
            # Connection failures, timeouts, a server without STARTTLS where it is required.
            text = str(error)
            if "STARTTLS" in text or "TLS" in text:
                raise UpstreamRejected(UPSTREAM, f"{server.where}: {text}"[:300]) from error
            raise UpstreamUnavailable(UPSTREAM, f"{server.where}: {text}"[:300]) from error
        except OSError as error:
            raise UpstreamUnavailable(UPSTREAM, f"{server.where}: {error}"[:300]) from error
        log.info("email sent", extra={"message_id": message.message_id})
        return message.message_id
