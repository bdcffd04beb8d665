"""How fast one gateway process sends travellers' notifications: 1,000 confirmations queued at
once, sent by one worker's dispatcher to a real SMTP server, beside the SMTP round trip alone.

    .venv/bin/python bench/notifications.py [--confirmations 1000] [--database sqlite|postgresql]
                                            [--postgres-url URL]

A sandbox gateway (create_app on an SQLite file, or a PostgreSQL database created for the run)
takes one booking through search, checkout and confirmation; the booking is then copied 1,000
times, each copy with its confirmation notice waiting, and the 1,000 "notices" bus events a
settling saga publishes are sent at once. The dispatcher queues each booking's outbox record,
renders the email (HTML, text, the itinerary PDF and the calendar file) and sends it to an
aiosmtpd server running in its own thread. Reported: notifications sent per second, and the
p50/p99 from each event to the SMTP server receiving its message. The reference sends the same
1,000 finished messages straight with aiosmtplib at the dispatcher's concurrency: what SMTP
alone costs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import re
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

import aiosmtplib
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.common import (
    POSTGRES_ADMIN_URL,
    Goal,
    Goals,
    bench_database,
    free_port,
    load_average,
    percentile,
    usable_cores,
)
from graphql_api.app import create_app
from graphql_api.settings import Settings
from resolvers.ledger import Ledger, Notice, NoticeKind
from resolvers.notifications.outbox import OutboxSettings
from resolvers.saga import NOTICES
from tests.support.sandbox_booking import confirmed_in_the_sandbox

# Goals for the dispatcher on one worker: a burst of a thousand confirmations (each with its PDF
# and calendar file) out within a minute, none waiting more than a minute from its event.
RATE = Goal("notifications sent per second", 20.0, "/s", at_least=True)
P99 = Goal("event to SMTP server p99", 60.0, "s")


class Recorder:
    """aiosmtpd's handler: when each message arrived, by its Message-ID."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.first = b""
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        head = content.split(b"\r\n\r\n", 1)[0]
        message_id = next(
            (line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
             if line.lower().startswith(b"message-id:")),
            "",
        )  # fmt: skip
        with self._lock:
            self.first = self.first or content
            self.arrived[message_id or f"anonymous-{self.count}"] = time.time()
            self.count += 1
        return "250 2.0.0 queued"

    async def wait_for(self, count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while self.count < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.count} of {count} messages arrived")
            await asyncio.sleep(0.01)


async def _measure_dispatcher(
    settings: Settings, recorder: Recorder, count: int
) -> tuple[float, list[float]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            template_reference = await confirmed_in_the_sandbox(client)
            await recorder.wait_for(1, within=30)
        services = app.state.services
        store = services.store
        template = await store.bookings.get(template_reference)
        assert template is not None
        now = datetime.now(UTC)
        references = [f"SFN{n:05d}" for n in range(count)]
        for reference in references:
            ledger = Ledger.of(template)
            ledger.notices = [
                Notice(id=NoticeKind.CONFIRMATION.value, kind=NoticeKind.CONFIRMATION,
                       created_at=now, due_at=now)
            ]  # fmt: skip
            await store.bookings.create(
                replace(template, reference=reference, data=copy.deepcopy(template.data),
                        ledger=ledger.dump())
            )  # fmt: skip
        bus = services.dispatcher.deps.bus
        await asyncio.sleep(0.2)  # the dispatcher's bus subscription is live
        events: dict[str, float] = {}
        started = time.time()
        for reference in references:
            events[reference] = time.time()
            await bus.publish(NOTICES, {"booking_reference": reference})
        await recorder.wait_for(count + 1, within=600)
        last = max(recorder.arrived.values())
        latencies = [
            recorder.arrived[f"<{reference}.confirmation.email@sureflights.notifications>"]
            - events[reference]
            for reference in references
        ]
    return count / (last - started), latencies


async def _measure_reference(
    port: int, recorder: Recorder, count: int, concurrency: int, message: bytes
) -> tuple[float, list[float]]:
    """The same number of messages straight over SMTP at the dispatcher's concurrency."""
    gate = asyncio.Semaphore(concurrency)
    done: list[float] = []
    started = time.time()
    before = recorder.count

    async def one(number: int) -> None:
        async with gate:
            await aiosmtplib.send(
                message.replace(b"<REF>", f"<ref.{number}@bench>".encode()),
                sender="no-reply@sureflights.example",
                recipients=["tunde@example.com"],
                hostname="127.0.0.1",
                port=port,
                start_tls=False,
                timeout=30,
            )
            done.append(time.time() - started)

    await asyncio.gather(*(one(n) for n in range(count)))
    await recorder.wait_for(before + count, within=60)
    return count / (max(done)), done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--confirmations", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--smoke", action="store_true", help="a run of seconds: 50 confirmations")
    args = parser.parse_args()
    if args.smoke:
        args.confirmations = 50
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            bench_database(args.database, Path(folder), args.postgres_url) as database_url,
        ):
            settings = Settings(
                _env_file=None,
                database_url=database_url,
                smtp_url=f"smtp://127.0.0.1:{port}?starttls=off",
                email_outbox_dir=str(Path(folder) / "outbox"),
                reconcile_interval_seconds=0,
                booking_rate_limit="100000/hour",
                log_level="WARNING",
            )
            rate, latencies = asyncio.run(
                _measure_dispatcher(settings, recorder, args.confirmations)
            )
            # A confirmation as the dispatcher sent it, attachments and all, under new ids.
            message = re.sub(
                rb"(?im)^message-id:.*$", b"Message-ID: <REF>", recorder.first, count=1
            )
            concurrency = OutboxSettings().concurrency
            ref_rate, ref_latencies = asyncio.run(
                _measure_reference(port, recorder, args.confirmations, concurrency, message)
            )
    finally:
        controller.stop()
    p50, p99 = percentile(sorted(latencies), 50), percentile(sorted(latencies), 99)
    print(f"notifications: {args.confirmations} confirmations queued at once, one worker, "
          f"{args.database}; {usable_cores()} cores, load {load_average()}")  # fmt: skip
    print(f"  dispatcher (render + PDF + .ics + SMTP): {rate:8.1f} sent/s   "
          f"event→SMTP p50 {p50 * 1000:7.0f} ms  p99 {p99 * 1000:7.0f} ms")  # fmt: skip
    print(f"  reference (aiosmtplib alone, {concurrency} at a time, same message size): "
          f"{ref_rate:8.1f} sent/s   p50 {percentile(sorted(ref_latencies), 50) * 1000:7.0f} ms  "
          f"p99 {percentile(sorted(ref_latencies), 99) * 1000:7.0f} ms")  # fmt: skip
    print(f"  dispatcher / reference: {rate / ref_rate:.2f}")
    goals = Goals()
    goals.check(RATE, rate)
    goals.check(P99, p99)
    return goals.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
