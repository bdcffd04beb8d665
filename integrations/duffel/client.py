"""The live flight provider: a typed client of Duffel's flights API, from search to cancellation."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, NoReturn, TypeVar
from urllib.parse import quote

import httpx
from pydantic import (
    BaseModel,
    ValidationError,
)

from integrations.duffel.wire import (
    AIRLINE_CHANGE,
    AIRLINE_CHANGES,
    CANCELLATION,
    OBJECTS,
    OFFER,
    OFFER_REQUEST,
    ORDER,
    PAYMENT,
    Unusable,
    WireError,
    WireErrorBody,
    WireErrorSource,
    WireOffer,
    WireOrder,
    WireOrderPage,
    WirePlace,
    airline_change_from_wire,
    decimal_text,
    offer_from_wire,
    order_from_wire,
    place_from_wire,
    search_body,
)
from integrations.ports.airline import (
    BOOKING_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    AirlineChangeInfo,
    Order,
    OrderCancellation,
    OrderPage,
    OrderPassengerInput,
    OrderPayment,
)
from integrations.ports.errors import (
    CredentialsRejected,
    OutcomeUnknown,
    UpstreamError,
    UpstreamFailure,
    UpstreamRejected,
    UpstreamUnavailable,
)
from integrations.ports.flights import (
    Offer,
    OfferPriceChanged,
    OfferUnavailable,
    Place,
    ProviderMode,
    SearchRequest,
    SearchResult,
)
from integrations.retry import (
    Failed,
    Idempotency,
    RetryPolicy,
    attempt_timeout,
    hinted_wait,
    never_sent,
    transport_failure,
)

UPSTREAM = "duffel"
DUFFEL_VERSION = "v2"
# Duffel ignores supplier_timeout values outside 2 s to 60 s and falls back to its default.
MIN_SUPPLIER_TIMEOUT_MS = 2_000
MAX_SUPPLIER_TIMEOUT_MS = 60_000
MAX_ORDERS_PAGE = 200
# Duffel's answer to an order it guarantees it did not create: safe to ask again.
ORDER_NOT_CREATED = "order_not_created"

log = logging.getLogger("sureflights.duffel")

# Codes Duffel answers when the selected offer cannot be booked or refreshed any more.
_GONE_CODES = frozenset({"offer_no_longer_available", "offer_expired"})
_PRICE_CHANGED = "price_changed"
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


_M = TypeVar("_M", bound=BaseModel)
_R = TypeVar("_R")


# --- Talking to Duffel ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    method: Literal["GET", "POST"]
    path: str
    timeout: float
    # IDEMPOTENT for reads. UNSENT_ONLY for calls that create something (a search, an order, a
    # payment, a cancellation): retried only after a 429 (refused before any processing) or a
    # failure while connecting; after a timeout or 5xx the caller must reconcile.
    retry: Idempotency
    params: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    # A 404 here means the offer is gone rather than a wrong URL.
    about_offer: bool = False
    # Its one attempt may take its whole timeout, even past the calls' deadline (a search).
    outlasts_deadline: bool = False


@dataclass(frozen=True, slots=True)
class _Answer:
    method: str
    path: str
    content: bytes
    request_id: str | None
    status: int = 200


def _request_id(response: httpx.Response, body: WireErrorBody | None = None) -> str | None:
    if body is not None and body.meta is not None and body.meta.request_id:
        return body.meta.request_id
    header = response.headers.get("x-request-id")
    return str(header) if header else None


def _field_name(error: WireError) -> str | None:
    source = error.source
    if not isinstance(source, WireErrorSource):
        return None
    if source.field:
        return source.field
    if source.pointer:
        return source.pointer.strip("/").replace("/", ".") or None
    return None


class DuffelClient:
    """Duffel's flights API behind the `FlightProvider` interface, plus the booking calls.

    Every failure is raised as an `integrations.ports.errors` exception with Duffel's request id.
    Calls that create something are never repeated once they may have reached Duffel: a timeout
    or 5xx on `create_order`, `pay_order` or a cancellation raises `UpstreamUnavailable`, and the
    caller must reconcile (`get_order`, `list_orders`) before trying again.
    """

    mode: ProviderMode = "LIVE"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        access_token: str,
        supplier_timeout_ms: int = 20_000,
        timeout_margin_seconds: float = 10.0,
        default_timeout: float = 15.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        deadline_seconds: float | None = None,
    ) -> None:
        if not access_token.strip():
            raise ValueError("a Duffel access token is required")
        if not MIN_SUPPLIER_TIMEOUT_MS <= supplier_timeout_ms <= MAX_SUPPLIER_TIMEOUT_MS:
            raise ValueError(
                f"supplier_timeout_ms must be {MIN_SUPPLIER_TIMEOUT_MS} to "
                f"{MAX_SUPPLIER_TIMEOUT_MS}; Duffel ignores other values"
            )
        if timeout_margin_seconds < 0 or default_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = access_token.strip()
        self._supplier_timeout_ms = supplier_timeout_ms
        # Duffel answers with the offers it has once the supplier timeout passes, so the HTTP
        # timeout must outlast it or those offers are lost.
        self._search_timeout = supplier_timeout_ms / 1000 + timeout_margin_seconds
        self._default_timeout = default_timeout
        self._retry = RetryPolicy(
            max_retries, backoff_seconds, max_wait_seconds, sleep, clock, deadline_seconds
        )
        self._headers = {
            "Authorization": f"Bearer {self._token}",
            "Duffel-Version": DUFFEL_VERSION,
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "Content-Type": "application/json",
        }

    def __repr__(self) -> str:
        return f"DuffelClient(base_url={self._base_url!r})"

    # --- FlightProvider -----------------------------------------------------------------------

    async def search(self, request: SearchRequest) -> SearchResult:
        """`POST /air/offer_requests` with the offers returned inline."""
        answer = await self._send(
            _Call(
                "POST",
                "/air/offer_requests",
                timeout=self._search_timeout,
                retry=Idempotency.UNSENT_ONLY,
                params={"return_offers": "true", "supplier_timeout": self._supplier_timeout_ms},
                outlasts_deadline=True,
                body=search_body(request),
            )
        )
        wire = self._read(answer, OFFER_REQUEST).data
        offers: list[Offer] = []
        unusable = 0
        for raw in wire.offers:
            try:
                offers.append(offer_from_wire(WireOffer.model_validate(raw), self.mode))
            except (ValidationError, Unusable) as exc:
                unusable += 1
                log.warning(
                    "skipped an offer Duffel described in an unexpected way",
                    extra={
                        "duffel_request_id": answer.request_id,
                        "duffel_offer_id": raw.get("id"),
                        "reason": _reason(exc),
                    },
                )
        if unusable and not offers:
            # Every offer unreadable is a change on Duffel's side, not an empty search.
            self._fail(
                UpstreamError(
                    UPSTREAM,
                    f"none of the {unusable} offers could be read",
                    request_id=answer.request_id,
                ),
                "POST",
                "/air/offer_requests",
            )
        return SearchResult(request_id=wire.id, created_at=wire.created_at, offers=offers)

    async def get_offer(self, offer_id: str) -> Offer:
        """`GET /air/offers/{id}`: the offer at its current price; `OfferUnavailable` when gone."""
        if not _RESOURCE_ID.match(offer_id):
            raise OfferUnavailable(UPSTREAM, "no such offer")
        answer = await self._send(
            _Call(
                "GET",
                f"/air/offers/{quote(offer_id, safe='')}",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                about_offer=True,
            )
        )
        wire = self._read(answer, OFFER).data
        return self._map(answer, lambda: offer_from_wire(wire, self.mode))

    async def suggest_places(self, query: str, limit: int = 10) -> list[Place]:
        """`GET /places/suggestions?query=`: up to `limit` matching airports and cities."""
        answer = await self._send(
            _Call(
                "GET",
                "/places/suggestions",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                params={"query": query},
            )
        )
        places: list[Place] = []
        for raw in self._read(answer, OBJECTS).data:
            try:
                wire = WirePlace.model_validate(raw)
            except ValidationError:
                continue
            if wire.type in ("airport", "city"):
                places.append(place_from_wire(wire))
        return places[:limit]

    # --- Bookings -----------------------------------------------------------------------------

    async def create_order(
        self,
        *,
        offer_id: str,
        passengers: Sequence[OrderPassengerInput | Mapping[str, Any]],
        amount: Decimal,
        currency: str,
        order_type: Literal["instant", "hold"],
        correlation_id: str,
        booking_reference: str | None = None,
    ) -> Order:
        """`POST /air/orders`. Instant orders are paid from the Duffel balance; hold orders are
        created unpaid (pay them with `pay_order` before `payment_status.payment_required_by`),
        and `amount`/`currency` are then not sent. Our booking reference and `correlation_id`
        go into the order's metadata, where `find_orders` recognises them.

        Raises `OfferUnavailable` (or `OfferPriceChanged`) or `UpstreamRejected` when the airline
        refuses; `OutcomeUnknown` when the order may exist (timeout after sending, 5xx, 202
        Accepted, a 201 that does not parse): look it up before anything else. A plain
        `UpstreamUnavailable` (502 `order_not_created`, a 429, a connection never made) means
        no order was created.
        """
        if not _RESOURCE_ID.match(offer_id):
            raise UpstreamRejected(UPSTREAM, "malformed offer id", field="offer_id")
        if not _CORRELATION_ID.match(correlation_id):
            raise ValueError("correlation_id must be 1-128 letters, digits or ._:-")
        travellers = [
            p if isinstance(p, OrderPassengerInput) else OrderPassengerInput.model_validate(dict(p))
            for p in passengers
        ]
        if not travellers:
            raise ValueError("an order needs at least one passenger")
        body: dict[str, Any] = {
            "type": order_type,
            "selected_offers": [offer_id],
            "passengers": [p.model_dump(mode="json", exclude_none=True) for p in travellers],
            "metadata": {CORRELATION_METADATA_KEY: correlation_id},
        }
        if booking_reference:
            body["metadata"][BOOKING_METADATA_KEY] = booking_reference
        if order_type == "instant":
            body["payments"] = [_balance_payment(amount, currency)]
        answer = await self._send(
            _Call(
                "POST",
                "/air/orders",
                timeout=self._default_timeout,
                retry=Idempotency.UNSENT_ONLY,
                body=body,
                headers={"x-client-correlation-id": correlation_id},
            )
        )
        return self._created_order(answer)

    async def get_order(self, order_id: str) -> Order:
        """`GET /air/orders/{id}`."""
        path = f"/air/orders/{_path_id(order_id, 'order_id')}"
        answer = await self._send(
            _Call("GET", path, timeout=self._default_timeout, retry=Idempotency.IDEMPOTENT)
        )
        wire = self._read_order(answer)
        return self._map(answer, lambda: order_from_wire(wire))

    async def list_orders(
        self,
        *,
        booking_reference: str | None = None,
        awaiting_payment: bool | None = None,
        passenger_names: Sequence[str] = (),
        limit: int = 50,
        after: str | None = None,
    ) -> OrderPage:
        """`GET /air/orders`, for reconciliation. Duffel filters by `booking_reference`,
        `awaiting_payment` and `passenger_name[]` (partial matches on given or family name);
        it cannot filter by metadata, so match `Order.correlation_id` on the page read."""
        if not 1 <= limit <= MAX_ORDERS_PAGE:
            raise ValueError(f"limit is 1 to {MAX_ORDERS_PAGE}")
        params: dict[str, Any] = {"limit": limit}
        if booking_reference:
            params["booking_reference"] = booking_reference.strip().upper()
        if awaiting_payment is not None:
            params["awaiting_payment"] = "true" if awaiting_payment else "false"
        if passenger_names:
            params["passenger_name[]"] = [name.strip() for name in passenger_names]
        if after:
            params["after"] = after
        answer = await self._send(
            _Call(
                "GET",
                "/air/orders",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                params=params,
            )
        )
        page = self._read(answer, WireOrderPage)
        orders = self._map(answer, lambda: [order_from_wire(o) for o in page.data])
        return OrderPage(orders=orders, after=page.meta.after if page.meta else None)

    async def find_orders(
        self,
        booking_reference: str,
        *,
        family_name: str,
        correlation_ids: Sequence[str] = (),
        max_pages: int = 10,
    ) -> list[Order]:
        """Every order made for our booking: those whose metadata carries `booking_reference` or
        one of `correlation_ids`, found by the lead passenger's family name (Duffel cannot filter
        by metadata). An empty list is a positive answer: every page was read and none matched.
        A listing that fails, or that has more pages than `max_pages`, raises: that is not
        "no order"."""
        wanted = set(correlation_ids)
        found: list[Order] = []
        after: str | None = None
        for _ in range(max_pages):
            page = await self.list_orders(passenger_names=[family_name], after=after)
            found += [
                order
                for order in page.orders
                if order.sureflights_booking_reference == booking_reference
                or (order.correlation_id is not None and order.correlation_id in wanted)
            ]
            if page.after is None:
                return found
            after = page.after
        raise UpstreamUnavailable(
            UPSTREAM, f"order look-up inconclusive: more than {max_pages} pages of orders"
        )

    async def pay_order(self, order_id: str, amount: Decimal, currency: str) -> OrderPayment:
        """`POST /air/payments`: pays a hold order from the Duffel balance. Check
        `Payment.status`; `OutcomeUnknown` means the payment may have been taken: read the order
        (`get_order`, `payment_status.awaiting_payment`) before paying again."""
        body = {
            "order_id": _path_id(order_id, "order_id"),
            "payment": _balance_payment(amount, currency),
        }
        answer = await self._send(
            _Call(
                "POST",
                "/air/payments",
                timeout=self._default_timeout,
                retry=Idempotency.UNSENT_ONLY,
                body=body,
            )
        )
        return self._created(answer, PAYMENT, "payment").data

    async def create_order_cancellation(self, order_id: str) -> OrderCancellation:
        """`POST /air/order_cancellations`: a refund quote; nothing is cancelled until confirmed."""
        answer = await self._send(
            _Call(
                "POST",
                "/air/order_cancellations",
                timeout=self._default_timeout,
                retry=Idempotency.UNSENT_ONLY,
                body={"order_id": _path_id(order_id, "order_id")},
            )
        )
        return self._created(answer, CANCELLATION, "cancellation").data

    async def confirm_order_cancellation(self, cancellation_id: str) -> OrderCancellation:
        """`POST /air/order_cancellations/{id}/actions/confirm`: cancels the order for good."""
        path = (
            f"/air/order_cancellations/{_path_id(cancellation_id, 'cancellation_id')}"
            "/actions/confirm"
        )
        answer = await self._send(
            _Call("POST", path, timeout=self._default_timeout, retry=Idempotency.UNSENT_ONLY)
        )
        return self._created(answer, CANCELLATION, "cancellation").data

    async def list_airline_changes(self, order_id: str) -> list[AirlineChangeInfo]:
        """`GET /air/airline_initiated_changes?order_id=`: the airline's changes to the order."""
        answer = await self._send(
            _Call(
                "GET",
                "/air/airline_initiated_changes",
                timeout=self._default_timeout,
                retry=Idempotency.IDEMPOTENT,
                params={"order_id": _path_id(order_id, "order_id")},
            )
        )
        wire = self._read(answer, AIRLINE_CHANGES).data
        return self._map(answer, lambda: [airline_change_from_wire(w) for w in wire])

    async def accept_airline_change(self, change_id: str) -> AirlineChangeInfo:
        """`POST /air/airline_initiated_changes/{id}/actions/accept`: the traveller takes the
        new times. Accepting twice is harmless, so a lost answer may be asked again."""
        path = f"/air/airline_initiated_changes/{_path_id(change_id, 'change_id')}/actions/accept"
        answer = await self._send(
            _Call("POST", path, timeout=self._default_timeout, retry=Idempotency.IDEMPOTENT)
        )
        wire = self._read(answer, AIRLINE_CHANGE).data
        return self._map(answer, lambda: airline_change_from_wire(wire))

    # --- Plumbing -----------------------------------------------------------------------------

    async def _send(self, call: _Call) -> _Answer:
        """The call's 2xx answer, after the retries its policy allows; raises mapped failures."""
        headers = dict(self._headers)
        if call.headers:
            headers.update(call.headers)
        return await self._retry.run(
            lambda: self._attempt(call, headers),
            logger=log,
            message="Duffel call failed; retrying",
            fields=lambda failed: {
                "duffel_request_id": failed.failure.request_id,
                "duffel_method": call.method,
                "duffel_path": call.path,
                "duffel_status": failed.context,
            },
            give_up=lambda failed, attempt: self._fail(
                failed.failure, call.method, call.path, status=failed.context, attempt=attempt
            ),
            at_least_seconds=call.timeout if call.outlasts_deadline else 0.0,
        )

    async def _attempt(
        self, call: _Call, headers: Mapping[str, str]
    ) -> _Answer | Failed[int | None]:
        """One request: its 2xx answer, or the failure with the HTTP status, if one came."""
        timeout = attempt_timeout(call.timeout)
        try:
            response = await self._http.request(
                call.method,
                f"{self._base_url}{call.path}",
                params=call.params,
                json={"data": call.body} if call.body is not None else None,
                headers=headers,
                timeout=timeout,
            )
        except (httpx.TransportError, httpx.DecodingError) as exc:
            failure = transport_failure(UPSTREAM, exc, timeout)
            if call.retry is Idempotency.UNSENT_ONLY and not (
                isinstance(exc, httpx.TransportError) and never_sent(exc)
            ):
                # It may have reached Duffel and taken effect.
                failure = OutcomeUnknown(UPSTREAM, failure.detail)
            return Failed(failure, call.retry.may_resend(exc), None)
        if response.is_success:
            return _Answer(
                call.method,
                call.path,
                response.content,
                _request_id(response),
                response.status_code,
            )
        status = response.status_code
        failure = self._failure_for(call, response)
        if status == 429:
            hint = hinted_wait(response.headers, self._retry.clock())
            return Failed(failure, True, status, hint=hint)
        if call.retry is Idempotency.UNSENT_ONLY and status >= 500:
            # Only `order_not_created` promises nothing happened, and so may be sent again.
            return Failed(failure, not isinstance(failure, OutcomeUnknown), status)
        return Failed(failure, status >= 500 and call.retry is Idempotency.IDEMPOTENT, status)

    def _failure_for(self, call: _Call, response: httpx.Response) -> UpstreamFailure:
        status = response.status_code
        try:
            body: WireErrorBody | None = WireErrorBody.model_validate_json(response.content)
        except ValidationError:
            body = None
        request_id = _request_id(response, body)
        errors = body.errors if body else []
        codes = {e.code for e in errors if e.code}
        first = errors[0] if errors else None
        summary = self._redact(
            f"HTTP {status}"
            + (f" {first.code}" if first and first.code else "")
            + (f": {first.title}" if first and first.title else "")
        )
        if codes & _GONE_CODES:
            return OfferUnavailable(UPSTREAM, summary, request_id=request_id)
        if _PRICE_CHANGED in codes:
            return OfferPriceChanged(UPSTREAM, summary, request_id=request_id)
        if status == 404 and call.about_offer:
            return OfferUnavailable(UPSTREAM, summary, request_id=request_id)
        if status in (401, 403):
            return CredentialsRejected(
                UPSTREAM, f"credentials rejected (HTTP {status})", request_id=request_id
            )
        if status == 429:
            return UpstreamUnavailable(UPSTREAM, "rate limited (HTTP 429)", request_id=request_id)
        unsent_only = call.retry is Idempotency.UNSENT_ONLY
        if status >= 500 and unsent_only and ORDER_NOT_CREATED not in codes:
            return OutcomeUnknown(UPSTREAM, summary, request_id=request_id)
        if status >= 500:
            return UpstreamUnavailable(UPSTREAM, summary, request_id=request_id)
        validation = [e for e in errors if e.type == "validation_error"]
        if status in (400, 422) and validation:
            messages = "; ".join(e.message or e.title or "invalid" for e in validation)
            return UpstreamRejected(
                UPSTREAM,
                self._redact(messages),
                field=next((f for f in map(_field_name, validation) if f), None),
                request_id=request_id,
            )
        return UpstreamError(UPSTREAM, summary, request_id=request_id)

    def _fail(
        self,
        failure: UpstreamFailure,
        method: str,
        path: str,
        *,
        status: int | None = None,
        attempt: int = 0,
    ) -> NoReturn:
        # A gone offer or a refused input is a normal answer, not an incident.
        expected = isinstance(failure, OfferUnavailable | UpstreamRejected)
        log.log(
            logging.INFO if expected else logging.WARNING,
            "Duffel call failed",
            extra={
                "duffel_request_id": failure.request_id,
                "duffel_method": method,
                "duffel_path": path,
                "duffel_status": status,
                "attempt": attempt + 1,
                "failure": type(failure).__name__,
                "detail": failure.detail,
            },
        )
        raise failure

    def _read(self, answer: _Answer, model: type[_M]) -> _M:
        try:
            return model.model_validate_json(answer.content)
        except ValidationError as exc:
            self._fail(
                UpstreamError(
                    UPSTREAM,
                    f"malformed response body ({exc.error_count()} problems)",
                    request_id=answer.request_id,
                ),
                answer.method,
                answer.path,
            )

    def _read_order(self, answer: _Answer) -> WireOrder:
        try:
            return ORDER.model_validate_json(answer.content).data
        except ValidationError as exc:
            # The order may well exist: name it, so whoever reconciles can find it.
            order_id = _order_id_in(answer.content)
            self._fail(
                UpstreamError(
                    UPSTREAM,
                    f"unreadable order {order_id or '(id unknown)'} "
                    f"({exc.error_count()} problems in the body)",
                    request_id=answer.request_id,
                ),
                answer.method,
                answer.path,
            )

    def _created_order(self, answer: _Answer) -> Order:
        """The order a create call answered with; `OutcomeUnknown` unless it is all readable."""
        if answer.status == 202:
            self._unknown(answer, "the airline accepted the order and will answer later (202)")
        try:
            wire = ORDER.model_validate_json(answer.content).data
            return order_from_wire(wire)
        except (ValidationError, Unusable) as exc:
            # A success that cannot be read is not a refusal: the order may well exist.
            self._unknown(answer, f"unreadable order in a {answer.status} answer ({_reason(exc)})")

    def _created(self, answer: _Answer, model: type[_M], what: str) -> _M:
        """What a call that creates `what` answered; `OutcomeUnknown` unless readable."""
        if answer.status == 202:
            self._unknown(answer, f"the {what} was accepted and will be answered later (202)")
        try:
            return model.model_validate_json(answer.content)
        except ValidationError as exc:
            self._unknown(answer, f"unreadable {what} in a {answer.status} answer ({_reason(exc)})")

    def _unknown(self, answer: _Answer, detail: str) -> NoReturn:
        self._fail(
            OutcomeUnknown(
                UPSTREAM,
                detail,
                request_id=answer.request_id,
                resource_id=_created_id_in(answer.content),
            ),
            answer.method,
            answer.path,
            status=answer.status,
        )

    def _map(self, answer: _Answer, build: Callable[[], _R]) -> _R:
        try:
            return build()
        except (Unusable, ValidationError) as exc:
            self._fail(
                UpstreamError(
                    UPSTREAM, f"unusable response: {_reason(exc)}", request_id=answer.request_id
                ),
                answer.method,
                answer.path,
            )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]")


def _balance_payment(amount: Decimal, currency: str) -> dict[str, str]:
    if not amount.is_finite() or amount <= 0:
        raise ValueError("a payment amount must be positive")
    code = currency.strip().upper()
    if not _CURRENCY.match(code):
        raise ValueError("currency must be an ISO 4217 code")
    return {"type": "balance", "amount": decimal_text(amount), "currency": code}


def _path_id(value: str, field: str) -> str:
    # Ids go into URLs: anything but Duffel's id alphabet is refused before it can reshape one.
    if not _RESOURCE_ID.match(value):
        raise UpstreamRejected(UPSTREAM, f"malformed {field}", field=field)
    return value


def _order_id_in(content: bytes) -> str | None:
    match = re.search(rb'"id"\s*:\s*"(ord_[A-Za-z0-9]{1,60})"', content)
    return match.group(1).decode() if match else None


def _created_id_in(content: bytes) -> str | None:
    """The first Duffel id in a body we could not read whole (`ord_…`, `por_…`, `pay_…`)."""
    match = re.search(rb'"id"\s*:\s*"([a-z]{3}_[A-Za-z0-9]{1,60})"', content)
    return match.group(1).decode() if match else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"{exc.error_count()} validation problems"
    return str(exc)
