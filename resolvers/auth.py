"""Who a request comes from: signed bearer tokens, admin login, and partner API keys.

Tokens are `sf1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`, signed with `SECRET_KEY`:
a traveller's token reads one booking (its subject is the booking reference), an admin's token
reads everything. Partner API keys are random `sfk_…` strings of which only a SHA-256 hash is
stored.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from integrations.state.cache import ExpiringMap
from integrations.state.ratelimit import RateLimiter, RatePolicy
from integrations.state.store.base import ApiKeyRecord, ApiKeyRepository
from resolvers.access import Caller, CallerKind
from resolvers.errors import BadUserInput, Forbidden, Unauthenticated
from resolvers.ratelimits import Record, enforce

TokenKind = Literal["admin", "traveller"]

TOKEN_VERSION = "sf1"  # noqa: S105 - a format tag, not a secret
TRAVELLER_TOKEN_TTL = timedelta(days=90)
ADMIN_LOGIN_TOKEN_TTL = timedelta(hours=1)
ADMIN_CLI_TOKEN_TTL = timedelta(minutes=15)

ADMIN_LOGIN_ATTEMPTS = 5
ADMIN_LOGIN_WINDOW = timedelta(minutes=15)
ADMIN_LOGIN_POLICY = RatePolicy(ADMIN_LOGIN_ATTEMPTS, ADMIN_LOGIN_WINDOW.total_seconds())

API_KEY_PREFIX = "sfk_"
API_KEY_SHOWN_CHARS = 12
API_KEY_NAME_MAX_LENGTH = 100
# How long a running gateway trusts an API key it has looked up: a revoked key keeps working on
# replicas that used it within this long before the revocation.
API_KEY_CACHE_SECONDS = 60.0

_TOKEN_KINDS: dict[str, TokenKind] = {"admin": "admin", "traveller": "traveller"}
# Real tokens are a few hundred characters; anything far longer is refused before decoding.
_MAX_TOKEN_LENGTH = 4_096
_MAX_API_KEY_LENGTH = 256
_INVALID_TOKEN = "invalid or expired access token"  # noqa: S105 - a message


@dataclass(frozen=True, slots=True)
class TokenClaims:
    kind: TokenKind
    subject: str
    expires_at: datetime
    issued_at: datetime


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, signed: str) -> bytes:
    return hmac.new(secret.encode(), signed.encode("ascii"), hashlib.sha256).digest()


def issue_token(
    secret: str, *, kind: TokenKind, subject: str, ttl: timedelta, now: datetime
) -> str:
    """A signed bearer token for `subject` (a booking reference, or "admin") valid for `ttl`."""
    if kind not in _TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if not subject:
        raise ValueError("a token needs a subject")
    if ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive, got {ttl}")
    issued = math.floor(now.timestamp())
    expires = issued + math.ceil(ttl.total_seconds())
    claims = {"k": kind, "sub": subject, "exp": expires, "iat": issued}
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signed = f"{TOKEN_VERSION}.{payload}"
    return f"{signed}.{_b64encode(_signature(secret, signed))}"


def read_token(secret: str, token: str, *, now: datetime) -> TokenClaims:
    """The claims of a token signed with `secret`; `Unauthenticated` if forged, garbled, expired."""
    if len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise Unauthenticated(_INVALID_TOKEN)
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != TOKEN_VERSION or not payload or not signature or "." in signature:
        raise Unauthenticated(_INVALID_TOKEN)
    try:
        presented = _b64decode(signature)
    except (ValueError, binascii.Error) as error:
        raise Unauthenticated(_INVALID_TOKEN) from error
    # The signature is checked before the payload is even decoded.
    if not hmac.compare_digest(presented, _signature(secret, f"{version}.{payload}")):
        raise Unauthenticated(_INVALID_TOKEN)
    try:
        claims = json.loads(_b64decode(payload))
        kind, subject = claims["k"], claims["sub"]
        expires, issued = claims["exp"], claims["iat"]
    except (ValueError, binascii.Error, KeyError, TypeError) as error:
        raise Unauthenticated(_INVALID_TOKEN) from error
    token_kind = _TOKEN_KINDS.get(kind) if isinstance(kind, str) else None
    if (
        token_kind is None
        or not isinstance(subject, str)
        or not subject
        or not isinstance(expires, int)
        or not isinstance(issued, int)
    ):
        raise Unauthenticated(_INVALID_TOKEN)
    if now.timestamp() >= expires:
        raise Unauthenticated("access token expired")
    return TokenClaims(
        kind=token_kind,
        subject=subject,
        expires_at=datetime.fromtimestamp(expires, UTC),
        issued_at=datetime.fromtimestamp(issued, UTC),
    )


def issue_traveller_token(secret: str, booking_reference: str, *, now: datetime) -> str:
    """The `accessToken` of `createBooking`: reads, pays for and cancels that one booking."""
    return issue_token(
        secret, kind="traveller", subject=booking_reference, ttl=TRAVELLER_TOKEN_TTL, now=now
    )


def issue_admin_token(
    secret: str, *, now: datetime, ttl: timedelta = ADMIN_CLI_TOKEN_TTL
) -> tuple[str, datetime]:
    token = issue_token(secret, kind="admin", subject="admin", ttl=ttl, now=now)
    return token, read_token(secret, token, now=now).expires_at


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def admin_login(
    password: str,
    *,
    admin_pass: str,
    secret: str,
    limiter: RateLimiter,
    client: str,
    now: datetime,
    record: Record | None = None,
) -> tuple[str, datetime]:
    """An admin token valid for an hour, for the right `ADMIN_PASS`; the token and its expiry.

    Attempts are limited per client address whether they succeed or not, so a password cannot be
    guessed faster than ADMIN_LOGIN_ATTEMPTS per ADMIN_LOGIN_WINDOW from one address.
    """
    if not admin_pass:
        raise Forbidden("admin login is disabled")
    await enforce(
        limiter,
        f"admin-login:{client}",
        ADMIN_LOGIN_POLICY,
        refusal="too many admin login attempts",
        record=record,
    )
    # Digests have one length whatever was typed, so the comparison time says nothing about it.
    if not hmac.compare_digest(_digest(password), _digest(admin_pass)):
        raise Unauthenticated("wrong password")
    return issue_admin_token(secret, now=now, ttl=ADMIN_LOGIN_TOKEN_TTL)


@dataclass(frozen=True, slots=True)
class StoredApiKey:
    """What is stored of a new API key: its hash, and a prefix that tells keys apart in lists."""

    key_hash: str
    prefix: str


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> tuple[str, StoredApiKey]:
    """A fresh partner key (`sfk_` and 43 URL-safe characters) and what to store of it."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, StoredApiKey(key_hash=hash_api_key(key), prefix=key[:API_KEY_SHOWN_CHARS])


async def create_api_key(
    repo: ApiKeyRepository, name: str, now: datetime
) -> tuple[str, ApiKeyRecord]:
    """Store a new key for the partner `name`; the key itself is returned here and nowhere else."""
    name = name.strip()
    if not name or len(name) > API_KEY_NAME_MAX_LENGTH:
        raise BadUserInput(
            f"an API key name is 1 to {API_KEY_NAME_MAX_LENGTH} characters, e.g. the partner's"
        )
    key, stored = new_api_key()
    record = await repo.create(
        ApiKeyRecord(
            id=secrets.token_hex(8),
            name=name,
            key_hash=stored.key_hash,
            prefix=stored.prefix,
            created_at=now,
        )
    )
    return key, record


def partner_caller(record: ApiKeyRecord) -> Caller:
    return Caller(kind=CallerKind.PARTNER, partner_id=record.id, identity=f"partner:{record.id}")


async def authenticate_api_key(repo: ApiKeyRepository, key: str) -> Caller | None:
    """The partner a key belongs to; None for an unknown or revoked key."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > _MAX_API_KEY_LENGTH:
        return None
    record = await repo.get_by_hash(hash_api_key(key))
    if record is None or record.revoked_at is not None:
        return None
    return partner_caller(record)


class CachedApiKeys:
    """An `ApiKeyRepository` that remembers keys it found for `ttl_seconds`.

    Keeps the database off the path of every partner request. The price is a revocation delay:
    a key revoked elsewhere (the CLI, another replica) keeps working for up to `ttl_seconds` on
    a gateway that used it shortly before. Revoking through this object forgets at once. Keys
    not found are not remembered, so a key works as soon as it is created.
    """

    def __init__(
        self,
        repo: ApiKeyRepository,
        *,
        ttl_seconds: float = API_KEY_CACHE_SECONDS,
        max_entries: int = 10_000,
    ) -> None:
        self._repo = repo
        self._ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._found: ExpiringMap[ApiKeyRecord] = ExpiringMap(max_entries)

    async def create(self, record: ApiKeyRecord) -> ApiKeyRecord:
        return await self._repo.create(record)

    async def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        record = self._found.get(key_hash)
        if record is None:
            record = await self._repo.get_by_hash(key_hash)
            if record is not None and self._ttl_seconds > 0:
                self._found.set(key_hash, record, self._ttl_seconds)
        return record

    async def list(self) -> builtins.list[ApiKeyRecord]:
        return await self._repo.list()

    async def revoke(self, id: str, now: datetime) -> bool:
        revoked = await self._repo.revoke(id, now)
        # Entries are keyed by hash, not id: forgetting them all is simplest, and revoking is rare.
        self._found = ExpiringMap(self._max_entries)
        return revoked


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header takes the form: Bearer <token>")
    return token


async def caller_from_credentials(
    *,
    authorization: str | None,
    api_key: str | None,
    secret: str,
    api_keys: ApiKeyRepository,
    client: str,
    now: datetime,
) -> Caller:
    """The caller that the credentials of a request name; anonymous when there are none.

    Credentials that are present but wrong raise `Unauthenticated` rather than falling back to
    anonymous, so a client with an expired token learns it instead of seeing less data.
    """
    authorization = (authorization or "").strip()
    api_key = (api_key or "").strip()
    if authorization and api_key:
        raise Unauthenticated("send either a bearer token or an API key, not both")
    if authorization:
        claims = read_token(secret, _bearer_token(authorization), now=now)
        if claims.kind == "admin":
            return Caller(kind=CallerKind.ADMIN, identity="admin")
        return Caller(
            kind=CallerKind.TRAVELLER,
            booking_reference=claims.subject,
            identity=f"booking:{claims.subject}",
        )
    if api_key:
        caller = await authenticate_api_key(api_keys, api_key)
        if caller is None:
            raise Unauthenticated("unknown or revoked API key")
        return caller
    return Caller(kind=CallerKind.ANONYMOUS, identity=f"ip:{client}")
