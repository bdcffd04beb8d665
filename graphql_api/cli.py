"""The `sureflights` command: serve the gateway, export the schema, and operator tools."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from pydantic import ValidationError

from graphql_api.settings import Settings, SettingsError, load_settings
from resolvers.ledger import NoticeKind

if TYPE_CHECKING:
    from integrations.state.store import Store

T = TypeVar("T")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ").replace("\n", " ")
        click.echo(f"refusing to start: setting {name} is invalid: {message}", err=True)
        sys.exit(1)


NOTICE_KINDS = list(NoticeKind)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sureflights")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


@click.group()
@click.version_option(_version(), "--version", "-V", prog_name="sureflights")
def main() -> None:
    """SureFlights GraphQL gateway."""


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 for every interface (the container passes it).",
)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None)
def serve(
    host: str,
    port: int,
    workers: int,
    reload: bool,
    ssl_keyfile: str | None,
    ssl_certfile: str | None,
) -> None:
    """Run the gateway with uvicorn."""
    import uvicorn

    from graphql_api.observability import uvicorn_log_config

    settings = _settings_or_exit()
    if bool(ssl_keyfile) != bool(ssl_certfile):
        click.echo("--ssl-keyfile and --ssl-certfile go together", err=True)
        sys.exit(2)
    # Reach the database (and migrate it) once before any worker starts, so a database that is
    # down or refuses us stops the gateway with one line rather than a traceback per worker.
    _with_store(settings, _ping, starting=True)
    uvicorn.run(
        "graphql_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        ssl_keyfile=ssl_keyfile,
        ssl_certfile=ssl_certfile,
        # X-Forwarded-* are believed only from these proxies (the load balancer).
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines (start-up, errors, access without query strings) in our format.
        log_config=uvicorn_log_config(settings),
        access_log=True,
        server_header=False,
        # Larger WebSocket messages close the connection with 1009 (the app checks it too).
        ws_max_size=settings.ws_max_message_bytes,
    )


@main.command("export-schema")
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Compare with this file instead of printing; exit 1 with a diff when it is stale.",
)
def export_schema(check_path: str | None) -> None:
    """Print the SDL of the live schema."""
    from graphql_api.schema import build_schema

    sdl = build_schema().as_str().rstrip("\n") + "\n"
    if check_path is None:
        click.echo(sdl, nl=False)
        return
    path = Path(check_path)
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if committed == sdl:
        click.echo(f"{check_path} is up to date")
        return
    diff = difflib.unified_diff(
        committed.splitlines(keepends=True),
        sdl.splitlines(keepends=True),
        fromfile=check_path,
        tofile="live schema",
    )
    click.echo("".join(diff), nl=False)
    click.echo(f"{check_path} is stale: run `sureflights export-schema > {check_path}`", err=True)
    sys.exit(1)


def _with_store(
    settings: Settings, use: Callable[[Store], Awaitable[T]], *, starting: bool = False
) -> T:
    """Open the store `DATABASE_URL` names, run `use` on it, and close it; exit with one line
    when the database cannot be reached or refuses us."""
    from integrations.state.store import StoreUnavailable, open_store

    async def run() -> T:
        try:
            store = await open_store(settings.database_url, settings.database_pool())
        except ValueError as error:  # a DATABASE_URL that names no store we have
            raise StoreUnavailable(f"DATABASE_URL: {error}") from error
        try:
            return await use(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreUnavailable as error:
        click.echo(f"refusing to start: {error}" if starting else str(error), err=True)
        sys.exit(1)


async def _ping(store: Store) -> None:
    await store.ping()


@main.group()
def apikey() -> None:
    """Partner API keys (sent as the X-API-Key header)."""


@apikey.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Create a key for the partner NAME and print it; it is not shown again."""
    from resolvers.auth import create_api_key
    from resolvers.errors import BadUserInput

    settings = _settings_or_exit()
    try:
        key, record = _with_store(
            settings, lambda store: create_api_key(store.api_keys, name, datetime.now(UTC))
        )
    except BadUserInput as error:
        click.echo(error.message, err=True)
        sys.exit(2)
    click.echo(key)
    click.echo(f"id: {record.id}")
    click.echo(f"prefix: {record.prefix}")
    click.echo("Store the key now: only its hash is kept, it cannot be shown again.", err=True)


@apikey.command("list")
def apikey_list() -> None:
    """List keys: id, name, prefix, when created and when revoked."""
    settings = _settings_or_exit()
    records = _with_store(settings, lambda store: store.api_keys.list())
    if not records:
        click.echo("no API keys", err=True)
        return
    rows = [("ID", "NAME", "PREFIX", "CREATED", "REVOKED")]
    rows += [
        (
            r.id,
            r.name,
            r.prefix,
            r.created_at.isoformat(timespec="seconds"),
            r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "-",
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@apikey.command("revoke")
@click.argument("key_id", metavar="ID")
def apikey_revoke(key_id: str) -> None:
    """Revoke the key ID (as `apikey list` shows it); exit 1 when there is no such key."""
    from resolvers.auth import API_KEY_CACHE_SECONDS

    settings = _settings_or_exit()

    async def revoke(store: Store) -> tuple[bool, bool]:
        revoked = await store.api_keys.revoke(key_id, datetime.now(UTC))
        known = revoked or any(r.id == key_id for r in await store.api_keys.list())
        return revoked, known

    revoked, known = _with_store(settings, revoke)
    if not known:
        click.echo(f"no API key with id {key_id}", err=True)
        sys.exit(1)
    if not revoked:
        click.echo(f"API key {key_id} was already revoked")
        return
    click.echo(
        f"revoked API key {key_id}; running gateways refuse it within "
        f"{API_KEY_CACHE_SECONDS:.0f} seconds"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per violation.")
def audit(as_json: bool) -> None:
    """Check every booking's ledger against the money invariant; exit 1 if any breaks it.

    The invariant: money captured = money kept for an issued order + money refunded (or being
    refunded); at most one live airline order; no refund while an order stands.
    """
    import json
    import time

    from graphql_api.bootstrap import saga_timings
    from resolvers.reconciliation import audit_store

    settings = _settings_or_exit()
    timings = saga_timings(settings)

    async def run(store: Store) -> tuple[int, int, float]:
        started = time.perf_counter()
        checked = broken = 0
        async for booking, violations in audit_store(store, timings=timings, now=datetime.now(UTC)):
            checked += 1
            if violations:
                broken += 1
            for violation in violations:
                if as_json:
                    click.echo(
                        json.dumps(
                            {
                                "booking": violation.booking_reference,
                                "status": booking.status,
                                "kind": violation.kind.value,
                                "repairable": violation.repairable,
                                "detail": violation.detail,
                            }
                        )
                    )
                else:
                    fixes = (
                        "repaired by the reconciler" if violation.repairable else "needs a person"
                    )
                    click.echo(
                        f"{violation.booking_reference}  {booking.status:<15} "
                        f"{violation.kind.value:<28} {violation.detail}  ({fixes})"
                    )
        return checked, broken, time.perf_counter() - started

    checked, broken, seconds = _with_store(settings, run)
    click.echo(
        f"checked {checked} bookings in {seconds:.2f}s: "
        + (f"{broken} break the invariant" if broken else "every one holds the invariant"),
        err=True,
    )
    if broken:
        sys.exit(1)


@main.group()
def notify() -> None:
    """Travellers' notifications (see README, Notifications)."""


@notify.command("preview")
@click.argument("event", type=click.Choice(sorted(k.value for k in NOTICE_KINDS)))
@click.argument("reference")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write the email (.eml with its attachments), SMS and WhatsApp text into this folder.",
)
def notify_preview(event: str, reference: str, out_dir: str | None) -> None:
    """Render what the traveller of booking REFERENCE would get for EVENT, from the templates
    as they are now: email (subject, text, HTML), SMS and WhatsApp text. Nothing is sent."""
    from pathlib import Path

    from graphql_api.bootstrap import preview_notice

    settings = _settings_or_exit()

    async def run(store: Store) -> dict[str, bytes] | None:
        return await preview_notice(settings, store, event, reference.strip().upper())

    files = _with_store(settings, run)
    if files is None:
        click.echo(f"no booking {reference}", err=True)
        sys.exit(1)
    if out_dir is None:
        for name in ("sms.txt", "whatsapp.txt", "email.txt"):
            click.echo(f"--- {name}")
            click.echo(files[name].decode())
        click.echo(f"--- also: {', '.join(n for n in files if n.endswith(('.html', '.eml')))}")
        return
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    click.echo(f"wrote {', '.join(sorted(files))} to {folder}")


@notify.command("worker")
def notify_worker() -> None:
    """Send travellers' notifications, and nothing else, until stopped (SIGTERM or Ctrl-C): for
    gateways run with NOTIFICATION_DISPATCHER=worker. With REDIS_URL it hears each booking's
    notices at once; any number of workers may run, each notification is sent once."""
    import signal

    from graphql_api.bootstrap import open_services

    settings = _settings_or_exit()

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stopping.set)
        async with open_services(settings, background=False) as services:
            click.echo("notification worker started", err=True)
            sending = asyncio.create_task(services.dispatcher.run(), name="notification-worker")
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait({sending, stop}, return_when=asyncio.FIRST_COMPLETED)
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        click.echo("notification worker stopped", err=True)

    asyncio.run(run())


@main.group()
def documents() -> None:
    """Trusted GraphQL documents (see GRAPHQL_TRUSTED_DOCUMENTS_ONLY)."""


@documents.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def documents_add(file: str) -> None:
    """Trust the operations of FILE: a .graphql file or an Apollo persisted query manifest."""
    from graphql_api.documents import DocumentFileError, read_documents
    from graphql_api.executor import GraphQLExecutor, GraphQLLimits
    from graphql_api.schema import build_schema

    settings = _settings_or_exit()
    limits = GraphQLLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_introspection_depth=settings.graphql_max_introspection_depth,
    )
    executor = GraphQLExecutor(build_schema(limits), limits=limits)
    try:
        records = read_documents(
            Path(file).read_text(encoding="utf-8"),
            executor.check,
            source=file,
            now=datetime.now(UTC),
        )
    except DocumentFileError as error:
        click.echo(str(error), err=True)
        sys.exit(2)

    async def add(store: Store) -> list[bool]:
        return [await store.trusted_documents.add(record) for record in records]

    added = _with_store(settings, add)
    for record, new in zip(records, added, strict=True):
        state = "added" if new else "already trusted"
        click.echo(f"{record.id}  {record.name or '(anonymous)'}  {state}")


@documents.command("list")
def documents_list() -> None:
    """List trusted documents: id (SHA-256 of the text), operation name, when added."""
    settings = _settings_or_exit()
    records = _with_store(settings, lambda store: store.trusted_documents.list())
    if not records:
        click.echo("no trusted documents", err=True)
        return
    for record in records:
        added = record.created_at.isoformat(timespec="seconds")
        click.echo(f"{record.id}  {record.name or '(anonymous)'}  {added}")


@documents.command("remove")
@click.argument("document_id", metavar="ID")
def documents_remove(document_id: str) -> None:
    """Stop trusting the document ID (as `documents list` shows it); exit 1 when unknown."""
    from graphql_api.documents import TRUSTED_REFRESH_SECONDS

    settings = _settings_or_exit()
    removed = _with_store(
        settings, lambda store: store.trusted_documents.remove(document_id.strip().lower())
    )
    if not removed:
        click.echo(f"no trusted document with id {document_id}", err=True)
        sys.exit(1)
    click.echo(
        f"removed {document_id}; running gateways refuse it from anonymous callers within "
        f"{TRUSTED_REFRESH_SECONDS:.0f} seconds"
    )


@main.command("admin-token")
@click.option(
    "--ttl-minutes",
    default=15,
    show_default=True,
    type=click.IntRange(1, 24 * 60),
    help="How long the token works.",
)
def admin_token(ttl_minutes: int) -> None:
    """Print a short-lived admin bearer token signed with SECRET_KEY."""
    from resolvers.auth import issue_admin_token

    settings = _settings_or_exit()
    token, _ = issue_admin_token(
        settings.secret_key, now=datetime.now(UTC), ttl=timedelta(minutes=ttl_minutes)
    )
    click.echo(token)


@main.command()
@click.option(
    "--phone",
    default="+2348000000000",
    show_default=True,
    help="The WhatsApp number to chat as.",
)
def chat(phone: str) -> None:
    """Talk to the WhatsApp assistant in the terminal (lists and buttons become numbers)."""
    from graphql_api.chat import run_chat

    settings = _settings_or_exit()
    asyncio.run(run_chat(settings, phone))


if __name__ == "__main__":
    main()
