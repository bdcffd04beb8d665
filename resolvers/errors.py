"""Domain errors, each carrying the contract's error code that clients see in `extensions.code`."""

from __future__ import annotations

from typing import Any, ClassVar


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
    code = "RATE_LIMITED"


class UpstreamUnavailableError(DomainError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamErrorError(DomainError):
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
