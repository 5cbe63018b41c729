"""Format checks of tokens that a regex cannot express: checksums, and runs no generator makes.

GitHub (classic ``gh?_`` tokens) and npm (``npm_``) end their tokens with the CRC32 of the
random part, in six base62 digits: a token whose checksum holds is certainly one of theirs.
Many fixtures, documentation and test suites carry tokens made of random characters with no
valid checksum; those are still reported when they look random (the usual entropy and
placeholder filters), so the checksum makes a match certain rather than being required.
"""

from __future__ import annotations

import re
import zlib

from stacksafe.scan.entropy import shannon
from stacksafe.scan.placeholders import is_placeholder

__all__ = ["checksum_or_random", "crc32_suffix_valid", "drawn", "no_counting_run"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = {c: i for i, c in enumerate(_BASE62)}
# Runs a person types and a generator all but never draws (1 in 62**6 per position).
_COUNTING = re.compile(
    r"012345|123456|234567|345678|456789|abcdef|bcdefg|cdefgh|ABCDEF|BCDEFG|CDEFGH",
)


def crc32_suffix_valid(token: str) -> bool:
    """Whether ``token`` (``prefix_`` + body + six base62 digits) ends with the CRC32 of its
    body, as GitHub's classic tokens and npm's tokens do."""
    body, suffix = token[token.index("_") + 1 : -6], token[-6:]
    if not body or any(c not in _DIGIT for c in suffix):
        return False
    value = 0
    for c in suffix:
        value = value * 62 + _DIGIT[c]
    return value == zlib.crc32(body.encode("ascii", "replace"))


def no_counting_run(secret: str) -> bool:
    """False when ``secret`` holds a counting run (``123456``, ``abcdef``): typed, not drawn."""
    return _COUNTING.search(secret) is None


def drawn(secret: str) -> bool:
    """Whether an unprefixed value looks drawn rather than written: a letter and a digit (a
    random 24 alphanumerics lacks a digit once in 70; an identifier such as
    ``searchConfluenceUsingCql`` always does) and no counting run."""
    return (
        any(c.isdigit() for c in secret)
        and any(c.isalpha() for c in secret)
        and no_counting_run(secret)
    )


def checksum_or_random(token: str) -> bool:
    """A checksummed token is kept whatever it looks like; one without a valid checksum only
    if it looks drawn at random (entropy, no placeholder, no counting run)."""
    if crc32_suffix_valid(token):
        return True
    return shannon(token) >= 3.0 and not is_placeholder(token) and no_counting_run(token)
