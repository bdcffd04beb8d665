"""The gateway's settings: the contract's environment variables, read once at start-up."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.state.ratelimit import RatePolicy

if TYPE_CHECKING:
    from integrations.state.store import PoolOptions

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - the refused default
# The currencies Paystack's API collects in (each enabled per merchant account).
PAYSTACK_CURRENCIES = ("NGN", "GHS", "ZAR", "KES", "USD")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A setting that makes the gateway refuse to start; its message is one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["development", "test", "staging", "production"] = "development"
    allow_sandbox: bool = False
    public_base_url: str = "http://localhost:8000"
    database_url: str = "sqlite:///./var/sureflights.db"
    # PostgreSQL's connection pool, in each process (SQLite and MongoDB ignore these).
    database_pool_size: int = Field(default=10, ge=1, le=1_000)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    database_start_timeout_seconds: float = Field(default=30.0, ge=0)
    # How long MongoDB operations (and start-up) look for a server: a replica set's election
    # fits inside it; an unreachable server stops `serve` after it (the URL's
    # serverSelectionTimeoutMS wins when it has one).
    mongodb_server_selection_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    redis_url: str = ""

    duffel_access_token: str = ""
    duffel_api_url: str = "https://api.duffel.com"
    # How long Duffel may wait for airlines during a search; our timeout adds a margin to it.
    duffel_supplier_timeout_ms: int = Field(default=20_000, ge=2_000, le=60_000)
    # Signs Duffel's webhook deliveries (X-Duffel-Signature); empty: every delivery is refused.
    duffel_webhook_secret: str = ""
    paystack_secret_key: str = ""
    paystack_api_url: str = "https://api.paystack.co"
    fx_api_url: str = ""
    fx_markup_percent: Decimal = Decimal("0")
    # Rates older than this are still shown (with their asOf) but never used to charge a traveller.
    fx_max_charge_age_hours: int = 48
    payment_currency: str = "NGN"

    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_verify_token: str = ""
    whatsapp_api_url: str = "https://graph.facebook.com/v26.0"
    # Told to a traveller who asks for a person (phone, email or both); their request is also
    # listed for operators (the handoffRequests query). Empty: only the in-chat promise is made.
    support_contact: str = ""
    # How far ahead a search may be. Airlines load schedules 330 to about 360 days ahead.
    search_max_days_ahead: int = Field(default=361, ge=1, le=400)

    # Travellers' notifications (email, SMS, WhatsApp; see README, Notifications).
    # SMTP_URL: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; empty: the
    # sandbox writes each message as an .eml file under EMAIL_OUTBOX_DIR.
    smtp_url: str = ""
    email_from: str = "SureFlights <no-reply@sureflights.example>"
    email_outbox_dir: str = "./var/outbox"
    # Termii: without a key (or with SMS_NOTIFICATIONS off) no SMS is sent; the sandbox records.
    termii_api_key: str = ""
    termii_sender_id: str = "SureFlights"
    termii_api_url: str = "https://api.ng.termii.com"
    termii_channel: Literal["generic", "dnd"] = "generic"
    sms_notifications: bool = False
    # The time zone deadlines (pay by, answer by) are written in.
    notify_time_zone: str = "Africa/Lagos"
    payment_reminder_hours: float = Field(default=3.0, ge=0)
    check_in_reminder_hours: float = Field(default=24.0, ge=0)
    change_reminder_hours: float = Field(default=24.0, ge=0)
    # How often an issued order is checked for airline changes, should the webhook be lost.
    airline_change_check_hours: float = Field(default=6.0, ge=0)
    notification_max_attempts: int = Field(default=8, ge=1, le=50)
    # "in-process": each gateway process sends; "worker": they only queue, and
    # `sureflights notify worker` processes send (README, Notifications).
    notification_dispatcher: Literal["in-process", "worker"] = "in-process"

    sentry_dsn: str = ""
    sentry_environment: str = ""
    sentry_traces_sample_rate: float = 0.0

    admin_pass: str = ""
    secret_key: str = DEFAULT_SECRET_KEY
    cors_origins: str = ""
    # Request headers a cross-origin caller may send (comma-separated): the gateway's own,
    # W3C trace context and baggage, Sentry's, and Apollo Client's client awareness and CSRF.
    cors_allow_headers: str = (
        "authorization,content-type,x-api-key,idempotency-key,x-request-id,"
        "traceparent,tracestate,baggage,sentry-trace,"
        "apollographql-client-name,apollographql-client-version,apollo-require-preflight"
    )
    forwarded_allow_ips: str = "127.0.0.1"

    # Edge limits (additions to the contract, each with a production-safe default).
    max_body_bytes: int = 1_048_576
    # The most time a request body may take to arrive (a slower one gets 408).
    request_body_timeout_seconds: float = Field(default=30.0, gt=0)
    # Larger WebSocket messages close the connection with 1009 (Message Too Big).
    ws_max_message_bytes: int = Field(default=65_536, ge=1_024)
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2_000
    # The nesting under __schema and __type, which GRAPHQL_MAX_DEPTH counts as one level: the
    # standard introspection query (GraphiQL, gql, graphql-codegen) nests 15 levels.
    graphql_max_introspection_depth: int = Field(default=20, ge=1)
    graphql_document_cache_size: int = 1_024
    # Response cache of public reads: in-process memory bound, 0 turns the cache off; shared
    # through REDIS_URL when RESPONSE_CACHE_SHARED is true.
    response_cache_max_bytes: int = Field(default=64 * 1_048_576, ge=0)
    response_cache_shared: bool = False
    # true: anonymous callers and travellers run trusted documents only (sureflights documents).
    graphql_trusted_documents_only: bool = False
    # Demand control: the most an operation may cost, and what callers may spend per window.
    graphql_max_cost: int = Field(default=20_000, ge=1)
    graphql_cost_budget_anonymous: str = "100000/minute"
    graphql_cost_budget_partner: str = "500000/minute"
    # Per partner key: `KEY_ID=N/period`, comma-separated (ids as `sureflights apikey list`).
    graphql_cost_budget_overrides: str = ""
    log_level: str = "INFO"
    # auto: JSON in production, readable lines with their context elsewhere.
    log_format: Literal["auto", "json", "console"] = "auto"
    # `/metrics` (Prometheus): with a token, only `Authorization: Bearer <token>` may read it;
    # without one it is open outside production and answers 404 in production.
    metrics_token: str = ""
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    # One attempt of a Duffel or Paystack call (a Duffel search waits as its supplier timeout
    # says), and the most a whole call may take, retries and their waits included.
    upstream_call_timeout_seconds: float = Field(default=15.0, gt=0)
    upstream_deadline_seconds: float = Field(default=20.0, gt=0)
    # The first step of the jittered exponential backoff between retries of an upstream call.
    upstream_retry_backoff_seconds: float = Field(default=0.5, ge=0, le=10)
    # How often each replica finishes half-done payments, orders and refunds; 0 turns it off.
    reconcile_interval_seconds: float = Field(default=60.0, ge=0)
    # The reconciler's waits (see resolvers.saga.SagaTimings).
    reconcile_verify_after_seconds: float = Field(default=300.0, ge=0)
    reconcile_resume_after_seconds: float = Field(default=120.0, ge=0)
    order_give_up_after_seconds: float = Field(default=720.0, ge=0)
    refund_follow_every_seconds: float = Field(default=600.0, ge=0)
    # How many bookings and payment starts one caller may make: anonymous callers (and
    # travellers) per client address, partners per API key. Written N/period.
    booking_rate_limit: str = "20/hour"
    partner_booking_rate_limit: str = "500/hour"

    @field_validator("booking_rate_limit", "partner_booking_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        RatePolicy.parse(value)  # raises ValueError naming what is wrong
        return value.strip()

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value.strip():
            from integrations.smtp import SmtpServer

            SmtpServer.from_url(value)  # raises ValueError naming what is wrong
        return value.strip()

    @field_validator("notify_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Africa/Lagos)") from None
        return value.strip()

    @field_validator("payment_currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        currency = value.strip().upper()
        if currency not in PAYSTACK_CURRENCIES:
            raise ValueError(
                f"{value.strip()!r} is not a currency Paystack collects in "
                f"(one of {', '.join(PAYSTACK_CURRENCIES)})"
            )
        return currency

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level == "WARN":
            level = "WARNING"
        if level not in LOG_LEVELS:
            raise ValueError(
                f"{value.strip()!r} is not a log level (one of {', '.join(LOG_LEVELS)})"
            )
        return level

    @field_validator("graphql_cost_budget_anonymous", "graphql_cost_budget_partner")
    @classmethod
    def _rate_policy(cls, value: str) -> str:
        RatePolicy.parse(value)
        return value.strip()

    @field_validator("graphql_cost_budget_overrides")
    @classmethod
    def _budget_overrides(cls, value: str) -> str:
        _parse_overrides(value)
        return value

    @property
    def cost_budget_overrides(self) -> dict[str, RatePolicy]:
        """The budget of each partner key that has its own, by key id."""
        return _parse_overrides(self.graphql_cost_budget_overrides)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def fx_max_charge_age(self) -> timedelta:
        return timedelta(hours=self.fx_max_charge_age_hours)

    def database_pool(self) -> PoolOptions:
        from integrations.state.store import PoolOptions

        return PoolOptions(
            size=self.database_pool_size,
            timeout_seconds=self.database_pool_timeout_seconds,
            start_timeout_seconds=self.database_start_timeout_seconds,
            mongodb_server_selection_seconds=self.mongodb_server_selection_timeout_seconds,
        )

    @property
    def booking_policy(self) -> RatePolicy:
        return RatePolicy.parse(self.booking_rate_limit)

    @property
    def partner_booking_policy(self) -> RatePolicy:
        return RatePolicy.parse(self.partner_booking_rate_limit)

    @property
    def cors_allow_header_list(self) -> list[str]:
        return [h.strip().lower() for h in self.cors_allow_headers.split(",") if h.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def upstream_modes(self) -> dict[str, str]:
        """`live` when an upstream's credential is set, `sandbox` otherwise."""
        return {
            "duffel": "live" if self.duffel_access_token else "sandbox",
            "paystack": "live" if self.paystack_secret_key else "sandbox",
            "fx": "live" if self.fx_api_url else "sandbox",
            "whatsapp": (
                "live"
                if self.whatsapp_access_token and self.whatsapp_phone_number_id
                else "sandbox"
            ),
            "email": "live" if self.smtp_url else "sandbox",
            "sms": (
                "off"
                if not self.sms_notifications
                else "live"
                if self.termii_api_key
                else "sandbox"
            ),
        }

    def check_production_guards(self) -> None:
        """Raise `SettingsError` with one clear line when production would start unsafely."""
        if not self.is_production:
            return
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            raise SettingsError(
                "refusing to start: APP_ENV=production needs SECRET_KEY set to a random value "
                "of at least 32 characters"
            )
        if not self.admin_pass:
            raise SettingsError("refusing to start: APP_ENV=production needs ADMIN_PASS set")
        sandboxed = sorted(k for k, mode in self.upstream_modes().items() if mode == "sandbox")
        if sandboxed and not self.allow_sandbox:
            raise SettingsError(
                "refusing to start: APP_ENV=production with sandbox upstreams "
                f"({', '.join(sandboxed)}); set their credentials or ALLOW_SANDBOX=true"
            )


def _parse_overrides(text: str) -> dict[str, RatePolicy]:
    overrides: dict[str, RatePolicy] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        key_id, sign, policy = entry.partition("=")
        if not sign or not key_id.strip():
            raise ValueError(
                f"{entry.strip()!r}: write KEY_ID=N/period, e.g. 3f9a1c=1000000/minute"
            )
        overrides[key_id.strip()] = RatePolicy.parse(policy)
    return overrides


def load_settings() -> Settings:
    settings = Settings()
    settings.check_production_guards()
    return settings
