"""Sending failed calls to upstream providers again: which calls may be repeated, how long to wait
first, what a rate limiter's headers ask for, and the loop that retries.

What a provider's answers mean (which statuses or error codes are worth another try, how a
failure is worded, which fields it is logged with) stays in that provider's client.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Generic, NoReturn, TypeVar

import httpx

from integrations.ports.errors import UpstreamError, UpstreamFailure, UpstreamUnavailable

# Headers a rate limiter may ask for a wait in, in the order they are read.
RETRY_AFTER: tuple[str, ...] = ("retry-after",)
RATE_LIMIT_HEADERS: tuple[str, ...] = ("retry-after", "ratelimit-reset")
# A number this large in a rate-limit header is a Unix time, not a delay in seconds.
UNIX_TIME_FLOOR = 1_000_000_000

_T = TypeVar("_T")
_C = TypeVar("_C")


def never_sent(exc: httpx.HTTPError) -> bool:
    """Whether the request provably never left: the connection could not be opened, or no pooled
    connection freed up in time. After any other failure it may have reached the provider."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


class Idempotency(enum.Enum):
    """When a failed call may be sent again.

    IDEMPOTENT: reads and other calls harmless to repeat, retried on every transient failure.
    UNSENT_ONLY: calls that create or send something, repeated only when the provider provably
    did not act on them: the request never left (`never_sent`), or the provider answered that it
    did not process it (which answers say so is up to each client). A timeout or 5xx after
    sending leaves the outcome unknown, and a second attempt could act twice.
    """

    IDEMPOTENT = "idempotent"
    UNSENT_ONLY = "unsent_only"

    def may_resend(self, exc: httpx.HTTPError) -> bool:
        """Whether a call that got no answer, failing with `exc`, may be sent again. An answer
        that came but could not be decoded is not asked for again."""
        if not isinstance(exc, httpx.TransportError):
            return False
        return self is Idempotency.IDEMPOTENT or never_sent(exc)


def transport_failure(
    upstream: str, exc: httpx.TransportError | httpx.DecodingError, timeout: float
) -> UpstreamFailure:
    """What a request that got no usable answer amounts to: `UpstreamUnavailable` when it timed
    out (after `timeout` seconds) or the connection failed, `UpstreamError` when the answer could
    not be decoded (a broken content encoding)."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamUnavailable(upstream, f"timed out after {timeout:g}s ({name})")
    if isinstance(exc, httpx.TransportError):
        return UpstreamUnavailable(upstream, f"connection failed ({name})")
    return UpstreamError(upstream, f"undecodable response ({name})")


def hinted_wait(
    headers: httpx.Headers,
    now: float | None = None,
    *,
    names: Sequence[str] = RATE_LIMIT_HEADERS,
) -> float | None:
    """Seconds a rate limiter asks us to wait, from the first of `names` that says, if any does.

    A header may hold a delay in seconds, an HTTP date (RFC 1123; Duffel's own clients read
    `ratelimit-reset` that way) or a Unix time, told from a delay by its size. Dates and Unix
    times need `now` (Unix seconds): without it only a delay in seconds is read.
    """
    for name in names:
        raw = headers.get(name)
        if not raw:
            continue
        raw = raw.strip()
        try:
            value = float(raw)
        except ValueError:
            if now is None:
                continue
            try:
                moment = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                continue
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return max(0.0, moment.timestamp() - now)
        if not math.isfinite(value) or value < 0:
            continue
        if now is not None and value >= UNIX_TIME_FLOOR:
            return max(0.0, value - now)
        return value
    return None


# The shortest attempt worth starting: with less of the deadline left, the call gives up.
MIN_ATTEMPT_SECONDS = 0.05

# When the upstream call running in this task must be over (`time.monotonic()`), if it has a
# deadline: set by `RetryPolicy.run`, read by `attempt_timeout`.
_ends_at: ContextVar[float | None] = ContextVar("upstream_deadline", default=None)


def attempt_timeout(timeout: float) -> float:
    """The timeout of one attempt of an upstream call: `timeout`, cut to what is left of the
    call's deadline (`RetryPolicy.deadline_seconds`). Clients pass it to httpx."""
    ends_at = _ends_at.get()
    if ends_at is None:
        return timeout
    return max(MIN_ATTEMPT_SECONDS, min(timeout, ends_at - time.monotonic()))


@contextmanager
def _deadline(seconds: float | None) -> Iterator[float | None]:
    ends_at = None if seconds is None else time.monotonic() + seconds
    token = _ends_at.set(ends_at)
    try:
        yield ends_at
    finally:
        _ends_at.reset(token)


@dataclass(frozen=True, slots=True)
class Failed(Generic[_C]):
    """An attempt that got no usable answer, as the provider's client judged it.

    `failure` is raised when no retry follows; `retryable` says whether the provider allows one;
    `context` carries what the client's log fields and failure handling need to know of the
    attempt (its HTTP status, say). `hint` is the wait a rate limiter asked for, and `pause` the
    provider's own wait in place of the backoff, used when no hint came: jittered and capped,
    but never a reason to give up.
    """

    failure: UpstreamFailure
    retryable: bool
    context: _C
    hint: float | None = None
    pause: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failed call is sent again, and how long to wait before each attempt.

    `max_retries` counts the attempts after the first. `backoff_seconds` is the first step of the
    exponential backoff, and the most jitter added to a rate limiter's hint. `max_wait_seconds`
    caps every wait; a limiter asking for longer is not waited for at all. `sleep` and `clock`
    (Unix seconds, for rate-limit headers that name a moment) can be replaced in tests.
    Negative numbers are read as zero.

    `deadline_seconds` bounds a whole call, retries and waits included: each attempt's timeout
    is cut to what is left (clients pass theirs through `attempt_timeout`), and no retry starts
    that could not finish in time, so the last failure is raised by then. None: no deadline.
    """

    max_retries: int = 3
    backoff_seconds: float = 0.5
    max_wait_seconds: float = 10.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.time
    deadline_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_retries", max(0, self.max_retries))
        object.__setattr__(self, "backoff_seconds", max(0.0, self.backoff_seconds))
        object.__setattr__(self, "max_wait_seconds", max(0.0, self.max_wait_seconds))

    async def run(
        self,
        attempt: Callable[[], Awaitable[_T | Failed[_C]]],
        *,
        logger: logging.Logger,
        message: str,
        fields: Callable[[Failed[_C]], Mapping[str, Any]],
        give_up: Callable[[Failed[_C], int], NoReturn],
        at_least_seconds: float = 0.0,
    ) -> _T:
        """What `attempt()` answers, trying again after each `Failed` while the policy allows.

        Before each retry, `message` is logged at WARNING with the client's `fields`, the number
        of the attempt that failed (from 1), the wait and the failure's detail. When no retry
        follows (not retryable, retries spent, or a limiter asking for longer than
        `max_wait_seconds`, or past the deadline), `give_up(failed, attempt)` is called, the
        attempt counted from 0, and must raise. `at_least_seconds` stretches the deadline for a
        call whose one attempt may rightly take longer (a search waiting for airlines).
        """
        seconds = self.deadline_seconds
        if seconds is not None:
            seconds = max(seconds, at_least_seconds)
        with _deadline(seconds) as ends_at:
            return await self._run(attempt, ends_at, logger, message, fields, give_up)

    async def _run(
        self,
        attempt: Callable[[], Awaitable[_T | Failed[_C]]],
        ends_at: float | None,
        logger: logging.Logger,
        message: str,
        fields: Callable[[Failed[_C]], Mapping[str, Any]],
        give_up: Callable[[Failed[_C], int], NoReturn],
    ) -> _T:
        number = 0
        while True:
            outcome = await attempt()
            if not isinstance(outcome, Failed):
                return outcome
            wait = (
                self.wait_before(number, outcome.hint, outcome.pause) if outcome.retryable else None
            )
            if wait is None or number >= self.max_retries:
                give_up(outcome, number)
            if ends_at is not None and time.monotonic() + wait + MIN_ATTEMPT_SECONDS > ends_at:
                give_up(outcome, number)
            logger.warning(
                message,
                # Attributed to the client's method that called `run`, not to this loop.
                stacklevel=3,
                extra={
                    **fields(outcome),
                    "attempt": number + 1,
                    "retry_in_seconds": round(wait, 3),
                    "detail": outcome.failure.detail,
                },
            )
            await self.sleep(wait)
            number += 1

    def wait_before(
        self, attempt: int, hint: float | None, pause: float | None = None
    ) -> float | None:
        """Seconds to wait after failed attempt `attempt` (0 for the first) before the next one:
        the limiter's `hint`, else the provider's `pause`, plus jitter; else the backoff. None
        when the hint is longer than `max_wait_seconds`."""
        if hint is not None:
            if hint > self.max_wait_seconds:
                # Waiting less than asked would only spend another request on a 429.
                return None
            return self.jittered(hint)
        if pause is not None:
            return self.jittered(pause)
        return self.backoff(attempt)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (0 for the first) when nothing else
        says: anywhere up to `backoff_seconds` doubled per attempt, within `max_wait_seconds`.
        Full jitter, so replicas that failed together do not come back together."""
        ceiling = min(self.max_wait_seconds, self.backoff_seconds * 2**attempt)
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret

    def jittered(self, seconds: float) -> float:
        """`seconds` and up to one backoff step more, within `max_wait_seconds`."""
        jitter = random.uniform(0, self.backoff_seconds)  # noqa: S311 - jitter, not a secret
        return min(self.max_wait_seconds, seconds + jitter)
