"""Wires the WhatsApp assistant to the schema: the in-process GraphQL executor it is handed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from conversation.gateway import Execute, Outcome
from conversation.handler import ConversationHandler
from conversation.notifier import BookingNotifier
from conversation.session import Sessions
from conversation.transcript import Transcript
from graphql_api.context import RequestContext, Services
from graphql_api.errors import format_error
from graphql_api.executor import GraphQLExecutor
from graphql_api.middleware import new_request_id
from integrations.ports.messaging import WhatsAppSender
from resolvers.access import Caller, CallerKind
from resolvers.auth import caller_from_credentials
from resolvers.errors import Unauthenticated


def in_process_executor(executor: GraphQLExecutor, services: Services) -> Execute:
    """GraphQL for the assistant: an internal caller, or the traveller's own access token."""

    async def execute(
        document: str,
        variables: Mapping[str, Any],
        *,
        wa_id: str,
        access_token: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        request_id = new_request_id()
        caller = Caller(kind=CallerKind.INTERNAL, identity=f"whatsapp:{wa_id}", whatsapp_id=wa_id)
        if access_token is not None:
            try:
                caller = await caller_from_credentials(
                    authorization=f"Bearer {access_token}",
                    api_key=None,
                    secret=services.settings.secret_key,
                    api_keys=services.api_keys,
                    client="whatsapp",
                    now=datetime.now(UTC),
                )
            except Unauthenticated as error:
                return Outcome(None, [{"message": error.message,
                                       "extensions": {"code": error.code}}])  # fmt: skip
        context = RequestContext(
            services=services,
            request_id=request_id,
            caller=caller,
            headers={"idempotency-key": idempotency_key} if idempotency_key else {},
            client="whatsapp",
        )
        result = await executor.run(document, context=context, variables=dict(variables))
        errors = [format_error(error, request_id) for error in result.errors or ()]
        return Outcome(result.data, errors)

    return execute


def build_assistant(
    executor: GraphQLExecutor, services: Services, sender: WhatsAppSender
) -> tuple[ConversationHandler, BookingNotifier]:
    handler = ConversationHandler(
        execute=in_process_executor(executor, services),
        sessions=Sessions(services.shared.sessions),
        sender=sender,
        transcript=Transcript(services.store.conversations, services.store.processed_events),
        payment_currency=services.settings.payment_currency,
        support_contact=services.settings.support_contact,
    )
    notifier = BookingNotifier(
        bus=services.shared.bus,
        claims=services.store.processed_events,
        handler=handler,
    )
    return handler, notifier
