"""The HMAC signature of an outbound POST (audit HTTPS sink, change-event webhooks):
``Stacksafe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.

The timestamp is inside the MAC so that a receiver can refuse a replay of an old request
(``verify``'s ``tolerance``); ``v1`` names the scheme so that another can be added beside it
later without breaking receivers (they take the ``v1`` entries and ignore the rest). A header may
carry several ``v1`` entries (a sender signing with an old and a new secret while a receiver
rotates); one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["HEADER", "TOLERANCE", "InvalidSignature", "sign", "signature_of", "verify"]

HEADER = "Stacksafe-Signature"
TOLERANCE = 300  # seconds either side of the receiver's clock (clocks drift; requests queue)
_MAX_HEADER = 4096  # a receiver parses nothing longer (a real header is about 80 characters)


class InvalidSignature(ValueError):
    """The header is missing, malformed, stale or does not match; the message says which and
    holds neither the secret nor the expected MAC."""


def signature_of(secret: bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` sent at ``timestamp`` (default: now)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={signature_of(secret, at, body)}"


def verify(
    secret: bytes,
    body: bytes,
    header: str | None,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> int:
    """The request's timestamp when ``header`` signs ``body`` with ``secret`` within
    ``tolerance`` seconds of ``now``; else ``InvalidSignature``."""
    if not header:
        raise InvalidSignature(f"no {HEADER} header")
    if len(header) > _MAX_HEADER:
        raise InvalidSignature(f"the {HEADER} header is too long")
    timestamps: list[str] = []
    macs: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            macs.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise InvalidSignature(f"the {HEADER} header has no single t=<unix seconds>")
    if not macs:
        raise InvalidSignature(f"the {HEADER} header has no v1=<hex> signature")
    at = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - at) > tolerance:
        raise InvalidSignature(f"the {HEADER} timestamp is more than {tolerance} s from now")
    expected = signature_of(secret, at, body)
    # Every entry compared in constant time, none skipped once one matched: the time taken
    # says nothing about which entry (or how much of one) was right.
    matched = False
    for mac in macs:
        matched |= hmac.compare_digest(expected.encode(), mac.encode("ascii", "replace"))
    if not matched:
        raise InvalidSignature(f"the {HEADER} signature does not match the body")
    return at
