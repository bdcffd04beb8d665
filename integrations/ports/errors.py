"""The few ways an upstream call fails, raised by the clients in `integrations/`."""

from __future__ import annotations


class UpstreamFailure(Exception):
    """An upstream failure; `upstream` names the provider, `request_id` is theirs if known."""

    def __init__(self, upstream: str, detail: str, *, request_id: str | None = None) -> None:
        super().__init__(f"{upstream}: {detail}")
        self.upstream = upstream
        self.detail = detail
        self.request_id = request_id


class UpstreamUnavailable(UpstreamFailure):
    """The upstream did not answer usefully: timeout, connection error, 5xx, 429 after retries."""


class UpstreamError(UpstreamFailure):
    """The upstream answered, but with something we cannot use (unexpected 4xx, malformed body)."""


class CredentialsRejected(UpstreamError):
    """The upstream refused our credentials (401/403): nothing was done, and nothing will be
    until an operator fixes the key. Not a refusal of what was asked."""


class UpstreamRejected(UpstreamFailure):
    """The upstream refused the input (a validation error); `field` names the offending field."""

    def __init__(
        self,
        upstream: str,
        detail: str,
        *,
        field: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(upstream, detail, request_id=request_id)
        self.field = field


class OutcomeUnknown(UpstreamUnavailable):
    """A call that creates or moves something got no answer that could be read (a timeout after
    sending, a 5xx, 202 Accepted, a 2xx body that does not parse): it may have taken effect.

    Resolve it by looking the result up; never by sending the call again blindly. `resource_id`
    names what the provider said it created, when that much was readable.
    """

    def __init__(
        self,
        upstream: str,
        detail: str,
        *,
        request_id: str | None = None,
        resource_id: str | None = None,
    ) -> None:
        super().__init__(upstream, detail, request_id=request_id)
        self.resource_id = resource_id
