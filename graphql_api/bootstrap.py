"""The one wiring seam: `open_services(settings)` opens everything the gateway runs on.

The app's lifespan, `sureflights chat`, the tests and the benchmarks all open their services
here, so each process has one store, one shared state, one booking notifier and one reconciler.
Each collaborator is handed the values it needs from the settings; `Services` does not carry them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from conversation.gateway import Execute, Outcome
from conversation.handler import ConversationHandler
from conversation.session import Sessions
from conversation.transcript import Transcript
from graphql_api import metrics
from graphql_api.context import RequestContext, Secrets, Services
from graphql_api.errors import format_error
from graphql_api.executor import GraphQLExecutor, GraphQLLimits
from graphql_api.middleware import new_request_id
from graphql_api.schema import build_schema
from graphql_api.settings import Settings
from graphql_api.upstreams import observed_client
from integrations.cancellation import stop_if_cancelled
from integrations.duffel.client import DuffelClient
from integrations.fx import OpenErApiClient
from integrations.paystack.client import PaystackClient
from integrations.ports.airline import AirlineOrders
from integrations.ports.flights import FlightProvider
from integrations.ports.messaging import WhatsAppSender
from integrations.ports.notifications import EmailSender, SmsSender
from integrations.ports.payments import PaymentProvider
from integrations.ports.rates import RatesProvider
from integrations.sandbox.airline import SandboxAirline
from integrations.sandbox.email import OutboxDirectory
from integrations.sandbox.flights import SandboxFlights
from integrations.sandbox.payments import SandboxPayments
from integrations.sandbox.rates import SandboxRates
from integrations.sandbox.sms import RecordingSms
from integrations.sandbox.whatsapp import RecordingSender
from integrations.smtp import SmtpEmailSender, SmtpServer
from integrations.state.ratelimit import rate_limiter_for
from integrations.state.shared import open_shared_state
from integrations.state.store import Store, open_store
from integrations.termii import TermiiClient
from integrations.whatsapp.client import WhatsAppClient
from resolvers import reconciliation
from resolvers.access import Caller, CallerKind
from resolvers.auth import CachedApiKeys, caller_from_credentials, issue_traveller_token
from resolvers.bookings import BookingLimits, Bookings
from resolvers.errors import Unauthenticated
from resolvers.flights import FlightService
from resolvers.ledger import NoticeKind
from resolvers.notifications.dispatch import Dispatcher, Senders
from resolvers.notifications.notices import NoticeTimings
from resolvers.notifications.outbox import OnWhatsApp, Outbox, OutboxSettings
from resolvers.notifications.preview import preview
from resolvers.notifications.render import Links, Renderer
from resolvers.operations import ReconcilerWatch
from resolvers.payments import Payments
from resolvers.rates import RatesService
from resolvers.saga import NO_HOOKS, SagaDeps, SagaHooks, SagaTimings, utc_now

log = logging.getLogger("sureflights")

USER_AGENT = "SureFlights/0.1"


def build_executor(settings: Settings) -> GraphQLExecutor:
    """The schema with the settings' limits, behind the executor every entry point uses."""
    limits = GraphQLLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_introspection_depth=settings.graphql_max_introspection_depth,
    )
    return GraphQLExecutor(
        build_schema(limits, hide_suggestions=settings.is_production),
        limits=limits,
        cache_size=settings.graphql_document_cache_size,
        hide_suggestions=settings.is_production,
    )


def saga_timings(settings: Settings) -> SagaTimings:
    return SagaTimings(
        verify_after=timedelta(seconds=settings.reconcile_verify_after_seconds),
        resume_after=timedelta(seconds=settings.reconcile_resume_after_seconds),
        give_up_after=timedelta(seconds=settings.order_give_up_after_seconds),
        follow_refund_every=timedelta(seconds=settings.refund_follow_every_seconds),
        # 0 turns the periodic look off (the webhook alone tells of changes).
        check_changes_every=timedelta(hours=settings.airline_change_check_hours),
    )


def secrets_of(settings: Settings) -> Secrets:
    return Secrets(
        secret_key=settings.secret_key,
        admin_pass=settings.admin_pass,
        paystack_secret_key=settings.paystack_secret_key,
        duffel_webhook_secret=settings.duffel_webhook_secret,
        whatsapp_app_secret=settings.whatsapp_app_secret,
        whatsapp_verify_token=settings.whatsapp_verify_token,
    )


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    executor: GraphQLExecutor | None = None,
    sender: WhatsAppSender | None = None,
    saga_hooks: SagaHooks | None = None,
    clock: Callable[[], datetime] | None = None,
    background: bool = True,
) -> AsyncIterator[Services]:
    """Open the store, the shared state and the upstream clients, build the services on them,
    and (with `background`) run the booking notifier and the reconciler until the block ends.

    `sender` replaces the WhatsApp sender the settings choose (the terminal chat passes its own);
    `saga_hooks` lets a test pause the booking saga at its named points, and `clock` sets the
    saga's time. Everything is closed, in reverse order, when the block ends.
    """
    executor = executor or build_executor(settings)
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: observed_client(name, url, timeout, USER_AGENT)
            for name, url, timeout in (
                ("duffel", settings.duffel_api_url, settings.upstream_timeout_seconds),
                ("paystack", settings.paystack_api_url, settings.upstream_timeout_seconds),
                ("fx", settings.fx_api_url or "http://fx.invalid", 5.0),
                ("whatsapp", settings.whatsapp_api_url, settings.upstream_timeout_seconds),
                ("termii", settings.termii_api_url, settings.upstream_timeout_seconds),
            )
        }
        for client in clients.values():
            stack.push_async_callback(client.aclose)
        store = await open_store(settings.database_url, settings.database_pool())
        stack.push_async_callback(store.close)
        shared = await open_shared_state(settings.redis_url)
        stack.push_async_callback(shared.close)

        rates_provider: RatesProvider = (
            OpenErApiClient(clients["fx"], settings.fx_api_url)
            if settings.fx_api_url
            else SandboxRates()
        )
        rates = RatesService(
            rates_provider,
            shared.cache,
            markup_percent=Decimal(settings.fx_markup_percent),
            # The bundled sandbox table is old by design; only live rates can be too old.
            max_charge_age=settings.fx_max_charge_age if settings.fx_api_url else timedelta.max,
        )
        duffel = (
            DuffelClient(
                clients["duffel"],
                base_url=settings.duffel_api_url,
                access_token=settings.duffel_access_token,
                supplier_timeout_ms=settings.duffel_supplier_timeout_ms,
                backoff_seconds=settings.upstream_retry_backoff_seconds,
                default_timeout=settings.upstream_call_timeout_seconds,
                deadline_seconds=settings.upstream_deadline_seconds,
            )
            if settings.duffel_access_token
            else None
        )
        sandbox_flights = SandboxFlights()
        flight_provider: FlightProvider = duffel or sandbox_flights
        airline: AirlineOrders = duffel or SandboxAirline(shared.shared_store, sandbox_flights)
        payment_provider: PaymentProvider = (
            PaystackClient(
                clients["paystack"],
                base_url=settings.paystack_api_url,
                secret_key=settings.paystack_secret_key,
                backoff_seconds=settings.upstream_retry_backoff_seconds,
                timeout=settings.upstream_call_timeout_seconds,
                deadline_seconds=settings.upstream_deadline_seconds,
            )
            if settings.paystack_secret_key
            else SandboxPayments(shared.shared_store, checkout_base_url=settings.public_base_url)
        )
        flights = FlightService(
            flight_provider,
            shared.cache,
            rates,
            default_currency=settings.payment_currency,
            max_days_ahead=settings.search_max_days_ahead,
        )
        outbox_settings = OutboxSettings(
            sms=settings.sms_notifications, max_attempts=settings.notification_max_attempts
        )
        outbox = Outbox(store.notifications, outbox_settings, _on_whatsapp(store))
        saga = SagaDeps(
            store=store,
            flights=flights,
            airline=airline,
            payments=payment_provider,
            rates=rates,
            bus=shared.bus,
            secret_key=settings.secret_key,
            payment_currency=settings.payment_currency,
            timings=saga_timings(settings),
            hooks=saga_hooks or NO_HOOKS,
            clock=clock or utc_now,
            notice_timings=NoticeTimings(
                payment_reminder=timedelta(hours=settings.payment_reminder_hours),
                check_in_reminder=timedelta(hours=settings.check_in_reminder_hours),
                change_reminder=timedelta(hours=settings.change_reminder_hours),
            ),
            outbox=outbox,
        )
        limiter = rate_limiter_for(shared)
        bookings = Bookings(
            saga,
            BookingLimits(
                limiter=limiter,
                anonymous=settings.booking_policy,
                partner=settings.partner_booking_policy,
            ),
        )
        whatsapp: WhatsAppSender = sender or (
            WhatsAppClient(
                clients["whatsapp"],
                base_url=settings.whatsapp_api_url,
                phone_number_id=settings.whatsapp_phone_number_id,
                access_token=settings.whatsapp_access_token,
                timeout=settings.upstream_timeout_seconds,
                deadline_seconds=settings.upstream_deadline_seconds,
            )
            if settings.whatsapp_access_token and settings.whatsapp_phone_number_id
            else RecordingSender()
        )
        api_keys = CachedApiKeys(store.api_keys)
        secrets = secrets_of(settings)
        # The assistant speaks GraphQL to these same services, in process.
        conversation = ConversationHandler(
            execute=in_process_executor(executor, lambda: services),
            sessions=Sessions(shared.sessions),
            sender=whatsapp,
            transcript=Transcript(store.conversations, store.processed_events),
            payment_currency=settings.payment_currency,
            support_contact=settings.support_contact,
        )
        services = Services(
            store=store,
            shared=shared,
            rates=rates,
            flights=flights,
            limiter=limiter,
            api_keys=api_keys,
            bookings=bookings,
            payments=Payments(saga, bookings),
            payment_provider=payment_provider,
            whatsapp=whatsapp,
            conversation=conversation,
            dispatcher=Dispatcher(
                saga,
                outbox,
                Senders(
                    email=_email_sender(settings),
                    sms=_sms_sender(settings, clients["termii"]),
                    whatsapp=conversation,
                ),
                Renderer(settings.support_contact, zone=ZoneInfo(settings.notify_time_zone)),
                outbox_settings,
                links=_links(settings),
            ),
            secrets=secrets,
            modes=settings.upstream_modes(),
            payment_currency=settings.payment_currency,
            production=settings.is_production,
            reconcile_interval_seconds=settings.reconcile_interval_seconds,
        )
        if background and settings.notification_dispatcher == "in-process":
            _run_in_background(stack, services.dispatcher.run(), "notification-dispatcher")
        if background and settings.reconcile_interval_seconds > 0:
            _run_in_background(
                stack,
                _reconcile_forever(
                    saga, settings.reconcile_interval_seconds, services.reconciler_watch
                ),
                "reconciler",
            )
        yield services


def in_process_executor(executor: GraphQLExecutor, services: Callable[[], Services]) -> Execute:
    """GraphQL for the assistant: an internal caller, or the traveller's own access token."""

    async def execute(
        document: str,
        variables: Mapping[str, Any],
        *,
        wa_id: str,
        access_token: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        opened = services()
        request_id = new_request_id()
        caller = Caller(kind=CallerKind.INTERNAL, identity=f"whatsapp:{wa_id}", whatsapp_id=wa_id)
        if access_token is not None:
            try:
                caller = await caller_from_credentials(
                    authorization=f"Bearer {access_token}",
                    api_key=None,
                    secret=opened.secrets.secret_key,
                    api_keys=opened.api_keys,
                    client="whatsapp",
                    now=datetime.now(UTC),
                )
            except Unauthenticated as error:
                return Outcome(None, [{"message": error.message,
                                       "extensions": {"code": error.code}}])  # fmt: skip
        context = RequestContext(
            services=opened,
            request_id=request_id,
            caller=caller,
            client="whatsapp",
            idempotency_key=idempotency_key,
        )
        result = await executor.run(document, context=context, variables=dict(variables))
        errors = [format_error(error, request_id) for error in result.errors or ()]
        return Outcome(result.data, errors)

    return execute


def _on_whatsapp(store: Store) -> OnWhatsApp:
    async def on_whatsapp(number: str) -> bool:
        return await store.conversations.get(number) is not None

    return on_whatsapp


def _email_sender(settings: Settings) -> EmailSender:
    if settings.smtp_url:
        return SmtpEmailSender(SmtpServer.from_url(settings.smtp_url), settings.email_from)
    return OutboxDirectory(Path(settings.email_outbox_dir))


def _sms_sender(settings: Settings, client: httpx.AsyncClient) -> SmsSender:
    if settings.termii_api_key:
        return TermiiClient(
            client,
            base_url=settings.termii_api_url,
            api_key=settings.termii_api_key,
            sender_id=settings.termii_sender_id,
            channel=settings.termii_channel,
            backoff_seconds=settings.upstream_retry_backoff_seconds,
            deadline_seconds=settings.upstream_deadline_seconds,
        )
    return RecordingSms()


def _links(settings: Settings) -> Callable[[str], Links | None]:
    """The traveller's links in emails: their trip page, with a token for that one booking."""

    def links(reference: str) -> Links:
        token = issue_traveller_token(settings.secret_key, reference, now=datetime.now(UTC))
        return Links(settings.public_base_url, token)

    return links


def _run_in_background(stack: contextlib.AsyncExitStack, work: Any, name: str) -> None:
    task: asyncio.Task[None] = asyncio.create_task(work, name=name)
    stack.push_async_callback(_cancel, task)


async def _reconcile_forever(saga: SagaDeps, interval: float, watch: ReconcilerWatch) -> None:
    """Every replica reconciles; each step is a compare-and-set, so they never do work twice."""
    while True:
        # Jitter spreads the replicas' passes apart.
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311
        try:
            report = await reconciliation.reconcile(saga)
            watch.saw(report, saga.clock())
        except Exception:
            stop_if_cancelled()
            metrics.observe_reconcile(None, failed=True)
            log.exception("reconciliation pass failed")
        else:
            metrics.observe_reconcile(report.repaired, failed=False)


# How long shutting down waits for a background task to stop before going on without it.
STOP_WAIT_SECONDS = 10.0


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_SECONDS)
    if not done:
        # Never hang a shutdown (a deploy waits on it): say what did not stop, and where.
        where = " < ".join(
            f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
            for frame in reversed(task.get_stack(limit=6))
        )
        log.error("background task %s did not stop", task.get_name(), extra={"at": where})
        return
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:  # shutting down: report it, and keep closing the rest
        log.error("background task %s failed", task.get_name(), exc_info=error)


async def preview_notice(
    settings: Settings, store: Store, event: str, reference: str
) -> dict[str, bytes] | None:
    """`sureflights notify preview`: a notice rendered as the dispatcher would render it."""
    renderer = Renderer(settings.support_contact, zone=ZoneInfo(settings.notify_time_zone))
    return await preview(store, renderer, _links(settings)(reference), NoticeKind(event), reference)
