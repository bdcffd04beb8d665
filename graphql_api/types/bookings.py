"""Booking and payment types, mapped from stored records."""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry

from graphql_api.context import Info
from graphql_api.types.conversations import AuditEntry, ChatMessage
from graphql_api.types.flights import Carrier, ProviderMode, Slice
from graphql_api.types.money import Money
from graphql_api.types.notifications import AirlineChange, Notification, NotificationPreferences
from integrations.ports import flights as domain
from integrations.state.store import BookingRecord, PaymentRecord
from resolvers import lifecycle
from resolvers.access import require_admin
from resolvers.errors import BadUserInput
from resolvers.events import PaymentEvent
from resolvers.ledger import Ledger
from resolvers.money import Money as DomainMoney
from resolvers.money import from_subunits
from resolvers.notifications.notices import held_until
from resolvers.passengers import PassengerDetails

# Registers the lifecycle enums with Strawberry (in place), so the schema and domain share them.
strawberry.enum(lifecycle.BookingStatus, description="Where a booking stands.")
strawberry.enum(lifecycle.PaymentStatus, description="Where a payment stands.")


@strawberry.enum
class PassengerType(Enum):
    ADULT = "adult"
    CHILD = "child"
    INFANT_WITHOUT_SEAT = "infant_without_seat"


@strawberry.enum
class Title(Enum):
    MR = "mr"
    MRS = "mrs"
    MS = "ms"
    MISS = "miss"
    DR = "dr"


@strawberry.enum
class Gender(Enum):
    M = "m"
    F = "f"


@strawberry.type
class Passenger:
    type: PassengerType
    title: Title
    given_name: str
    family_name: str
    gender: Gender
    born_on: date
    email: str
    phone_number: str

    @classmethod
    def from_domain(cls, details: PassengerDetails) -> Passenger:
        return cls(
            type=PassengerType(details.type),
            title=Title(details.title),
            given_name=details.given_name,
            family_name=details.family_name,
            gender=Gender(details.gender),
            born_on=details.born_on,
            email=details.email,
            phone_number=details.phone_number,
        )


@strawberry.type
class Payment:
    reference: strawberry.ID
    booking_reference: strawberry.ID
    status: lifecycle.PaymentStatus
    mode: ProviderMode
    amount: Money
    authorization_url: str | None = strawberry.field(
        description="Where the traveller pays (Paystack, or the sandbox checkout page)."
    )
    paid_at: datetime | None
    updated_at: datetime
    booking_status: lifecycle.BookingStatus | None = strawberry.field(
        description="The booking's status when this payment last changed."
    )

    @classmethod
    def from_record(cls, payment: PaymentRecord, booking_status: str | None = None) -> Payment:
        return cls(
            reference=strawberry.ID(payment.reference),
            booking_reference=strawberry.ID(payment.booking_reference),
            status=lifecycle.PaymentStatus(payment.status),
            mode=ProviderMode(payment.mode),
            amount=_subunits_money(payment.amount_subunits, payment.currency),
            authorization_url=payment.authorization_url,
            paid_at=payment.paid_at,
            updated_at=payment.updated_at,
            booking_status=lifecycle.BookingStatus(booking_status) if booking_status else None,
        )

    @classmethod
    def from_event(cls, event: PaymentEvent) -> Payment:
        return cls(
            reference=strawberry.ID(event.reference),
            booking_reference=strawberry.ID(event.booking_reference),
            status=event.status,
            mode=ProviderMode(event.mode),
            amount=_subunits_money(event.amount_subunits, event.currency),
            authorization_url=event.authorization_url,
            paid_at=event.paid_at,
            updated_at=event.updated_at,
            booking_status=event.booking_status,
        )


def _subunits_money(subunits: int, currency: str) -> Money:
    return Money.from_domain(DomainMoney(from_subunits(subunits, currency), currency))


@strawberry.type
class Booking:
    reference: strawberry.ID
    status: lifecycle.BookingStatus
    channel: str
    owner: Carrier
    slices: list[Slice]
    passengers: list[Passenger]
    total_amount: Money = strawberry.field(description="What the traveller is charged.")
    airline_reference: str | None = strawberry.field(
        description="The airline's PNR: early for held offers, else once CONFIRMED."
    )
    pay_by: datetime | None = strawberry.field(
        description="Pay before this or the booking expires."
    )
    created_at: datetime
    updated_at: datetime
    record: strawberry.Private[BookingRecord]

    @strawberry.field(description="The booking's latest payment.")
    async def payment(self, info: Info) -> Payment | None:
        latest = await info.context.services.store.payments.get_latest_for_booking(
            self.record.reference
        )
        return Payment.from_record(latest, self.record.status) if latest else None

    @strawberry.field(description="Changes the airline made to the flights, and the answers.")
    def airline_changes(self) -> list[AirlineChange]:
        return [AirlineChange.from_domain(c) for c in Ledger.of(self.record).airline_changes]

    @strawberry.field(description="What the traveller has opted out of.")
    def notification_preferences(self) -> NotificationPreferences:
        preferences = Ledger.of(self.record).preferences
        return NotificationPreferences(
            sms=preferences.sms, email_reminders=preferences.email_reminders
        )

    @strawberry.field(
        description="Every notification of the booking, oldest first, with its outcome (admins)."
    )
    async def notifications(self, info: Info) -> list[Notification]:
        require_admin(info.context.caller)
        records = await info.context.services.store.notifications.list_for_booking(
            self.record.reference
        )
        return [Notification.from_record(r) for r in records]

    @strawberry.field(description="Every payment of the booking, oldest first.")
    async def payments(self, info: Info) -> list[Payment]:
        found = await info.context.services.store.payments.list_for_bookings(
            [self.record.reference]
        )
        found.sort(key=lambda p: p.created_at)
        return [Payment.from_record(p, self.record.status) for p in found]

    @strawberry.field(
        description="What operators did to the booking by hand, and why, oldest first (admins)."
    )
    def audit_log(self, info: Info) -> list[AuditEntry]:
        require_admin(info.context.caller)
        return [AuditEntry.from_domain(a) for a in Ledger.of(self.record).audit]

    @strawberry.field(
        description=(
            "The WhatsApp conversation the booking was made in, oldest first; empty for other "
            "channels (admins)."
        )
    )
    async def whatsapp_transcript(self, info: Info) -> list[ChatMessage]:
        require_admin(info.context.caller)
        contact = self.record.data.get("contact") or {}
        wa_id = contact.get("whatsapp")
        if not isinstance(wa_id, str) or not wa_id:
            return []
        conversation = await info.context.services.store.conversations.get(wa_id)
        if conversation is None:
            return []
        return [ChatMessage.from_stored(m) for m in conversation.messages]

    @classmethod
    def from_record(cls, record: BookingRecord) -> Booking:
        offer = record.data["offer"]
        return cls(
            reference=strawberry.ID(record.reference),
            status=lifecycle.BookingStatus(record.status),
            channel=record.channel,
            owner=Carrier.from_domain(domain.Carrier.model_validate(offer["owner"])),
            slices=[Slice.from_domain(domain.Slice.model_validate(s)) for s in offer["slices"]],
            passengers=[
                Passenger.from_domain(PassengerDetails.from_data(p))
                for p in record.data["passengers"]
            ],
            total_amount=Money.from_domain(DomainMoney(record.total_amount, record.total_currency)),
            airline_reference=record.airline_reference,
            pay_by=held_until(record) if record.pay_by is not None else None,
            created_at=record.created_at,
            updated_at=record.updated_at,
            record=record,
        )


@strawberry.type
class BookingEdge:
    cursor: str
    node: Booking


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class BookingConnection:
    edges: list[BookingEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class CreateBookingPayload:
    booking: Booking
    access_token: str = strawberry.field(
        description="Reads, pays for, cancels and follows this one booking: keep it safe."
    )


def cursor_for(record: BookingRecord) -> str:
    raw = f"{record.created_at.isoformat()}|{record.reference}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, reference = raw.split("|", 1)
        return datetime.fromisoformat(moment), reference
    except (ValueError, UnicodeDecodeError) as error:
        raise BadUserInput("This cursor is not one the gateway gave out.", field="after") from error


@strawberry.input
class PassengerInput:
    type: PassengerType | None = PassengerType.ADULT
    title: Title
    given_name: str
    family_name: str
    gender: Gender
    born_on: date
    email: str
    phone_number: str = strawberry.field(description="E.164, or a Nigerian local number.")

    def to_data(self) -> dict[str, Any]:
        return {
            "type": (self.type or PassengerType.ADULT).value,
            "title": self.title.value,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "gender": self.gender.value,
            "born_on": self.born_on,
            "email": self.email,
            "phone_number": self.phone_number,
        }


@strawberry.input
class CreateBookingInput:
    offer_id: strawberry.ID
    passengers: list[PassengerInput]
    currency: str | None = strawberry.field(
        default=None, description="Currency to charge in; PAYMENT_CURRENCY if omitted."
    )
    expected_total_amount: Decimal | None = strawberry.field(
        default=None,
        description="The offer price the traveller saw; PRICE_CHANGED when it is no longer it.",
    )


def booking_request(value: CreateBookingInput) -> dict[str, Any]:
    """The input as plain data, to fingerprint an idempotent request."""
    return {
        "offer_id": str(value.offer_id),
        "passengers": [p.to_data() for p in value.passengers],
        "currency": value.currency,
        "expected_total_amount": value.expected_total_amount,
    }
