"""How long `sureflights audit` takes over 10,000 bookings (goal on SQLite: under 5 s), on SQLite
and on PostgreSQL in one run.

    .venv/bin/python bench/audit.py [--bookings 10000] [--rounds 3]
                                    [--databases sqlite,postgresql] [--postgres-url URL]

Writes a store in a temporary directory with the bookings a busy gateway has: most confirmed on
a captured payment, some refunded after the airline refused, some cancelled with the airline's
refund, some expired unpaid; each with the ledger and journal the saga writes. Then runs the
`sureflights audit` command against it, as an operator would (a new process each round), and
prints its wall time beside the goal, with the core count and the load average. The PostgreSQL
store is a database created on `--postgres-url`'s server for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    POSTGRES_ADMIN_URL,
    Goal,
    Goals,
    bench_database,
    clean_env,
    load_average,
    usable_cores,
)
from integrations.state.store import BookingRecord, PaymentRecord, open_store
from resolvers.ledger import (
    AirlineOrder,
    Capture,
    CaptureRole,
    Ledger,
    Refund,
)
from resolvers.lifecycle import (
    BookingStatus,
    OrderState,
    PaymentStatus,
    RefundState,
)

GOAL_SECONDS = 5.0
AMOUNT = 129_004_00


def _booking(number: int, now: datetime) -> tuple[BookingRecord, list[PaymentRecord]]:
    reference = f"SFB{number:06d}"
    payment = f"{reference}-{number:08X}"
    kind = number % 10
    ledger = Ledger()
    at = now - timedelta(days=1, seconds=number)
    ledger.note(at, "api", "booking.created", "channel api")
    ledger.note(at, "api", "payment.claimed", payment)
    status = BookingStatus.CONFIRMED
    payment_status = PaymentStatus.SUCCESS
    airline_reference: str | None = f"P{number:05d}"
    if kind < 7 or kind == 8:
        ledger.captures.append(
            Capture(payment_reference=payment, amount_subunits=AMOUNT, currency="NGN",
                    captured_at=at, source="webhook:paystack", role=CaptureRole.BACKING)
        )  # fmt: skip
        ledger.settled_at = at
        order = AirlineOrder(
            attempt=1, kind="instant", correlation_id=f"sf_{number:024x}",
            state=OrderState.CONFIRMED, intended_at=at, updated_at=at,
            order_id=f"ord_{number:010d}", airline_reference=airline_reference,
            confirmed_at=at, flown=True,
        )  # fmt: skip
        ledger.orders.append(order)
        ledger.note(at, "webhook:paystack", "capture.backing", payment)
        ledger.note(at, "webhook:paystack", "order.confirmed", "attempt 1")
        if kind == 8:
            status = BookingStatus.CANCELLED
            order.state = OrderState.CANCELLED
            ledger.refunds.append(
                Refund(id=f"{payment}-R1", payment_reference=payment,
                       amount_subunits=AMOUNT // 6, currency="NGN",
                       reason="cancelled with the airline", state=RefundState.PROCESSED,
                       requested_at=at, updated_at=at, provider_id=str(number))
            )  # fmt: skip
            payment_status = PaymentStatus.REFUNDED
    elif kind == 7:
        status, payment_status, airline_reference = (
            BookingStatus.REFUNDED, PaymentStatus.REFUNDED, None
        )  # fmt: skip
        ledger.captures.append(
            Capture(payment_reference=payment, amount_subunits=AMOUNT, currency="NGN",
                    captured_at=at, source="webhook:paystack", role=CaptureRole.BACKING)
        )  # fmt: skip
        ledger.orders.append(
            AirlineOrder(attempt=1, kind="instant", correlation_id=f"sf_{number:024x}",
                         state=OrderState.REFUSED, intended_at=at, updated_at=at)
        )  # fmt: skip
        ledger.refunds.append(
            Refund(id=f"{payment}-R1", payment_reference=payment, amount_subunits=AMOUNT,
                   currency="NGN", reason="the booking is failed", state=RefundState.ISSUED,
                   requested_at=at, updated_at=at, provider_id=str(number))
        )  # fmt: skip
    else:
        status, payment_status, airline_reference = (
            BookingStatus.EXPIRED, PaymentStatus.ABANDONED, None
        )  # fmt: skip
        ledger.note(at, "reconciler", "booking.expired")
    booking = BookingRecord(
        reference=reference,
        status=status,
        channel="api",
        offer_id=f"off_{number:020d}",
        total_amount=Decimal(AMOUNT) / 100,
        total_currency="NGN",
        created_at=at,
        updated_at=at,
        airline_reference=airline_reference,
        airline_order_id=f"ord_{number:010d}" if airline_reference else None,
        expires_at=at + timedelta(minutes=30),
        data={
            "passengers": [{"family_name": "Bakare", "given_name": "Tunde"}],
            "airline_total": {"amount": "524.30", "currency": "GBP"},
        },
        ledger=ledger.dump(),
    )
    paid = payment_status is not PaymentStatus.ABANDONED
    return booking, [
        PaymentRecord(
            reference=payment,
            booking_reference=reference,
            status=payment_status,
            mode="LIVE",
            amount_subunits=AMOUNT,
            currency="NGN",
            created_at=at,
            updated_at=at,
            paid_at=at if paid else None,
        )
    ]


async def seed(url: str, count: int) -> float:
    started = time.perf_counter()
    store = await open_store(url)
    now = datetime.now(UTC)
    try:
        for number in range(count):
            booking, payments = _booking(number, now)
            await store.bookings.create(booking)
            for payment in payments:
                await store.payments.create(payment)
    finally:
        await store.close()
    return time.perf_counter() - started


def run_audits(url: str, rounds: int) -> list[float]:
    sureflights = str(Path(sys.executable).with_name("sureflights"))
    times = []
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        done = subprocess.run(
            [sureflights, "audit"],
            env=clean_env(DATABASE_URL=url),
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        times.append(elapsed)
        summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        print(f"  round {round_number}: exit {done.returncode} in {elapsed:.2f} s ({summary})")
        if done.returncode != 0:
            print(done.stdout[:2000])
            sys.exit(1)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument(
        "--smoke", action="store_true", help="a run of seconds: 300 bookings, one round"
    )
    args = parser.parse_args()
    if args.smoke:
        args.bookings, args.rounds = 300, 1
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    print(f"cores: {os.cpu_count()} (usable here: {usable_cores()}); load {load_average()}")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="sureflights-audit-") as folder:
        for kind in databases:
            with bench_database(kind, Path(folder), args.postgres_url) as url:
                seconds = asyncio.run(seed(url, args.bookings))
                print(
                    f"{kind}: seeded {args.bookings} bookings with their ledgers in {seconds:.1f} s"
                )
                results[kind] = run_audits(url, args.rounds)
    print(f"load after {load_average()}")
    goals = Goals()
    for kind, times in results.items():
        print(
            f"sureflights audit over {args.bookings} bookings on {kind}: best {min(times):.2f} s,"
            f" worst {max(times):.2f} s"
        )
        # The goal is for 10,000 bookings on SQLite; PostgreSQL is held to the same.
        goals.check(Goal(f"audit on {kind}, worst round", GOAL_SECONDS, "s"), max(times))
    return goals.exit_code()


if __name__ == "__main__":
    sys.exit(main())
