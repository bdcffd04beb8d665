"""The resolvers with no server in front: the services `open_services` builds, on a SQLite file
of the test's own and in-process shared state, with every upstream in sandbox.

A `Desk` does what the GraphQL resolvers do for a caller (book, start a payment, pay on the
sandbox checkout, cancel) by calling the use cases directly, so a resolver test exercises the
domain without an ASGI app or HTTP in the way.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from graphql_api.bootstrap import open_services
from graphql_api.context import Services
from graphql_api.settings import Settings
from integrations.ports.flights import Offer
from integrations.sandbox.payments import SandboxPayments
from integrations.state.store import BookingRecord, PaymentRecord
from resolvers import reconciliation
from resolvers.access import Caller, CallerKind
from resolvers.flights import FlightQuery, SliceQuery
from resolvers.ledger import Balance, Ledger, balance
from resolvers.saga import SagaDeps
from tests.support.harness import MovableClock, Pauses

# A passenger as the GraphQL input hands it to `Bookings.create`.
PASSENGER: dict[str, Any] = {
    "type": "adult",
    "title": "mr",
    "given_name": "Tunde",
    "family_name": "Bakare",
    "gender": "m",
    "born_on": date(1990, 1, 15),
    "email": "tunde@example.com",
    "phone_number": "08012345678",
}
ADMIN = Caller(kind=CallerKind.ADMIN, identity="admin")
ANONYMOUS = Caller()


def traveller(reference: str) -> Caller:
    """The caller holding a booking's access token."""
    return Caller(kind=CallerKind.TRAVELLER, booking_reference=reference, identity="traveller")


def partner(partner_id: str) -> Caller:
    return Caller(kind=CallerKind.PARTNER, partner_id=partner_id, identity=f"key:{partner_id}")


@dataclass(frozen=True, slots=True)
class Made:
    """A booking made at the desk, with the caller its access token makes."""

    booking: BookingRecord
    token: str

    @property
    def reference(self) -> str:
        return self.booking.reference

    @property
    def caller(self) -> Caller:
        return traveller(self.booking.reference)


class Desk:
    """The use cases of one gateway process, called directly."""

    def __init__(self, services: Services, clock: MovableClock, pauses: Pauses) -> None:
        self.services = services
        self.clock = clock
        self.pauses = pauses
        self._offers: list[Offer] = []

    @property
    def deps(self) -> SagaDeps:
        deps: SagaDeps = self.services.bookings.deps
        return deps

    @property
    def checkout(self) -> SandboxPayments:
        provider = self.services.payment_provider
        assert isinstance(provider, SandboxPayments)
        return provider

    async def offer(self, *, instant: bool = True, refundable: bool | None = None) -> Offer:
        """A sandbox offer from Lagos, paid at once (`instant`) or held until payment, and
        refundable on cancellation or not (`None`: either)."""

        def fits(offer: Offer) -> bool:
            return offer.requires_instant_payment is instant and (
                refundable is None or offer.conditions.refundable is refundable
            )

        if not any(fits(offer) for offer in self._offers):
            when = (datetime.now(UTC) + timedelta(days=12)).date()
            for destination in ("ABV", "LHR", "ACC", "JFK", "DXB"):
                query = FlightQuery(slices=[SliceQuery("LOS", destination, when)])
                self._offers += (await self.services.flights.search(query)).offers
                if any(fits(offer) for offer in self._offers):
                    break
        return next(offer for offer in self._offers if fits(offer))

    async def book(
        self,
        caller: Caller = ANONYMOUS,
        *,
        instant: bool = True,
        refundable: bool | None = None,
        channel: str = "api",
        **passenger: Any,
    ) -> Made:
        offer = await self.offer(instant=instant, refundable=refundable)
        booking, token = await self.services.bookings.create(
            caller,
            offer_id=offer.id,
            passengers=[{**PASSENGER, **passenger}],
            currency=None,
            expected_total=None,
            channel=channel,
        )
        return Made(booking, token)

    async def start_payment(self, made: Made) -> PaymentRecord:
        return await self.services.payments.initialize(made.caller, made.reference, None)

    async def pay(self, payment: PaymentRecord, *, succeed: bool = True) -> PaymentRecord:
        """The traveller pays (or declines) on the sandbox checkout, which settles at once."""
        await self.checkout.complete(payment.reference, succeed=succeed)
        return await self.services.payments.settle_payment(payment.reference, source="sandbox")

    async def book_and_pay(
        self, caller: Caller = ANONYMOUS, *, refundable: bool | None = None, **passenger: Any
    ) -> Made:
        made = await self.book(caller, refundable=refundable, **passenger)
        await self.pay(await self.start_payment(made))
        return made

    async def booking(self, made: Made | str) -> BookingRecord:
        reference = made if isinstance(made, str) else made.reference
        found = await self.services.store.bookings.get(reference)
        assert found is not None
        return found

    async def ledger(self, made: Made) -> Ledger:
        return Ledger.of(await self.booking(made))

    async def balance(self, made: Made) -> Balance:
        booking = await self.booking(made)
        return balance(booking, Ledger.of(booking))

    async def reconcile(self, after: timedelta | None = None) -> reconciliation.ReconcileReport:
        if after is not None:
            self.clock.advance(after)
        return await reconciliation.reconcile(self.deps)

    async def settle_down(self, rounds: int = 8) -> None:
        for _ in range(rounds):
            await self.reconcile(timedelta(minutes=3))


def desk_settings(tmp_folder: str, **overrides: Any) -> Settings:
    """Sandbox everywhere, a SQLite file in the test's folder, shared state in this process."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_folder}/resolvers.db",
        "redis_url": "",
        "email_outbox_dir": f"{tmp_folder}/outbox",
        "duffel_access_token": "",
        "paystack_secret_key": "",
        "fx_api_url": "",
        "reconcile_interval_seconds": 0,
        "booking_rate_limit": "100000/hour",
        "partner_booking_rate_limit": "100000/hour",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def open_desk(settings: Settings) -> AsyncIterator[Desk]:
    """The services of one process with nothing running in the background: the test drives
    the reconciler itself."""
    clock, pauses = MovableClock(), Pauses()
    async with open_services(settings, saga_hooks=pauses, clock=clock, background=False) as opened:
        yield Desk(opened, clock, pauses)
