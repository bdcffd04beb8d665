"""The money invariant under random sequences of everything that can happen to a few bookings:
payments started, paid, declined and verified, webhooks delivered (or lost), cancellations,
time passing, reconciler passes, upstream faults, crashes and restarts.

After every step nothing unsafe is true of the world: no booking has two live airline orders,
no refund is made while its order stands, no booking is CONFIRMED without its order, and the
gateway never refunded money it did not claim in its ledger. After the faults heal and time
passes, every capture ends as exactly one airline order or a refund.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
import respx
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from graphql_api.settings import Settings
from resolvers import reconciliation
from resolvers.ledger import Ledger, ViolationKind, balance
from resolvers.lifecycle import COUNTED_REFUND_STATES, BookingStatus
from tests.support.harness import DUFFEL_WEBHOOK_SECRET, PAY, Booked, World
from tests.support.mongodb_server import database_url, drop_database
from tests.support.postgres_server import RunDatabase
from tests.support.saga import rates_for_gbp

NEVER = frozenset(
    {
        ViolationKind.OVER_REFUNDED,
        ViolationKind.REFUNDED_WHILE_ORDER_STANDS,
        ViolationKind.SEVERAL_LIVE_ORDERS,
        ViolationKind.CONFIRMED_WITHOUT_ORDER,
    }
)
CREATE_MODES = [
    "ok",
    "ok",
    "timeout_after_create",
    "error_after_create",
    "not_created_once",
    "accepted",
    "accepted_then_failed",
    "garbage",
    "refuse",
    "unreachable",
]
CRASH_POINTS = [
    "settle.verified",
    "order.intended",
    "order.unknown",
    "order.created",
    "refund.requested",
    "hold.paying",
    "payment.claimed",
]


class MoneyMachine(RuleBasedStateMachine):
    # Where the bookings are kept: SQLite when both are unset; else a MongoDB server, or a
    # PostgreSQL database (each example in a schema of its own).
    mongodb_server: str = ""
    postgres: RunDatabase | None = None

    bookings = Bundle("bookings")
    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.mkdtemp(prefix="sureflights-property-")
        self.router = respx.mock(assert_all_called=False)
        self.router.start()
        self.router.get("https://open.er-api.com/v6/latest/GBP").respond(200, json=rates_for_gbp())
        self.booked: list[Booked] = []
        self.world: World | None = None
        self.mongo_name: str | None = None
        self.pg_schema: str | None = None

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def _settings(self) -> Settings:
        if self.mongodb_server:
            self.mongo_name = f"sf_prop_{uuid.uuid4().hex[:12]}"
            url = database_url(self.mongodb_server, self.mongo_name)
        elif self.postgres is not None:
            self.pg_schema = self.postgres.create_schema()
            url = self.postgres.schema_url(self.pg_schema)
        else:
            url = f"sqlite:///{self.folder}/sureflights.db"
        return Settings(
            _env_file=None,
            database_url=url,
            duffel_access_token="duffel_test_placeholder",
            paystack_secret_key="sk_test_placeholder_secret",
            fx_api_url="https://open.er-api.com/v6",
            duffel_webhook_secret=DUFFEL_WEBHOOK_SECRET,
            reconcile_interval_seconds=0,
            database_pool_size=3,
            booking_rate_limit="1000/hour",
            upstream_retry_backoff_seconds=0.001,
        )

    @initialize(hold=st.booleans())
    def start(self, hold: bool) -> None:
        self.world = World(self._settings(), self.router, hold=hold)
        self.run(self.world.start())

    @property
    def w(self) -> World:
        assert self.world is not None
        return self.world

    def teardown(self) -> None:
        try:
            if self.world is not None and self.world.app is not None:
                self.run(self._heal_and_check())
        finally:
            if self.world is not None:
                self.run(self.world.stop())
            self.router.stop()
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            if self.mongo_name:
                drop_database(self.mongodb_server, self.mongo_name)
            if self.postgres is not None and self.pg_schema:
                self.postgres.drop_schema(self.pg_schema)

    # --- What travellers, Paystack, Duffel, time and operators do ------------------------------

    @precondition(lambda self: len(self.booked) < 3)
    @rule(target=payments)
    def book_and_start_paying(self) -> Any:
        try:
            booked = self.run(self.w.book())
        except AssertionError:
            return multiple()  # refused: a crash, or the airline down for a hold
        self.booked.append(booked)
        return self._start(booked)

    @rule(target=payments, payment=payments)
    def pay_again_from_another_device(self, payment: tuple[Booked, str]) -> Any:
        return self._start(payment[0])

    def _start(self, booked: Booked) -> Any:
        body = self.run(self.w.call(PAY, {"ref": booked.reference}, booked.headers))
        if body.get("errors"):
            return multiple()
        return (booked, body["data"]["initializePayment"]["reference"])

    @rule(payment=payments, webhook=st.booleans())
    def traveller_pays(self, payment: tuple[Booked, str], webhook: bool) -> None:
        """Paystack takes the money; its webhook arrives, or is lost (for now)."""
        self.w.paystack.pay(payment[1])
        if webhook:
            self.run(self.w.paystack_webhook(*self.w.paystack.charge_success(payment[1])))

    @rule(payment=payments)
    def traveller_pays_too(self, payment: tuple[Booked, str]) -> None:
        self.traveller_pays(payment, webhook=True)

    @rule(payment=payments)
    def traveller_declines(self, payment: tuple[Booked, str]) -> None:
        self.w.paystack.decline(payment[1])

    @rule(payment=payments)
    def paystack_redelivers(self, payment: tuple[Booked, str]) -> None:
        if self.w.paystack.transactions[payment[1]].captured:
            self.run(self.w.paystack_webhook(*self.w.paystack.charge_success(payment[1])))

    @rule(payment=payments)
    def refund_processed_webhook(self, payment: tuple[Booked, str]) -> None:
        if self.w.paystack.transactions[payment[1]].refunds:
            body, signature = self.w.paystack.refund_event(payment[1], "refund.processed")
            self.run(self.w.paystack_webhook(body, signature))

    @rule(payment=payments)
    def verify(self, payment: tuple[Booked, str]) -> None:
        self.run(self.w.verify(*payment))

    @rule(payment=payments)
    def cancel(self, payment: tuple[Booked, str]) -> None:
        self.run(self.w.cancel(payment[0]))

    @rule(payment=payments)
    def read_booking(self, payment: tuple[Booked, str]) -> None:
        self.run(self.w.booking(payment[0]))  # an unpaid booking read past its offer expires

    @rule(minutes=st.integers(min_value=1, max_value=20))
    def time_passes(self, minutes: int) -> None:
        self.w.clock.advance(timedelta(minutes=minutes))

    @rule()
    def reconcile(self) -> None:
        self.run(self.w.reconcile())

    @rule()
    def duffel_sends_its_webhooks(self) -> None:
        self.run(self.w.deliver_duffel_webhooks())

    @rule(
        fault=st.sampled_from(
            [("create_mode", m) for m in CREATE_MODES]
            + [("list_mode", "fail"), ("list_mode", "ok"), ("get_mode", "fail"), ("get_mode", "ok")]
            + [("pay_mode", m) for m in ("ok", "garbage", "timeout_after_pay", "refuse")]
        )
    )
    def the_airline_answers(self, fault: tuple[str, str]) -> None:
        setattr(self.w.duffel, *fault)

    @rule(
        fault=st.sampled_from(
            [("refund_mode", m) for m in ("ok", "timeout_after_refund", "error_after_refund",
                                          "unreachable")]
            + [("verify_mode", "fail"), ("verify_mode", "ok")]
        )
    )  # fmt: skip
    def paystack_answers(self, fault: tuple[str, str]) -> None:
        setattr(self.w.paystack, *fault)

    @rule(point=st.sampled_from(CRASH_POINTS))
    def the_process_dies_at(self, point: str) -> None:
        self.w.pauses.crash(point)

    @rule()
    def restart(self) -> None:
        self.run(self.w.restart())

    # --- What must always be true -------------------------------------------------------------

    @invariant()
    def nothing_unsafe_is_true(self) -> None:
        if self.world is None or self.world.app is None:
            return
        self.run(self._check_safety())

    async def _every_booking(self) -> list[Any]:
        """Every booking in the store: also those whose creation crashed half-way."""
        return await self.w.deps.store.bookings.scan(limit=100)

    async def _check_safety(self) -> None:
        world = self.w
        store = world.deps.store
        for booking in await self._every_booking():
            booked = Booked(booking.reference, "")
            live = world.duffel.live_orders_for(booked.reference)
            assert len(live) <= 1, f"{booked.reference}: {len(live)} live airline orders"
            captured, refunded = world.money_at_paystack(booked)
            assert refunded <= captured
            charge = round(booking.total_amount * 100)
            issued = world.duffel.issued_orders_for(booked.reference)
            if issued:
                assert captured - refunded >= charge, "refunded while its order stands"
            if booking.status == BookingStatus.CONFIRMED:
                assert [o["booking_reference"] for o in issued] == [booking.airline_reference]
            ledger = Ledger.of(booking)
            claimed = sum(
                r.amount_subunits for r in ledger.refunds if r.state in COUNTED_REFUND_STATES
            )
            assert refunded <= claimed, "money refunded that the ledger never claimed"
            assert ledger.captured_subunits <= captured, "a capture Paystack never made"
        _checked, violations = await reconciliation.money_audit(
            store, timings=world.deps.timings, now=world.clock()
        )
        assert [v for v in violations if v.kind in NEVER] == []

    async def _heal_and_check(self) -> None:
        world = self.w
        world.pauses.clear()
        world.duffel.create_mode = world.duffel.list_mode = world.duffel.get_mode = "ok"
        world.duffel.pay_mode = world.duffel.cancel_mode = "ok"
        world.paystack.refund_mode = world.paystack.verify_mode = "ok"
        await world.deliver_duffel_webhooks()
        for reference, transaction in world.paystack.transactions.items():
            if transaction.captured:
                await world.paystack_webhook(*world.paystack.charge_success(reference))
        for _ in range(12):
            await world.reconcile(timedelta(minutes=10))
        await self._check_safety()
        store = world.deps.store
        for booking in await self._every_booking():
            booked = Booked(booking.reference, "")
            ledger = Ledger.of(booking)
            money = balance(booking, ledger)
            captured, refunded = world.money_at_paystack(booked)
            # Every capture ends as exactly one airline order or a refund.
            assert money.in_flight == money.held == 0, (booking.status, ledger.journal[-5:])
            assert money.captured == money.kept + money.refunded
            assert captured - refunded == money.kept, (booking.status, captured, refunded)
            assert money.captured == captured
            issued = world.duffel.issued_orders_for(booked.reference)
            if booking.status == BookingStatus.CONFIRMED:
                assert len(issued) == 1
            else:
                assert issued == []
            event(f"ended {booking.status}, {len(ledger.captures)} capture(s)")
        _checked, violations = await reconciliation.money_audit(
            store, timings=world.deps.timings, now=world.clock()
        )
        assert violations == []


PROPERTY = settings(
    max_examples=int(os.environ.get("MONEY_PROPERTY_EXAMPLES", "40")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_money_invariant_on_sqlite() -> None:
    run_state_machine_as_test(MoneyMachine, settings=PROPERTY)


def test_money_invariant_on_the_mongodb_compatible_server(mongodb_url: str) -> None:
    class OnMongo(MoneyMachine):
        mongodb_server = mongodb_url

    run_state_machine_as_test(
        OnMongo, settings=settings(PROPERTY, max_examples=8, stateful_step_count=25)
    )


def test_money_invariant_on_postgresql(postgres_database: RunDatabase) -> None:
    class OnPostgres(MoneyMachine):
        postgres = postgres_database

    run_state_machine_as_test(
        OnPostgres, settings=settings(PROPERTY, max_examples=8, stateful_step_count=25)
    )
