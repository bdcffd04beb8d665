"""The Strawberry schema: root types assembled from thin field functions over `resolvers/`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_api.context import Info
from graphql_api.cost import Cost, ListSize
from graphql_api.executor import GraphQLLimits
from graphql_api.introspection import RestrictIntrospection
from graphql_api.masking import MaskDomainErrors
from graphql_api.scalars import SCALAR_OVERRIDES
from graphql_api.types.auth import AdminSession, admin_login_field
from graphql_api.types.bookings import (
    Booking,
    BookingConnection,
    BookingEdge,
    CreateBookingInput,
    CreateBookingPayload,
    PageInfo,
    Payment,
    booking_request,
    cursor_for,
    read_cursor,
)
from graphql_api.types.conversations import AuditEntry
from graphql_api.types.flights import FlightOffer, FlightSearch, FlightSearchInput, Place
from graphql_api.types.ledger import Ledger, MoneyAudit, MoneyViolation
from graphql_api.types.money import ExchangeRate, Money
from graphql_api.types.notifications import SandboxEmail
from graphql_api.types.operations import (
    OpsHealth,
    WorkItem,
    acknowledge_work_item_field,
    answer_airline_change_field,
    approve_held_payment_field,
    ops_health_field,
    refund_held_payment_field,
    resolve_handoff_field,
    retry_refund_field,
    work_queue_field,
)
from graphql_api.validation import CachedValidation
from integrations.sandbox.email import OutboxDirectory
from resolvers import reconciliation
from resolvers.access import channel_of, require_admin
from resolvers.airline_changes import sandbox_change_flights
from resolvers.errors import BadUserInput, NotFound
from resolvers.events import PAYMENTS, PaymentEvent
from resolvers.handoffs import handoff_requests
from resolvers.idempotency import run_once
from resolvers.lifecycle import BookingStatus
from resolvers.money import normalize_currency
from resolvers.operations import BookingFilter, find_bookings


@strawberry.type(description="A WhatsApp traveller who asked for a person (admins only).")
class HandoffRequest:
    phone: str = strawberry.field(
        description="The traveller's WhatsApp number, or business-scoped user id when hidden."
    )
    profile_name: str | None
    message: str = strawberry.field(description="What the traveller wrote when asking.")
    reason: str = strawberry.field(description='"asked", or the worry needing a person: "refund".')
    requested_at: datetime
    state: str = strawberry.field(description="Where the conversation stood.")
    booking_references: list[str]


@strawberry.type
class Query:
    @strawberry.field(
        description="Search flights; offers are cached until the earliest expires.",
        directives=[Cost(weight="50")],
    )
    async def search_flights(self, info: Info, input: FlightSearchInput) -> FlightSearch:
        search = await info.context.services.flights.search(input.to_query())
        return FlightSearch.from_domain(search)

    @strawberry.field(description="A search again by id, without asking the airline, while valid.")
    async def flight_search(
        self, info: Info, id: strawberry.ID, currency: str | None = None
    ) -> FlightSearch | None:
        search = await info.context.services.flights.get_search(str(id), currency=currency)
        return FlightSearch.from_domain(search) if search else None

    @strawberry.field(
        description="An offer with its current price, asked of the airline now.",
        directives=[Cost(weight="20")],
    )
    async def offer(
        self, info: Info, id: strawberry.ID, currency: str | None = None
    ) -> FlightOffer | None:
        services = info.context.services
        found = await services.flights.get_offer(str(id))
        display = normalize_currency(currency or services.payment_currency)
        return FlightOffer.from_domain(found, display)

    @strawberry.field(
        description='Airports and cities matching a name or code, e.g. "lag".',
        directives=[Cost(weight="2"), ListSize(slicing_arguments=["first"])],
    )
    async def places(self, info: Info, query: str, first: int | None = 10) -> list[Place]:
        found = await info.context.services.flights.suggest_places(
            query, first=10 if first is None else first
        )
        return [Place.from_domain(p) for p in found]

    @strawberry.field(description="The current rate from `base` to `quote` (ISO 4217 codes).")
    async def exchange_rate(self, info: Info, base: str, quote: str) -> ExchangeRate:
        rate = await info.context.services.rates.exchange_rate(base, quote)
        return ExchangeRate.from_domain(rate)

    @strawberry.field(
        description="`amount` of `from` in `to`, rounded to the currency's minor unit."
    )
    async def convert(
        self,
        info: Info,
        amount: Decimal,
        from_: Annotated[str, strawberry.argument(name="from")],
        to: str,
    ) -> Money:
        converted = await info.context.services.rates.convert(amount, from_, to)
        return Money.from_domain(converted)

    @strawberry.field(description="A booking, for its traveller, its partner or an admin.")
    async def booking(self, info: Info, reference: strawberry.ID) -> Booking | None:
        context = info.context
        try:
            record = await context.services.bookings.get(context.caller, str(reference))
        except NotFound:
            return None
        return Booking.from_record(record)

    @strawberry.field(description="Bookings newest first: all for admins, their own for partners.")
    async def bookings(
        self,
        info: Info,
        status: BookingStatus | None = None,
        first: int | None = 20,
        after: str | None = None,
        channel: Annotated[
            str | None, strawberry.argument(description="api, partner or whatsapp.")
        ] = None,
        created_from: Annotated[
            datetime | None, strawberry.argument(description="Created at or after this.")
        ] = None,
        created_to: Annotated[
            datetime | None, strawberry.argument(description="Created at or before this.")
        ] = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "A booking reference, a passenger's email, or a phone number (any form). "
                    "With any of channel, createdFrom, createdTo and search, totalCount counts "
                    "the matches among the newest 5000 bookings."
                )
            ),
        ] = None,
    ) -> BookingConnection:
        context = info.context
        wanted = BookingFilter(
            channel=channel, created_from=created_from, created_to=created_to, search=search
        )
        limit = 20 if first is None else first
        if wanted.empty:
            rows, more, total = await context.services.bookings.list(
                context.caller, status=status, first=limit, after=read_cursor(after)
            )
        else:
            if not 1 <= limit <= 100:
                raise BadUserInput("first is 1 to 100.", field="first")
            rows, more, total = await find_bookings(
                context.caller,
                context.services.store,
                status=status,
                wanted=wanted,
                first=limit,
                after=read_cursor(after),
            )
        edges = [BookingEdge(cursor=cursor_for(r), node=Booking.from_record(r)) for r in rows]
        return BookingConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            total_count=total,
        )

    @strawberry.field(description="WhatsApp travellers who asked for a person, latest first.")
    async def handoff_requests(self, info: Info, first: int | None = 20) -> list[HandoffRequest]:
        context = info.context
        found = await handoff_requests(
            context.caller,
            context.services.store.conversations,
            first=20 if first is None else first,
        )
        return [
            HandoffRequest(
                phone=h.phone,
                profile_name=h.profile_name,
                message=h.message,
                reason=h.reason,
                requested_at=h.requested_at,
                state=h.state,
                booking_references=list(h.booking_references),
            )
            for h in found
        ]

    @strawberry.field(description="A payment, for whoever may read its booking.")
    async def payment(self, info: Info, reference: strawberry.ID) -> Payment | None:
        context = info.context
        try:
            record = await context.services.payments.get(context.caller, str(reference))
        except NotFound:
            return None
        return Payment.from_record(record)

    @strawberry.field(
        description="A booking's ledger: captures, refunds, airline orders (admins only)."
    )
    async def ledger(self, info: Info, booking_reference: strawberry.ID) -> Ledger | None:
        context = info.context
        require_admin(context.caller)
        try:
            booking, violations = await reconciliation.booking_audit(
                context.services.bookings.deps, str(booking_reference)
            )
        except NotFound:
            return None
        return Ledger.from_record(booking, violations)

    @strawberry.field(
        description=(
            "Emails the sandbox wrote instead of sending (no SMTP_URL), latest first (admins only)."
        )
    )
    async def sandbox_emails(self, info: Info, first: int | None = 20) -> list[SandboxEmail]:
        context = info.context
        require_admin(context.caller)
        sender = context.services.dispatcher.senders.email
        if not isinstance(sender, OutboxDirectory):
            return []
        limit = 20 if first is None else max(1, min(first, 200))
        written = await asyncio.to_thread(sender.list, limit)
        return [
            SandboxEmail(
                name=w.name, to=w.to, subject=w.subject, written_at=w.written_at, size=w.size
            )
            for w in written
        ]

    work_queue: list[WorkItem] = strawberry.field(
        resolver=work_queue_field,
        description=(
            "Everything that needs a person, oldest first: held payments, failed or stuck "
            "refunds, unknown airline outcomes, disputes, airline changes, WhatsApp handoffs "
            "(admins only)."
        ),
    )
    ops_health: OpsHealth = strawberry.field(
        resolver=ops_health_field,
        description="Each dependency's status and mode, and the reconciler's last pass (admins).",
    )

    @strawberry.field(
        description=(
            "Every booking checked against the money invariant; the violations found "
            "(admins only). The same check as `sureflights audit`."
        )
    )
    async def money_audit(self, info: Info, first: int | None = 100) -> MoneyAudit:
        context = info.context
        require_admin(context.caller)
        limit = 100 if first is None else max(1, min(first, 1000))
        deps = context.services.bookings.deps
        checked, violations = await reconciliation.money_audit(
            deps.store, timings=deps.timings, now=deps.clock(), limit=limit
        )
        return MoneyAudit(
            checked=checked, violations=[MoneyViolation.from_domain(v) for v in violations]
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Book an offer at a price locked now; honours the Idempotency-Key header."
    )
    async def create_booking(self, info: Info, input: CreateBookingInput) -> CreateBookingPayload:
        context = info.context
        services = context.services
        caller = context.caller

        async def create() -> dict[str, Any]:
            record, token = await services.bookings.create(
                caller,
                offer_id=str(input.offer_id),
                passengers=[p.to_data() for p in input.passengers],
                currency=input.currency,
                expected_total=input.expected_total_amount,
                channel=channel_of(caller),
                client=context.client,
                record_limit=context.rate_limits.append,
            )
            return {"reference": record.reference, "access_token": token}

        done = await run_once(
            services.store.idempotency,
            key=context.idempotency_key,
            scope=f"{caller.identity}:createBooking",
            request=booking_request(input),
            run=create,
        )
        record = await services.store.bookings.get(done["reference"])
        assert record is not None
        return CreateBookingPayload(
            booking=Booking.from_record(record), access_token=done["access_token"]
        )

    @strawberry.mutation(
        description="Start paying a booking; the same pending payment is returned until it ends."
    )
    async def initialize_payment(
        self, info: Info, booking_reference: strawberry.ID, callback_url: str | None = None
    ) -> Payment:
        context = info.context
        services = context.services

        async def start() -> dict[str, Any]:
            record = await services.payments.initialize(
                context.caller,
                str(booking_reference),
                callback_url,
                client=context.client,
                record_limit=context.rate_limits.append,
            )
            return {"reference": record.reference}

        done = await run_once(
            services.store.idempotency,
            key=context.idempotency_key,
            scope=f"{context.caller.identity}:initializePayment",
            request={"booking": str(booking_reference), "callback": callback_url},
            run=start,
        )
        return Payment.from_record(await services.payments.get(context.caller, done["reference"]))

    @strawberry.mutation(description="Ask Paystack how a payment went and apply it.")
    async def verify_payment(self, info: Info, reference: strawberry.ID) -> Payment:
        context = info.context
        record = await context.services.payments.verify(context.caller, str(reference))
        return Payment.from_record(record)

    @strawberry.mutation(
        description=(
            "Cancel a booking: unpaid ones at once, confirmed ones with the airline, refunding "
            "what the airline returns. Honours the Idempotency-Key header."
        )
    )
    async def cancel_booking(self, info: Info, reference: strawberry.ID) -> Booking:
        context = info.context
        services = context.services

        async def cancel() -> dict[str, Any]:
            record = await services.bookings.cancel(context.caller, str(reference))
            return {"reference": record.reference}

        done = await run_once(
            services.store.idempotency,
            key=context.idempotency_key,
            scope=f"{context.caller.identity}:cancelBooking",
            request={"reference": str(reference)},
            run=cancel,
        )
        return Booking.from_record(await services.bookings.get(context.caller, done["reference"]))

    @strawberry.mutation(
        description=(
            "Keep the booking on the airline's new times (the traveller with the booking's "
            "token, its partner, or an admin)."
        )
    )
    async def accept_airline_change(
        self, info: Info, booking_reference: strawberry.ID, change_id: strawberry.ID
    ) -> Booking:
        context = info.context
        record = await context.services.bookings.accept_airline_change(
            context.caller, str(booking_reference), str(change_id)
        )
        return Booking.from_record(record)

    @strawberry.mutation(
        description=(
            "Refuse the airline's change: the booking is cancelled with the airline and what "
            "the airline returns is refunded."
        )
    )
    async def cancel_for_airline_change(
        self, info: Info, booking_reference: strawberry.ID, change_id: strawberry.ID
    ) -> Booking:
        context = info.context
        record = await context.services.bookings.cancel_for_airline_change(
            context.caller, str(booking_reference), str(change_id)
        )
        return Booking.from_record(record)

    @strawberry.mutation(
        description=(
            "Opt in or out of text messages, and of reminders by email, for a booking; "
            "confirmations and changes still go out by email and WhatsApp."
        )
    )
    async def update_notification_preferences(
        self,
        info: Info,
        booking_reference: strawberry.ID,
        sms: bool | None = None,
        email_reminders: bool | None = None,
    ) -> Booking:
        context = info.context
        record = await context.services.bookings.update_preferences(
            context.caller, str(booking_reference), sms=sms, email_reminders=email_reminders
        )
        return Booking.from_record(record)

    @strawberry.mutation(
        description=(
            "Sandbox only: the airline moves every flight of a confirmed booking by `minutes`, "
            "as a schedule change would, and the booking learns of it (admins only)."
        )
    )
    async def sandbox_change_flights(
        self, info: Info, booking_reference: strawberry.ID, minutes: int
    ) -> Booking:
        context = info.context
        require_admin(context.caller)
        record = await sandbox_change_flights(
            context.services.bookings.deps, str(booking_reference), minutes
        )
        return Booking.from_record(record)

    approve_held_payment: Booking = strawberry.mutation(
        resolver=approve_held_payment_field,
        description=(
            "Keep a payment held for review (the wrong amount) as the booking's payment and "
            "confirm it with the airline (admins only; audited with `reason`)."
        ),
    )
    refund_held_payment: Booking = strawberry.mutation(
        resolver=refund_held_payment_field,
        description=(
            "Refund a payment held for review; the booking stays open to pay (admins only; "
            "audited with `reason`)."
        ),
    )
    retry_refund: Booking = strawberry.mutation(
        resolver=retry_refund_field,
        description="Ask the provider again for a failed refund (admins only; audited).",
    )
    acknowledge_work_item: Booking = strawberry.mutation(
        resolver=acknowledge_work_item_field,
        description=(
            "Take a failed or stuck refund, unknown airline outcome or dispute off the work "
            "queue, saying what was done (admins only; audited)."
        ),
    )
    answer_airline_change: Booking = strawberry.mutation(
        resolver=answer_airline_change_field,
        description="Accept or cancel for an airline change on the traveller's behalf (audited).",
    )
    resolve_handoff: AuditEntry = strawberry.mutation(
        resolver=resolve_handoff_field,
        description=(
            "A person has answered a WhatsApp traveller who asked for one: off the queue, "
            "audited on the traveller's bookings (admins only)."
        ),
    )

    admin_login: AdminSession = strawberry.mutation(
        resolver=admin_login_field,
        description="Exchange ADMIN_PASS for an admin token; attempts are rate-limited.",
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "The current rate at once, then the rate again whenever the provider publishes a new "
            "one (checked every `intervalSeconds`)."
        )
    )
    async def exchange_rate_updates(
        self, info: Info, base: str, quote: str, interval_seconds: int = 60
    ) -> AsyncGenerator[ExchangeRate, None]:
        interval = max(1, interval_seconds)
        last = None
        while True:
            rate = await info.context.services.rates.exchange_rate(base, quote)
            seen = (rate.rate, rate.as_of, rate.stale)
            if seen != last:
                last = seen
                yield ExchangeRate.from_domain(rate)
            await asyncio.sleep(interval)

    @strawberry.subscription(
        description="A payment's current state at once, then every change (its booking's readers)."
    )
    async def payment_status(
        self, info: Info, reference: strawberry.ID
    ) -> AsyncGenerator[Payment, None]:
        context = info.context
        services = context.services
        payment = await services.payments.resolve_for_subscription(context.caller, str(reference))
        async with services.shared.bus.subscribe(PAYMENTS + payment.reference) as events:
            # Read after subscribing, so no change falls between the read and the first event.
            current = await services.store.payments.get(payment.reference) or payment
            booking = await services.store.bookings.get(current.booking_reference)
            seen = current.version, booking.status if booking else None
            yield Payment.from_record(current, seen[1])
            async for message in events:
                event = PaymentEvent.read(message.data)
                if event is None:
                    continue
                key = event.version, event.booking_status
                if key != seen:
                    seen = key
                    yield Payment.from_event(event)

    @strawberry.subscription(description="Every payment change of every booking (admins only).")
    async def payment_updates(self, info: Info) -> AsyncGenerator[Payment, None]:
        context = info.context
        require_admin(context.caller)
        async with context.services.shared.bus.subscribe(patterns=[PAYMENTS + "*"]) as events:
            async for message in events:
                event = PaymentEvent.read(message.data)
                if event is not None:
                    yield Payment.from_event(event)


class PerEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Gives each subscription event its own subfield memo.

    graphql-core 3.3.2 shares the memo between all events of a subscription while keying it by
    lists rebuilt per event, so it only grows: every event of every subscriber stayed in memory
    and long garbage collections stalled the fan-out. (Pinned graphql-core; recheck on upgrade.)
    """

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


def build_schema(
    limits: GraphQLLimits | None = None, *, hide_suggestions: bool = False
) -> strawberry.Schema:
    """The schema, with the same limits, masking and hidden suggestions (production) on the
    WebSocket path as on HTTP."""
    limits = limits or GraphQLLimits()
    rules = list(limits.rules())
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=PerEventExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
        # Factories: Strawberry builds fresh extensions per operation; both caches are shared.
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: AddValidationRules(rules),
            lambda: CachedValidation(hide_suggestions=hide_suggestions),
            RestrictIntrospection,
            MaskDomainErrors,
        ],
    )
