"""JSON Web Tokens: base64url parts, the first two JSON objects (the header, the claims).

A JWT in a repository is a bearer credential until it expires, and many are issued with no
expiry at all; one without a signature (``alg: none``, or the signature cut off) still carries
its claims and passes verifiers that accept it, so it is reported too. So is jwt.io's stock
example ("John Doe"): every peer reports it, and a scanner cannot tell a copied example from a
token issued with the same claims.
"""

from __future__ import annotations

import base64
import binascii

from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES", "decode_part"]


def decode_part(part: str) -> bytes | None:
    """A base64url part without padding, decoded (None if it is not base64url)."""
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def _is_jwt(secret: str) -> bool:
    header, payload = [*secret.split("."), ""][:2]
    decoded_header = decode_part(header)
    decoded_payload = decode_part(payload)
    if decoded_header is None or decoded_payload is None:
        return False
    # "eyJ" is base64 of '{"': a header is a JSON object; the payload too.
    return decoded_header.startswith(b"{") and decoded_payload.startswith(b"{")


RULES: tuple[Rule, ...] = (
    token(
        "jwt-token",
        "JSON Web Token",
        ("eyj",),
        r"eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_/\\-]{15,}(?:\.(?:[A-Za-z0-9_/\\-]{10,}={0,2})?)?",
        check=_is_jwt,
    ),
)
