"""Log lines as an operator reads them: readable `key=value` context in development, one JSON
object a line in production, from the same `log.info(..., extra={...})` calls."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from graphql_api.middleware import request_id_var
from graphql_api.observability import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level


def _log_a_booking_step() -> None:
    token = request_id_var.set("req-42")
    try:
        with structlog.contextvars.bound_contextvars(payment="SF7K2Q9X-1A2B3C4D"):
            logging.getLogger("sureflights.bookings").info(
                "booking created",
                extra={"booking": "SF7K2Q9X", "upstream": "duffel", "event": "order.created"},
            )
    finally:
        request_id_var.reset(token)


def test_development_lines_are_readable_with_their_context(
    make_settings: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    configure_logging(make_settings(app_env="development"))
    _log_a_booking_step()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "booking created" in line
    assert "[info" in line
    assert "[sureflights.bookings]" in line
    for context in (
        "booking=SF7K2Q9X",
        "payment=SF7K2Q9X-1A2B3C4D",
        "upstream=duffel",
        "request_id=req-42",
        "event_=order.created",
    ):
        assert context in line, line
    assert not line.startswith("{")


@pytest.mark.parametrize(
    ("overrides"), [{"app_env": "production"}, {"app_env": "development", "log_format": "json"}]
)
def test_production_lines_are_json_with_the_same_context(
    make_settings: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
    overrides: dict[str, str],
) -> None:
    configure_logging(make_settings(**overrides))
    _log_a_booking_step()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "booking created"
    assert line["level"] == "info"
    assert line["logger"] == "sureflights.bookings"
    assert line["booking"] == "SF7K2Q9X"
    assert line["payment"] == "SF7K2Q9X-1A2B3C4D"
    assert line["upstream"] == "duffel"
    assert line["request_id"] == "req-42"
    assert line["event_"] == "order.created"
    assert line["time"].endswith("Z")


def test_httpx_and_database_drivers_keep_to_warnings_even_at_debug(
    make_settings: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    configure_logging(make_settings(log_level="debug"))
    logging.getLogger("httpx").info(
        "HTTP Request: GET https://api.duffel.com/air/orders?passenger_name[]=Bakare 200"
    )
    logging.getLogger("aiosqlite").debug("executing INSERT ... ['Bakare']")
    logging.getLogger("sureflights").debug("still here")
    err = capsys.readouterr().err
    assert "Bakare" not in err
    assert "still here" in err
