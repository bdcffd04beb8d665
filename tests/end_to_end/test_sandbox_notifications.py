"""With no SMTP server set, the sandbox writes each email as an .eml file that operators list,
and `sureflights notify preview` renders any notice for a real booking without sending it."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from graphql_api.bootstrap import preview_notice
from graphql_api.settings import Settings
from integrations.state.store import Store
from resolvers.auth import issue_admin_token
from resolvers.ledger import NoticeKind
from resolvers.notifications.render import WHATSAPP_TEMPLATES, sms_segments
from tests.graphql_api.test_cli import run_cli
from tests.support.harness import in_process
from tests.support.saga import bearer, ok
from tests.support.sandbox_booking import confirmed_in_the_sandbox

EMAILS = "{ sandboxEmails { name to subject size } }"
WHATSAPP_TEMPLATE_NAMES = {t.name for t in WHATSAPP_TEMPLATES.values()}


@pytest.fixture
def sandbox_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}")


@pytest.fixture
async def sandbox_app(sandbox_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    async with in_process(sandbox_settings) as (app, http):
        yield http, app.state.services.store


@pytest.fixture
def sandbox(sandbox_app: tuple[httpx.AsyncClient, Store]) -> httpx.AsyncClient:
    return sandbox_app[0]


async def listed(client: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, object]]:
    for _ in range(100):
        found = (await ok(client, EMAILS, headers=admin))["sandboxEmails"]
        if found:
            return list(found)
        await asyncio.sleep(0.05)
    raise AssertionError("no email written")


async def test_the_confirmation_is_written_to_the_outbox_and_listed_for_operators(
    sandbox: httpx.AsyncClient, sandbox_settings: Settings
) -> None:
    admin = bearer(issue_admin_token(sandbox_settings.secret_key, now=datetime.now(UTC))[0])
    reference = await confirmed_in_the_sandbox(sandbox)
    [entry] = await listed(sandbox, admin)
    anonymous = await sandbox.post("/graphql", json={"query": EMAILS})

    assert entry["to"] == "tunde@example.com"
    assert reference in str(entry["subject"])
    outbox = Path(sandbox_settings.email_outbox_dir)
    message = email.message_from_bytes(
        (outbox / str(entry["name"])).read_bytes(), policy=email.policy.default
    )
    names = [part.get_filename() for part in message.iter_attachments()]
    assert any(n and n.endswith(".pdf") for n in names)
    assert any(n and n.endswith(".ics") for n in names)
    codes = [e["extensions"]["code"] for e in anonymous.json()["errors"]]
    assert codes in (["UNAUTHENTICATED"], ["FORBIDDEN"])


async def test_notify_preview_renders_every_channel_for_a_real_booking(
    sandbox: httpx.AsyncClient, sandbox_settings: Settings, tmp_path: Path
) -> None:
    reference = await confirmed_in_the_sandbox(sandbox)
    env = {
        "DATABASE_URL": sandbox_settings.database_url,
        "EMAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    printed = await asyncio.to_thread(
        run_cli, "notify", "preview", "confirmation", reference, env=env
    )
    out = tmp_path / "preview"
    written = await asyncio.to_thread(
        run_cli,
        "notify",
        "preview",
        "check_in_reminder",
        reference.lower(),
        "--out",
        str(out),
        env=env,
    )
    missing = await asyncio.to_thread(
        run_cli, "notify", "preview", "confirmation", "SFNONE00", env=env
    )

    assert printed.returncode == 0, printed.stderr
    assert "--- sms.txt" in printed.stdout and reference in printed.stdout
    assert "booking_confirmed" in printed.stdout  # the WhatsApp template and its parameters
    assert written.returncode == 0, written.stderr
    assert {p.name for p in out.iterdir()} >= {"email.eml", "email.html", "sms.txt", "whatsapp.txt"}
    assert "Check in" in (out / "email.txt").read_text()
    assert missing.returncode == 1 and "no booking SFNONE00" in missing.stderr


async def test_every_notice_renders_on_every_channel_and_its_sms_fits_two_segments(
    sandbox_app: tuple[httpx.AsyncClient, Store], sandbox_settings: Settings
) -> None:
    client, store = sandbox_app
    reference = await confirmed_in_the_sandbox(client)
    rendered = {
        kind: await preview_notice(sandbox_settings, store, kind.value, reference)
        for kind in NoticeKind
    }
    record = await store.bookings.get(reference)
    assert record is not None and record.airline_reference
    # Each notice names the booking; the check-in reminder names the airline's reference.
    names = {kind: reference for kind in NoticeKind} | {
        NoticeKind.CHECK_IN_REMINDER: record.airline_reference
    }

    for kind, files in rendered.items():
        assert files is not None, kind
        sms = files["sms.txt"].decode().strip()
        assert names[kind] in sms, (kind, sms)
        assert sms_segments(sms) <= 2, (kind, sms)
        text = files["email.txt"].decode()
        subject = text.split("\n", 1)[0]
        assert subject.startswith("Subject: ") and len(subject) > len("Subject: "), kind
        assert reference in text, kind
        html = files["email.html"].decode()
        assert reference in html and "{{" not in html and "{%" not in html, kind
        whatsapp = files["whatsapp.txt"].decode()
        free_form, template = whatsapp.split("\n\n(outside the 24-hour window, template ")
        name, _, parameters = template.rstrip().removesuffix(")").partition(": ")
        assert names[kind] in free_form and len(free_form) <= 4096, kind
        assert name in WHATSAPP_TEMPLATE_NAMES, (kind, name)
        assert parameters.split(" | ")[0] == reference, kind
