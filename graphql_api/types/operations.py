"""What the ops dashboard reads and does: the work queue, operators' actions (each with a
reason, audited), and the health of the dependencies and the reconciler (admins only)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from graphql_api.context import Info
from graphql_api.routes.health import readiness
from graphql_api.types.bookings import Booking
from graphql_api.types.conversations import AuditEntry
from graphql_api.types.ledger import _money
from graphql_api.types.money import Money
from resolvers import operations
from resolvers.access import require_admin
from resolvers.saga import SagaDeps


@strawberry.enum(description="What kind of thing needs a person.")
class WorkItemKind(Enum):
    HELD_PAYMENT = "HELD_PAYMENT"
    REFUND_FAILED = "REFUND_FAILED"
    REFUND_NOT_ISSUED = "REFUND_NOT_ISSUED"
    UNKNOWN_AIRLINE_OUTCOME = "UNKNOWN_AIRLINE_OUTCOME"
    DISPUTE = "DISPUTE"
    AIRLINE_CHANGE = "AIRLINE_CHANGE"
    HANDOFF = "HANDOFF"


@strawberry.type(description="Something that needs a person, and what may be done about it.")
class WorkItem:
    id: strawberry.ID
    kind: WorkItemKind
    summary: str
    since: datetime
    actions: list[str] = strawberry.field(
        description=(
            "approve / refund (held payment: approveHeldPayment, refundHeldPayment), retry "
            "(retryRefund), accept / cancel (answerAirlineChange), resolve (resolveHandoff), "
            "acknowledge (acknowledgeWorkItem)."
        )
    )
    booking_reference: strawberry.ID | None
    payment_reference: strawberry.ID | None
    refund_id: strawberry.ID | None
    change_id: strawberry.ID | None
    phone: str | None
    amount: Money | None

    @classmethod
    def from_domain(cls, item: operations.WorkItem) -> WorkItem:
        def ident(value: str | None) -> strawberry.ID | None:
            return strawberry.ID(value) if value is not None else None

        return cls(
            id=strawberry.ID(item.id),
            kind=WorkItemKind(item.kind),
            summary=item.summary,
            since=item.since,
            actions=list(item.actions),
            booking_reference=ident(item.booking_reference),
            payment_reference=ident(item.payment_reference),
            refund_id=ident(item.refund_id),
            change_id=ident(item.change_id),
            phone=item.phone,
            amount=(
                _money(item.amount_subunits, item.currency)
                if item.amount_subunits is not None and item.currency
                else None
            ),
        )


@strawberry.type(description="One dependency, as `/health/ready` reports it.")
class DependencyHealth:
    name: str
    status: str = strawberry.field(description="ok, configured or down.")
    mode: str = strawberry.field(description="live, sandbox, in-process or off.")
    detail: JSON = strawberry.field(description="Everything else readiness reports of it.")


@strawberry.type(description="How many steps of one kind the reconciler took.")
class StepCount:
    step: str
    count: int


@strawberry.type(description="This replica's reconciler: its last pass and what it repaired.")
class ReconcilerHealth:
    enabled: bool
    interval_seconds: float
    passes: int = strawberry.field(description="Passes since this process started.")
    last_pass_at: datetime | None
    looked_at: int = strawberry.field(description="Bookings the last pass drove.")
    changed: int
    failed: int
    last_pass_steps: list[StepCount]
    repaired: list[StepCount] = strawberry.field(
        description="Steps taken by kind over every pass since this process started."
    )


@strawberry.type(description="The gateway's health as operators read it (admins only).")
class OpsHealth:
    ready: bool
    dependencies: list[DependencyHealth]
    reconciler: ReconcilerHealth


def _counts(steps: dict[str, int]) -> list[StepCount]:
    return [StepCount(step=k, count=v) for k, v in sorted(steps.items())]


def _deps(info: Info) -> SagaDeps:
    deps: SagaDeps = info.context.services.bookings.deps
    return deps


async def work_queue_field(info: Info, first: int | None = 100) -> list[WorkItem]:
    items = await operations.work_queue(
        info.context.caller, _deps(info), first=100 if first is None else first
    )
    return [WorkItem.from_domain(i) for i in items]


async def ops_health_field(info: Info) -> OpsHealth:
    context = info.context
    require_admin(context.caller)
    services = context.services
    ready, body = await readiness(services)
    watch = services.reconciler_watch
    last = watch.last
    return OpsHealth(
        ready=ready,
        dependencies=[
            DependencyHealth(
                name=name,
                status=str(report.get("status", "")),
                mode=str(report.get("mode", "")),
                detail=cast(JSON, {k: v for k, v in report.items() if k not in ("status", "mode")}),
            )
            for name, report in body["dependencies"].items()
        ],
        reconciler=ReconcilerHealth(
            enabled=services.reconcile_interval_seconds > 0,
            interval_seconds=services.reconcile_interval_seconds,
            passes=watch.passes,
            last_pass_at=watch.last_at,
            looked_at=last.looked_at if last else 0,
            changed=last.changed if last else 0,
            failed=last.failed if last else 0,
            last_pass_steps=_counts(last.steps if last else {}),
            repaired=_counts(watch.repaired),
        ),
    )


async def approve_held_payment_field(
    info: Info, booking_reference: strawberry.ID, payment_reference: strawberry.ID, reason: str
) -> Booking:
    record = await operations.approve_held_payment(
        info.context.caller, _deps(info), str(booking_reference), str(payment_reference), reason
    )
    return Booking.from_record(record)


async def refund_held_payment_field(
    info: Info, booking_reference: strawberry.ID, payment_reference: strawberry.ID, reason: str
) -> Booking:
    record = await operations.refund_held_payment(
        info.context.caller, _deps(info), str(booking_reference), str(payment_reference), reason
    )
    return Booking.from_record(record)


async def retry_refund_field(
    info: Info, booking_reference: strawberry.ID, refund_id: strawberry.ID, reason: str
) -> Booking:
    record = await operations.retry_refund(
        info.context.caller, _deps(info), str(booking_reference), str(refund_id), reason
    )
    return Booking.from_record(record)


async def acknowledge_work_item_field(info: Info, id: strawberry.ID, reason: str) -> Booking:
    record = await operations.acknowledge(info.context.caller, _deps(info), str(id), reason)
    return Booking.from_record(record)


@strawberry.enum(description="An operator's answer to an airline change.")
class AirlineChangeAnswer(Enum):
    ACCEPT = "accept"
    CANCEL = "cancel"


async def answer_airline_change_field(
    info: Info,
    booking_reference: strawberry.ID,
    change_id: strawberry.ID,
    answer: AirlineChangeAnswer,
    reason: str,
) -> Booking:
    context = info.context
    caller = context.caller
    require_admin(caller)
    why = operations.reason_given(reason)
    bookings = context.services.bookings
    reference = str(booking_reference).strip().upper()
    if answer is AirlineChangeAnswer.ACCEPT:
        await bookings.accept_airline_change(caller, reference, str(change_id))
    else:
        await bookings.cancel_for_airline_change(caller, reference, str(change_id))
    await operations.audit_airline_answer(
        caller, _deps(info), reference, str(change_id), answer.value, why
    )
    return Booking.from_record(await bookings.get(caller, reference))


async def resolve_handoff_field(info: Info, phone: str, reason: str) -> AuditEntry:
    entry = await operations.resolve_handoff(info.context.caller, _deps(info), phone, reason)
    return AuditEntry.from_domain(entry)
