"""The retry machinery the upstream clients share: backoff, rate-limit hints, what may be resent."""

from __future__ import annotations

import email.utils
import logging
import math
from typing import NoReturn

import httpx
import pytest

from integrations.ports.errors import UpstreamError, UpstreamUnavailable
from integrations.retry import (
    RETRY_AFTER,
    Failed,
    Idempotency,
    RetryPolicy,
    hinted_wait,
    never_sent,
    transport_failure,
)
from tests.support.helpers import RecordedSleeps

NOW = 1_700_000_000.0
REQUEST = httpx.Request("POST", "https://upstream.test/things")


# --- Backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_stays_within_the_doubling_step_and_the_cap(attempt: int) -> None:
    policy = RetryPolicy(backoff_seconds=0.5, max_wait_seconds=10.0)
    ceiling = min(10.0, 0.5 * 2**attempt)
    waits = [policy.wait_before(attempt, None) for _ in range(200)]
    assert all(wait is not None and 0 <= wait <= ceiling for wait in waits)
    # Full jitter: the waits spread over the step rather than sitting at its top.
    assert len(set(waits)) > 1


def test_hint_is_waited_for_plus_at_most_one_backoff_step() -> None:
    policy = RetryPolicy(backoff_seconds=0.5, max_wait_seconds=10.0)
    waits = [policy.wait_before(0, 2.0) for _ in range(200)]
    assert all(wait is not None and 2.0 <= wait <= 2.5 for wait in waits)


def test_hint_plus_jitter_never_exceeds_the_cap() -> None:
    policy = RetryPolicy(backoff_seconds=5.0, max_wait_seconds=10.0)
    waits = [policy.wait_before(0, 9.5) for _ in range(200)]
    assert all(wait is not None and 9.5 <= wait <= 10.0 for wait in waits)


def test_hint_above_the_cap_gives_up() -> None:
    policy = RetryPolicy(backoff_seconds=0.5, max_wait_seconds=10.0)
    assert policy.wait_before(0, 10.5) is None
    assert policy.wait_before(0, 10.0) is not None


def test_pause_stands_in_for_the_backoff_but_never_gives_up() -> None:
    policy = RetryPolicy(backoff_seconds=0.5, max_wait_seconds=5.0)
    assert policy.wait_before(0, None, pause=6.0) == 5.0
    assert 1.0 <= (policy.wait_before(3, None, pause=1.0) or 0) <= 1.5
    # A hint, when there is one, wins over the pause.
    assert policy.wait_before(0, 7.0, pause=1.0) is None


def test_negative_settings_read_as_zero() -> None:
    policy = RetryPolicy(max_retries=-1, backoff_seconds=-2.0, max_wait_seconds=-3.0)
    assert (policy.max_retries, policy.backoff_seconds, policy.max_wait_seconds) == (0, 0.0, 0.0)
    assert policy.wait_before(4, None) == 0.0


def test_an_uncapped_policy_keeps_doubling() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_wait_seconds=math.inf)
    assert all(0 <= policy.backoff(6) <= 64.0 for _ in range(100))
    assert max(policy.backoff(6) for _ in range(200)) > 10.0


# --- Rate-limit headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": " 1.5 "}, 1.5),
        ({"retry-after": email.utils.formatdate(NOW + 3, usegmt=True)}, 3.0),
        ({"ratelimit-reset": email.utils.formatdate(NOW + 4, usegmt=True)}, 4.0),
        ({"ratelimit-reset": str(int(NOW + 5))}, 5.0),
        ({"ratelimit-reset": "7"}, 7.0),
        # A moment already past asks for no wait at all.
        ({"retry-after": email.utils.formatdate(NOW - 60, usegmt=True)}, 0.0),
        ({"ratelimit-reset": str(int(NOW - 60))}, 0.0),
        # `retry-after` is read first; an unreadable one falls through to the next header.
        ({"retry-after": "1", "ratelimit-reset": "9"}, 1.0),
        ({"retry-after": "soon", "ratelimit-reset": "9"}, 9.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
    ids=lambda value: repr(value),
)
def test_hinted_wait_reads_seconds_http_dates_and_unix_times(
    headers: dict[str, str], expected: float | None
) -> None:
    assert hinted_wait(httpx.Headers(headers), NOW) == expected


def test_without_a_clock_only_a_delay_in_seconds_is_read() -> None:
    date = email.utils.formatdate(NOW + 3, usegmt=True)
    assert hinted_wait(httpx.Headers({"retry-after": date})) is None
    # A Unix time cannot be told from a long delay without a clock: read as seconds.
    assert hinted_wait(httpx.Headers({"retry-after": str(int(NOW))})) == NOW
    assert hinted_wait(httpx.Headers({"retry-after": "2"})) == 2.0


def test_only_the_headers_named_are_read() -> None:
    headers = httpx.Headers({"ratelimit-reset": "4"})
    assert hinted_wait(headers, NOW, names=RETRY_AFTER) is None
    assert hinted_wait(headers, NOW) == 4.0


# --- What may be sent again -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "unsent"),
    [
        (httpx.ConnectError("refused", request=REQUEST), True),
        (httpx.ConnectTimeout("slow to connect", request=REQUEST), True),
        (httpx.PoolTimeout("no free connection", request=REQUEST), True),
        (httpx.ReadTimeout("slow to answer", request=REQUEST), False),
        (httpx.WriteTimeout("slow to send", request=REQUEST), False),
        (httpx.ReadError("reset", request=REQUEST), False),
        (httpx.WriteError("broken pipe", request=REQUEST), False),
        (httpx.RemoteProtocolError("server hung up", request=REQUEST), False),
        (httpx.DecodingError("bad gzip", request=REQUEST), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_never_sent_only_when_the_connection_never_opened(
    exc: httpx.HTTPError, unsent: bool
) -> None:
    assert never_sent(exc) is unsent
    assert Idempotency.UNSENT_ONLY.may_resend(exc) is unsent
    # Idempotent calls are sent again after any transport failure, never after a bad answer.
    assert Idempotency.IDEMPOTENT.may_resend(exc) is not isinstance(exc, httpx.DecodingError)


def test_transport_failures_are_named_for_the_upstream() -> None:
    timed_out = transport_failure("up", httpx.ReadTimeout("x", request=REQUEST), 2.5)
    refused = transport_failure("up", httpx.ConnectError("x", request=REQUEST), 2.5)
    garbled = transport_failure("up", httpx.DecodingError("x", request=REQUEST), 2.5)
    assert isinstance(timed_out, UpstreamUnavailable)
    assert timed_out.detail == "timed out after 2.5s (ReadTimeout)"
    assert isinstance(refused, UpstreamUnavailable)
    assert refused.detail == "connection failed (ConnectError)"
    assert type(garbled) is UpstreamError
    assert garbled.detail == "undecodable response (DecodingError)"


# --- The loop ---------------------------------------------------------------------------------


class GaveUp(Exception):
    def __init__(self, failed: Failed[str], attempt: int) -> None:
        super().__init__(failed.failure.detail)
        self.failed = failed
        self.attempt = attempt


def _give_up(failed: Failed[str], attempt: int) -> NoReturn:
    raise GaveUp(failed, attempt)


async def _run(policy: RetryPolicy, outcomes: list[str | Failed[str]]) -> tuple[str | GaveUp, int]:
    calls = 0

    async def attempt() -> str | Failed[str]:
        nonlocal calls
        calls += 1
        return outcomes.pop(0)

    try:
        answer: str | GaveUp = await policy.run(
            attempt,
            logger=logging.getLogger("tests.retry"),
            message="call failed; retrying",
            fields=lambda failed: {"test_context": failed.context},
            give_up=_give_up,
        )
    except GaveUp as exc:
        answer = exc
    return answer, calls


def _failed(retryable: bool = True, hint: float | None = None) -> Failed[str]:
    return Failed(UpstreamUnavailable("up", "HTTP 503"), retryable, "ctx", hint=hint)


async def test_run_retries_until_an_answer_and_logs_each_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeps = RecordedSleeps()
    policy = RetryPolicy(max_retries=3, backoff_seconds=0.5, sleep=sleeps)
    with caplog.at_level(logging.WARNING, logger="tests.retry"):
        answer, calls = await _run(policy, [_failed(), _failed(hint=1.0), "ok"])
    assert (answer, calls) == ("ok", 3)
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 0.5
    assert 1.0 <= sleeps.waits[1] <= 1.5
    records = [r for r in caplog.records if r.name == "tests.retry"]
    assert [getattr(r, "attempt", None) for r in records] == [1, 2]
    assert all(getattr(r, "test_context", None) == "ctx" for r in records)
    assert all(getattr(r, "detail", None) == "HTTP 503" for r in records)
    assert [getattr(r, "retry_in_seconds", None) for r in records] == [
        round(wait, 3) for wait in sleeps.waits
    ]
    # Logged as from the caller of `run`, not from inside the loop.
    assert all(r.funcName == "_run" for r in records)


async def test_run_gives_up_once_the_retries_are_spent() -> None:
    sleeps = RecordedSleeps()
    policy = RetryPolicy(max_retries=2, sleep=sleeps)
    answer, calls = await _run(policy, [_failed() for _ in range(5)])
    assert isinstance(answer, GaveUp)
    assert (answer.attempt, calls, len(sleeps.waits)) == (2, 3, 2)


async def test_run_gives_up_at_once_when_not_retryable_or_asked_to_wait_too_long() -> None:
    sleeps = RecordedSleeps()
    policy = RetryPolicy(max_retries=3, max_wait_seconds=5.0, sleep=sleeps)
    for failed in (_failed(retryable=False), _failed(hint=6.0)):
        answer, calls = await _run(policy, [failed])
        assert isinstance(answer, GaveUp)
        assert answer.failed is failed
        assert (answer.attempt, calls) == (0, 1)
    assert sleeps.waits == []
