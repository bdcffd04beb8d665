"""Domain errors, each carrying the contract's error code that clients see in `extensions.code`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from integrations.state.ratelimit import RateDecision


class DomainError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class BadUserInput(DomainError):
    code = "BAD_USER_INPUT"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class OfferExpired(DomainError):
    code = "OFFER_EXPIRED"


class PriceChanged(DomainError):
    code = "PRICE_CHANGED"


class Conflict(DomainError):
    code = "CONFLICT"


class RateLimited(DomainError):
    """Too many requests; `extensions.retryAfterSeconds` says when to come back."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, decision: RateDecision | None = None, **extensions: Any):
        super().__init__(message, **extensions)
        # The limit that refused, for the edge's `RateLimit-*` and `Retry-After` headers.
        self.decision = decision


class UpstreamUnavailableError(DomainError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamFailedError(DomainError):
    code = "UPSTREAM_ERROR"


ERROR_CODES = frozenset(
    {
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "OFFER_EXPIRED",
        "PRICE_CHANGED",
        "CONFLICT",
        "RATE_LIMITED",
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_ERROR",
        "INTERNAL",
    }
)
