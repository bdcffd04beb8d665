"""Logging (JSON in production, readable in development) and Sentry, configured once at start-up."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import sentry_sdk
import structlog
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.integrations.strawberry import StrawberryIntegration
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint
from structlog.typing import EventDict, Processor

from graphql_api.middleware import request_id_var
from graphql_api.settings import Settings

# Headers whose values never leave the process, in logs or in Sentry events.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-paystack-signature",
        "x-hub-signature-256",
        "proxy-authorization",
    }
)
# Attributes every LogRecord has; anything else on a record came as `extra={...}`.
# (uvicorn adds `color_message`, its message with terminal colours.)
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
# Keys a line's own fields use; an `extra` field of the same name is written with a trailing `_`.
_RESERVED = frozenset({"event", "message", "level", "logger", "time", "timestamp", "exception"})
# Libraries that log personal data: httpx each request's full URL (query string and all) at
# INFO, and Duffel's order look-ups put the passenger's family name there; the database
# drivers every statement with its values (names, emails, phones) at DEBUG. Only their warnings
# are kept, whatever LOG_LEVEL says. Our own `upstream call` line (method, host, path, status,
# duration) takes httpx's place.
_QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "aiosqlite", "pymongo", "psycopg")
_OURS = "_sureflights_handler"


class RequestIdFilter(logging.Filter):
    """Gives a record the id of the request it was logged in, when it has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class AccessLineFilter(logging.Filter):
    """uvicorn's access lines without the query string (GraphQL variables and trip-page tokens
    travel there), with the request's parts as fields of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, full_path, http_version, status = args
            path = str(full_path).split("?", 1)[0]
            record.args = (client, method, path, http_version, status)
            record.__dict__.update(client=client, method=method, path=path, status=status)
        return True


def _request_id(_logger: Any, _method: str, event: EventDict) -> EventDict:
    if not event.get("request_id"):
        request_id = request_id_var.get()
        if request_id:
            event["request_id"] = request_id
        else:
            event.pop("request_id", None)
    return event


def _extras(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """The `extra={...}` fields of a standard-library record, as the line's context."""
    record = event.get("_record")
    if record is None or event.get("_from_structlog"):
        return event
    for key, value in record.__dict__.items():
        if key in _STANDARD_ATTRS or key.startswith("_") or value is None or value == "":
            continue
        event[f"{key}_" if key in _RESERVED else key] = value
    return event


def _event_to_message(_logger: Any, _method: str, event: EventDict) -> EventDict:
    event["message"] = event.pop("event", "")
    return event


def _dumps(event: EventDict, **_kwargs: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def _chain(*, json: bool) -> tuple[list[Processor], list[Processor]]:
    """What runs on every line before rendering (`pre`), and the rendering (`render`)."""
    pre: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time" if json else "timestamp"),
        _request_id,
    ]
    render: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        render += [
            structlog.processors.format_exc_info,
            _event_to_message,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ]
    else:
        render.append(structlog.dev.ConsoleRenderer(colors=False, pad_event_to=36))
    return pre, render


def make_formatter(json: bool = True) -> logging.Formatter:
    """The formatter of every line: JSON objects, or readable `key=value` context."""
    pre, render = _chain(json=json)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=[*pre, _extras], processors=render)


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """One JSON object a line: time, level, logger, message, request id and any `extra` fields."""

    def __init__(self) -> None:
        pre, render = _chain(json=True)
        super().__init__(foreign_pre_chain=[*pre, _extras], processors=render)


def uses_json(settings: Settings) -> bool:
    return settings.log_format == "json" or (
        settings.log_format == "auto" and settings.is_production
    )


def configure_logging(settings: Settings) -> None:
    """Every line through one pipeline on stderr: ours (standard-library loggers with `extra`,
    or structlog's), the libraries' and uvicorn's. Handlers others added (a test's capture)
    are kept; the one this installed before is replaced."""
    use_json = uses_json(settings)
    pre, _render = _chain(json=use_json)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *pre,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(make_formatter(json=use_json))
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not _installed_here(h)] + [handler]
    root.setLevel(settings.log_level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLineFilter) for f in access.filters):
        access.addFilter(AccessLineFilter())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's lines go to the root's handler, formatted like every other line.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def _installed_here(handler: logging.Handler) -> bool:
    # Ours from an earlier call, or the one uvicorn's `log_config` (below) put on the root.
    return getattr(handler, _OURS, False) or isinstance(
        handler.formatter, structlog.stdlib.ProcessorFormatter
    )


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's `log_config`: its own lines (start-up, errors, access) through our formatter
    from the first line on, also in a supervisor process that never builds the app."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "access": {"()": AccessLineFilter},
        },
        "formatters": {"default": {"()": make_formatter, "json": uses_json(settings)}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "filters": ["access"], "propagate": True},
            **{name: {"level": "WARNING"} for name in _QUIET_LOGGERS},
        },
        "root": {"handlers": ["default"], "level": settings.log_level},
    }


def _scrub(event: Event, _hint: Hint) -> Event | None:
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: ("[Filtered]" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()
            }
    return event


def init_sentry(settings: Settings, transport: Transport | None = None) -> bool:
    """Start Sentry when `SENTRY_DSN` is set; request bodies and secret headers are never sent.

    Transactions are named by GraphQL operation (`query searchFlights`, see
    `graphql_api.operations`), carry the request id as the `request_id` tag, and have a span for
    each upstream call written by `graphql_api.upstreams` (method, host and path, never the
    query string: Sentry's own httpx integration, which records it, is off). `transport`
    replaces the network (the tests capture envelopes in process).
    """
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment or settings.app_env,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        # No user, cookies, bodies, query strings (Duffel's carry family names), GraphQL
        # variables or local variables leave the process.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "graphql": {"document": False, "variables": False},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        before_send=_scrub,
        integrations=[StarletteIntegration(), StrawberryIntegration(async_execution=True)],
        disabled_integrations=[HttpxIntegration()],
        transport=transport,
    )
    return True
