"""JSON Web Tokens: three base64url parts, the first a JSON object (the header).

A JWT in a repository is a bearer credential until it expires, and many are issued with no
expiry at all; one signed with ``alg: none`` still carries its claims (and passes verifiers
that accept it), so it is reported too. Documentation's stock example (jwt.io's "John Doe",
subject "1234567890") is not.
"""

from __future__ import annotations

import base64
import binascii
import re

from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES", "decode_part"]

# jwt.io's example payload and its variants: {"sub": "1234567890", "name": "John Doe", ...}.
_EXAMPLE = re.compile(rb'"(?:name|sub)":\s?"(?:John Doe|1234567890)"')


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
    if not decoded_header.startswith(b"{") or not decoded_payload.startswith(b"{"):
        return False
    return not _EXAMPLE.search(decoded_payload)


RULES: tuple[Rule, ...] = (
    token(
        "jwt-token",
        "JSON Web Token",
        ("eyj",),
        r"eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_/\\-]{15,}\.(?:[A-Za-z0-9_/\\-]{10,}={0,2})?",
        check=_is_jwt,
    ),
)
