"""Email over SMTP against a real SMTP server in the test process (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.ports.errors import UpstreamRejected, UpstreamUnavailable
from integrations.ports.notifications import Attachment, EmailMessage
from integrations.smtp import SmtpEmailSender, SmtpServer
from tests.support.smtp_server import SmtpTestServer, self_signed_context

SENDER = "SureFlights <no-reply@sureflights.example>"


def message(**overrides: object) -> EmailMessage:
    values: dict[str, object] = {
        "to": "adaeze.okafor@example.com",
        "subject": "Your flight is booked: SF7K2QXM",
        "text": "You're booked!\nAirline reference: VP7ZA6\n",
        "html": "<p>You're booked! Airline reference <b>VP7ZA6</b></p>",
        "message_id": "<SF7K2QXM.confirmation.email@sureflights.notifications>",
        "attachments": (Attachment("itinerary-SF7K2QXM.pdf", "application/pdf", b"%PDF-1.4 x"),),
        "headers": {"List-Unsubscribe": "<https://example.test/unsubscribe>"},
    }
    values.update(overrides)
    return EmailMessage(**values)  # type: ignore[arg-type]


async def test_a_message_arrives_with_both_parts_its_attachment_and_headers(
    smtp_server: SmtpTestServer,
) -> None:
    sender = SmtpEmailSender(SmtpServer.from_url(smtp_server.url), SENDER)

    sent_id = await sender.send(message())

    [received] = await smtp_server.wait_for(1)
    assert sent_id == "<SF7K2QXM.confirmation.email@sureflights.notifications>"
    assert received.recipients == ["adaeze.okafor@example.com"]
    assert received.subject == "Your flight is booked: SF7K2QXM"
    assert received.message["Message-ID"] == sent_id
    assert received.message["List-Unsubscribe"] == "<https://example.test/unsubscribe>"
    assert "Airline reference: VP7ZA6" in received.part("text/plain")
    assert "<b>VP7ZA6</b>" in received.part("text/html")
    assert received.attachments() == {"itinerary-SF7K2QXM.pdf": b"%PDF-1.4 x"}


async def test_a_permanent_refusal_is_rejected_and_a_deferral_is_worth_retrying(
    smtp_server: SmtpTestServer,
) -> None:
    sender = SmtpEmailSender(SmtpServer.from_url(smtp_server.url), SENDER)
    smtp_server.refuse_next("550 5.1.1 mailbox unavailable", "451 4.3.0 try again later")

    with pytest.raises(UpstreamRejected, match="550"):
        await sender.send(message())
    with pytest.raises(UpstreamUnavailable, match="451"):
        await sender.send(message())
    assert smtp_server.received == []


async def test_a_server_that_does_not_answer_is_unavailable() -> None:
    closed = SmtpTestServer()  # never started: nothing listens on its port
    sender = SmtpEmailSender(SmtpServer.from_url(closed.url), SENDER, timeout=2)

    with pytest.raises(UpstreamUnavailable, match=f"127.0.0.1:{closed.port}"):
        await sender.send(message())


async def test_credentials_are_never_sent_without_tls(smtp_server: SmtpTestServer) -> None:
    url = f"smtp://mailer:secret@127.0.0.1:{smtp_server.port}"
    sender = SmtpEmailSender(SmtpServer.from_url(url), SENDER)

    with pytest.raises(UpstreamRejected, match="STARTTLS"):
        await sender.send(message())
    assert smtp_server.received == []


async def test_starttls_upgrades_the_connection_before_signing_in(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed_context(tmp_path)
    server = SmtpTestServer(
        tls_context=server_tls,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=_accept_mailer,
    ).start()
    try:
        url = f"smtp://mailer:secret@127.0.0.1:{server.port}"
        sender = SmtpEmailSender(SmtpServer.from_url(url), SENDER, tls_context=client_tls)
        await sender.send(message())
        [received] = await server.wait_for(1)
        assert received.subject == "Your flight is booked: SF7K2QXM"
    finally:
        server.stop()


def _accept_mailer(
    server: object, session: object, envelope: object, mechanism: str, auth: object
) -> object:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"mailer", b"secret")
    return AuthResult(success=ok)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.com:99999", "bad port"),
        ("smtp://mail.example.com?starttls=maybe", "off or require"),
        ("smtp://u:p@mail.example.com?starttls=off", "needs TLS"),
    ],
)
def test_unusable_smtp_urls_are_refused_in_one_line(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmtpServer.from_url(url)


def test_smtp_urls_choose_tls_as_documented() -> None:
    assert SmtpServer.from_url("smtps://u:p@mail.example.com") == SmtpServer(
        "mail.example.com", 465, "u", "p", implicit_tls=True, starttls=False
    )
    assert SmtpServer.from_url("smtp://u:p%40x@mail.example.com:587").starttls is True
    assert SmtpServer.from_url("smtp://u:p%40x@mail.example.com:587").password == "p@x"
    assert SmtpServer.from_url("smtp://relay.internal:25").starttls is None
    assert SmtpServer.from_url("smtp://relay.internal:25?starttls=off").starttls is False
