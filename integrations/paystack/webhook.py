"""Paystack's webhook signature: x-paystack-signature, hex HMAC-SHA512 of the raw body."""

from __future__ import annotations

import hashlib
import hmac


def paystack_signature(secret: str, body: bytes) -> str:
    """The `x-paystack-signature` Paystack sends: hex HMAC-SHA512 of the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha512).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret`, compared in constant time.

    `body` must be the bytes as received: parsing and re-serializing the JSON changes them.
    """
    if not secret or not secret.strip() or not header or not header.strip():
        return False
    expected = paystack_signature(secret, body).encode("ascii")
    # Compared as bytes: `compare_digest` refuses non-ASCII text, and a header is attacker input.
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))
